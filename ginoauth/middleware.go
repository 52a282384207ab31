package ginoauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TokenValidator checks a bearer access token (RFC 6750) and returns what
// it grants. *Provider validates against its own store; *Introspector asks
// a remote authorization server (RFC 7662); Authenticate turns either into
// the resource-server middleware.
//
// The error contract, which Authenticate relies on:
//
//   - nil error: the token is valid and the *TokenInfo is not nil;
//   - an error matching ErrInvalidToken (errors.Is): the token is bad
//     (malformed, unknown, revoked, expired, or not an access token). The
//     middleware records it with SetAuthError, and the guards of package
//     permissions answer 401 invalid_token (RFC 6750 section 3.1);
//   - any other error: the validator could not tell (its store or the
//     remote provider is unreachable). The middleware answers 503
//     temporarily_unavailable itself and never lets the request through.
//     Such errors should wrap store.ErrUnavailable (ErrUpstreamUnavailable
//     does), and must not contain the token.
//
// Validate is called once per request that carries a token, concurrently.
type TokenValidator interface {
	Validate(ctx context.Context, token string) (*TokenInfo, error)
}

// MiddlewareOptions configures the middleware Authenticate returns. The
// fields are the middleware fields of Config, which Provider.Middleware
// uses; the zero value reads the token from the Authorization header only
// (RFC 6750 section 2.1) and announces the realm "api".
type MiddlewareOptions struct {
	// Realm is the realm named in WWW-Authenticate challenges (RFC 6750
	// section 3). Empty means "api", as DRF.
	Realm string
	// AllowAccessTokenInForm lets the middleware read an access_token form
	// field of a form-encoded request body (RFC 6750 section 2.2).
	AllowAccessTokenInForm bool
	// AllowAccessTokenInQuery lets the middleware read an access_token query
	// parameter (RFC 6750 section 2.3, which advises against it).
	AllowAccessTokenInQuery bool
	// SkipPaths are request paths (exact match on the URL path) the
	// middleware passes through without looking for a token.
	SkipPaths []string
	// UserLoader, if set, is called for every valid token that has a user
	// (TokenInfo.UserID: the introspection answer's "sub" for an
	// Introspector), and its result is put on the context for
	// UserFromContext. An error wrapping store.ErrNotFound refuses the
	// token (invalid_token); any other error answers 503.
	UserLoader func(c *gin.Context, userID string) (any, error)
	// Logger receives a line for every request answered 503 (never the
	// token). Nil means slog.Default().
	Logger *slog.Logger
}

// Authenticate returns resource-server middleware that validates bearer
// tokens (RFC 6750 section 2) with v. It behaves as Provider.Middleware,
// which is Authenticate with the Provider as validator: a request with no
// token goes on as anonymous; one with a token v refuses goes on with
// AuthErrorFromContext set (the guards of package permissions answer 401);
// a valid token is put on the context (TokenFromContext), with its user
// when opts.UserLoader is set. When v cannot tell (an error that does not
// match ErrInvalidToken) the middleware answers 503 temporarily_unavailable
// with Retry-After (RFC 6749 section 4.1.2.1's error code) and stops the
// chain, so an outage never lets a request through.
//
// Requests on opts.SkipPaths, and requests an earlier middleware
// authenticated with SetUser, pass through untouched.
//
// To trust a remote provider, as DOT's RESOURCE_SERVER_INTROSPECTION_URL
// does, pass an *Introspector (NewIntrospector).
func Authenticate(v TokenValidator, opts MiddlewareOptions) gin.HandlerFunc {
	if v == nil {
		panic("ginoauth: Authenticate needs a TokenValidator")
	}
	var skip map[string]bool
	if len(opts.SkipPaths) > 0 {
		skip = make(map[string]bool, len(opts.SkipPaths))
		for _, path := range opts.SkipPaths {
			skip[path] = true
		}
	}
	return newAuthenticator(v, opts, skip).serve
}

// Middleware returns the resource-server middleware. For each request it
// reads the bearer token (see BearerToken), validates it with one store
// round trip and puts a *TokenInfo on the context (TokenFromContext) and,
// with Config.UserLoader, the user (UserFromContext). It never refuses a
// request for lack of a token: a request without one goes on as anonymous,
// and one with a bad token goes on with AuthErrorFromContext set, so the
// guards of package permissions decide, as DRF's permission classes do.
//
// It passes through untouched a request on Config.SkipPaths and one that
// an earlier middleware authenticated with SetUser (a session). The one
// thing it answers itself is a store outage while checking a presented
// token: 503 temporarily_unavailable, so an outage never lets a request
// through as anonymous.
//
// It is Authenticate(p, ...) with the middleware fields of Config.
func (p *Provider) Middleware() gin.HandlerFunc {
	return newAuthenticator(p, MiddlewareOptions{
		Realm:                   p.realm,
		AllowAccessTokenInForm:  p.cfg.AllowAccessTokenInForm,
		AllowAccessTokenInQuery: p.cfg.AllowAccessTokenInQuery,
		UserLoader:              p.cfg.UserLoader,
		Logger:                  p.log,
	}, p.skip).serve
}

