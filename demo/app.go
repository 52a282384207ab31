package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/pages"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/permissions"
)

// options configure newApp. The zero value gives embedded stores, a random
// secret key and DOT's default token lifetimes.
type options struct {
	// Store keeps applications, users and tokens; nil means memstore.
	Store store.Store
	// Snippets keeps snippets; nil means an in-memory store.
	Snippets snippets.Store
	// SecretKey signs tokens; nil means a random one.
	SecretKey []byte
	// AccessTokenExpire is the access-token lifetime; zero means DOT's 10 h.
	AccessTokenExpire time.Duration
	// Now is the clock of the provider and of snippet creation times; nil
	// means time.Now.
	Now func() time.Time
	// Logger gets the request log and errors; nil means slog.Default().
	Logger *slog.Logger
	// BenchRoutes adds the routes the load runs of docs/benchmarks.md
	// compare: /bench/open and /bench/snippets/ with no authentication,
	// /bench/protected behind the middleware and TokenHasReadWriteScope.
	BenchRoutes bool
	// TrustedProxies are the proxies (IPs or CIDR blocks) whose
	// X-Forwarded-For names the client (gin's SetTrustedProxies); none
	// means the peer is the client.
	TrustedProxies []string
	// CORSOrigins are the origins browser clients (a single-page app with
	// a public client) may call the provider's endpoints and the API from.
	CORSOrigins []string
	// SecureCookies marks the session cookies Secure on every request, for
	// a demo behind a TLS-terminating proxy; without it they are Secure on
	// requests that came over TLS.
	SecureCookies bool
	// LoginLimit is how many login attempts one address may make per
	// minute; zero means 30, negative means no limit.
	LoginLimit int
	// SnippetCodeLimit is the most bytes a snippet's code may have; zero
	// means snippets.DefaultMaxCodeBytes (64 KiB).
	SnippetCodeLimit int
	// SnippetWriteRate is how many snippet writes (POST, PUT, PATCH,
	// DELETE) one user may make per period, as DRF's UserRateThrottle,
	// counted in the store (in Redis: across instances); the zero value
	// means defaultSnippetWriteRate, a negative N no limit.
	SnippetWriteRate rate
	// TokenRateLimit is how many token requests one client, and one source
	// address, may make per minute (ginoauth.Config.TokenRateLimit, both
	// limits); zero means defaultTokenRateLimit, negative means no limit.
	TokenRateLimit int
	// ValidationCache turns on ginoauth.Config.ValidationCache (used with
	// Redis only).
	ValidationCache bool
	// AccessTokenFormat and AccessTokenAlg are ginoauth.Config's: the
	// default format of access tokens ("opaque" or "jwt") and the
	// algorithm of JWT ones; empty means the provider's defaults.
	AccessTokenFormat, AccessTokenAlg string
	// DPoPNonces turns on ginoauth.Config.DPoP.Nonces (--dpop-nonces).
	DPoPNonces bool
	// Issuer is the provider's issuer identifier (ginoauth.Config.Issuer),
	// in its metadata and as the iss of authorization answers, and what
	// the demo client expects there; empty means the scheme and host each
	// request came to.
	Issuer string
	// Resource is the API's resource identifier (ginoauth.Config.Resource,
	// RFC 8707 and RFC 9728): the audience of tokens issued without a
	// resource parameter, and the one the API's middleware requires;
	// Resources are the other resources clients may ask tokens for
	// (ginoauth.Config.Resources). Empty Resource: no audience.
	Resource  string
	Resources []string
	// SocialURL, if set, is the social site's base URL: the API accepts
	// its tokens through the exchange grants (social.go).
	SocialURL string
	// SocialClientIDs are the social site's clients whose tokens the API
	// converts (--social-client-id); none converts no token.
	SocialClientIDs []string
	// Observer and TracerProvider are ginoauth.Config's (serve's
	// --metrics-addr and --trace); nil means none.
	Observer       observe.Observer
	TracerProvider trace.TracerProvider
}

// app is the demo server: its HTTP handler and what the commands and tests
// need besides.
type app struct {
	handler  http.Handler
	engine   *gin.Engine
	provider *ginoauth.Provider
	routes   *permissions.Registry
	snippets snippets.Store
	log      *slog.Logger
	now      func() time.Time

	// sessionHashKey keys the session auth hash (sessionAuthHash).
	sessionHashKey []byte
	secureCookies  bool
	loginLimit     int
	// maxCode bounds a snippet's code, maxBody a snippet request's body
	// (room for maxCode bytes, each escaped in JSON); writeRate throttles
	// each user's snippet writes.
	maxCode   int
	maxBody   int64
	writeRate rate
	// client is the demo client, set by setupDemoClient before the server
	// serves; nil until then (its pages answer 503).
	client *demoClient
	// socialURL and socialClientIDs are options.SocialURL and
	// options.SocialClientIDs.
	socialURL       string
	socialClientIDs []string
	trustedProxies  []string // options.TrustedProxies
	// issuer is options.Issuer without a trailing slash, or "".
	issuer string
}

