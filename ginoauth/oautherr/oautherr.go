// Package oautherr is the OAuth 2.0 error of RFC 6749 section 5.2, RFC 6750
// section 3.1, RFC 7009 and RFC 7662: a code, an HTTP status and a
// description, with the one place that writes it as the RFCs' JSON body and
// WWW-Authenticate challenge. The authorization server (package ginoauth),
// the resource-server middleware (package resource) and the guards (package
// permissions) all answer with it.
package oautherr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Error is an OAuth2 error: an RFC 6749 section 5.2, RFC 6750 section 3.1 or
// RFC 7009/7662 error code with its HTTP status and a human-readable
// description. Handlers and guards build them from the sentinel values
// below with WithDescription; the HTTP edge turns them into the RFC's JSON
// body (and WWW-Authenticate header) in one place.
//
// errors.Is(err, ErrInvalidGrant) matches any *Error with that Code.
type Error struct {
	// Code is the RFC error code, sent as "error".
	Code string
	// Description is sent as "error_description"; it never holds a secret.
	// It is sent as RFC 6749 section 5.2 allows (printable ASCII without
	// '"' and '\', cut to 256 bytes): other characters are replaced.
	Description string
	// Status is the HTTP status code.
	Status int
	// Scope is the scope a 403 insufficient_scope answer names (RFC 6750 3).
	Scope []string
	// Err is the cause, for logs; never sent to the client.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	msg := e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithDescription returns a copy of e with the given description.
func (e *Error) WithDescription(format string, args ...any) *Error {
	c := *e
	c.Description = fmt.Sprintf(format, args...)
	return &c
}

// WithCause returns a copy of e that wraps err (for logs only).
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// The errors of RFC 6749 section 5.2 (token endpoint), RFC 6750 section 3.1
// (protected resources) and the server-side conditions they share.
var (
	ErrInvalidRequest       = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidClient        = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant         = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient   = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope         = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	ErrAccessDenied         = &Error{Code: "access_denied", Status: http.StatusForbidden}
	// ErrInvalidTarget: a resource parameter is malformed, not served by
	// this authorization server, or outside the grant (RFC 8707 section 2).
	ErrInvalidTarget = &Error{Code: "invalid_target", Status: http.StatusBadRequest}

	// ErrInvalidToken: the bearer token is malformed, unknown, revoked or
	// expired (RFC 6750 3.1): 401.
	ErrInvalidToken = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	// ErrInsufficientScope: the token is valid but lacks a scope (RFC 6750
	// 3.1): 403.
	ErrInsufficientScope = &Error{Code: "insufficient_scope", Status: http.StatusForbidden}
	// ErrNotAuthenticated: no credentials were presented (DRF's
	// not_authenticated): 401 with a bare Bearer challenge.
	ErrNotAuthenticated = &Error{Code: "not_authenticated", Status: http.StatusUnauthorized,
		Description: "Authentication credentials were not provided."}
	// ErrPermissionDenied: authenticated, but a permission refused the
	// request for a reason other than scope (DRF's permission_denied): 403.
	ErrPermissionDenied = &Error{Code: "permission_denied", Status: http.StatusForbidden,
		Description: "You do not have permission to perform this action."}

	// ErrTemporarilyUnavailable: the store could not be reached: 503. The
	// request is never let through.
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable,
		Description: "The authorization store is unavailable; try again later."}
	// ErrServerError: anything unexpected: 500 with a JSON body, no details.
	ErrServerError = &Error{Code: "server_error", Status: http.StatusInternalServerError,
		Description: "The server could not complete the request."}
)

// As maps any error to an *Error: an *Error in err's chain as it is,
// anything else to ErrServerError, keeping err as the cause for logs.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrServerError.WithCause(err)
}

// SentDescription is e.Description as it is sent: within RFC 6749 section
// 5.2's character set and length (see Description), for an answer that
// carries it other than through WriteJSON, such as an authorization
// response's redirect (RFC 6749 section 4.1.2.1).
func (e *Error) SentDescription() string { return descriptionText(e.Description) }

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// WriteJSON answers e as RFC 6749 section 5.2's JSON body with e.Status,
// uncached, and aborts the handler chain. A 503 carries Retry-After.
func WriteJSON(c *gin.Context, e *Error) {
	if e.Status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.AbortWithStatusJSON(e.Status, errorBody{
		Error:       e.Code,
		Description: descriptionText(e.Description),
		Scope:       strings.Join(e.Scope, " "),
	})
}