// authenticator is the middleware shared by Provider.Middleware and
// Authenticate. Everything is resolved when it is built, so serve does
// no more work per request than validating the token.
type authenticator struct {
	v          TokenValidator
	realm      string // "" when it is DefaultRealm: nothing to set
	skip       map[string]bool
	form       bool
	query      bool
	userLoader func(c *gin.Context, userID string) (any, error)
	log        *slog.Logger
}

func newAuthenticator(v TokenValidator, opts MiddlewareOptions, skip map[string]bool) *authenticator {
	a := &authenticator{
		v:          v,
		skip:       skip,
		form:       opts.AllowAccessTokenInForm,
		query:      opts.AllowAccessTokenInQuery,
		userLoader: opts.UserLoader,
		log:        opts.Logger,
	}
	if opts.Realm != "" && opts.Realm != DefaultRealm {
		a.realm = opts.Realm
	}
	if len(a.skip) == 0 {
		a.skip = nil
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a
}

func (a *authenticator) serve(c *gin.Context) {
	if a.realm != "" {
		SetRealm(c, a.realm)
	}
	if a.skip != nil && a.skip[c.Request.URL.Path] {
		c.Next()
		return
	}
	if _, ok := UserFromContext(c); ok {
		c.Next()
		return
	}
	raw, err := BearerToken(c.Request, a.form, a.query)
	if errors.Is(err, ErrNoBearer) {
		c.Next()
		return
	}
	if err != nil {
		SetAuthError(c, err)
		c.Next()
		return
	}
	ctx := c.Request.Context()
	info, err := a.v.Validate(ctx, raw)
	if err == nil && info == nil {
		err = errNoTokenInfo
	}
	if err == nil && a.userLoader != nil && info.UserID != "" {
		var user any
		user, err = a.userLoader(c, info.UserID)
		if errors.Is(err, store.ErrNotFound) {
			err = ErrInvalidToken.WithDescription("The token's user no longer exists.")
		} else if err == nil {
			SetUser(c, user)
		} else {
			err = ErrTemporarilyUnavailable.WithCause(err)
		}
	}
	switch {
	case err == nil:
		SetToken(c, info)
	case errors.Is(err, ErrInvalidToken):
		SetAuthError(c, err)
	default:
		a.log.ErrorContext(ctx, "ginoauth: validating a bearer token", "err", err)
		AbortWithError(c, unavailable(err))
		return
	}
	c.Next()
}

// errNoTokenInfo stands for a TokenValidator that broke its contract.
var errNoTokenInfo = errors.New("ginoauth: TokenValidator returned neither a token nor an error")

// unavailable makes sure a validator's failure answers 503, whatever the
// error (TokenValidator's contract), keeping the cause for logs.
func unavailable(err error) error {
	if errors.Is(err, ErrUpstreamUnavailable) {
		return errUpstreamDown.WithCause(err)
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Status == http.StatusServiceUnavailable {
			return e
		}
		return ErrTemporarilyUnavailable.WithCause(err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		return err // asError answers it with ErrTemporarilyUnavailable
	}
	return ErrTemporarilyUnavailable.WithCause(err)
}

var errUpstreamDown = ErrTemporarilyUnavailable.WithDescription("The authorization server is unavailable; try again later.")

// Validate checks an access token and returns what it grants; it
// implements TokenValidator. A token that is malformed or forged (refused
// without a store round trip), unknown, revoked or expired gives an *Error
// with Code invalid_token (RFC 6750 section 3.1); a store outage gives an
// error wrapping store.ErrUnavailable.
func (p *Provider) Validate(ctx context.Context, token string) (*TokenInfo, error) {
	family, err := p.codec.Parse(opaque.AccessPrefix, token)
	if err != nil {
		return nil, errTokenInvalid
	}
	at, err := p.store.GetAccessToken(ctx, store.Key{Family: family, Signature: opaque.Signature(token)})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errTokenInvalid
	}
	if err != nil {
		return nil, err
	}
	if !p.now().Before(at.ExpiresAt) {
		return nil, errTokenInvalid
	}
	return &TokenInfo{
		ClientID:  at.ClientID,
		UserID:    at.UserID,
		Username:  at.Username,
		Scopes:    at.Scopes,
		IssuedAt:  at.IssuedAt,
		ExpiresAt: at.ExpiresAt,
	}, nil
}

var errTokenInvalid = ErrInvalidToken.WithDescription("The access token is invalid, expired or revoked.")

// Provider satisfies TokenValidator.
var _ TokenValidator = (*Provider)(nil)
