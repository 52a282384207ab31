// Package ginoauth is an OAuth 2.0 authorization server for Gin, modelled
// on Django OAuth Toolkit.
//
// A Provider, built by New from a Config, mounts its endpoints (authorize,
// token, revoke, introspect and metadata) on any gin.IRouter (Mount), and
// gives the resource-server middleware for its own tokens (Middleware:
// resource.Authenticate with the Provider as validator, configured by
// Config.Middleware). Guards in package
// github.com/ginoauth/toolkit/permissions then decide, per route group or
// endpoint, which scopes a request needs, answering RFC 6750's 401 and 403.
//
// The other jobs live in their own packages: resource (the middleware,
// TokenInfo, and an Introspector for an API that trusts a remote server),
// oautherr (the RFC 6749 section 5.2 error and its HTTP answers), scope
// (RFC 6749 section 3.3 scope syntax) and pages (the management pages,
// mounted by pages.Mount).
//
// Tokens are opaque: a recognisable prefix ("goat_" for access tokens,
// "gort_" for refresh tokens), 256 random bits and a keyed checksum, so a
// forged token is refused without a store round trip. The store keeps only
// their SHA-256 (package store); validating a token costs one round trip.
package ginoauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/internal/keyset"
	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/internal/tokencache"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
)

// Provider is an OAuth2 authorization server: the value every endpoint
// hangs off, and a resource.TokenValidator for its own tokens. Build it
// with New; it is safe for concurrent use, and any number can live in one
// process.
type Provider struct {
	cfg            Config // with the defaults filled in
	store          store.Store
	users          UserAuthenticator
	codec          *opaque.Codec
	scopes         map[string]string
	scopeNames     []string // sorted
	defaultScopes  []string
	accessTTL      time.Duration
	refreshTTL     time.Duration
	codeTTL        time.Duration
	consentTpl     *template.Template
	errorTpl       *template.Template
	csrfKey        []byte
	sealKey        []byte
	grants         map[string]GrantType
	prefix         string
	realm          string
	basicChallenge string // the token endpoint's WWW-Authenticate for invalid_client
	cors           gin.HandlerFunc
	loginURL       loginURL
	log            *slog.Logger
	now            func() time.Time
	obs            observe.Observer // nil: nothing reported
	tracer         trace.Tracer
	apps           *appCache
	tokens         *tokencache.Cache     // nil: no validation cache
	stopWatch      func()                // stops the validation cache subscription and waits
	keys           *keyset.Set           // nil without OpenID Connect
	rotator        store.RefreshRotator  // the store's, observed; nil when it has none
	fresh          store.FreshTokenSaver // the store's, observed; nil when it has none

	assertion     ClientAssertionConfig // with its defaults
	jwks          *jwksFetcher          // clients' jwks_uri documents
	secretSealKey []byte                // seals client_secret_jwt secrets
	dpop          *dpop.Verifier        // nil when Config.DPoP.Disabled
}

