package ginoauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/internal/keyset"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// OIDCConfig configures OpenID Connect Core 1.0 on the code flow (DOT's
// OIDC_* settings). See docs/oidc.md.
type OIDCConfig struct {
	// Enabled turns OpenID Connect on (DOT's OIDC_ENABLED): the scopes
	// openid, profile and email are added to Config.Scopes when missing,
	// an openid grant gets an id_token, and Mount adds discovery, the
	// JWKS and the userinfo endpoint. Config.Store must implement
	// store.SigningKeys (memstore and redisstore do).
	Enabled bool
	// IDTokenExpire is an id_token's lifetime (DOT's
	// ID_TOKEN_EXPIRE_SECONDS). Zero means 36000 seconds.
	IDTokenExpire time.Duration
	// DefaultAlg signs the id_tokens of applications that name no
	// id_token_signed_response_alg: "RS256" (the default) or "ES256".
	DefaultAlg string
	// KeyCacheTTL is how long an instance trusts its copy of the signing
	// key set. Zero means one minute.
	KeyCacheTTL time.Duration
	// KeyPublishDelay is how long RotateKeys publishes a new key before it
	// signs: longer than any instance's KeyCacheTTL and than relying
	// parties' JWKS caches. Zero means twice KeyCacheTTL.
	KeyPublishDelay time.Duration
	// AdditionalClaims, when set, may add or change claims of the
	// id_token and the userinfo answer (DOT's get_additional_claims). It
	// gets the claims the scopes gave and returns the set to send; sub,
	// iss, aud and the token's times are set after it and cannot change.
	AdditionalClaims func(ctx context.Context, r ClaimsRequest, claims map[string]any) (map[string]any, error)
}

// ClaimsRequest says whose claims OIDCConfig.AdditionalClaims is asked for.
type ClaimsRequest struct {
	User     *store.User
	ClientID string
	Scopes   []string
	// Endpoint is "id_token" or "userinfo".
	Endpoint string
}

// DefaultIDTokenExpire is OIDCConfig.IDTokenExpire's default (DOT's
// ID_TOKEN_EXPIRE_SECONDS).
const DefaultIDTokenExpire = 36000 * time.Second

// oidcScopes are OIDC Core section 5.4's scopes this provider answers.
var oidcScopes = map[string]string{
	"openid":  "Sign you in (OpenID Connect)",
	"profile": "Your name and username",
	"email":   "Your email address",
}

// oidcDefaults fills in OIDCConfig's defaults; with OIDC enabled, it adds
// the OIDC scopes to cfg.Scopes (which must be cfg's own copy).
func oidcDefaults(cfg *Config) {
	o := &cfg.OIDC
	if o.IDTokenExpire <= 0 {
		o.IDTokenExpire = DefaultIDTokenExpire
	}
	if o.DefaultAlg == "" {
		o.DefaultAlg = keyset.RS256
	}
	if o.KeyCacheTTL <= 0 {
		o.KeyCacheTTL = time.Minute
	}
	if o.KeyPublishDelay <= 0 {
		o.KeyPublishDelay = 2 * o.KeyCacheTTL
	}
	if !o.Enabled {
		return
	}
	for s, d := range oidcScopes {
		if _, ok := cfg.Scopes[s]; !ok {
			cfg.Scopes[s] = d
		}
	}
}

