package ginoauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// This file holds the provider's management operations on applications
// and grants, used by the management pages (package pages) and commands
// (package manage), as DOT's application and authorized-token views use
// its models. Store errors propagate wrapped: errors.Is(err,
// store.ErrNotFound) and errors.Is(err, store.ErrUnavailable) keep working.

// ErrInvalidApplication is matched (errors.Is) by the errors
// UpdateApplication returns for settings it refuses; they are
// *InvalidApplicationError values listing why.
var ErrInvalidApplication = errors.New("ginoauth: invalid application")

// InvalidApplicationError lists why an application's settings were
// refused, one sentence per problem, fit to show a user.
type InvalidApplicationError struct {
	Problems []string
	// Fields, when not nil, holds for each of Problems (same index) the
	// client metadata member it is about, by its RFC 7591 name
	// ("redirect_uris", "jwks", ...), or "" for the document as a whole.
	Fields []string
}

// RFC 7591 section 3.2.2 error codes, which RegistrationErrorCode returns.
const (
	ErrCodeInvalidRedirectURI    = "invalid_redirect_uri"
	ErrCodeInvalidClientMetadata = "invalid_client_metadata"
)

// RegistrationErrorCode is the RFC 7591 section 3.2.2 error code of a
// refused registration: invalid_redirect_uri when every problem is about
// the redirect_uris, invalid_client_metadata otherwise.
func (e *InvalidApplicationError) RegistrationErrorCode() string {
	if len(e.Fields) != len(e.Problems) || len(e.Fields) == 0 {
		return ErrCodeInvalidClientMetadata
	}
	for _, f := range e.Fields {
		if f != "redirect_uris" {
			return ErrCodeInvalidClientMetadata
		}
	}
	return ErrCodeInvalidRedirectURI
}

// problemList collects problems with the member each is about, for an
// *InvalidApplicationError.
type problemList struct{ problems, fields []string }

func (l *problemList) add(field, format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
	l.fields = append(l.fields, field)
}

// err returns nil, or an *InvalidApplicationError with l's problems.
func (l *problemList) err() error {
	if len(l.problems) == 0 {
		return nil
	}
	return &InvalidApplicationError{Problems: l.problems, Fields: l.fields}
}

// Error implements the error interface.
func (e *InvalidApplicationError) Error() string {
	return "ginoauth: invalid application: " + strings.Join(e.Problems, " ")
}

// Is makes errors.Is(err, ErrInvalidApplication) match.
func (e *InvalidApplicationError) Is(target error) bool { return target == ErrInvalidApplication }

// errEmptyGrantFilter refuses the zero store.GrantFilter, which would
// select nothing on some stores and everything on others.
var errEmptyGrantFilter = errors.New("ginoauth: a grant filter needs a user (ListGrants), or a user, a client or both (RevokeGrants)")

// ListApplications returns the applications owned by the user with ID
// ownerUserID, or every application when ownerUserID is empty, ordered by
// client ID.
func (p *Provider) ListApplications(ctx context.Context, ownerUserID string) ([]*store.Application, error) {
	apps, err := p.store.ListApplications(ctx)
	if err != nil {
		return nil, fmt.Errorf("ginoauth: list applications: %w", err)
	}
	if ownerUserID != "" {
		apps = slices.DeleteFunc(apps, func(a *store.Application) bool { return a.UserID != ownerUserID })
	}
	if apps == nil {
		apps = []*store.Application{}
	}
	return apps, nil
}

