package main

import (
	"context"
	"errors"
	"slices"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// registerScope is the scope of the demo's initial access tokens: a bearer
// token carrying it may register clients at /o/register/ (RFC 7591), and
// only staff users get it (narrowScopes). docs/dynamic-registration.md.
const registerScope = "register"

// demoScopes are the demo's scopes: DOT's read and write, and
// registerScope, which is never a default.
func demoScopes() map[string]string {
	return map[string]string{
		"read":        "Reading scope",
		"write":       "Writing scope",
		registerScope: "Register OAuth2 clients (staff only)",
	}
}

// demoDefaultScopes are granted when a request names none.
func demoDefaultScopes() []string { return []string{"read", "write"} }

// registration is the demo's dynamic client registration: an initial
// access token carrying registerScope is needed.
func registration() ginoauth.RegistrationConfig {
	return ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationScope(registerScope)}
}

// narrowScopes is the demo's Config.NarrowScopes: registerScope only for
// an active staff user, never for a token without a user (a
// client_credentials token), which no staff member asked for. The scope is
// dropped from what the token carries (RFC 6749 section 3.3); asked for
// alone, it is invalid_scope.
func (a *app) narrowScopes(ctx context.Context, _ *store.Application, userID string, scopes []string) ([]string, error) {
	if !slices.Contains(scopes, registerScope) {
		return scopes, nil
	}
	staff := false
	if userID != "" {
		u, err := a.provider.Store().GetUser(ctx, userID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			staff = u.IsStaff && u.IsActive
		}
	}
	if staff {
		return scopes, nil
	}
	return slices.DeleteFunc(scopes, func(s string) bool { return s == registerScope }), nil
}
