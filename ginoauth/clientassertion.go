package ginoauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ClientAssertionTypeJWT is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Defaults of ClientAssertionConfig.
const (
	// DefaultClientAssertionMaxLifetime bounds how far in the future an
	// assertion's exp may be: a short-lived assertion keeps the replay
	// records (one per jti, until exp) few and short.
	DefaultClientAssertionMaxLifetime = 5 * time.Minute
	// DefaultClientAssertionClockSkew is the leeway on exp, nbf and iat.
	DefaultClientAssertionClockSkew = 30 * time.Second
	// DefaultJWKSCacheTTL is how long a client's fetched jwks_uri document
	// is used before it is fetched again.
	DefaultJWKSCacheTTL = 5 * time.Minute
	// DefaultJWKSRefetchInterval is the least time between two fetches of
	// one jwks_uri: an assertion naming an unknown kid refetches the set
	// (the client rotated its keys), at most this often.
	DefaultJWKSRefetchInterval = 30 * time.Second
	// DefaultJWKSFetchTimeout bounds one fetch of a jwks_uri.
	DefaultJWKSFetchTimeout = 5 * time.Second
)

// maxClientAssertionSize bounds the client_assertion parameter, in bytes.
const maxClientAssertionSize = 8 << 10

// maxJTILength bounds an assertion's jti, which becomes part of a store key.
const maxJTILength = 256

// ClientAssertionConfig configures client authentication with a JWT
// (private_key_jwt and client_secret_jwt: RFC 7523 sections 2.2 and 3,
// OpenID Connect Core 1.0 section 9). The zero value is usable.
type ClientAssertionConfig struct {
	// MaxLifetime bounds an assertion's exp: at most this (plus ClockSkew)
	// after now. Zero means DefaultClientAssertionMaxLifetime.
	MaxLifetime time.Duration
	// ClockSkew is the leeway on exp, nbf and iat. Zero means
	// DefaultClientAssertionClockSkew.
	ClockSkew time.Duration
	// HTTPClient fetches clients' jwks_uri documents. Nil means a client
	// with a DefaultJWKSFetchTimeout timeout that follows no redirect and
	// connects only to public addresses (publicOnlyDialer): a registered
	// jwks_uri must not reach the server's own network. Inject a client to
	// fetch from hosts inside it.
	// Whatever the client, only https URLs are fetched, each fetch within
	// DefaultJWKSFetchTimeout; tests inject the client of an httptest TLS
	// server.
	HTTPClient *http.Client
	// JWKSCacheTTL is how long a fetched key set is used. Zero means
	// DefaultJWKSCacheTTL.
	JWKSCacheTTL time.Duration
	// JWKSRefetchInterval is the least time between two fetches of one
	// jwks_uri. Zero means DefaultJWKSRefetchInterval.
	JWKSRefetchInterval time.Duration
}

func (c ClientAssertionConfig) withDefaults() ClientAssertionConfig {
	if c.MaxLifetime <= 0 {
		c.MaxLifetime = DefaultClientAssertionMaxLifetime
	}
	if c.ClockSkew <= 0 {
		c.ClockSkew = DefaultClientAssertionClockSkew
	}
	if c.JWKSCacheTTL <= 0 {
		c.JWKSCacheTTL = DefaultJWKSCacheTTL
	}
	if c.JWKSRefetchInterval <= 0 {
		c.JWKSRefetchInterval = DefaultJWKSRefetchInterval
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Transport: &http.Transport{
				DialContext:         publicOnlyDialer().DialContext,
				TLSHandshakeTimeout: DefaultJWKSFetchTimeout,
				MaxIdleConns:        16,
				IdleConnTimeout:     time.Minute,
			},
			Timeout: DefaultJWKSFetchTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return c
}

// The JWS algorithms of client assertions: asymmetric ones for
// private_key_jwt, HS256 for client_secret_jwt. Never "none".
var (
	asymmetricAssertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}
	secretAssertionAlgs     = []jose.SignatureAlgorithm{jose.HS256}
)