// Paths of the demo's endpoints.
const (
	tokenPath       = "/o/token/"
	snippetsPath    = "/snippets/"
	userDetailsPath = "/user_details/"
	secretPath      = "/secret"
	// userByUsernamePath is the user lookup of the Machinalis tutorial,
	// which the fake social site's "with params" backend calls too.
	userByUsernamePath = "/user_details_by_username/:username/"
	// legacyTokenPath is django-oauth2's token endpoint, where its
	// tutorials post with the client credentials in the body: the demo
	// serves the provider's token endpoint there too.
	legacyTokenPath = "/oauth2/access_token/"
)

// providerEndpoint is an endpoint Provider.Mount registers. They are not
// in the route registry: clients call them with their own credentials, not
// with a bearer token that guards check.
type providerEndpoint struct {
	name, method, path, what string
}

// providerEndpoints lists what Provider.Mount registers (with the default
// PathPrefix "/o"), for GET / and `demo routes`; a test checks that each is
// routed.
var providerEndpoints = []providerEndpoint{
	{"token", "POST", tokenPath, "token endpoint (RFC 6749): authorization_code, password, client_credentials, refresh_token grants"},
	{"authorize", "GET", "/o/authorize/", "authorization endpoint (RFC 6749 3.1): the code grant with PKCE; login and consent pages (POST: the consent form)"},
	{"revoke_token", "POST", "/o/revoke_token/", "token revocation (RFC 7009)"},
	{"introspect", "POST", "/o/introspect/", "token introspection (RFC 7662), for confidential clients"},
	{"authorization_server_metadata", "GET", "/.well-known/oauth-authorization-server", "authorization server metadata (RFC 8414)"},
	{"protected_resource_metadata", "GET", "/.well-known/oauth-protected-resource", "protected resource metadata (RFC 9728)"},
	{"register", "POST", "/o/register/", "dynamic client registration (RFC 7591), with a staff user's token carrying scope register; GET, PUT, DELETE /o/register/{client_id} with the registration access token (RFC 7592)"},
}

// tokenAliases are the paths where the demo serves the provider's token
// endpoint besides /o/token/, for the tutorials its users come from (also
// without the trailing slash), for GET / and `demo routes`.
var tokenAliases = []providerEndpoint{
	{"oauth2_access_token", "POST", legacyTokenPath, "the token endpoint /o/token/ at django-oauth2's path (client_id and client_secret in the body, or HTTP Basic)"},
}

// defaultTokenRateLimit is the token requests per minute allowed to one
// client and to one source address unless serve's --token-rate-limit says
// otherwise: 10 a second, far more than a person or a well-behaved client
// needs (an access token lasts 10 hours), few enough to slow down guessing
// client secrets and passwords.
const defaultTokenRateLimit = 600

// maxBodyBytes bounds a snippet request body, unless a larger code limit
// needs more.
const maxBodyBytes = 1 << 20

// newApp builds the demo server: a ginoauth provider with its token
// endpoint at /o/token/, and the resource routes behind its middleware and
// the guards of package permissions, registered in a route registry.
func newApp(o options) (*app, error) {
	a := &app{snippets: o.Snippets, log: o.Logger, now: o.Now, secureCookies: o.SecureCookies, loginLimit: o.LoginLimit,
		maxCode: o.SnippetCodeLimit, writeRate: o.SnippetWriteRate}
	a.setDefaults()
	secret, err := secretKeyOrRandom(o.SecretKey)
	if err != nil {
		return nil, err
	}
	a.socialURL, a.socialClientIDs = o.SocialURL, o.SocialClientIDs
	a.trustedProxies = o.TrustedProxies
	a.issuer = strings.TrimRight(o.Issuer, "/")
	if a.provider, err = a.newProvider(o, secret); err != nil {
		return nil, err
	}
	sessionStore, err := newSessionStore(secret)
	if err != nil {
		return nil, err
	}
	a.sessionHashKey = deriveKey(secret, "demo session auth hash")
	// Both cookies, read lazily: a route pays for a cookie only if it
	// looks at it.
	withSessions := sessions.SessionsMany([]string{sessionCookie, clientCookie}, sessionStore)

	r, err := a.newEngine()
	if err != nil {
		return nil, err
	}
	// The authorization endpoint and the management pages need the login
	// session. The token, revocation and introspection endpoints
	// authenticate clients, never a login: they skip the session
	// middleware, which costs every request it runs on.
	clientOnly := map[string]bool{}
	for _, path := range []string{"/token/", "/revoke_token/", "/introspect/"} {
		clientOnly[ginoauth.DefaultPathPrefix+path] = true
	}
	a.provider.Mount(r.Group("", func(c *gin.Context) {
		if clientOnly[c.FullPath()] {
			return
		}
		withSessions(c)
	}))
	pages.Mount(r.Group("", withSessions), a.provider, pages.Config{Logger: a.log})
	a.mountPages(r.Group("", withSessions))
	a.mountAPI(r, withSessions, o)
	a.engine, a.handler = r, r
	return a, nil
}

