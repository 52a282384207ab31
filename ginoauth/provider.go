// Package ginoauth is an OAuth2 authorization server and resource-server
// middleware for Gin, modelled on Django OAuth Toolkit.
//
// A Provider, built by New from a Config, mounts the token endpoint on any
// gin.IRouter (Mount) and gives the middleware that authenticates
// "Authorization: Bearer" tokens (Middleware). Guards in package
// github.com/ginoauth/toolkit/permissions then decide, per route group or
// endpoint, which scopes a request needs, answering RFC 6750's 401 and 403.
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
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
)

// Provider is an OAuth2 authorization server and resource server: the
// value every endpoint and the middleware hang off. Build it with New; it
// is safe for concurrent use, and any number can live in one process.
type Provider struct {
	cfg           Config
	store         store.Store
	users         UserAuthenticator
	codec         *opaque.Codec
	scopes        map[string]string
	scopeNames    []string // sorted
	defaultScopes []string
	accessTTL     time.Duration
	refreshTTL    time.Duration
	codeTTL       time.Duration
	consentTpl    *template.Template
	errorTpl      *template.Template
	csrfKey       []byte
	sealKey       []byte
	grants        map[string]Grant
	prefix        string
	realm         string
	skip          map[string]bool
	cors          gin.HandlerFunc
	log           *slog.Logger
	now           func() time.Time
}

// New builds a Provider from cfg, filling in the documented defaults. It
// fails on a configuration that cannot work (a short secret key, a default
// scope that is not a scope).
func New(cfg Config) (*Provider, error) {
	p := &Provider{
		cfg:        cfg,
		store:      cfg.Store,
		users:      cfg.Users,
		scopes:     cfg.Scopes,
		accessTTL:  cfg.AccessTokenExpire,
		refreshTTL: cfg.RefreshTokenExpire,
		prefix:     strings.TrimRight(cfg.PathPrefix, "/"),
		realm:      cfg.Realm,
		log:        cfg.Logger,
		now:        cfg.Now,
	}
	if p.store == nil {
		p.store = memstore.New()
	}
	if p.users == nil {
		p.users = StoreUsers{Users: p.store}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.accessTTL == 0 {
		p.accessTTL = DefaultAccessTokenExpire
	}
	p.codeTTL = cfg.AuthorizationCodeExpire
	if p.codeTTL == 0 {
		p.codeTTL = DefaultAuthorizationCodeExpire
	}
	p.consentTpl, p.errorTpl = cfg.ConsentTemplate, cfg.ErrorTemplate
	if p.consentTpl == nil {
		p.consentTpl = DefaultConsentTemplate
	}
	if p.errorTpl == nil {
		p.errorTpl = DefaultErrorTemplate
	}
	switch cfg.RequestApprovalPrompt {
	case "", "force", "auto":
	default:
		return nil, fmt.Errorf("ginoauth: RequestApprovalPrompt must be \"force\" or \"auto\", not %q", cfg.RequestApprovalPrompt)
	}
	if cfg.Issuer != "" {
		if err := validIssuer(cfg.Issuer); err != nil {
			return nil, err
		}
	}
	if p.accessTTL < 0 || p.refreshTTL < 0 || p.codeTTL < 0 {
		return nil, errors.New("ginoauth: token lifetimes must not be negative")
	}
	if cfg.PathPrefix == "" {
		p.prefix = DefaultPathPrefix
	}
	if p.realm == "" {
		p.realm = DefaultRealm
	}
	key := cfg.SecretKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if cfg.Store != nil {
			p.log.Warn("ginoauth: no SecretKey configured; tokens will stop working when this process restarts")
		}
	}
	codec, err := opaque.New(key)
	if err != nil {
		return nil, fmt.Errorf("ginoauth: SecretKey: %w", err)
	}
	p.codec = codec
	p.csrfKey = deriveKey(key, "ginoauth csrf")
	p.sealKey = deriveKey(key, "ginoauth seal")
	if p.scopes == nil {
		p.scopes = defaultScopes()
	}
	for name := range p.scopes {
		if s, err := ParseScope(name); err != nil || len(s) != 1 || s[0] != name {
			return nil, fmt.Errorf("ginoauth: %q is not a valid scope name", name)
		}
		p.scopeNames = append(p.scopeNames, name)
	}
	slices.Sort(p.scopeNames)
	p.defaultScopes = cfg.DefaultScopes
	if p.defaultScopes == nil {
		p.defaultScopes = p.scopeNames
	}
	for _, s := range p.defaultScopes {
		if _, ok := p.scopes[s]; !ok {
			return nil, fmt.Errorf("ginoauth: default scope %q is not in Scopes", s)
		}
	}
	if err := p.registerGrants(cfg.Grants); err != nil {
		return nil, err
	}
	if len(cfg.CORSAllowedOrigins) > 0 {
		cc := corsConfig(cfg.CORSAllowedOrigins)
		if err := cc.Validate(); err != nil {
			return nil, fmt.Errorf("ginoauth: CORSAllowedOrigins: %w", err)
		}
		p.cors = cors.New(cc)
	}
	p.skip = make(map[string]bool, len(cfg.SkipPaths))
	for _, path := range cfg.SkipPaths {
		p.skip[path] = true
	}
	return p, nil
}

// Store returns the store the provider keeps its data in.
func (p *Provider) Store() store.Store { return p.store }

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
//	{prefix}/applications/...        the user's applications (HTML pages)
//	{prefix}/authorized_tokens/...   what the user granted (HTML pages)
//	GET  /.well-known/oauth-authorization-server  metadata (RFC 8414)
//	GET  /.well-known/oauth-protected-resource    metadata (RFC 9728)
//
// With Config.CORSAllowedOrigins, the POST endpoints answer CORS preflight
// requests from those origins.
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
	r.GET("/.well-known/oauth-authorization-server", p.MetadataHandler())
	r.GET("/.well-known/oauth-protected-resource", p.ResourceMetadataHandler())
	p.mountPages(r)
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
		e := ErrInvalidRequest.WithDescription("Use %s.", allow)
		e.Status = 405
		writeJSONError(c, e)
	}
}

// deriveKey derives a purpose-bound key from the secret key, so the
// token checksum key is never used for anything else.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

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