// UpdateApplication changes a stored application: it reads it, lets
// change modify it, checks the result as CreateApplication checks a new
// one, and stores it. An error from change is returned as it is and
// nothing is stored. Settings that cannot work give an
// *InvalidApplicationError (errors.Is ErrInvalidApplication); a missing
// application, an error wrapping store.ErrNotFound.
//
// change may not alter ClientID. A client that does not authenticate with
// a secret (a public one, or one whose TokenEndpointAuthMethod is
// private_key_jwt) keeps none: its SecretHash is cleared. One that does
// needs one: change must set SecretHash (with HashClientSecret) when it
// turns a public client confidential. Only a client_secret_jwt client
// keeps a SealedSecret (set by CreateApplication), and an application
// cannot be switched to that method (an *InvalidApplicationError). Two concurrent updates of one
// application are not merged: the last one stored wins.
func (p *Provider) UpdateApplication(ctx context.Context, clientID string, change func(*store.Application) error) (*store.Application, error) {
	app, err := p.store.GetApplication(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("ginoauth: update application %q: %w", clientID, err)
	}
	if err := change(app); err != nil {
		return nil, err
	}
	if app.ClientID != clientID {
		return nil, errors.New("ginoauth: update application: the client id cannot change")
	}
	app.GrantTypes = dedupe(app.GrantTypes)
	app.RedirectURIs = dedupe(app.RedirectURIs)
	app.AllowedScopes = dedupe(app.AllowedScopes)
	app.PostLogoutRedirectURIs = dedupe(app.PostLogoutRedirectURIs)
	var l problemList
	var invalid *InvalidApplicationError
	if errors.As(p.CheckApplication(app), &invalid) {
		l = problemList{invalid.Problems, invalid.Fields}
	}
	switch {
	case !app.UsesSecret():
		app.SecretHash = "" // a public client, or one that signs with its keys
	case app.SecretHash == "":
		l.add("token_endpoint_auth_method", "A confidential client needs a client secret.")
	}
	if !app.UsesSecret() || app.AuthMethod() != store.AuthClientSecretJWT {
		app.SealedSecret = nil // readable secrets only where the method needs one
	} else if len(app.SealedSecret) == 0 {
		l.add("token_endpoint_auth_method", "A client_secret_jwt client needs a secret the server can read, which only a secret issued to it by that method is: register a new application instead.")
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	defer p.apps.forget(clientID)
	if err := p.store.UpdateApplication(ctx, app); err != nil {
		return nil, fmt.Errorf("ginoauth: update application %q: %w", clientID, err)
	}
	return app, nil
}

// DeleteApplication deletes the application, which revokes every token
// and code issued to it, as deleting a DOT Application cascades to its
// tokens: the provider refuses a token whose application is gone (every
// instance within Config.ApplicationCacheTTL, this one at once), and an
// application created again under the same client ID gets a new
// Generation, which the old tokens do not carry. The tokens' records are
// left to expire. A missing application gives an error wrapping
// store.ErrNotFound.
func (p *Provider) DeleteApplication(ctx context.Context, clientID string) error {
	defer p.apps.forget(clientID)
	if err := p.store.DeleteApplication(ctx, clientID); err != nil {
		return fmt.Errorf("ginoauth: delete application %q: %w", clientID, err)
	}
	p.observeRevocation(observe.RevokeApplication)
	return nil
}

// ListGrants returns the live grants of a user, or of a user for a client
// (DOT's authorized tokens), newest first, leaving out those of deleted
// applications and those revoked with their application's tokens (another
// Generation). A filter without UserID is refused: grants are indexed by
// user only.
func (p *Provider) ListGrants(ctx context.Context, f store.GrantFilter) ([]*store.Grant, error) {
	if f.UserID == "" {
		return nil, errEmptyGrantFilter
	}
	grants, err := p.store.ListGrants(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("ginoauth: list grants: %w", err)
	}
	out := grants[:0]
	for _, g := range grants {
		ok, err := p.currentApp(ctx, g.ClientID, g.Generation)
		if err != nil {
			return nil, fmt.Errorf("ginoauth: list grants: %w", err)
		}
		if ok {
			out = append(out, g)
		}
	}
	return out, nil
}

// RevokeGrants revokes the grants f selects and returns how many it
// revoked, also when it stops at an error. With a UserID, it lists the
// user's live grants (of f's client only, when ClientID is set) and
// revokes each family (store.Tokens.RevokeFamily). With only a ClientID,
// it revokes every token and code of the application at once, without
// listing them (store.Applications.RevokeApplicationTokens: a new
// Generation; every instance refuses the old tokens within
// Config.ApplicationCacheTTL, this one at once), and returns 1, or 0 when
// the application does not exist. The zero filter is refused.
func (p *Provider) RevokeGrants(ctx context.Context, f store.GrantFilter) (int, error) {
	if f.UserID == "" && f.ClientID == "" {
		return 0, errEmptyGrantFilter
	}
	if f.UserID == "" {
		defer p.apps.forget(f.ClientID)
		_, err := p.store.RevokeApplicationTokens(ctx, f.ClientID)
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("ginoauth: revoke the tokens of application %q: %w", f.ClientID, err)
		}
		p.observeRevocation(observe.RevokeApplication)
		return 1, nil
	}
	grants, err := p.ListGrants(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range grants {
		if err := p.store.RevokeFamily(ctx, g.Family); err != nil {
			return n, fmt.Errorf("ginoauth: revoke grant: %w", err)
		}
		p.observeRevocation(observe.RevokeFamily)
		n++
	}
	return n, nil
}

// dedupe drops repeated and empty strings, keeping the order.
func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