// ClientAssertionAlgs returns the JWS algorithms accepted in client
// assertions, for token_endpoint_auth_signing_alg_values_supported.
func ClientAssertionAlgs() []string {
	var algs []string
	for _, a := range slices.Concat(asymmetricAssertionAlgs, secretAssertionAlgs) {
		algs = append(algs, string(a))
	}
	return algs
}

// errAssertion is every refusal of a client assertion made before its
// signature is verified: one answer, whether the client is unknown, the
// key is or the signature is wrong.
var errAssertion = oautherr.ErrInvalidClient.WithDescription("Client authentication failed.")

// assertionClaims are the claims RFC 7523 section 3 requires.
type assertionClaims struct {
	jwt.Claims
}

// UnverifiedAssertion is a client assertion parsed but not verified.
type UnverifiedAssertion struct {
	// ClientID is iss, which equals sub.
	ClientID string
	// Alg is the JWS algorithm of its only signature.
	Alg string
	// KID is the key id of its header, "" when none.
	KID    string
	tok    *jwt.JSONWebToken
	claims assertionClaims // unverified
}

// ParseClientAssertion parses a client assertion (RFC 7523 section 3)
// without verifying it: a compact JWS of one signature, of one of the
// accepted algorithms (never "none"), whose iss and sub are one non-empty
// client id. Anything else is an error.
func ParseClientAssertion(raw string) (*UnverifiedAssertion, error) {
	if raw == "" || len(raw) > maxClientAssertionSize {
		return nil, errors.New("ginoauth: client assertion empty or too large")
	}
	tok, err := jwt.ParseSigned(raw, slices.Concat(asymmetricAssertionAlgs, secretAssertionAlgs))
	if err != nil {
		return nil, err
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("ginoauth: client assertion has more than one signature")
	}
	var c assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return nil, err
	}
	if c.Issuer == "" || c.Issuer != c.Subject {
		return nil, errors.New("ginoauth: client assertion iss is empty or not its sub")
	}
	h := tok.Headers[0]
	return &UnverifiedAssertion{ClientID: c.Issuer, Alg: h.Algorithm, KID: h.KeyID, tok: tok, claims: c}, nil
}

// usesAssertion reports whether the request authenticates its client with
// an assertion (RFC 7521 section 4.2).
func usesAssertion(params map[string]string) bool {
	_, typ := params["client_assertion_type"]
	_, a := params["client_assertion"]
	return typ || a
}

// authenticateAssertion authenticates a client by a JWT assertion (RFC
// 7523 sections 2.2 and 3, OpenID Connect Core section 9). Every refusal
// is invalid_client (RFC 7521 section 4.2.1), except a request that uses
// two methods or lacks a parameter (invalid_request); a store failure is
// returned as it is (503).
func (p *Provider) authenticateAssertion(c *gin.Context, params map[string]string) (*store.Application, error) {
	if params["client_assertion_type"] == "" || params["client_assertion"] == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("A client assertion needs client_assertion_type and client_assertion.")
	}
	if _, ok := params["client_secret"]; ok || basicAuthorization(c.Request) {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Use one client authentication method, not both.")
	}
	if params["client_assertion_type"] != ClientAssertionTypeJWT {
		return nil, oautherr.ErrInvalidClient.WithDescription("The client_assertion_type is not supported.")
	}
	a, err := ParseClientAssertion(params["client_assertion"])
	if err != nil {
		p.log.Debug("ginoauth: client assertion refused", "reason", err.Error())
		return nil, errAssertion
	}
	if id, ok := params["client_id"]; ok && id != a.ClientID {
		return nil, errAssertion
	}
	// The claims are checked before the signature too, unverified, so
	// that an assertion that could never pass costs no key lookup and, for
	// a jwks_uri, no fetch; the answer does not depend on the client.
	if err := p.checkAssertionClaims(c, &a.claims); err != nil {
		return nil, err
	}
	ctx := c.Request.Context()
	app, err := p.apps.get(ctx, a.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errAssertion
	}
	if err != nil {
		return nil, err
	}
	claims, err := p.verifyAssertion(ctx, app, a)
	if err != nil {
		p.log.Debug("ginoauth: client assertion refused", "client_id", app.ClientID, "reason", err.Error())
		return nil, errAssertion
	}
	if err := p.checkAssertionClaims(c, claims); err != nil {
		return nil, err
	}
	first, err := p.store.FirstUse(ctx, "jti:"+app.ClientID+":"+claims.ID, claims.Expiry.Time().Add(p.assertion.ClockSkew))
	if err != nil {
		return nil, err
	}
	if !first {
		return nil, oautherr.ErrInvalidClient.WithDescription("The client assertion was used before.")
	}
	return app, nil
}

