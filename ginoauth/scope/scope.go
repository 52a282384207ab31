// Package scope is the syntax of OAuth 2.0 scopes (RFC 6749 section 3.3),
// the one check that the authorization server, the resource-server
// middleware and the guards of package permissions share.
package scope

import (
	"errors"
	"slices"
	"strings"
)

// ErrMalformed is Parse's answer to a scope string that RFC 6749 section
// 3.3 does not allow.
var ErrMalformed = errors.New("scope: malformed scope")

// Valid reports whether s is one RFC 6749 section 3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func Valid(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Parse splits a scope parameter (scope-tokens separated by single spaces)
// into its scopes, dropping duplicates and keeping their order. Runs of
// spaces and leading or trailing spaces are tolerated, as common clients
// send them; any other character outside a scope-token, a tab or a
// newline included, is ErrMalformed. An empty string gives no scopes.
func Parse(s string) ([]string, error) {
	var out []string
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		if !Valid(tok) {
			return nil, ErrMalformed
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, nil
}

// Format joins scopes as the scope parameter carries them.
func Format(scopes []string) string { return strings.Join(scopes, " ") }
