package ginoauth

import (
	"context"
	"slices"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
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

// narrowScopes applies Config.NarrowScopes to scopes about to be granted
// to client for userID ("" for none): it keeps, in their order, those the
// hook returns, and answers invalid_scope when it keeps none of a
// non-empty set (RFC 6749 section 3.3).
func (p *Provider) narrowScopes(ctx context.Context, client *store.Application, userID string, scopes []string) ([]string, error) {
	if p.cfg.NarrowScopes == nil || len(scopes) == 0 {
		return scopes, nil
	}
	allowed, err := p.cfg.NarrowScopes(ctx, client, userID, slices.Clone(scopes))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, oautherr.ErrInvalidScope.WithDescription("None of the requested scopes may be granted.")
	}
	return out, nil
}
