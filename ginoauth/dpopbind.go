package ginoauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// DPoPConfig configures DPoP, sender-constrained tokens (RFC 9449). It is
// on by default: the token endpoint binds the tokens of a request that
// carries a valid proof to the proof's key, and Provider.Middleware
// accepts them with the DPoP scheme. docs/dpop.md.
type DPoPConfig struct {
	// Disabled turns DPoP off: a proof is ignored at the token endpoint
	// (RFC 9449 section 5: the tokens are bearer tokens, token_type
	// Bearer), the middleware does not accept the DPoP scheme, and the
	// metadata advertise nothing.
	Disabled bool
	// Required refuses every token request without a proof, as
	// Application.DPoPBoundAccessTokens does for one client; the resource
	// metadata then say dpop_bound_access_tokens_required (RFC 9728).
	Required bool
	// Algs are the proofs' accepted JWS algorithms, asymmetric only. Empty
	// means dpop.DefaultAlgs.
	Algs []string
	// ProofWindow is how long after its iat a proof is accepted (its jti
	// is remembered in the store as long). Zero means dpop.DefaultWindow.
	ProofWindow time.Duration
	// Nonces makes the token endpoint and the middleware require a server
	// nonce in proofs (RFC 9449 sections 8 and 9): a proof without one, or
	// with a stale one, is answered use_dpop_nonce with a fresh nonce in
	// the DPoP-Nonce header. Nonces are stateless (an HMAC of a time slot
	// under a key derived from SecretKey), so every instance accepts every
	// instance's.
	Nonces bool
	// NonceLifetime is a nonce's time slot; a nonce is accepted for one to
	// two of them. Zero means dpop.DefaultNonceLifetime.
	NonceLifetime time.Duration
}

// newDPoP builds the provider's proof verifier, nil when DPoP is off. Its
// jti records go to the store (store.Replays), so a proof is used once
// across every instance sharing it.
func newDPoP(cfg Config, key []byte, replays store.Replays) (*dpop.Verifier, error) {
	if cfg.DPoP.Disabled {
		return nil, nil
	}
	dc := dpop.Config{Algs: cfg.DPoP.Algs, Window: cfg.DPoP.ProofWindow, Replay: replays, Now: cfg.Now}
	if cfg.DPoP.Nonces {
		dc.Nonces = dpop.NewNonces(deriveKey(key, "ginoauth dpop nonce"), cfg.DPoP.NonceLifetime, cfg.Now)
	}
	return dpop.New(dc)
}

// DPoPAlgs returns the JWS algorithms accepted in DPoP proofs, nil when
// DPoP is off (dpop_signing_alg_values_supported, RFC 9449 section 5.1).
func (p *Provider) DPoPAlgs() []string {
	if p.dpop == nil {
		return nil
	}
	return p.dpop.Algs()
}

type dpopKey struct{}

// withJKT records the key a token request proved possession of, for the
// tokens it issues to be bound to (bindDPoP).
func withJKT(ctx context.Context, jkt string) context.Context {
	return context.WithValue(ctx, dpopKey{}, jkt)
}

// jktFrom returns the token request's proven key thumbprint, "" without
// a proof.
func jktFrom(ctx context.Context) string {
	s, _ := ctx.Value(dpopKey{}).(string)
	return s
}

// The token endpoint's DPoP errors (RFC 9449 sections 5 and 8): 400.
var (
	errInvalidDPoPProof = &oautherr.Error{Code: dpop.CodeInvalidProof, Status: http.StatusBadRequest}
	errUseDPoPNonce     = &oautherr.Error{Code: dpop.CodeUseNonce, Status: http.StatusBadRequest}
)

// tokenProof checks a token request's DPoP proof (RFC 9449 section 5): with
// none, ctx is returned as it is, unless the client must use DPoP; with a
// valid one, ctx carries its jkt; an invalid one is invalid_dpop_proof,
// a missing or stale nonce use_dpop_nonce with a fresh DPoP-Nonce header,
// both before anything is stored (but the proof's jti).
func (p *Provider) tokenProof(ctx context.Context, c *gin.Context, app *store.Application) (context.Context, error) {
	if p.dpop == nil {
		return ctx, nil
	}
	if len(c.Request.Header.Values(dpop.HeaderName)) == 0 {
		if app.DPoPBoundAccessTokens || p.cfg.DPoP.Required {
			return nil, errInvalidDPoPProof.WithDescription("This client must send a DPoP proof.")
		}
		return ctx, nil
	}
	jkt, err := p.requestProof(ctx, c, issuerFrom(ctx))
	if err != nil {
		return nil, err
	}
	return withJKT(ctx, jkt), nil
}

// requestProof checks the DPoP proof of a request to one of the server's
// endpoints (RFC 9449 section 4.3; htu is the endpoint's URL under the
// issuer's origin) and returns its key's thumbprint, "" when the request
// carries none. An invalid proof is invalid_dpop_proof, a missing or
// stale nonce use_dpop_nonce with a fresh DPoP-Nonce header.
func (p *Provider) requestProof(ctx context.Context, c *gin.Context, issuer string) (string, error) {
	headers := c.Request.Header.Values(dpop.HeaderName)
	if p.dpop == nil || len(headers) == 0 {
		return "", nil
	}
	proof, err := p.dpop.Verify(ctx, headers, dpop.Request{
		Method: c.Request.Method,
		URL:    origin(issuer) + c.Request.URL.Path,
	})
	if e, ok := dpop.IsError(err); ok {
		if e.Code == dpop.CodeUseNonce {
			c.Header(dpop.NonceHeader, e.Nonce)
			return "", errUseDPoPNonce.WithDescription("%s", e.Description)
		}
		return "", errInvalidDPoPProof.WithDescription("%s", e.Description)
	}
	if err != nil {
		return "", err // the replay store: 503
	}
	if proof.NextNonce != "" {
		c.Header(dpop.NonceHeader, proof.NextNonce) // section 8.2
	}
	return proof.JKT, nil
}

// dpopJKTParam checks an authorization request's dpop_jkt (RFC 9449
// section 10): at most once, a base64url SHA-256 thumbprint. It is
// ignored when DPoP is off.
func (p *Provider) dpopJKTParam(params url.Values) (string, error) {
	v := params["dpop_jkt"]
	if p.dpop == nil || len(v) == 0 {
		return "", nil
	}
	if len(v) > 1 {
		return "", oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote("dpop_jkt"))
	}
	if b, err := base64.RawURLEncoding.DecodeString(v[0]); err != nil || len(b) != sha256.Size {
		return "", oautherr.ErrInvalidRequest.WithDescription("The dpop_jkt parameter is not a JWK SHA-256 thumbprint.")
	}
	return v[0], nil
}

// origin is the scheme and authority of an issuer URL (which may have a
// path): the token endpoint's htu is it and the request's path.
func origin(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return issuer
	}
	return u.Scheme + "://" + u.Host
}

// bindDPoP binds newly minted tokens to the token request's proven key
// (RFC 9449 section 5): the access token always (token_type DPoP), the
// refresh token of a public client (section 5: a confidential client's
// refresh token is bound to its authentication instead).
func bindDPoP(ctx context.Context, app *store.Application, at *store.AccessToken, rt *store.RefreshToken, resp *TokenResponse) {
	jkt := jktFrom(ctx)
	if jkt == "" {
		return
	}
	at.JKT = jkt
	resp.TokenType = "DPoP"
	if rt != nil && app.ClientType != store.Confidential {
		rt.JKT = jkt
	}
}
