// Package dpop verifies DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating
// Proof of Possession): the token endpoint of package ginoauth and the
// middleware of package resource share it. It imports nothing of this
// module, so a resource server that trusts a remote provider builds
// without the authorization server.
//
// A Verifier checks one request's proof as RFC 9449 section 4.3 lists:
// exactly one DPoP header, a JWS of typ dpop+jwt signed with an asymmetric
// algorithm by the public jwk of its header, htm and htu matching the
// request, iat within a window, ath matching the access token presented
// with it, an optional server nonce (section 8), and a jti seen once
// (through an injected ReplayChecker). It returns the key's RFC 7638
// thumbprint, the jkt a token is bound to.
package dpop

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The error codes of RFC 9449 (sections 5, 7.1 and 8).
const (
	// CodeInvalidProof: the proof is missing, malformed, or fails a check.
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce: the server requires a nonce the proof lacks, or has a
	// stale one; the answer carries a fresh one in the DPoP-Nonce header.
	CodeUseNonce = "use_dpop_nonce"
)

// HeaderName is the request header carrying a proof, and NonceHeader the
// response header carrying a server nonce (RFC 9449 sections 4.1, 8).
const (
	HeaderName  = "DPoP"
	NonceHeader = "DPoP-Nonce"
	// ProofType is the typ of a proof's JOSE header (section 4.2).
	ProofType = "dpop+jwt"
)

// Defaults of Config.
const (
	// DefaultWindow is how old (by iat) a proof may be.
	DefaultWindow = 60 * time.Second
	// DefaultSkew is how far in the future a proof's iat may be.
	DefaultSkew = 5 * time.Second
	// MaxProofSize bounds the DPoP header, in bytes: an RSA-4096 proof is
	// under 3 KiB.
	MaxProofSize = 6 << 10
	// maxJTI bounds the jti, which is hashed into a store key.
	maxJTI = 256
)

// DefaultAlgs are the JWS algorithms a proof may use when Config.Algs is
// empty: asymmetric ones only (section 4.2 forbids none and MACs).
var defaultAlgs = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}

// DefaultAlgs returns the algorithms accepted by default, for metadata's
// dpop_signing_alg_values_supported.
func DefaultAlgs() []string { return slices.Clone(defaultAlgs) }

// asymmetric are the algorithms Config.Algs may name.
var asymmetric = map[string]bool{
	"ES256": true, "ES384": true, "ES512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true, "EdDSA": true,
}

// ReplayChecker records single-use values (store.Replays has this
// method): FirstUse records key until expiresAt and reports whether it was
// new. An error means it could not tell; the proof is then not accepted.
type ReplayChecker interface {
	FirstUse(ctx context.Context, key string, expiresAt time.Time) (bool, error)
}

// Config configures a Verifier. The zero value accepts DefaultAlgs, a
// DefaultWindow, no nonces, and checks no replay (give Replay).
type Config struct {
	// Algs are the accepted JWS algorithms; each must be asymmetric. Empty
	// means DefaultAlgs.
	Algs []string
	// Window is how long after its iat a proof is accepted (RFC 9449
	// section 11.1). Zero means DefaultWindow.
	Window time.Duration
	// Skew is how far ahead of the clock an iat may be. Zero means
	// DefaultSkew.
	Skew time.Duration
	// Replay records each proof's jti (hashed with the key's thumbprint)
	// until iat+Window, so a proof is used once, on every instance sharing
	// it. Nil checks nothing.
	Replay ReplayChecker
	// Nonces, when set, makes proofs carry a server nonce (section 8).
	Nonces *Nonces
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Verifier checks proofs. Build it with New; it is safe for concurrent use.
type Verifier struct {
	algs    []jose.SignatureAlgorithm
	names   []string
	window  time.Duration
	skew    time.Duration
	replay  ReplayChecker
	nonces  *Nonces
	now     func() time.Time
	keyPref string
}

// New returns a Verifier for cfg, or an error if an algorithm is unknown
// or not asymmetric.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{window: cfg.Window, skew: cfg.Skew, replay: cfg.Replay, nonces: cfg.Nonces, now: cfg.Now, keyPref: "dpop:"}
	names := cfg.Algs
	if len(names) == 0 {
		names = defaultAlgs
	}
	for _, a := range names {
		if !asymmetric[a] {
			return nil, fmt.Errorf("dpop: algorithm %q is not an accepted asymmetric JWS algorithm", a)
		}
		if !slices.Contains(v.names, a) {
			v.names = append(v.names, a)
			v.algs = append(v.algs, jose.SignatureAlgorithm(a))
		}
	}
	if v.window <= 0 {
		v.window = DefaultWindow
	}
	if v.skew <= 0 {
		v.skew = DefaultSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Algs returns the accepted algorithms (for dpop_signing_alg_values_supported
// and a challenge's algs).
func (v *Verifier) Algs() []string { return slices.Clone(v.names) }

// Nonces returns the server nonces in use, nil when off.
func (v *Verifier) Nonces() *Nonces { return v.nonces }

// Request is what a proof must match.
type Request struct {
	// Method is the HTTP method (htm).
	Method string
	// URL is the URL the client used, absolute (htu); its query and
	// fragment are ignored.
	URL string
	// AccessToken is the token presented with the proof ("" at the token
	// endpoint): the proof's ath must be its SHA-256.
	AccessToken string
}

// Proof is what a verified proof tells.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// base64url without padding (RFC 9449 section 6.1).
	JKT      string
	JTI      string
	IssuedAt time.Time
	// NextNonce, with nonces on, is a fresh nonce when the proof's is of
	// the previous time slot (accepted, soon not): the caller sends it in
	// the DPoP-Nonce header of its successful answer, so the client
	// switches before its nonce fails (RFC 9449 sections 8.2 and 9). ""
	// otherwise.
	NextNonce string
}

// Error is a refused proof: its Code is CodeInvalidProof or CodeUseNonce,
// and Nonce, for CodeUseNonce, a fresh nonce to send in DPoP-Nonce.
type Error struct {
	Code        string
	Description string
	Nonce       string
}

func (e *Error) Error() string { return "dpop: " + e.Code + ": " + e.Description }

func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidProof, Description: fmt.Sprintf(format, args...)}
}