// WriteBearer answers e to a request authenticated (or meant to be) with a
// bearer token, as WriteJSON does, and adds a WWW-Authenticate: Bearer
// challenge naming realm (RFC 6750 section 3) to any 401 and to RFC 6750
// section 3.1's invalid_request and insufficient_scope. The challenge
// names e's code, description and scope, but for ErrNotAuthenticated (no
// credentials), which gets the realm alone (section 3.1). A 403 for
// another reason carries no challenge, as DRF's.
func WriteBearer(c *gin.Context, realm string, e *Error) {
	if e.Status == http.StatusUnauthorized || e.Code == ErrInsufficientScope.Code || e.Code == ErrInvalidRequest.Code {
		c.Header("WWW-Authenticate", bearerChallenge(realm, e))
	}
	WriteJSON(c, e)
}

// BearerChallenge is the WWW-Authenticate value WriteBearer sends for e,
// for a writer that sends it beside another challenge (RFC 9449 section
// 7.1's DPoP).
func BearerChallenge(realm string, e *Error) string { return bearerChallenge(realm, e) }

// bearerChallenge renders RFC 6750 section 3's challenge. A request with no
// credentials gets only the realm (section 3.1: no error code).
func bearerChallenge(realm string, e *Error) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quotable(realm))
	b.WriteByte('"')
	if e.Code == ErrNotAuthenticated.Code {
		return b.String()
	}
	b.WriteString(`, error="`)
	b.WriteString(quotable(e.Code))
	b.WriteByte('"')
	if e.Description != "" {
		b.WriteString(`, error_description="`)
		b.WriteString(descriptionText(e.Description))
		b.WriteByte('"')
	}
	if len(e.Scope) > 0 {
		b.WriteString(`, scope="`)
		b.WriteString(quotable(strings.Join(e.Scope, " ")))
		b.WriteByte('"')
	}
	return b.String()
}

// quotable keeps only the characters RFC 6750 section 3 allows inside a
// quoted attribute value (%x20-21 / %x23-5B / %x5D-7E).
func quotable(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// maxDescription bounds a rendered error_description, and maxEcho the
// client input one repeats (see Quote).
const (
	maxDescription = 256
	maxEcho        = 40
)

// descriptionText is the error_description sent for desc. RFC 6749
// section 5.2 (and RFC 6750 section 3) allow only %x20-21 / %x23-5B /
// %x5D-7E, so a double quote becomes a single quote and any other
// character outside the set (a control, a non-ASCII character, a byte of
// invalid UTF-8, a backslash) becomes '?'; past maxDescription bytes the
// text is cut and ends in "...". The messages of this module are written
// in the set; this catches client input they repeat.
func descriptionText(desc string) string {
	ok := len(desc) <= maxDescription
	for i := 0; ok && i < len(desc); i++ {
		ok = descriptionByte(desc[i])
	}
	if ok {
		return desc
	}
	var b strings.Builder
	for _, r := range desc {
		if b.Len() == maxDescription {
			return b.String()[:maxDescription-len("...")] + "..."
		}
		switch {
		case r < 0x80 && descriptionByte(byte(r)):
			b.WriteByte(byte(r))
		case r == '"':
			b.WriteByte('\'')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// descriptionByte reports whether c may appear in an error_description.
func descriptionByte(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// Quote quotes client input for an error description: between single
// quotes, cut to maxEcho bytes (then ending in "..."), each character
// outside error_description's set replaced as descriptionText does, so
// neither the answer nor a log line of Error() repeats more than a short,
// printable excerpt of what the client sent.
func Quote(s string) string {
	cut := len(s) > maxEcho
	if cut {
		s = s[:maxEcho]
	}
	s = descriptionText(s)
	if cut {
		s += "..."
	}
	return "'" + s + "'"
}