// setDefaults fills in what options left zero: the login limit, the
// snippet limits, the snippet store, the logger and the clock.
func (a *app) setDefaults() {
	if a.loginLimit == 0 {
		a.loginLimit = defaultLoginLimit
	}
	if a.maxCode <= 0 {
		a.maxCode = snippets.DefaultMaxCodeBytes
	}
	// A code byte takes at most 6 in JSON (\u00XX); 64 KiB for the rest.
	a.maxBody = max(maxBodyBytes, 6*int64(a.maxCode)+64<<10)
	if a.writeRate == (rate{}) {
		a.writeRate = rate{N: defaultSnippetWrites, Per: defaultSnippetWritePeriod}
	}
	if a.snippets == nil {
		a.snippets = snippets.NewMemory()
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
}

// secretKeyOrRandom is key, or a random key when it is nil.
func secretKeyOrRandom(key []byte) ([]byte, error) {
	if key != nil {
		return key, nil
	}
	key = make([]byte, minSecretKey)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return key, nil
}

// newProvider is the ginoauth provider of the demo: its stores and key,
// the exchange grants of a social site it trusts, the login session as
// the owner of authorization requests, CORS and the token rate limits.
func (a *app) newProvider(o options, secret []byte) (*ginoauth.Provider, error) {
	grants, err := socialGrants(o.SocialURL, o.SocialClientIDs, a.log)
	if err != nil {
		return nil, err
	}
	return ginoauth.New(ginoauth.Config{
		GrantTypes:         grants,
		Store:              o.Store,
		SecretKey:          secret,
		AccessTokenExpire:  o.AccessTokenExpire,
		Logger:             a.log,
		Now:                o.Now,
		Sessions:           a, // SessionOwner: the demo's login session
		CORSAllowedOrigins: o.CORSOrigins,
		CSRFCookieSecure:   o.SecureCookies,
		TokenRateLimit:     tokenThrottle(o.TokenRateLimit),
		Issuer:             a.issuer,
		Resource:           o.Resource,
		Resources:          o.Resources,
		Observer:           o.Observer,
		TracerProvider:     o.TracerProvider,
		ValidationCache:    o.ValidationCache,
		AccessTokenFormat:  o.AccessTokenFormat,
		AccessTokenAlg:     o.AccessTokenAlg,
		DPoP:               ginoauth.DPoPConfig{Nonces: o.DPoPNonces},
		OIDC:               ginoauth.OIDCConfig{Enabled: true},
		Scopes:             demoScopes(),
		DefaultScopes:      demoDefaultScopes(),
		Registration:       registration(), // register.go
		NarrowScopes:       a.narrowScopes,
		NarrowedScopes:     []string{registerScope}, // all narrowScopes drops: a refresh of any other grant stays one round trip
	})
}

// tokenThrottle is the token rate limit of options.TokenRateLimit: per
// client and per address, a minute.
func tokenThrottle(perMinute int) ginoauth.RateLimit {
	if perMinute == 0 {
		perMinute = defaultTokenRateLimit
	}
	if perMinute < 0 {
		return ginoauth.RateLimit{} // no limit
	}
	return ginoauth.RateLimit{PerClient: perMinute, PerAddress: perMinute, Window: time.Minute}
}

// newEngine is the demo's gin engine: panics recovered, every request
// logged, and JSON answers for unknown routes and methods.
func (a *app) newEngine() (*gin.Engine, error) {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// The client address the per-address budgets count and the log shows
	// is the peer's, not whatever an X-Forwarded-For header claims, unless
	// the peer is a proxy named in TrustedProxies (gin trusts every proxy
	// unless told otherwise).
	if err := r.SetTrustedProxies(a.trustedProxies); err != nil {
		return nil, err
	}
	r.Use(a.recovery(), a.requestLog())
	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "not_found", "There is no such endpoint; GET / lists them.", nil)
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("Method %q is not allowed on this endpoint.", c.Request.Method), nil)
	})
	return r, nil
}

