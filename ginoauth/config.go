package ginoauth

import (
	"context"
	"html/template"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Config configures a Provider. The zero value is usable: it gives an
// in-process store, a per-process random secret key, the scopes "read" and
// "write" and Django OAuth Toolkit's default lifetimes. docs/settings.md
// sets each field beside its Django OAuth Toolkit setting.
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

	// Scopes maps each scope to its description. Nil means
	// {"read": "Reading scope", "write": "Writing scope"}.
	Scopes map[string]string
	// DefaultScopes are granted when a token request names none. Nil means every scope in Scopes.
	DefaultScopes []string

	// AccessTokenExpire is an access token's lifetime. Zero means 36000 seconds.
	AccessTokenExpire time.Duration
	// RefreshTokenExpire is a refresh token's lifetime, from its issue (a
	// rotation issues a new one). Zero means DefaultRefreshTokenExpire, 30
	// days. There is no setting for refresh tokens that never expire: every
	// key a grant writes in Redis carries a TTL; set a long lifetime
	// instead.
	RefreshTokenExpire time.Duration

	// AccessTokenFormat is the format of the access tokens of applications
	// that name none (store.Application.AccessTokenFormat): "opaque" (the
	// default, when empty) or "jwt", a JWT access token (RFC 9068) signed
	// with the provider's keys (the key set of OpenID Connect, published
	// at {prefix}/.well-known/jwks.json). See docs/jwt-access-tokens.md.
	AccessTokenFormat string
	// AccessTokenAlg signs JWT access tokens: "RS256" (the default, which
	// RFC 9068 section 2.1 requires every resource server to accept) or
	// "ES256" (smaller, and far cheaper to sign).
	AccessTokenAlg string

	// AuthorizationCodeExpire is an authorization code's lifetime. Zero means 60 seconds.
	AuthorizationCodeExpire time.Duration

	// Sessions tells the authorization endpoint who is logged in. Nil means
	// nobody ever is: the endpoint always sends visitors to LoginURL.
	Sessions SessionSource
	// LoginURL is where the authorization endpoint sends a visitor who is
	// not logged in, with the authorization request's URL in next=. Empty
	// means "/accounts/login/". A query is kept; next= is added to it.
	LoginURL string
	// CSRFCookieSecure marks the CSRF cookie Secure even on plain HTTP
	// requests, for a server behind a proxy
	// that terminates TLS. It is Secure on TLS requests anyway.
	CSRFCookieSecure bool
	// RequestApprovalPrompt: "force" (the
	// default) shows the consent page every time; "auto" skips it when the
	// user already approved the client for the requested scopes and that
	// grant is still live. A request's approval_prompt=force is always
	// honoured; its approval_prompt=auto only with
	// AllowApprovalPromptParameter.
	RequestApprovalPrompt string
	// AllowApprovalPromptParameter lets an authorization request's
	// approval_prompt parameter override RequestApprovalPrompt, as DOT
	// does, so that approval_prompt=auto skips consent when a live grant
	// covers the scopes. Off (the default), only RequestApprovalPrompt can
	// skip consent: otherwise, once a user has consented, any page (or
	// local process, for a loopback redirect URI) that can send the browser
	// to the authorization endpoint gets a code without the user seeing a
	// page. docs/security.md.
	AllowApprovalPromptParameter bool
	// InsecureAllowNoPKCE lets confidential clients use the code grant
	// without PKCE. Public clients always need
	// it. Off: RFC 9700 2.1.1 recommends PKCE for every client.
	InsecureAllowNoPKCE bool
	// InsecureAllowPlainPKCE accepts code_challenge_method=plain, which a
	// client should use only when it cannot compute SHA-256 (RFC 7636 4.2).
	InsecureAllowPlainPKCE bool
	// RequirePushedAuthorizationRequests makes the authorization endpoint
	// refuse, with invalid_request, every request that does not name a
	// request_uri from the pushed authorization request endpoint (RFC 9126
	// section 5); Application.RequirePushedAuthorizationRequests does so
	// for one client. It needs a Store implementing store.PushedRequests
	// (memstore and redisstore do).
	RequirePushedAuthorizationRequests bool
	// ConsentTemplate replaces the consent page; it is executed with a
	// ConsentData. Nil means the built-in page.
	ConsentTemplate *template.Template
	// ErrorTemplate replaces the page that shows authorization errors that
	// are not redirected; it is executed with an ErrorPageData. Nil means
	// the built-in page.
	ErrorTemplate *template.Template

	// RefreshTokenGracePeriod: for this long after a refresh token was rotated, presenting it again
	// (a client that lost the answer) gets the same new pair again, kept
	// encrypted under SecretKey meanwhile. Zero means no grace period.
	RefreshTokenGracePeriod time.Duration
	// DisableRefreshTokenReuseProtection turns off reuse protection, which
	// is on by default (RFC 9700 section 4.14.2): a rotated refresh token presented again after the grace
	// period revokes every token of its grant.
	DisableRefreshTokenReuseProtection bool

	// GrantTypes adds grant types to the token endpoint (RFC 6749 section
	// 4.5), such as token exchange or aws_identity; see GrantType.
	GrantTypes []GrantType

	// TokenRateLimit throttles the token endpoint per source address and
	// per client (429 with Retry-After). The zero value does not throttle.
	TokenRateLimit RateLimit
	// PasswordAttempts bounds password checks (the password grant,
	// Provider.AuthenticatePassword) per username and source address,
	// failures only: by default DefaultPasswordAttemptLimit a
	// DefaultPasswordAttemptWindow, then 429 with Retry-After. A negative
	// Limit turns it off.
	PasswordAttempts AttemptLimit
	// ClientAssertion configures client authentication with a JWT
	// (private_key_jwt, client_secret_jwt; RFC 7523): the assertions'
	// lifetime and clock skew, and the fetching of clients' jwks_uri.
	ClientAssertion ClientAssertionConfig
	// Device configures the device authorization grant (RFC 8628): the
	// codes' lifetime, the poll interval and the user-code attempt limits.
	Device DeviceConfig

	// PathPrefix is where Mount puts the endpoints. Empty means "/o".
	PathPrefix string

	// Issuer is the authorization server's issuer identifier (RFC 8414): an
	// https URL with no query or fragment, such as "https://auth.example.com"
	// (New refuses anything else; http is accepted for development). Empty
	// means the scheme and host of each request, which the client chooses
	// through the Host header: set it in production.
	Issuer string
	// Resource is the protected resource's identifier: published as
	// "resource" in the RFC 9728 metadata (empty: the issuer is published),
	// the default audience of every token (RFC 8707: a token for which no
	// resource parameter was sent is for this resource), and the audience
	// Middleware requires. An absolute URI without a fragment, such as
	// "https://api.example.com/". Empty keeps tokens without an audience
	// and Middleware without an audience check.
	Resource string
	// Resources are further resource identifiers (RFC 8707 section 2) a
	// client may name with the resource parameter, besides Resource (always
	// accepted): the APIs elsewhere that trust this server's tokens, each
	// checking its own identifier (resource.Options.Audience). Any other
	// resource is invalid_target.
	Resources []string

	// OIDC configures OpenID Connect (off by default).
	OIDC OIDCConfig

	// DPoP configures sender-constrained tokens (RFC 9449; on by default).
	DPoP DPoPConfig

	// RevokeRefreshWithAccessToken makes revoking an access token revoke
	// its refresh token too (RFC 7009 2.1 "MAY"). Revoking a refresh token
	// always revokes its access token.
	RevokeRefreshWithAccessToken bool
	// IntrospectionScope is the scope a bearer token needs to call the
	// introspection endpoint. Empty means "introspection".
	IntrospectionScope string

	// CORSAllowedOrigins are the origins browser clients may call the
	// token, revocation and introspection endpoints from (CORS, with
	// preflight). Empty means none: no CORS headers are sent.
	CORSAllowedOrigins []string

	// Middleware configures the resource-server middleware that
	// Provider.Middleware returns: the realm of its challenges (also the
	// realm of the token endpoint's Basic challenge), where it looks for
	// tokens, the paths it skips and the user loader. Its Logger and Now
	// default to the Provider's. A UserLoader may return an error wrapping
	// store.ErrNotFound for a user that no longer exists, as
	// resource.ErrUserNotFound.
	Middleware resource.Options

	// Users authenticates resource owners for the password grant. Nil means
	// the users of Store, with bcrypt password hashes.
	Users UserAuthenticator

	// Logger receives the provider's logs; tokens, secrets and passwords
	// are never logged. Nil means slog.Default().
	Logger *slog.Logger

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// Observer receives the events operators count (tokens issued,
	// revocations, throttled and unavailable answers, store failures...),
	// such as a *metrics.Metrics of package ginoauth/metrics; it is also
	// Middleware.Observer unless that is set. Nil reports nothing.
	// docs/metrics.md lists the metrics.
	Observer observe.Observer
	// TracerProvider gives the tracer of the token endpoint's spans. Nil
	// means OpenTelemetry's global provider (a no-op until one is set).
	TracerProvider trace.TracerProvider

	// ApplicationCacheTTL is how long an application read from the store
	// is reused by this instance: for validating tokens (each checks its
	// application still exists and its Generation) and for authenticating
	// clients at the token endpoint. Zero means
	// DefaultApplicationCacheTTL (one second): a change or deletion of an
	// application, or the revocation of its tokens, is honoured by every
	// instance within that time (at once by the instance that made it).
	// Negative disables the cache: every use reads the store.
	ApplicationCacheTTL time.Duration

	// ValidationCache keeps validated access tokens in process, so a
	// protected request usually costs no store round trip. It needs a
	// redisstore store: every instance subscribes to the store's
	// invalidation channel, and a revocation anywhere (the revoke
	// endpoint, reuse detection, a replayed code, revoketokens, a deleted
	// application, the authorized-tokens page) drops the token from every
	// cache within about a second. While the channel is down (a dropped
	// connection, a restarted or failed-over Redis) the cache is flushed
	// and bypassed until the subscription is confirmed again. With another
	// store it is ignored. Call Provider.Close to stop the subscription.
	ValidationCache bool
	// ValidationCacheMaxEntries bounds the tokens cached; zero means
	// 100,000.
	ValidationCacheMaxEntries int
	// ValidationCacheMaxBytes bounds the cache's approximate memory; zero
	// means 64 MiB.
	ValidationCacheMaxBytes int
	// ValidationCacheMaxAge is the longest a cached answer is reused,
	// whatever its token's expiry: the bound on a change that publishes
	// nothing (a user deleted, say). Zero means 10 seconds.
	ValidationCacheMaxAge time.Duration

	// ApplicationCacheSize bounds the number of applications cached; zero
	// means DefaultApplicationCacheSize.
	ApplicationCacheSize int

	// Registration configures dynamic client registration (RFC 7591) and
	// client configuration (RFC 7592) at {PathPrefix}/register/. Its zero
	// value (no Policy) leaves them off: not mounted, not in the metadata.
	Registration RegistrationConfig

	// NarrowScopes, when set, decides which of the scopes about to be
	// granted a token may carry, as Django OAuth Toolkit's scopes backend
	// does (get_available_scopes): it is called with the client, the
	// user's ID ("" for a token without a user, such as a
	// client_credentials one) and the scopes already checked against
	// Scopes and the client's ceiling, at every issuance and refresh and,
	// for the authorization endpoint, before consent. Scopes it leaves out
	// are dropped, as RFC 6749 section 3.3 lets a server do (the token
	// answer's scope names what was granted); when it leaves none of a
	// non-empty set the request is invalid_scope. An error fails the
	// request: an *oautherr.Error is answered as it is, one wrapping
	// store.ErrUnavailable with 503. Nil grants what passed those checks.
	NarrowScopes func(ctx context.Context, client *store.Application, userID string, scopes []string) ([]string, error)

	// NarrowedScopes, when set, promises that NarrowScopes never drops a
	// scope outside this list. A refresh (with no scope parameter) of a
	// grant that holds none of them then skips the hook, since it could
	// drop nothing, and keeps its one store round trip; a grant holding
	// one of them is asked about as before. Nil: the hook is asked at
	// every refresh, which reads the refresh token before rotating it.
	// Setting it without NarrowScopes is a configuration error.
	NarrowedScopes []string
}

// The defaults of Config.
const (
	// DefaultAccessTokenExpire is Config.AccessTokenExpire's default.
	DefaultAccessTokenExpire = 36000 * time.Second
	// DefaultRefreshTokenExpire is Config.RefreshTokenExpire's default:
	// 30 days (Django OAuth Toolkit's REFRESH_TOKEN_EXPIRE_SECONDS has
	// none, so its refresh tokens never expire unless set).
	DefaultRefreshTokenExpire = 30 * 24 * time.Hour
	// DefaultAuthorizationCodeExpire is Config.AuthorizationCodeExpire's
	// default.
	DefaultAuthorizationCodeExpire = 60 * time.Second
	// DefaultPathPrefix is where Mount puts the endpoints.
	DefaultPathPrefix = "/o"
)

// defaultScopes is Config.Scopes's default.
func defaultScopes() map[string]string {
	return map[string]string{"read": "Reading scope", "write": "Writing scope"}
}
