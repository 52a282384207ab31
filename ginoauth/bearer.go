package ginoauth

import (
	"errors"
	"net/http"
	"strings"
)

// ErrNoBearer is BearerToken's answer when the request carries no bearer
// token in its Authorization header (no header, or another scheme).
var ErrNoBearer = errors.New("ginoauth: no bearer token")

// ParseBearer extracts the token from an Authorization header value of the
// form RFC 6750 section 2.1 gives: the scheme "Bearer", matched without
// regard to case, one or more spaces, and a b64token (letters, digits and
// -._~+/ followed by any number of '='). It returns ErrNoBearer for an
// empty value or another scheme, and an *Error with Code invalid_request
// for a Bearer header whose token is missing or malformed.
func ParseBearer(header string) (string, error) {
	if len(header) < len("Bearer") || !strings.EqualFold(header[:len("Bearer")], "Bearer") {
		return "", ErrNoBearer
	}
	rest := header[len("Bearer"):]
	if rest != "" && rest[0] != ' ' {
		return "", ErrNoBearer // e.g. "BearerX": another scheme
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", ErrInvalidRequest.WithDescription("The Bearer authorization header has no token.")
	}
	if !isB64Token(tok) {
		return "", ErrInvalidRequest.WithDescription("The bearer token is malformed.")
	}
	return tok, nil
}

// isB64Token reports whether s is RFC 6750's b64token.
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// errTwoAuthorizationHeaders answers a request that repeats the
// Authorization header: which one counts would be a guess.
var errTwoAuthorizationHeaders = ErrInvalidRequest.WithDescription("More than one Authorization header.")

// BearerToken extracts the access token of r: from its Authorization
// header, and, when allowed, from an access_token form field (RFC 6750
// 2.2, form-encoded bodies only) or query parameter (2.3). A request that
// uses more than one method, or repeats the header, is invalid_request
// (section 2). It returns ErrNoBearer when there is no token.
func BearerToken(r *http.Request, allowForm, allowQuery bool) (string, error) {
	var found []string
	headers := r.Header.Values("Authorization")
	if len(headers) > 1 {
		return "", errTwoAuthorizationHeaders
	}
	if len(headers) == 1 {
		tok, err := ParseBearer(headers[0])
		if err != nil && !errors.Is(err, ErrNoBearer) {
			return "", err
		}
		if err == nil {
			found = append(found, tok)
		}
	}
	if allowQuery {
		if v, ok := r.URL.Query()["access_token"]; ok {
			found = append(found, v...)
		}
	}
	if allowForm && r.Method != http.MethodGet && r.Body != nil &&
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err == nil {
			if v, ok := r.PostForm["access_token"]; ok {
				found = append(found, v...)
			}
		}
	}
	switch len(found) {
	case 0:
		return "", ErrNoBearer
	case 1:
		if !isB64Token(found[0]) {
			return "", ErrInvalidRequest.WithDescription("The bearer token is malformed.")
		}
		return found[0], nil
	default:
		return "", ErrInvalidRequest.WithDescription("Send the access token by one method only.")
	}
}