// mountPages adds the HTML pages, on a group with the sessions: the login
// pages, as Django's auth views, and the demo client's.
func (a *app) mountPages(r gin.IRouter) {
	r.GET(loginPath, a.loginPage)
	r.POST(loginPath, a.login)
	r.GET(logoutPath, a.logoutPage)
	r.POST(logoutPath, a.logout)
	r.GET(csrfPath, a.csrfToken)

	r.GET(clientPath, a.clientHome)
	r.GET(clientStartPath, a.clientStart)
	r.GET(clientCallbackPath, a.clientCallback)
	r.GET(clientMePath, a.clientMe)
}

// apiMethods are the methods of each API path, for OPTIONS requests.
var apiMethods = map[string]string{
	"/":                "GET, HEAD, OPTIONS",
	snippetsPath:       "GET, POST, HEAD, OPTIONS",
	"/snippets/:id/":   "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
	userDetailsPath:    "GET, HEAD, OPTIONS",
	userByUsernamePath: "GET, HEAD, OPTIONS",
	secretPath:         "GET, HEAD, OPTIONS",
}

// mountAPI adds the API, its routes registered in a.routes with their
// guards: CORS first (a preflight is answered before anything else),
// then, on routes where a login session counts as DRF's
// SessionAuthentication, the session, then the token middleware.
func (a *app) mountAPI(r *gin.Engine, withSessions gin.HandlerFunc, o options) {
	var pre []gin.HandlerFunc
	if cors := a.provider.CORS(); cors != nil {
		pre = append(pre, cors)
		// Preflight requests reach the CORS middleware only on a route
		// with an OPTIONS handler.
		opts := r.Group("", cors)
		for path, allow := range apiMethods {
			opts.OPTIONS(path, allowOptions(allow))
		}
	}
	api := r.Group("", append(pre, a.provider.Middleware())...)
	withSession := r.Group("", append(pre, withSessions, a.sessionAuth(), a.provider.Middleware())...)
	reg := permissions.NewRegistry()
	a.routes = reg

	reg.Group(api, "").GET("/", a.index)

	sn := reg.Group(withSession, "/snippets",
		permissions.Or(sessionAuthenticated{}, permissions.TokenHasReadWriteScope()), isAuthenticatedOrReadOnly{})
	sn.GET("/", a.listSnippets)
	sn.POST("/", a.createSnippet)
	sn.GET("/:id/", a.getSnippet)
	sn.PUT("/:id/", a.updateSnippet)
	sn.PATCH("/:id/", a.updateSnippet)
	sn.DELETE("/:id/", a.deleteSnippet)

	reg.Group(withSession, "/user_details", permissions.IsAuthenticated(), permissions.IsAuthenticatedOrTokenHasScope("read")).
		GET("/", a.userDetails)
	// The Machinalis tutorial's lookup: the token's own user only.
	reg.Group(withSession, "", permissions.IsAuthenticated(), permissions.IsAuthenticatedOrTokenHasScope("read")).
		GET(userByUsernamePath, a.userDetailsByUsername)
	reg.Group(withSession, "", permissions.IsAuthenticated()).GET(secretPath, a.secret)
	a.mountTokenAliases(r, pre)
	if o.BenchRoutes {
		a.mountBench(r, api)
	}
}

// mountTokenAliases serves the provider's token endpoint at the paths of
// tokenAliases too, with and without the trailing slash, after pre (CORS),
// as Provider.Mount serves /o/token/.
func (a *app) mountTokenAliases(r gin.IRouter, pre []gin.HandlerFunc) {
	token := a.provider.TokenHandler()
	for _, e := range tokenAliases {
		for _, path := range []string{e.path, strings.TrimSuffix(e.path, "/")} {
			r.POST(path, slices.Concat(pre, []gin.HandlerFunc{token})...)
			r.OPTIONS(path, slices.Concat(pre, []gin.HandlerFunc{allowOptions("POST, OPTIONS")})...)
		}
	}
}

// mountBench adds the routes the load runs of docs/benchmarks.md compare:
// /bench/open and /bench/snippets/ with no authentication, and
// /bench/protected behind the token middleware (api) and a guard.
func (a *app) mountBench(r gin.IRouter, api gin.IRouter) {
	hello := func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"hello": "world"}) }
	r.GET("/bench/open", hello)
	r.GET("/bench/snippets/", a.listSnippets)
	a.routes.Group(api, "/bench", permissions.TokenHasReadWriteScope()).GET("/protected", hello)
}

