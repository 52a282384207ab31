package permissions

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// Permission is a guard: it decides whether a request may proceed. It
// mirrors DRF's rest_framework.permissions.BasePermission (has_permission).
//
// Check returns nil to allow the request, or an error to refuse it:
// normally a *oautherr.Error built from oautherr.ErrNotAuthenticated,
// ErrInvalidToken, ErrInsufficientScope or ErrPermissionDenied (with
// WithDescription), which [Require] answers with resource.AbortWithError.
// Any other error means the guard could not tell (a store outage, say): it
// is not a refusal, [Require] answers it 503 temporarily_unavailable, and
// [Not] and [Or] never turn it into "allow".
// Errors returned by the guards of this package may be shared between
// requests and must not be modified.
//
// String describes the requirement for route listings, for example
// "TokenHasScope(read write)".
//
// Check runs on every request; implementations should not allocate when
// they allow.
type Permission interface {
	Check(c *gin.Context) error
	String() string
}

// Require returns a handler that lets the request through when every one of
// perms allows it (DRF's APIView.check_permissions, which evaluates
// permission_classes in order and stops at the first refusal). On refusal it
// calls resource.AbortWithError.
//
// Use it on a group or on a single endpoint:
//
//	api.Use(permissions.Require(permissions.IsAuthenticated()))
//	r.GET("/x", permissions.Require(permissions.TokenHasScope("read")), h)
//
// As in DRF (APIView.permission_denied), a refusal of a request that is not
// authenticated (no valid token and no user) is answered 401: with the error
// the middleware recorded for a refused token (resource.AuthErrorFromContext,
// typically invalid_token), or else with oautherr.ErrNotAuthenticated and a
// bare Bearer challenge. This holds for custom Permissions too.
//
// Require with no perms allows every request, as DRF's empty
// permission_classes does. It panics if any of perms is nil.
func Require(perms ...Permission) gin.HandlerFunc {
	for i, p := range perms {
		if p == nil {
			panic("permissions: Require: Permission " + strconv.Itoa(i) + " is nil")
		}
	}
	perms = append([]Permission(nil), perms...)
	return func(c *gin.Context) {
		for _, p := range perms {
			if err := p.Check(c); err != nil {
				switch {
				case !isOAuthError(err):
					err = oautherr.ErrTemporarilyUnavailable.WithCause(err)
				case isRefusal(err) && !authenticated(c):
					err = unauthenticated(c)
				}
				resource.AbortWithError(c, err)
				return
			}
		}
	}
}

// --- request state shared by the guards ---

var (
	// errTokenRequired answers a user authenticated by other means (a
	// session) on a guard that needs an OAuth2 token; DOT raises
	// ImproperlyConfigured there, we refuse.
	errTokenRequired = oautherr.ErrPermissionDenied.WithDescription(
		"This resource requires an OAuth2 access token.")
	// errNoResourceOwner answers a token with no resource owner (issued by
	// the client_credentials grant) on a guard that needs a user.
	errNoResourceOwner = oautherr.ErrPermissionDenied.WithDescription(
		"This resource requires a token issued on behalf of a user.")
)

// insufficientDescription is RFC 6750 section 3.1's definition of
// insufficient_scope.
const insufficientDescription = "The request requires higher privileges than provided by the access token."

// insufficient builds the 403 insufficient_scope answer naming scopes.
func insufficient(scopes []string) *oautherr.Error {
	e := oautherr.ErrInsufficientScope.WithDescription(insufficientDescription)
	e.Scope = scopes[:len(scopes):len(scopes)]
	return e
}

// validToken returns the request's token if there is one. The middleware
// put it there only if it was valid by the validator's clock (resource
// Options.Now, the provider's clock), so no second clock is read here.
func validToken(c *gin.Context) (*resource.TokenInfo, bool) {
	return resource.TokenFromContext(c)
}

// authenticated mirrors DRF's request.successful_authenticator: a valid
// token or a user.
func authenticated(c *gin.Context) bool {
	if _, ok := validToken(c); ok {
		return true
	}
	_, ok := resource.UserFromContext(c)
	return ok
}

// unauthenticated is the answer to an unauthenticated request: why its
// token was refused, if one was presented, else not_authenticated.
func unauthenticated(c *gin.Context) error {
	if err := resource.AuthErrorFromContext(c); err != nil {
		return err
	}
	return oautherr.ErrNotAuthenticated
}

// needToken is the answer of a token guard to a request without a valid
// token.
func needToken(c *gin.Context) error {
	if _, ok := resource.UserFromContext(c); ok {
		return errTokenRequired
	}
	return unauthenticated(c)
}

// isRefusal reports whether err is a 401/403 *oautherr.Error, as opposed to
// a failure (store outage, bug) that must never be read as a decision.
func isRefusal(err error) bool {
	e, ok := asError(err)
	return ok && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// asError is errors.As for *oautherr.Error, without allocating for an
// unwrapped one.
func asError(err error) (*oautherr.Error, bool) {
	if e, ok := err.(*oautherr.Error); ok {
		return e, e != nil
	}
	var e *oautherr.Error
	if errors.As(err, &e) {
		return e, e != nil
	}
	return nil, false
}

// isSafeMethod reports whether m is one of DRF's SAFE_METHODS (GET, HEAD,
// OPTIONS), compared case-insensitively as DRF upper-cases request.method.
func isSafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return false
	}
	return strings.EqualFold(m, http.MethodGet) ||
		strings.EqualFold(m, http.MethodHead) ||
		strings.EqualFold(m, http.MethodOptions)
}