// basicAuthorization reports whether r carries HTTP Basic credentials.
func basicAuthorization(r *http.Request) bool {
	for _, h := range r.Header.Values("Authorization") {
		scheme, _, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Basic") {
			return true
		}
	}
	return false
}

// verifyAssertion checks a's signature with the keys of app's method:
// its public keys for private_key_jwt, its secret for client_secret_jwt;
// any other method is refused. It returns the verified claims.
func (p *Provider) verifyAssertion(ctx context.Context, app *store.Application, a *UnverifiedAssertion) (*assertionClaims, error) {
	if app.ClientType != store.Confidential {
		return nil, errors.New("a public client sent an assertion")
	}
	alg := jose.SignatureAlgorithm(a.Alg)
	var claims assertionClaims
	switch app.AuthMethod() {
	case store.AuthClientSecretJWT:
		if !slices.Contains(secretAssertionAlgs, alg) {
			return nil, errors.New("client_secret_jwt with algorithm " + a.Alg)
		}
		secret, err := p.openClientSecret(app)
		if err != nil {
			return nil, err
		}
		if err := a.tok.Claims(secret, &claims); err != nil {
			return nil, err
		}
		return &claims, nil
	case store.AuthPrivateKeyJWT:
		if !slices.Contains(asymmetricAssertionAlgs, alg) {
			return nil, errors.New("private_key_jwt with algorithm " + a.Alg)
		}
		keys, err := p.clientKeys(ctx, app, false)
		if err != nil {
			return nil, err
		}
		if verifyWithAny(a, keys, &claims) {
			return &claims, nil
		}
		if app.JWKSURI == "" {
			return nil, errors.New("no key of the jwks verifies the signature")
		}
		// The client may have rotated its keys: fetch them again (at most
		// once per JWKSRefetchInterval).
		if keys, err = p.clientKeys(ctx, app, true); err != nil {
			return nil, err
		}
		if verifyWithAny(a, keys, &claims) {
			return &claims, nil
		}
		return nil, errors.New("no key of the jwks_uri verifies the signature")
	default:
		return nil, errors.New("the client's method is " + app.AuthMethod())
	}
}

// verifyWithAny verifies a with the first key of keys that fits its kid and
// algorithm, filling claims.
func verifyWithAny(a *UnverifiedAssertion, keys []jose.JSONWebKey, claims *assertionClaims) bool {
	for _, k := range keys {
		if (a.KID != "" && k.KeyID != a.KID) || (k.Algorithm != "" && k.Algorithm != a.Alg) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !k.IsPublic() || !k.Valid() {
			continue
		}
		if err := a.tok.Claims(k.Key, claims); err == nil {
			return true
		}
	}
	return false
}

// clientKeys returns the client's public keys: its jwks, or its jwks_uri's
// (refetched when refresh is set and the last fetch is old enough).
func (p *Provider) clientKeys(ctx context.Context, app *store.Application, refresh bool) ([]jose.JSONWebKey, error) {
	if len(app.JWKS) > 0 {
		set, err := parseClientJWKS(app.JWKS)
		if err != nil {
			return nil, err
		}
		return set.Keys, nil
	}
	if app.JWKSURI == "" {
		return nil, errors.New("the client has no keys")
	}
	return p.jwks.keys(ctx, app.JWKSURI, refresh)
}