// claims are a proof's claims (section 4.2).
type claims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath"`
	Nonce string          `json:"nonce"`
}

// Verify checks the DPoP header values of a request (headers: all of
// them, r.Header.Values("DPoP")) against req. It returns the proof, or an
// *Error (refused), or another error when the replay check could not tell
// (a store outage: the caller answers 503). Cheap checks come first: the
// signature is verified only for a proof whose claims pass, and the
// replay record is written last.
func (v *Verifier) Verify(ctx context.Context, headers []string, req Request) (*Proof, error) {
	switch len(headers) {
	case 0:
		return nil, invalid("The request has no DPoP proof.")
	case 1:
	default:
		return nil, invalid("The request has more than one DPoP header.")
	}
	raw := headers[0]
	if len(raw) > MaxProofSize {
		return nil, invalid("The DPoP proof is too large.")
	}
	jws, hdr, c, err := v.parse(raw)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(c, req); err != nil {
		return nil, err
	}
	iat, err := v.checkIAT(c.IAT)
	if err != nil {
		return nil, err
	}
	if v.nonces != nil && !v.nonces.valid(c.Nonce, v.now()) {
		return nil, &Error{Code: CodeUseNonce, Description: "Authorization server requires nonce in DPoP proof.", Nonce: v.nonces.Fresh()}
	}
	if _, err := jws.Verify(hdr.JSONWebKey); err != nil {
		return nil, invalid("The DPoP proof's signature does not verify.")
	}
	tp, err := hdr.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid("The DPoP proof's jwk has no thumbprint.")
	}
	p := &Proof{JKT: base64.RawURLEncoding.EncodeToString(tp), JTI: c.JTI, IssuedAt: iat}
	if v.nonces != nil {
		if fresh := v.nonces.Fresh(); c.Nonce != fresh {
			p.NextNonce = fresh
		}
	}
	if v.replay != nil {
		sum := sha256.Sum256([]byte(p.JKT + "|" + c.JTI))
		first, err := v.replay.FirstUse(ctx, v.keyPref+hex.EncodeToString(sum[:16]), iat.Add(v.window+v.skew))
		if err != nil {
			return nil, fmt.Errorf("dpop: replay check: %w", err)
		}
		if !first {
			return nil, invalid("The DPoP proof was used before.")
		}
	}
	return p, nil
}

// parse parses a proof without verifying its signature or claims beyond
// the JOSE header: a compact JWS of one signature, typ dpop+jwt, an
// accepted algorithm and a public jwk (a private or symmetric key in the
// header is refused).
func (v *Verifier) parse(raw string) (*jose.JSONWebSignature, jose.Header, *claims, error) {
	var none jose.Header
	if strings.Count(raw, ".") != 2 {
		return nil, none, nil, invalid("The DPoP proof is not a compact JWS.")
	}
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		if strings.Contains(err.Error(), "algorithm") {
			return nil, none, nil, invalid("The DPoP proof's alg is not accepted.")
		}
		return nil, none, nil, invalid("The DPoP proof is malformed.")
	}
	if len(jws.Signatures) != 1 {
		return nil, none, nil, invalid("The DPoP proof is malformed.")
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != ProofType {
		return nil, none, nil, invalid("The DPoP proof's typ is not %s.", ProofType)
	}
	k := hdr.JSONWebKey
	if k == nil || !k.Valid() || !k.IsPublic() {
		return nil, none, nil, invalid("The DPoP proof's header has no public jwk.")
	}
	var c claims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, none, nil, invalid("The DPoP proof's claims are malformed.")
	}
	return jws, hdr, &c, nil
}

func (v *Verifier) checkClaims(c *claims, req Request) error {
	if c.JTI == "" || len(c.JTI) > maxJTI {
		return invalid("The DPoP proof has no usable jti.")
	}
	if c.HTM == "" || c.HTM != req.Method {
		return invalid("The DPoP proof's htm does not match the request method.")
	}
	got, ok1 := NormalizeURL(c.HTU)
	want, ok2 := NormalizeURL(req.URL)
	if !ok1 || !ok2 || got != want {
		return invalid("The DPoP proof's htu does not match the request URL.")
	}
	if req.AccessToken == "" {
		if c.ATH != "" {
			return invalid("The DPoP proof has an ath but no access token was presented.")
		}
		return nil
	}
	if c.ATH == "" {
		return invalid("The DPoP proof has no ath.")
	}
	if c.ATH != AccessTokenHash(req.AccessToken) {
		return invalid("The DPoP proof's ath does not match the access token.")
	}
	return nil
}

func (v *Verifier) checkIAT(raw json.RawMessage) (time.Time, error) {
	var f float64
	if len(raw) == 0 || json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || f <= 0 || f > 1e12 {
		return time.Time{}, invalid("The DPoP proof has no usable iat.")
	}
	iat := time.Unix(int64(f), 0)
	now := v.now()
	if iat.After(now.Add(v.skew)) || now.Sub(iat) > v.window {
		return time.Time{}, invalid("The DPoP proof's iat is outside the accepted window.")
	}
	return iat, nil
}

// AccessTokenHash is ath for token: base64url(SHA-256(token)) without
// padding (section 4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// IsError reports whether err is a refused proof (an *Error), and returns
// it.
func IsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