// New builds a Provider from cfg: it fills in the documented defaults,
// then refuses a configuration that cannot work (a short secret key, a
// default scope that is not a scope, an issuer that is not an http(s) URL).
func New(cfg Config) (*Provider, error) {
	key, err := secretKey(cfg)
	if err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)
	if err := validate(cfg); err != nil {
		return nil, err
	}
	codec, err := opaque.New(key)
	if err != nil {
		return nil, fmt.Errorf("ginoauth: SecretKey: %w", err)
	}
	p := &Provider{
		cfg:            cfg,
		store:          newObservedStore(cfg.Store, cfg.Observer),
		users:          cfg.Users,
		codec:          codec,
		scopes:         cfg.Scopes,
		scopeNames:     slices.Sorted(maps.Keys(cfg.Scopes)),
		defaultScopes:  cfg.DefaultScopes,
		accessTTL:      cfg.AccessTokenExpire,
		refreshTTL:     cfg.RefreshTokenExpire,
		codeTTL:        cfg.AuthorizationCodeExpire,
		consentTpl:     cfg.ConsentTemplate,
		errorTpl:       cfg.ErrorTemplate,
		csrfKey:        deriveKey(key, "ginoauth csrf"),
		sealKey:        deriveKey(key, "ginoauth seal"),
		prefix:         cfg.PathPrefix,
		realm:          cfg.Middleware.Realm,
		basicChallenge: `Basic realm="` + cfg.Middleware.Realm + `"`,
		log:            cfg.Logger,
		now:            cfg.Now,
		obs:            cfg.Observer,
		tracer:         tokenTracer(cfg.TracerProvider),
		assertion:      cfg.ClientAssertion.withDefaults(),
		secretSealKey:  deriveKey(key, "ginoauth client secret"),
	}
	p.rotator = newObservedRotator(cfg.Store, cfg.Observer)
	p.fresh = newObservedFreshSaver(cfg.Store, cfg.Observer)
	p.jwks = newJWKSFetcher(p.assertion)
	// The cache runs on the real clock: a frozen Config.Now must not freeze it.
	p.apps = newAppCache(p.store.GetApplication, cfg.ApplicationCacheTTL, cfg.ApplicationCacheSize, time.Now)
	if p.keys, err = newKeySet(cfg, key); err != nil {
		return nil, err
	}
	if p.dpop, err = newDPoP(cfg, key, p.store); err != nil {
		return nil, fmt.Errorf("ginoauth: DPoP: %w", err)
	}
	p.startValidationCache(cfg)
	if p.loginURL, err = parseLoginURL(cfg.LoginURL); err != nil {
		return nil, err
	}
	if p.grants, err = grantTable(append(deviceGrantTypes(cfg), cfg.GrantTypes...)); err != nil {
		return nil, err
	}
	if len(cfg.CORSAllowedOrigins) > 0 {
		p.cors = cors.New(corsConfig(cfg.CORSAllowedOrigins))
	}
	return p, nil
}