// checkAssertionClaims checks a verified assertion's claims (RFC 7523
// section 3): aud names this server, exp is present, in the future and
// not too far, nbf and iat are not in the future, and jti is present.
func (p *Provider) checkAssertionClaims(c *gin.Context, claims *assertionClaims) error {
	now := p.now()
	skew := p.assertion.ClockSkew
	switch {
	case claims.Expiry == nil:
		return oautherr.ErrInvalidClient.WithDescription("The client assertion has no exp.")
	case !now.Before(claims.Expiry.Time().Add(skew)):
		return oautherr.ErrInvalidClient.WithDescription("The client assertion has expired.")
	case claims.Expiry.Time().After(now.Add(p.assertion.MaxLifetime + skew)):
		return oautherr.ErrInvalidClient.WithDescription("The client assertion's exp is more than %d seconds away.", int(p.assertion.MaxLifetime/time.Second))
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(skew)):
		return oautherr.ErrInvalidClient.WithDescription("The client assertion is not valid yet (nbf).")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(skew)):
		return oautherr.ErrInvalidClient.WithDescription("The client assertion was issued in the future (iat).")
	case claims.ID == "" || len(claims.ID) > maxJTILength:
		return oautherr.ErrInvalidClient.WithDescription("The client assertion needs a jti of at most %d bytes.", maxJTILength)
	case !slices.ContainsFunc(claims.Audience, p.assertionAudience(c)):
		return oautherr.ErrInvalidClient.WithDescription("The client assertion's aud is not this server.")
	}
	return nil
}

// assertionAudience returns the test of an aud value: the issuer, the
// token endpoint (which OpenID Connect Core section 9 says every endpoint
// accepts) or the URL of the endpoint called, with or without a trailing
// slash.
func (p *Provider) assertionAudience(c *gin.Context) func(string) bool {
	iss := p.issuer(c)
	origin := iss
	if i := strings.Index(iss, "://"); i >= 0 {
		if j := strings.IndexByte(iss[i+3:], '/'); j >= 0 {
			origin = iss[:i+3+j]
		}
	}
	want := []string{iss, iss + p.prefix + "/token", origin + strings.TrimRight(c.Request.URL.Path, "/")}
	return func(aud string) bool {
		return slices.Contains(want, strings.TrimRight(aud, "/"))
	}
}

// sealClientSecret encrypts a client_secret_jwt client's secret for
// store.Application.SealedSecret: AES-256-GCM under a key derived from
// Config.SecretKey, bound to the client id.
func (p *Provider) sealClientSecret(clientID, secret string) ([]byte, error) {
	return sealWith(p.secretSealKey, []byte(secret), []byte("client_secret/"+clientID))
}

// openClientSecret reverses sealClientSecret.
func (p *Provider) openClientSecret(app *store.Application) ([]byte, error) {
	if len(app.SealedSecret) == 0 {
		return nil, errors.New("the client has no sealed secret")
	}
	return openWith(p.secretSealKey, app.SealedSecret, []byte("client_secret/"+app.ClientID))
}

// sealSecretFor returns what app.SealedSecret keeps for its new secret:
// the sealed secret for a client_secret_jwt client, nil for any other (a
// secret is kept readable only where its method needs it).
func (p *Provider) sealSecretFor(app *store.Application, secret string) ([]byte, error) {
	if app.ClientType != store.Confidential || app.AuthMethod() != store.AuthClientSecretJWT {
		return nil, nil
	}
	return p.sealClientSecret(app.ClientID, secret)
}

// errNotPublic refuses a connection to an address that is not public.
var errNotPublic = errors.New("ginoauth: jwks_uri resolves to an address that is not public")

// publicOnlyDialer dials only public unicast addresses: not loopback,
// private (RFC 1918, RFC 4193), link-local, shared (RFC 6598),
// unspecified or multicast. It checks the address it connects to, after
// name resolution, so a name that resolves (or is rebound) to an internal
// address is refused too.
func publicOnlyDialer() *net.Dialer {
	return &net.Dialer{
		Timeout: DefaultJWKSFetchTimeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return errNotPublic
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !publicAddr(ip.Unmap()) {
				return errNotPublic
			}
			return nil
		},
	}
}

// sharedSpace is RFC 6598's carrier-grade NAT range.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

func publicAddr(ip netip.Addr) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!sharedSpace.Contains(ip)
}