// newKeySet builds the signing key set, for ID tokens and JWT access
// tokens, when the store keeps signing keys (memstore and redisstore do).
// It is nil for another store, which then offers neither.
func newKeySet(cfg Config, secret []byte) (*keyset.Set, error) {
	if !keyset.Supported(cfg.OIDC.DefaultAlg) {
		return nil, fmt.Errorf("ginoauth: OIDC.DefaultAlg must be RS256 or ES256")
	}
	if !keyset.Supported(cfg.AccessTokenAlg) {
		return nil, fmt.Errorf("ginoauth: AccessTokenAlg must be RS256 or ES256")
	}
	ks, ok := cfg.Store.(store.SigningKeys)
	switch {
	case !ok && cfg.OIDC.Enabled:
		return nil, errors.New("ginoauth: OIDC needs a Store that implements store.SigningKeys")
	case !ok && cfg.AccessTokenFormat == store.TokenFormatJWT:
		return nil, errors.New("ginoauth: JWT access tokens need a Store that implements store.SigningKeys")
	case !ok:
		return nil, nil
	}
	return keyset.New(keyset.Options{
		Store: ks, Secret: deriveKey(secret, "ginoauth oidc keys"), Now: cfg.Now,
		CacheTTL: cfg.OIDC.KeyCacheTTL, PublishDelay: cfg.OIDC.KeyPublishDelay,
		// A retired key signed tokens until its retirement: published for
		// the longest of their lifetimes, with a minute for clock skew.
		Retain: max(cfg.OIDC.IDTokenExpire, cfg.AccessTokenExpire) + time.Minute,
	})
}

// RotateKeys adds a new signing key for each algorithm, published at once
// and signing after OIDCConfig.KeyPublishDelay, when the keys it replaces
// retire; keys retired longer ago than an id_token lives are dropped. It
// returns the new keys' IDs. `demo rotatekeys` calls it.
func (p *Provider) RotateKeys(ctx context.Context) ([]string, error) {
	if p.keys == nil {
		return nil, errors.New("ginoauth: the Store keeps no signing keys (store.SigningKeys)")
	}
	return p.keys.Rotate(ctx, keyset.RS256, keyset.ES256)
}

// issuerKey carries the request's issuer to the grant handlers.
type issuerKey struct{}

func withIssuer(ctx context.Context, iss string) context.Context {
	return context.WithValue(ctx, issuerKey{}, iss)
}

func issuerFrom(ctx context.Context) string {
	s, _ := ctx.Value(issuerKey{}).(string)
	return s
}

// idTokenParams is what an id_token says beyond the user's claims.
type idTokenParams struct {
	app         *store.Application
	userID      string
	scopes      []string
	nonce       string
	authTime    time.Time
	accessToken string
}

// addIDToken signs an id_token into resp when the grant has the openid
// scope and OIDC is enabled (OIDC Core sections 3.1.3.3 and 12.2).
func (p *Provider) addIDToken(ctx context.Context, resp *TokenResponse, t idTokenParams) error {
	if !p.cfg.OIDC.Enabled || !hasScope(t.scopes, "openid") || t.userID == "" {
		return nil
	}
	alg := t.app.IDTokenSignedResponseAlg
	if alg == "" {
		alg = p.cfg.OIDC.DefaultAlg
	}
	if !keyset.Supported(alg) {
		return oautherr.ErrUnauthorizedClient.WithDescription("The application's id_token_signed_response_alg is not supported.")
	}
	claims, err := p.userClaims(ctx, t.userID, t.app.ClientID, t.scopes, "id_token")
	if err != nil {
		return err
	}
	now := p.now()
	claims["iss"] = issuerFrom(ctx)
	claims["aud"] = t.app.ClientID
	claims["azp"] = t.app.ClientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(p.cfg.OIDC.IDTokenExpire).Unix()
	if !t.authTime.IsZero() {
		claims["auth_time"] = t.authTime.Unix()
	}
	if t.nonce != "" {
		claims["nonce"] = t.nonce
	}
	claims["at_hash"] = halfHash(t.accessToken)
	payload, err := json.Marshal(claims)
	if err != nil {
		return err
	}
	resp.IDToken, err = p.keys.Sign(ctx, alg, "JWT", payload)
	return err
}

// halfHash is OIDC Core section 3.1.3.6's at_hash for RS256 and ES256:
// the left half of the SHA-256 of the token, base64url encoded.
func halfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func hasScope(scopes []string, s string) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}

