package ginoauth

import (
	"slices"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/scope"
)

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
	scopes, err := scope.Parse(requested)
	if err != nil {
		return nil, oautherr.ErrInvalidScope.WithDescription("The scope parameter is malformed.")
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
			return nil, oautherr.ErrInvalidScope.WithDescription("Unknown scope %s.", oautherr.Quote(s))
		}
		if len(ceiling) > 0 && !slices.Contains(ceiling, s) {
			return nil, oautherr.ErrInvalidScope.WithDescription("The client may not request scope %s.", oautherr.Quote(s))
		}
	}
	return scopes, nil
}
