package resource

import (
	"net/http"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// A TokenFinder extracts a bearer access token from a request (RFC 6750
// section 2). It returns "" and a nil error when the request carries no
// token its way, and an error (an *oautherr.Error with Code
// invalid_request) when it carries a malformed one. Options.TokenFinders
// lists the ones the middleware consults, as go-chi/jwtauth's Verify does.
type TokenFinder func(r *http.Request) (string, error)

// TokenFromHeader finds the token in the Authorization header (RFC 6750
// section 2.1), the one method every resource server supports and the
// default of Options.TokenFinders. A request that repeats the header is
// invalid_request: which one counts would be a guess.
func TokenFromHeader(r *http.Request) (string, error) {
	headers := r.Header.Values("Authorization")
	switch len(headers) {
	case 0:
		return "", nil
	case 1:
		return ParseBearer(headers[0])
	default:
		return "", errTwoAuthorizationHeaders
	}
}

// TokenFromQuery finds the token in an access_token query parameter (RFC
// 6750 section 2.3, which advises against it: URLs end up in logs).
func TokenFromQuery(r *http.Request) (string, error) {
	return oneToken(r.URL.Query()["access_token"])
}

// TokenFromForm finds the token in an access_token field of a
// form-encoded request body (RFC 6750 section 2.2), on any method but GET.
// It parses the form, reading at most 64 KiB of the body.
func TokenFromForm(r *http.Request) (string, error) {
	if r.Method == http.MethodGet || r.Body == nil ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return "", nil
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			return "", nil
		}
	}
	return oneToken(r.PostForm["access_token"])
}

// maxFormBody bounds the body TokenFromForm reads.
const maxFormBody = 64 << 10

// oneToken checks the values of an access_token parameter.
func oneToken(vals []string) (string, error) {
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		if !isB64Token(vals[0]) {
			return "", errMalformedToken
		}
		return vals[0], nil
	default:
		return "", errSeveralTokens
	}
}

var (
	errTwoAuthorizationHeaders = oautherr.ErrInvalidRequest.WithDescription("More than one Authorization header.")
	errMalformedToken          = oautherr.ErrInvalidRequest.WithDescription("The bearer token is malformed.")
	errSeveralTokens           = oautherr.ErrInvalidRequest.WithDescription("Send the access token by one method only.")
)

// findToken runs every finder on r. More than one token, found by one
// finder or several, is invalid_request (RFC 6750 section 2: a client
// uses one method only).
func findToken(r *http.Request, finders []TokenFinder) (string, error) {
	var found string
	for _, find := range finders {
		tok, err := find(r)
		if err != nil {
			return "", err
		}
		if tok == "" {
			continue
		}
		if found != "" {
			return "", errSeveralTokens
		}
		found = tok
	}
	return found, nil
}

// ParseBearer extracts the token from an Authorization header value of the
// form RFC 6750 section 2.1 gives: the scheme "Bearer", matched without
// regard to case, one or more spaces, and a b64token (letters, digits and
// -._~+/ followed by any number of '='). It returns "" and a nil error for
// an empty value or another scheme, and an *oautherr.Error with Code
// invalid_request for a Bearer header whose token is missing or malformed.
func ParseBearer(header string) (string, error) {
	return parseScheme(header, "Bearer")
}

// parseScheme is ParseBearer for the scheme given (Bearer or DPoP, whose
// token68 has the same syntax).
func parseScheme(header, scheme string) (string, error) {
	if len(header) < len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", nil
	}
	rest := header[len(scheme):]
	if rest != "" && rest[0] != ' ' {
		return "", nil // e.g. "BearerX": another scheme
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", oautherr.ErrInvalidRequest.WithDescription("The %s authorization header has no token.", scheme)
	}
	if !isB64Token(tok) {
		return "", errMalformedToken
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

// BearerMethods reports which of RFC 6750's methods finders accept, as RFC
// 9728's bearer_methods_supported names them ("header", "body", "query"),
// by trying each on a request that carries a token that way alone. Nil
// finders means the middleware's default: {"header"}.
func BearerMethods(finders []TokenFinder) []string {
	if finders == nil {
		finders = []TokenFinder{TokenFromHeader}
	}
	const probe = "probe"
	requests := []struct {
		method string
		build  func() *http.Request
	}{
		{"header", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+probe)
			return r
		}},
		{"body", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader("access_token="+probe))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
		{"query", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "/?access_token="+probe, nil)
			return r
		}},
	}
	var out []string
	for _, q := range requests {
		if tok, err := findToken(q.build(), finders); err == nil && tok == probe {
			out = append(out, q.method)
		}
	}
	return out
}