// --- AllowAny, IsAuthenticated ---

type allowAny struct{}

// AllowAny allows every request, authenticated or not, even one that
// presented a refused token. It mirrors DRF's
// rest_framework.permissions.AllowAny.
func AllowAny() Permission { return allowAny{} }

func (allowAny) Check(*gin.Context) error { return nil }
func (allowAny) String() string           { return "AllowAny" }

type isAuthenticated struct{}

// IsAuthenticated allows a request that has a user: one set with
// resource.SetUser (a session, or loaded for the token), or a valid token
// issued on behalf of a user (TokenInfo.UserID set). It mirrors DRF's
// rest_framework.permissions.IsAuthenticated.
//
// A request without credentials is answered 401; a valid token without a
// resource owner (client_credentials grant, where DRF's request.user is
// None) is answered 403 permission_denied.
func IsAuthenticated() Permission { return isAuthenticated{} }

func (isAuthenticated) Check(c *gin.Context) error {
	if _, ok := resource.UserFromContext(c); ok {
		return nil
	}
	t, ok := validToken(c)
	if !ok {
		return unauthenticated(c)
	}
	if t.UserID != "" {
		return nil
	}
	return errNoResourceOwner
}

func (isAuthenticated) String() string { return "IsAuthenticated" }

// --- combinators ---

type and []Permission

// And allows a request when every one of perms allows it, evaluated in
// order and stopping at the first refusal, which it returns. It mirrors DRF's
// `&` operator on permission classes (rest_framework.permissions.AND).
//
// It panics if perms is empty or holds a nil Permission.
func And(perms ...Permission) Permission {
	return and(operands("And", perms))
}

func (a and) Check(c *gin.Context) error {
	for _, p := range a {
		if err := p.Check(c); err != nil {
			return err
		}
	}
	return nil
}

func (a and) String() string { return join(a, " & ") }

type or []Permission

// Or allows a request when any one of perms allows it, evaluated in order
// and stopping at the first that allows. It mirrors DRF's `|` operator on
// permission classes (rest_framework.permissions.OR).
//
// When all refuse it answers the most helpful of their refusals: 401 (the
// refused token's error, or not_authenticated) if the request is not
// authenticated; else the first insufficient_scope refusal, which names the
// scopes of that alternative; else the first refusal if it is a 403, or
// oautherr.ErrPermissionDenied. An error that is not a refusal (a store
// outage) is returned at once, as DRF propagates an exception raised by an
// operand.
//
// It panics if perms is empty or holds a nil Permission.
func Or(perms ...Permission) Permission {
	return or(operands("Or", perms))
}

func (o or) Check(c *gin.Context) error {
	var first, scope error
	for _, p := range o {
		err := p.Check(c)
		if err == nil {
			return nil
		}
		if !isRefusal(err) {
			return err
		}
		if first == nil {
			first = err
		}
		if scope == nil && errors.Is(err, oautherr.ErrInsufficientScope) {
			scope = err
		}
	}
	if !authenticated(c) {
		return unauthenticated(c)
	}
	if scope != nil {
		return scope
	}
	if e, ok := asError(first); ok && e.Status == http.StatusForbidden {
		return first
	}
	return oautherr.ErrPermissionDenied
}

func (o or) String() string { return join(o, " | ") }

type not struct{ p Permission }

// Not inverts p: it allows a request that p refuses, and refuses with 403
// permission_denied a request that p allows. It mirrors DRF's `~` operator
// on permission classes (rest_framework.permissions.NOT).
//
// As in DRF, Not(IsAuthenticated()) allows anonymous requests (and requests
// whose token was refused), and when Not refuses a request that is not
// authenticated, [Require] answers it 401. An error from p that is not a
// refusal (a store outage) is returned, never inverted into "allow".
//
// It panics if p is nil.
func Not(p Permission) Permission {
	if p == nil {
		panic("permissions: Not: Permission is nil")
	}
	return not{p}
}

func (n not) Check(c *gin.Context) error {
	err := n.p.Check(c)
	if err == nil {
		if !authenticated(c) {
			return unauthenticated(c)
		}
		return oautherr.ErrPermissionDenied
	}
	if isRefusal(err) {
		return nil
	}
	return err
}

func (n not) String() string { return "~" + n.p.String() }

func operands(name string, perms []Permission) []Permission {
	if len(perms) == 0 {
		panic("permissions: " + name + " needs at least one Permission")
	}
	for i, p := range perms {
		if p == nil {
			panic("permissions: " + name + ": Permission " + strconv.Itoa(i) + " is nil")
		}
	}
	return append([]Permission(nil), perms...)
}

func join(ps []Permission, sep string) string {
	if len(ps) == 1 {
		return ps[0].String()
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, p := range ps {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p.String())
	}
	b.WriteByte(')')
	return b.String()
}

// isOAuthError reports whether err is (or wraps) an *oautherr.Error: a
// guard's answer, rather than a failure to tell.
func isOAuthError(err error) bool {
	_, ok := asError(err)
	return ok
}