// secretKey returns Config.SecretKey, or a random key when there is none.
func secretKey(cfg Config) ([]byte, error) {
	if cfg.SecretKey != nil {
		return cfg.SecretKey, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if cfg.Store != nil {
		logger := cfg.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("ginoauth: no SecretKey configured; tokens will stop working when this process restarts")
	}
	return key, nil
}

// withDefaults returns cfg with every documented default filled in: the
// one place where they are.
func withDefaults(cfg Config) Config {
	if cfg.Store == nil {
		cfg.Store = memstore.New()
	}
	if cfg.Users == nil {
		cfg.Users = StoreUsers{Users: cfg.Store}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ApplicationCacheTTL == 0 {
		cfg.ApplicationCacheTTL = DefaultApplicationCacheTTL
	}
	if cfg.ApplicationCacheSize <= 0 {
		cfg.ApplicationCacheSize = DefaultApplicationCacheSize
	}
	if cfg.PasswordAttempts.Limit == 0 {
		cfg.PasswordAttempts.Limit = DefaultPasswordAttemptLimit
	}
	if cfg.PasswordAttempts.Window <= 0 {
		cfg.PasswordAttempts.Window = DefaultPasswordAttemptWindow
	}
	if cfg.AccessTokenExpire == 0 {
		cfg.AccessTokenExpire = DefaultAccessTokenExpire
	}
	if cfg.RefreshTokenExpire == 0 {
		cfg.RefreshTokenExpire = DefaultRefreshTokenExpire
	}
	if cfg.AccessTokenAlg == "" {
		cfg.AccessTokenAlg = keyset.RS256
	}
	if cfg.AuthorizationCodeExpire == 0 {
		cfg.AuthorizationCodeExpire = DefaultAuthorizationCodeExpire
	}
	if cfg.LoginURL == "" {
		cfg.LoginURL = DefaultLoginURL
	}
	if cfg.ConsentTemplate == nil {
		cfg.ConsentTemplate = defaultConsentTemplate
	}
	if cfg.ErrorTemplate == nil {
		cfg.ErrorTemplate = defaultErrorTemplate
	}
	cfg.PathPrefix = strings.TrimRight(cfg.PathPrefix, "/")
	if cfg.PathPrefix == "" {
		cfg.PathPrefix = DefaultPathPrefix
	}
	if cfg.Scopes == nil {
		cfg.Scopes = defaultScopes()
	} else {
		cfg.Scopes = maps.Clone(cfg.Scopes)
	}
	if cfg.DefaultScopes == nil {
		cfg.DefaultScopes = slices.Sorted(maps.Keys(cfg.Scopes))
	} else {
		cfg.DefaultScopes = slices.Clone(cfg.DefaultScopes)
	}
	oidcDefaults(&cfg) // after DefaultScopes: openid is never a default
	if cfg.Middleware.Realm == "" {
		cfg.Middleware.Realm = resource.DefaultRealm
	}
	if cfg.Middleware.Logger == nil {
		cfg.Middleware.Logger = cfg.Logger
	}
	if cfg.Middleware.Now == nil {
		cfg.Middleware.Now = cfg.Now
	}
	if cfg.Middleware.Observer == nil {
		cfg.Middleware.Observer = cfg.Observer
	}
	return cfg
}

// validate refuses a configuration (with its defaults) that cannot work.
func validate(cfg Config) error {
	switch cfg.RequestApprovalPrompt {
	case "", "force", "auto":
	default:
		return fmt.Errorf("ginoauth: RequestApprovalPrompt must be \"force\" or \"auto\", not %q", cfg.RequestApprovalPrompt)
	}
	if cfg.Issuer != "" {
		if err := validIssuer(cfg.Issuer); err != nil {
			return err
		}
	}
	if err := validResources(cfg); err != nil {
		return err
	}
	if cfg.AccessTokenExpire < 0 || cfg.RefreshTokenExpire < 0 || cfg.AuthorizationCodeExpire < 0 {
		return errors.New("ginoauth: token lifetimes must not be negative")
	}
	switch cfg.AccessTokenFormat {
	case "", store.TokenFormatOpaque, store.TokenFormatJWT:
	default:
		return fmt.Errorf("ginoauth: AccessTokenFormat must be %q or %q", store.TokenFormatOpaque, store.TokenFormatJWT)
	}
	for name := range cfg.Scopes {
		if !scope.Valid(name) {
			return fmt.Errorf("ginoauth: %q is not a valid scope name", name)
		}
	}
	for _, s := range cfg.DefaultScopes {
		if _, ok := cfg.Scopes[s]; !ok {
			return fmt.Errorf("ginoauth: default scope %q is not in Scopes", s)
		}
	}
	if cfg.RequirePushedAuthorizationRequests && pushedStore(cfg) == nil {
		return errors.New("ginoauth: RequirePushedAuthorizationRequests needs a Store implementing store.PushedRequests")
	}
	if !validRealm(cfg.Middleware.Realm) {
		return errors.New("ginoauth: Middleware.Realm may hold only printable ASCII without '\"' and '\\'")
	}
	if err := validRegistration(cfg); err != nil {
		return err
	}
	if len(cfg.NarrowedScopes) > 0 && cfg.NarrowScopes == nil {
		return errors.New("ginoauth: NarrowedScopes is set without NarrowScopes")
	}
	if len(cfg.CORSAllowedOrigins) > 0 {
		if err := corsConfig(cfg.CORSAllowedOrigins).Validate(); err != nil {
			return fmt.Errorf("ginoauth: CORSAllowedOrigins: %w", err)
		}
	}
	return nil
}

// validRealm reports whether realm fits in a quoted challenge attribute
// as it is (RFC 9110 section 11.2 quoted-string, without escapes).
func validRealm(realm string) bool {
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Store returns the store the provider keeps its data in.
func (p *Provider) Store() store.Store { return p.cfg.Store }

// Scopes returns the configured scopes and their descriptions (a copy).
func (p *Provider) Scopes() map[string]string {
	out := make(map[string]string, len(p.scopes))
	for k, v := range p.scopes {
		out[k] = v
	}
	return out
}

// Mount registers the provider's endpoints on r, each with and without its
// trailing slash (no redirect), under Config.PathPrefix ("/o"):
//
//	GET, POST {prefix}/authorize/    authorization endpoint with consent (RFC 6749 3.1, RFC 7636)
//	POST {prefix}/token/             token endpoint (RFC 6749 3.2)
//	POST {prefix}/revoke_token/      revocation (RFC 7009)
//	POST {prefix}/introspect/        introspection (RFC 7662)
//	POST {prefix}/par/               pushed authorization requests (RFC 9126)
//	POST {prefix}/device_authorization/  device authorization (RFC 8628 3.1)
//	GET, POST {prefix}/device/       device verification page (RFC 8628 3.3)
//	POST {prefix}/register/          client registration (RFC 7591), with Config.Registration
//	GET, PUT, DELETE {prefix}/register/{client_id}  client configuration (RFC 7592)
//	GET  /.well-known/oauth-authorization-server  metadata (RFC 8414)
//	GET  /.well-known/oauth-protected-resource    metadata (RFC 9728)
//
// With Config.CORSAllowedOrigins, the POST endpoints answer CORS preflight
// requests from those origins. The HTML pages where users manage their
// applications and authorized tokens are package pages, mounted apart.
func (p *Provider) Mount(r gin.IRouter) {
	var pre []gin.HandlerFunc
	if p.cors != nil {
		pre = append(pre, p.cors)
	}
	endpoints := []struct {
		name    string
		handler gin.HandlerFunc
	}{
		{"/token", p.TokenHandler()},
		{"/revoke_token", p.RevokeHandler()},
		{"/introspect", p.IntrospectHandler()},
	}
	if p.pushedRequests() != nil {
		endpoints = append(endpoints, struct {
			name    string
			handler gin.HandlerFunc
		}{"/par", p.PushedAuthorizationHandler()})
	}
	for _, e := range endpoints {
		for _, path := range []string{p.prefix + e.name + "/", p.prefix + e.name} {
			r.POST(path, append(pre, e.handler)...)
			r.OPTIONS(path, append(pre, preflight)...)
			for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
				r.Handle(m, path, methodNotAllowed("POST"))
			}
		}
	}
	for _, path := range []string{p.prefix + "/authorize/", p.prefix + "/authorize"} {
		r.GET(path, p.AuthorizeHandler())
		r.POST(path, p.AuthorizeHandler())
	}
	p.mountDevice(r, pre)
	p.mountRegistration(r, pre) // with Config.Registration: register.go
	r.GET("/.well-known/oauth-authorization-server", p.MetadataHandler())
	r.GET("/.well-known/oauth-protected-resource", p.ResourceMetadataHandler())
	p.mountOIDC(r)
}

// CORS returns the CORS middleware for Config.CORSAllowedOrigins (nil
// when none are configured), allowing the Authorization and Content-Type
// headers; use it on API groups that browser clients call, as the demo
// does.
func (p *Provider) CORS() gin.HandlerFunc { return p.cors }

func corsConfig(origins []string) cors.Config {
	return cors.Config{
		AllowOrigins:  origins,
		AllowMethods:  []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"},
		AllowHeaders:  []string{"Authorization", "Content-Type", "Accept"},
		ExposeHeaders: []string{"WWW-Authenticate", "Retry-After"},
		MaxAge:        10 * time.Minute,
	}
}

// preflight answers an OPTIONS request that the CORS middleware did not.
func preflight(c *gin.Context) {
	c.Header("Allow", "POST, OPTIONS")
	c.Status(http.StatusNoContent)
}

// methodNotAllowed answers 405 with an RFC-style JSON error.
func methodNotAllowed(allow string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Allow", allow)
		e := oautherr.ErrInvalidRequest.WithDescription("Use %s.", allow)
		e.Status = 405
		oautherr.WriteJSON(c, e)
	}
}

// deriveKey derives a purpose-bound key from the secret key, so the
// token checksum key is never used for anything else.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// newID returns a random identifier for a client or a user: 128 bits in
// base32 (A-Z, 2-7), so it never begins with '-' and reads safely as a
// command-line argument, in a URL and in a Redis key.
func newID() string { return rand.Text() }

// randomID returns n random bytes, base64url encoded.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// logError logs a failure the client only sees as 5xx. Errors carry no
// token, secret or password: the store never sees them and handlers never
// put them in errors.
func (p *Provider) logError(ctx context.Context, msg string, err error) {
	p.log.ErrorContext(ctx, msg, "err", err)
}

// validIssuer checks Config.Issuer: an absolute http or https URL with a
// host and no user, query or fragment (RFC 8414 section 2; http for
// development).
func validIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#") {
		return errors.New("ginoauth: Issuer must be an http or https URL with a host and no user, query or fragment")
	}
	return nil
}
