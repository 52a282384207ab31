package ginoauth

import (
	"errors"
	"slices"
	"strings"
)

// ErrMalformedScope is ParseScope's answer to a scope string that RFC 6749
// section 3.3 does not allow.
var ErrMalformedScope = errors.New("ginoauth: malformed scope")

// ParseScope splits a scope parameter (RFC 6749 section 3.3: scope-tokens
// of %x21 / %x23-5B / %x5D-7E separated by single spaces) into its scopes,
// dropping duplicates and keeping their order. Runs of spaces and leading
// or trailing spaces are tolerated, as common clients send them; any other
// character, a tab or a newline included, is ErrMalformedScope. An empty
// string gives no scopes.
func ParseScope(s string) ([]string, error) {
	var out []string
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, ErrMalformedScope
			}
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, nil
}

// FormatScope joins scopes as the scope parameter carries them.
func FormatScope(scopes []string) string { return strings.Join(scopes, " ") }

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// grantScopes decides the scopes of a token: the requested ones, or the
// defaults when none are requested, limited to the configured scopes and to
// the application's ceiling. A requested scope that is unknown or above the
// ceiling is invalid_scope, never silently dropped, so a client learns what
// it asked wrongly.
func (p *Provider) grantScopes(requested string, ceiling []string) ([]string, error) {
	scopes, err := ParseScope(requested)
	if err != nil {
		return nil, ErrInvalidScope.WithDescription("The scope parameter is malformed.")
	}
	if len(scopes) == 0 {
		var out []string
		for _, s := range p.defaultScopes {
			if len(ceiling) == 0 || slices.Contains(ceiling, s) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	for _, s := range scopes {
		if _, ok := p.scopes[s]; !ok {
			return nil, ErrInvalidScope.WithDescription("Unknown scope %s.", echo(s))
		}
		if len(ceiling) > 0 && !slices.Contains(ceiling, s) {
			return nil, ErrInvalidScope.WithDescription("The client may not request scope %s.", echo(s))
		}
	}
	return scopes, nil
}
