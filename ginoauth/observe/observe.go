// Package observe is the one interface through which the authorization
// server (package ginoauth) and the resource-server middleware (package
// resource) report what operators count: tokens issued, validations,
// revocations, refresh-token reuse, code replays, throttled and
// unavailable answers, store failures and, for a validation cache, its
// size and invalidation lag.
//
// It imports nothing, so the resource-server side can report without
// depending on the authorization server. Package
// github.com/ginoauth/toolkit/ginoauth/metrics implements Observer with
// Prometheus; a nil Observer reports nothing and costs one comparison per
// event.
//
// Every string an Observer receives is from a small fixed set (the
// constants below) or from the provider's own configuration (a registered
// grant type, a store operation name): never a token, a secret, a client
// identifier or other request input, so an implementation may use them as
// metric labels.
package observe

import "time"

// Observer receives the events. Implementations must be safe for
// concurrent use and fast: they are called on the request path. Embed Nop
// to implement only some methods (and keep compiling when methods are
// added).
type Observer interface {
	// TokenIssued: the token endpoint issued tokens with a registered
	// grant type (a refresh within the grace period counts again).
	TokenIssued(grantType string)
	// Validation: a bearer token was validated, with one of the
	// Validation* results.
	Validation(result string)
	// Revocation: tokens were revoked on request; kind is one of the
	// Revoke* kinds.
	Revocation(kind string)
	// RefreshTokenReuse: a rotated refresh token was presented after the
	// grace period (its grant is revoked unless reuse protection is off).
	RefreshTokenReuse()
	// CodeReplay: an authorization code was presented again (the tokens
	// issued from it are revoked).
	CodeReplay()
	// Throttled: a request was answered 429; limit is one of the Limit*
	// names.
	Throttled(limit string)
	// Unavailable: a request was answered 503 temporarily_unavailable;
	// endpoint is one of the Endpoint* names.
	Unavailable(endpoint string)
	// StoreError: a store call failed with store.ErrUnavailable; operation
	// is the store method's name, such as "GetAccessToken".
	StoreError(operation string)
	// CacheSize: a validation cache now holds n entries.
	CacheSize(n int)
	// CacheInvalidationLag: a validation cache learned of a revocation lag
	// after it happened.
	CacheInvalidationLag(lag time.Duration)
}

// Validation results.
const (
	// ValidationValid: the token is valid (its user, if loaded, exists).
	ValidationValid = "valid"
	// ValidationInvalid: the token is refused (malformed, forged, unknown,
	// revoked, expired, or its user is gone).
	ValidationInvalid = "invalid"
	// ValidationCacheHit: a validation cache answered without the store.
	// It is reported by the cache, besides the valid or invalid result the
	// middleware reports for the same request.
	ValidationCacheHit = "cache_hit"
	// ValidationLocal: a JWT access token (RFC 9068) was accepted on its
	// signature and claims, without the store: the invalidation channel is
	// live and nothing invalidated its grant or client since its issue.
	// Reported by the provider, as ValidationCacheHit.
	ValidationLocal = "local"
	// ValidationStoreError: the validator could not tell (store or remote
	// provider unreachable); the request was answered 503.
	ValidationStoreError = "store_error"
)

// ValidationResults returns the Validation results (a new slice).
func ValidationResults() []string {
	return []string{ValidationValid, ValidationInvalid, ValidationCacheHit, ValidationLocal, ValidationStoreError}
}

// Revocation kinds.
const (
	// RevokeToken: one access token (and its refresh token with
	// Config.RevokeRefreshWithAccessToken), at the revocation endpoint.
	RevokeToken = "token"
	// RevokeFamily: a whole grant (every token of a family): a refresh
	// token at the revocation endpoint, or Provider.RevokeGrants.
	RevokeFamily = "family"
	// RevokeApplication: an application deleted with its tokens
	// (Provider.DeleteApplication).
	RevokeApplication = "application"
)

// RevocationKinds returns the Revocation kinds (a new slice).
func RevocationKinds() []string { return []string{RevokeToken, RevokeFamily, RevokeApplication} }

// Limits of the token endpoint (Config.TokenRateLimit).
const (
	LimitAddress = "address" // RateLimit.PerAddress
	LimitClient  = "client"  // RateLimit.PerClient
)

// LimitPassword: password attempts per username and address
// (Config.PasswordAttempts).
const LimitPassword = "password"

// Limits returns the Throttled limits (a new slice).
func Limits() []string { return []string{LimitAddress, LimitClient, LimitPassword} }

// Endpoints that answer 503.
const (
	EndpointToken      = "token"
	EndpointRevoke     = "revoke"
	EndpointIntrospect = "introspect"
	EndpointAuthorize  = "authorize"
	// EndpointResource: the resource-server middleware (a protected API).
	EndpointResource = "resource"
)

// Endpoints returns the Unavailable endpoints (a new slice).
func Endpoints() []string {
	return []string{EndpointToken, EndpointRevoke, EndpointIntrospect, EndpointAuthorize, EndpointResource}
}

// Nop is an Observer that reports nothing, to embed.
type Nop struct{}

func (Nop) TokenIssued(string)                 {}
func (Nop) Validation(string)                  {}
func (Nop) Revocation(string)                  {}
func (Nop) RefreshTokenReuse()                 {}
func (Nop) CodeReplay()                        {}
func (Nop) Throttled(string)                   {}
func (Nop) Unavailable(string)                 {}
func (Nop) StoreError(string)                  {}
func (Nop) CacheSize(int)                      {}
func (Nop) CacheInvalidationLag(time.Duration) {}

var _ Observer = Nop{}