// isAuthenticatedOrReadOnly is DRF's IsAuthenticatedOrReadOnly on top of a
// token guard: a safe method (GET, HEAD, OPTIONS) needs nothing more; any
// other needs a user, so a client_credentials token, which has none, may
// read but not write.
type isAuthenticatedOrReadOnly struct{}

// Check implements permissions.Permission.
func (isAuthenticatedOrReadOnly) Check(c *gin.Context) error {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	return permissions.IsAuthenticated().Check(c)
}

// String implements permissions.Permission.
func (isAuthenticatedOrReadOnly) String() string { return "IsAuthenticatedOrReadOnly" }

// sessionAuthenticated allows a request authenticated by the login session
// (sessionAuth) and no token: with permissions.Or before a token guard, a
// logged-in browser may use the API as with DRF's SessionAuthentication,
// while a token still needs its scopes. It refuses anything else as not
// authenticated, so Or answers with the token guard's refusal.
type sessionAuthenticated struct{}

// Check implements permissions.Permission.
func (sessionAuthenticated) Check(c *gin.Context) error {
	if _, tok := resource.TokenFromContext(c); !tok {
		if u, ok := resource.UserFromContext(c); ok {
			if _, ok := u.(*ginoauth.Owner); ok {
				return nil
			}
		}
	}
	return oautherr.ErrNotAuthenticated
}

// String implements permissions.Permission.
func (sessionAuthenticated) String() string { return "SessionAuthenticated" }

// allowOptions answers an OPTIONS request that is not a CORS preflight
// (the CORS middleware answers those) with the route's methods.
func allowOptions(allow string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Allow", allow)
		c.Status(http.StatusNoContent)
	}
}

// requestUser is the user a request acts for: the resource owner of its
// token, or the user of its login session; empty for a client_credentials
// token or an anonymous request.
func requestUser(c *gin.Context) (id, username string) {
	if t, ok := resource.TokenFromContext(c); ok && t.UserID != "" {
		return t.UserID, t.Username
	}
	if u, ok := resource.UserFromContext(c); ok {
		if o, ok := u.(*ginoauth.Owner); ok {
			return o.ID, o.Username
		}
	}
	return "", ""
}

// recovery turns a panic into a JSON 500 without details for the client,
// and logs it with its stack: the last resort, as no handler panics.
func (a *app) recovery() gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, rec any) {
		a.log.ErrorContext(c.Request.Context(), "panic serving request",
			"method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		writeError(c, http.StatusInternalServerError, oautherr.ErrServerError.Code,
			oautherr.ErrServerError.Description, nil)
	})
}

// requestLog logs every request: method, path (never the query or any
// header, where credentials travel), status, duration and, for a request
// with a valid token, its client and user.
func (a *app) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		if !a.log.Enabled(c.Request.Context(), level) {
			return
		}
		attrs := []any{
			"method", c.Request.Method,
			"path", c.Request.URL.Path,
			"status", c.Writer.Status(),
			"duration", time.Since(start),
			"remote", c.ClientIP(),
		}
		if t, ok := resource.TokenFromContext(c); ok {
			attrs = append(attrs, "client_id", t.ClientID)
			if t.Username != "" {
				attrs = append(attrs, "user", t.Username)
			}
		} else if _, name := requestUser(c); name != "" {
			attrs = append(attrs, "user", name, "auth", "session")
		}
		a.log.Log(c.Request.Context(), level, "request", attrs...)
	}
}

// errorBody is the JSON of the demo's own error answers, shaped as
// ginoauth's: error and error_description, and per-field messages for an
// invalid snippet.
type errorBody struct {
	Error       string            `json:"error"`
	Description string            `json:"error_description,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
}

// writeError answers an error with the demo's JSON error body.
func writeError(c *gin.Context, status int, code, description string, fields map[string]string) {
	c.AbortWithStatusJSON(status, errorBody{Error: code, Description: description, Fields: fields})
}

// storeError answers a store failure: 503 for an outage (an error wrapping
// store.ErrUnavailable), 500 for anything else, as the API's other errors.
func (a *app) storeError(c *gin.Context, err error) {
	a.log.ErrorContext(c.Request.Context(), "store failure", "path", c.Request.URL.Path, "err", err)
	e := oautherr.ErrServerError
	if errors.Is(err, store.ErrUnavailable) {
		e = oautherr.ErrTemporarilyUnavailable
	}
	resource.AbortWithError(c, e)
}
