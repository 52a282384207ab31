package ginoauth

import (
	"html/template"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Config configures a Provider. The zero value is usable: it gives an
// in-process store, a per-process random secret key, DOT's default scopes
// ("read" and "write") and DOT's default lifetimes. Field names mirror
// Django OAuth Toolkit's settings where one exists (named in each comment).
type Config struct {
	// Store keeps applications, users and tokens. Nil means an in-process
	// store (memstore), which forgets everything when the process exits;
	// use redisstore.New for anything shared or lasting.
	Store store.Store

	// SecretKey keys the checksum every token carries (HMAC-SHA256), so a
	// forged or mistyped token is refused without a store round trip. At
	// least 32 bytes; every instance serving one store needs the same key.
	// Nil means a random key per Provider: tokens then stop working when the
	// process restarts.
	SecretKey []byte

	// Scopes maps each scope to its description (DOT's SCOPES). Nil means
	// {"read": "Reading scope", "write": "Writing scope"}.
	Scopes map[string]string
	// DefaultScopes are granted when a token request names none (DOT's
	// DEFAULT_SCOPES). Nil means every scope in Scopes.
	DefaultScopes []string

	// AccessTokenExpire is an access token's lifetime (DOT's
	// ACCESS_TOKEN_EXPIRE_SECONDS). Zero means 36000 seconds.
	AccessTokenExpire time.Duration
	// RefreshTokenExpire is a refresh token's lifetime (DOT's
	// REFRESH_TOKEN_EXPIRE_SECONDS). Zero means refresh tokens do not expire.
	RefreshTokenExpire time.Duration

	// AuthorizationCodeExpire is an authorization code's lifetime (DOT's
	// AUTHORIZATION_CODE_EXPIRE_SECONDS). Zero means 60 seconds.
	AuthorizationCodeExpire time.Duration

	// Sessions tells the authorization endpoint who is logged in. Nil means
	// nobody ever is: the endpoint always sends visitors to LoginURL.
	Sessions SessionSource
	// LoginURL is where the authorization endpoint sends a visitor who is
	// not logged in, with the authorization request's URL in next=. Empty
	// means "/accounts/login/", as Django's LOGIN_URL.
	LoginURL string
	// CSRFCookieSecure marks the CSRF cookie Secure even on plain HTTP
	// requests (Django's CSRF_COOKIE_SECURE), for a server behind a proxy
	// that terminates TLS. It is Secure on TLS requests anyway.
	CSRFCookieSecure bool
	// RequestApprovalPrompt is DOT's REQUEST_APPROVAL_PROMPT: "force" (the
	// default) shows the consent page every time; "auto" skips it when the
	// user already approved the client for the requested scopes and that
	// grant is still live. A request's approval_prompt parameter overrides it.
	RequestApprovalPrompt string
	// InsecureAllowNoPKCE lets confidential clients use the code grant
	// without PKCE (DOT's PKCE_REQUIRED=False). Public clients always need
	// it. Off: RFC 9700 2.1.1 recommends PKCE for every client.
	InsecureAllowNoPKCE bool
	// InsecureAllowPlainPKCE accepts code_challenge_method=plain, which a
	// client should use only when it cannot compute SHA-256 (RFC 7636 4.2).
	InsecureAllowPlainPKCE bool
	// ConsentTemplate replaces the consent page; it is executed with a
	// ConsentData.
	ConsentTemplate *template.Template
	// ErrorTemplate replaces the page that shows authorization errors that
	// are not redirected; it is executed with an ErrorPageData.
	ErrorTemplate *template.Template

	// PageTemplates replaces the templates of the application and
	// authorized-token pages (see PageTemplates).
	PageTemplates PageTemplates

	// RefreshTokenGracePeriod is DOT's REFRESH_TOKEN_GRACE_PERIOD_SECONDS:
	// for this long after a refresh token was rotated, presenting it again
	// (a client that lost the answer) gets the same new pair again, kept
	// encrypted under SecretKey meanwhile. Zero means no grace period.
	RefreshTokenGracePeriod time.Duration
	// DisableRefreshTokenReuseProtection turns off what DOT calls
	// REFRESH_TOKEN_REUSE_PROTECTION, which is on here by default (RFC 9700
	// 4.14.2): a rotated refresh token presented again after the grace
	// period revokes every token of its grant.
	DisableRefreshTokenReuseProtection bool

	// Grants adds grant types to the token endpoint (RFC 6749 4.5), such
	// as token exchange or aws_identity; see Grant.
	Grants []Grant

	// TokenRateLimit throttles the token endpoint per source address and
	// per client (429 with Retry-After). The zero value does not throttle.
	TokenRateLimit RateLimit

	// PathPrefix is where Mount puts the endpoints. Empty means "/o", as
	// DOT's usual include("oauth2_provider.urls") under "o/".
	PathPrefix string

	// Issuer is the authorization server's issuer identifier (RFC 8414): an
	// https URL with no query or fragment, such as "https://auth.example.com"
	// (New refuses anything else; http is accepted for development). Empty
	// means the scheme and host of each request, which the client chooses
	// through the Host header: set it in production.
	Issuer string
	// Resource is the protected resource's identifier for RFC 9728 metadata.
	// Empty means the issuer.
	Resource string

	// RevokeRefreshWithAccessToken makes revoking an access token revoke
	// its refresh token too (RFC 7009 2.1 "MAY"). Revoking a refresh token
	// always revokes its access token.
	RevokeRefreshWithAccessToken bool
	// IntrospectionScope is the scope a bearer token needs to call the
	// introspection endpoint. Empty means "introspection", as DOT.
	IntrospectionScope string

	// CORSAllowedOrigins are the origins browser clients may call the
	// token, revocation and introspection endpoints from (CORS, with
	// preflight). Empty means none: no CORS headers are sent.
	CORSAllowedOrigins []string

	// Realm is the realm named in WWW-Authenticate challenges. Empty means
	// "api", as DRF.
	Realm string

	// AllowAccessTokenInForm lets the middleware read an access_token form
	// field of a form-encoded request body (RFC 6750 2.2). Off by default.
	AllowAccessTokenInForm bool
	// AllowAccessTokenInQuery lets the middleware read an access_token query
	// parameter (RFC 6750 2.3, which advises against it: URLs end up in
	// logs). Off by default.
	AllowAccessTokenInQuery bool
	// SkipPaths are request paths (exact match on the URL path) the
	// middleware passes through without looking for a token.
	SkipPaths []string

	// UserLoader, if set, is called by the middleware for every valid token
	// that has a user, and its result is put on the context for
	// UserFromContext (DOT's OAuth2Backend). It costs whatever it costs
	// per request; the token's UserID and Username are on TokenInfo without
	// it. Returning an error wrapping store.ErrNotFound refuses the token
	// (invalid_token); any other error answers 503.
	UserLoader func(c *gin.Context, userID string) (any, error)

	// Users authenticates resource owners for the password grant. Nil means
	// the users of Store, with bcrypt password hashes.
	Users UserAuthenticator

	// Logger receives the provider's logs; tokens, secrets and passwords
	// are never logged. Nil means slog.Default().
	Logger *slog.Logger

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// The defaults of Config, named after DOT's settings.
const (
	// DefaultAccessTokenExpire is DOT's ACCESS_TOKEN_EXPIRE_SECONDS.
	DefaultAccessTokenExpire = 36000 * time.Second
	// DefaultAuthorizationCodeExpire is DOT's
	// AUTHORIZATION_CODE_EXPIRE_SECONDS.
	DefaultAuthorizationCodeExpire = 60 * time.Second
	// DefaultPathPrefix is where Mount puts the endpoints.
	DefaultPathPrefix = "/o"
)

// defaultScopes is DOT's default SCOPES.
func defaultScopes() map[string]string {
	return map[string]string{"read": "Reading scope", "write": "Writing scope"}
}
