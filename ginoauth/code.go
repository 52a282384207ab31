package ginoauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// codeGrant is RFC 6749 4.1.3 with RFC 7636 4.5-4.6: the code must be the
// client's, unexpired, unused, presented with the redirect URI it was
// issued for and the PKCE verifier of its challenge. It is consumed
// atomically, so of concurrent redemptions at most one gets tokens, and a
// replayed code revokes every token issued from it (4.1.2), those of a
// redemption still in flight included: a revoked family refuses them.
func (p *Provider) codeGrant(ctx context.Context, app *store.Application, params map[string]string) (*TokenResponse, error) {
	raw := params["code"]
	if raw == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing code parameter.")
	}
	invalid := oautherr.ErrInvalidGrant.WithDescription("The authorization code is invalid, expired or already used.")
	family, err := p.codec.Parse(opaque.CodePrefix, raw)
	if err != nil {
		return nil, invalid
	}
	k := store.Key{Family: family, Signature: opaque.Signature(raw)}
	code, err := p.store.GetAuthorizationCode(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if code.ClientID != app.ClientID || code.Generation != app.Generation {
		return nil, invalid // another client's, or revoked with its application's tokens
	}
	if !code.ConsumedAt.IsZero() {
		return nil, p.replayedCode(ctx, family, invalid)
	}
	if !p.now().Before(code.ExpiresAt) {
		return nil, invalid
	}
	if ru, given := params["redirect_uri"]; code.RedirectURI != "" || given {
		if ru != code.RedirectURI {
			return nil, oautherr.ErrInvalidGrant.WithDescription("The redirect_uri does not match the authorization request's.")
		}
	}
	verifier, hasVerifier := params["code_verifier"]
	switch {
	case code.CodeChallenge == "" && hasVerifier:
		// RFC 9700 2.1.1: a verifier for a code issued without a challenge
		// is a downgrade attempt.
		return nil, oautherr.ErrInvalidGrant.WithDescription("The authorization request had no code_challenge.")
	case code.CodeChallenge == "" && (app.ClientType != store.Confidential || !p.cfg.InsecureAllowNoPKCE):
		// Issued without PKCE to a client that must now use it: it became
		// public, or InsecureAllowNoPKCE was turned off, since.
		return nil, oautherr.ErrInvalidGrant.WithDescription("PKCE is required and the authorization request had no code_challenge.")
	case code.CodeChallenge != "" && !hasVerifier:
		return nil, oautherr.ErrInvalidGrant.WithDescription("Missing code_verifier parameter.")
	case code.CodeChallenge != "" && !pkceMatches(code.CodeChallengeMethod, code.CodeChallenge, verifier):
		return nil, oautherr.ErrInvalidGrant.WithDescription("The code_verifier does not match the code_challenge.")
	}
	// RFC 9449 section 10: a code bound to a key needs a proof made with it.
	if code.DPoPJKT != "" && code.DPoPJKT != jktFrom(ctx) {
		return nil, oautherr.ErrInvalidGrant.WithDescription("The authorization request's dpop_jkt does not match the DPoP proof.")
	}
	// RFC 8707 section 2.2: the token request may narrow the resources of
	// the authorization request, never add one. Checked before the code
	// is consumed, so a refused request leaves it usable.
	access, err := p.narrowResources(resourcesFrom(ctx), code.Resources, issuerFrom(ctx))
	if err != nil {
		return nil, err
	}
	if err := p.store.ConsumeAuthorizationCode(ctx, k, p.now().UTC()); err != nil {
		if errors.Is(err, store.ErrConsumed) {
			return nil, p.replayedCode(ctx, family, invalid)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalid
		}
		return nil, err
	}
	resp, err := p.issueInFamily(ctx, family, app, code.UserID, code.Username, code.Scopes, true,
		tokenAudience{access: access, grant: code.Resources})
	if errors.Is(err, store.ErrRevoked) {
		// A concurrent replay revoked the family after this request consumed
		// the code: the store refused the tokens, which would otherwise have
		// outlived the revocation.
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	err = p.addIDToken(ctx, resp, idTokenParams{app: app, userID: code.UserID, scopes: code.Scopes,
		nonce: code.Nonce, authTime: code.AuthTime, accessToken: resp.AccessToken})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// replayedCode revokes the tokens issued from a code presented twice.
func (p *Provider) replayedCode(ctx context.Context, family string, answer *oautherr.Error) error {
	p.observeCodeReplay()
	p.log.WarnContext(ctx, "ginoauth: authorization code replayed; revoking the tokens issued from it")
	if err := p.store.RevokeFamily(ctx, family); err != nil {
		return err
	}
	return answer
}

// pkceMatches checks a code_verifier against its challenge (RFC 7636 4.6)
// in constant time.
func pkceMatches(method, challenge, verifier string) bool {
	if !validVerifier(verifier) {
		return false
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}