// userClaims returns sub and the standard claims the scopes allow (OIDC
// Core section 5.4), through OIDCConfig.AdditionalClaims. sub is the
// user's ID: stable, and never reassigned as a username may be.
func (p *Provider) userClaims(ctx context.Context, userID, clientID string, scopes []string, endpoint string) (map[string]any, error) {
	u, err := p.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		u = &store.User{ID: userID} // an application's own user source: sub only
	} else if err != nil {
		return nil, err
	}
	claims := map[string]any{}
	if hasScope(scopes, "profile") {
		putString(claims, "name", strings.TrimSpace(u.FirstName+" "+u.LastName))
		putString(claims, "given_name", u.FirstName)
		putString(claims, "family_name", u.LastName)
		putString(claims, "preferred_username", u.Username)
	}
	if hasScope(scopes, "email") && u.Email != "" {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	if f := p.cfg.OIDC.AdditionalClaims; f != nil {
		if claims, err = f(ctx, ClaimsRequest{User: u, ClientID: clientID, Scopes: scopes, Endpoint: endpoint}, claims); err != nil {
			return nil, err
		}
		if claims == nil {
			claims = map[string]any{}
		}
	}
	claims["sub"] = userID
	return claims, nil
}

func putString(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// maxNonce bounds the nonce a code keeps.
const maxNonce = 512

// parseOIDCParams checks prompt and reads nonce and max_age (OIDC Core
// section 3.1.2.1), and loginAfterParam.
func (p *Provider) parseOIDCParams(req *authzRequest, params url.Values) error {
	if err := p.parseLoginAfter(req, params.Get(loginAfterParam)); err != nil {
		return err
	}
	switch req.prompt {
	case "", "none", "login", "consent":
	default:
		return oautherr.ErrInvalidRequest.WithDescription("Unsupported prompt value.")
	}
	req.nonce = params.Get("nonce")
	if len(req.nonce) > maxNonce {
		return oautherr.ErrInvalidRequest.WithDescription("The nonce is longer than %d bytes.", maxNonce)
	}
	req.maxAge = -1
	if s, ok := params["max_age"]; ok {
		n, err := strconv.ParseInt(s[0], 10, 64)
		if err != nil || n < 0 {
			return oautherr.ErrInvalidRequest.WithDescription("max_age must be a non-negative integer.")
		}
		req.maxAge = n
	}
	return nil
}

// loginTooOld reports whether max_age asks for a fresher login than the
// owner's (OIDC Core section 3.1.2.1). A session that does not know its
// login time is not judged.
func (p *Provider) loginTooOld(req *authzRequest, owner *Owner) bool {
	if req.maxAge < 0 || owner.AuthTime.IsZero() {
		return false
	}
	return p.now().Sub(owner.AuthTime) > time.Duration(req.maxAge)*time.Second
}

// loginAfterParam replaces prompt=login in the URL the login page sends
// the user back to: the time of the prompt, with an HMAC, so that the
// request is granted only after a login at least that recent.
const loginAfterParam = "ginoauth_login_after"

func (p *Provider) loginAfterMAC(unix string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte("login after\x00" + unix))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// signLoginAfter is loginAfterParam's value for t.
func (p *Provider) signLoginAfter(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	return s + "." + p.loginAfterMAC(s)
}

// parseLoginAfter reads loginAfterParam; a forged or malformed value is
// invalid_request.
func (p *Provider) parseLoginAfter(req *authzRequest, v string) error {
	if v == "" {
		return nil
	}
	s, mac, ok := strings.Cut(v, ".")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || !hmac.Equal([]byte(mac), []byte(p.loginAfterMAC(s))) {
		return oautherr.ErrInvalidRequest.WithDescription("The %s parameter is not valid.", loginAfterParam)
	}
	req.loginAfter = time.Unix(n, 0)
	return nil
}

// loggedInAgain reports whether a request back from a prompt=login
// found a login at least as recent as the prompt (OIDC Core section
// 3.1.2.1: the user must be re-authenticated). A session that does not
// know its login time is not judged.
func (p *Provider) loggedInAgain(req *authzRequest, owner *Owner) bool {
	return req.loginAfter.IsZero() || owner.AuthTime.IsZero() || !owner.AuthTime.Before(req.loginAfter)
}
