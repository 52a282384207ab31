// Package resource is the resource-server side of OAuth 2.0: the
// middleware that authenticates bearer tokens (RFC 6750), what it learned
// (TokenInfo, on the request's context), and the validators it asks. An API
// that only protects its routes needs this package and package permissions,
// nothing of the authorization server:
//
//	introspector, err := resource.NewIntrospector(resource.IntrospectionConfig{...})
//	api := r.Group("/api", resource.Authenticate(introspector, resource.Options{}),
//		permissions.Require(permissions.TokenHasReadWriteScope()))
//
// The authorization server of package ginoauth is a TokenValidator too,
// validating its own tokens against its store; Provider.Middleware is
// Authenticate with the provider as validator.
//
// Verifying is kept apart from enforcing, as go-chi/jwtauth does: the
// middleware records a valid token, or why a presented one was refused,
// and always calls the next handler (but for a 503 when it cannot tell);
// the guards of package permissions decide, answering with AbortWithError.
package resource

import (
	"slices"
	"time"

	"github.com/gin-gonic/gin"
)

// TokenInfo is what the resource-server middleware learned from a valid
// bearer token. Handlers read it with TokenFromContext.
type TokenInfo struct {
	// ClientID is the application the token was issued to.
	ClientID string
	// UserID and Username identify the resource owner; both are empty for a
	// token issued by the client_credentials grant.
	UserID   string
	Username string
	// Scopes the token was granted, in the order they were granted.
	Scopes []string
	// Audience is the resources the token is for (RFC 8707; RFC 7662's and
	// RFC 9068's "aud"), absolute URIs; empty when the token names none
	// (issued by a provider with no resource configured). Options.Audience
	// refuses a token whose Audience does not name it.
	Audience []string
	// JKT is the JWK SHA-256 thumbprint (RFC 7638) of the key a DPoP-bound
	// token is bound to (RFC 9449 section 6, the "cnf" claim's "jkt");
	// empty for a bearer token.
	JKT       string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// HasAudience reports whether the token is for the resource id (one of
// its Audience).
func (t *TokenInfo) HasAudience(id string) bool {
	return t != nil && slices.Contains(t.Audience, id)
}

// HasScope reports whether the token was granted scope.
func (t *TokenInfo) HasScope(scope string) bool {
	return t != nil && slices.Contains(t.Scopes, scope)
}

// HasScopes reports whether the token was granted every one of scopes.
func (t *TokenInfo) HasScopes(scopes ...string) bool {
	if t == nil {
		return false
	}
	for _, s := range scopes {
		if !slices.Contains(t.Scopes, s) {
			return false
		}
	}
	return true
}

// Context keys are unexported types, so no other package can collide with
// or overwrite them (the go-chi/jwtauth pattern on gin's Keys map).
type ctxKey int

const (
	tokenKey ctxKey = iota
	userKey
	authErrorKey
	realmKey
	dpopKey
)

// TokenFromContext returns the token the middleware validated for this
// request, if any.
func TokenFromContext(c *gin.Context) (*TokenInfo, bool) {
	v, ok := c.Get(tokenKey)
	if !ok {
		return nil, false
	}
	t, ok := v.(*TokenInfo)
	return t, ok && t != nil
}

// UserFromContext returns the request's user: the one set by SetUser (a
// session middleware, for example) or loaded for the token by
// Options.UserLoader.
func UserFromContext(c *gin.Context) (any, bool) {
	v, ok := c.Get(userKey)
	return v, ok && v != nil
}

// SetUser marks the request as authenticated by something other than a
// bearer token, such as a session cookie. The token middleware then leaves
// the request alone (as DOT's middleware does after Django's
// AuthenticationMiddleware), and permissions.IsAuthenticated passes. Call it from a
// middleware that runs before the token middleware.
func SetUser(c *gin.Context, user any) {
	c.Set(userKey, user)
}

// AuthErrorFromContext returns why a bearer token presented with the
// request was refused (an *oautherr.Error with Code "invalid_token" or
// "invalid_request"), or nil when no token was presented or it was valid.
// The middleware never rejects a request itself: guards in package
// permissions decide, and use this to answer RFC 6750's error attribute.
func AuthErrorFromContext(c *gin.Context) error {
	v, ok := c.Get(authErrorKey)
	if !ok {
		return nil
	}
	err, _ := v.(error)
	return err
}

// RealmFromContext returns the realm the middleware announces in
// WWW-Authenticate challenges ("api" by default, as DRF).
func RealmFromContext(c *gin.Context) string {
	if v, ok := c.Get(realmKey); ok {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return DefaultRealm
}

// DefaultRealm is the realm of WWW-Authenticate challenges, as DRF's.
const DefaultRealm = "api"

// SetToken records a validated token on the request. The middleware calls
// it; so may a custom authenticator (or a test) that validates tokens some
// other way. Guards in package permissions read it back.
func SetToken(c *gin.Context, t *TokenInfo) {
	c.Set(tokenKey, t)
}

// SetAuthError records why presented credentials were refused, for guards to
// answer with (see AuthErrorFromContext).
func SetAuthError(c *gin.Context, err error) {
	c.Set(authErrorKey, err)
}

// SetRealm sets the realm that challenges for this request name.
func SetRealm(c *gin.Context, realm string) {
	c.Set(realmKey, realm)
}
