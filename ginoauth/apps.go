package ginoauth

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// NewApplication is what CreateApplication needs to register a client.
type NewApplication struct {
	Name       string
	ClientType store.ClientType
	// GrantTypes the client may use, as grant_type values
	// ("authorization_code", "password", "client_credentials").
	GrantTypes   []string
	RedirectURIs []string
	// AllowedScopes is the client's scope ceiling; empty means every scope.
	AllowedScopes     []string
	SkipAuthorization bool
	// UserID is the owner, optional.
	UserID string
	// ClientID, if set, is used instead of a generated one.
	ClientID string
}

// CreateApplication registers a client, after CheckApplication, and returns
// it with its secret. The
// secret (empty for a public client) is returned only here: the store
// keeps its hash, as DOT does since 2.0.
func (p *Provider) CreateApplication(ctx context.Context, na NewApplication) (*store.Application, string, error) {
	app := &store.Application{
		Name:              na.Name,
		ClientType:        na.ClientType,
		GrantTypes:        dedupe(na.GrantTypes),
		RedirectURIs:      dedupe(na.RedirectURIs),
		AllowedScopes:     dedupe(na.AllowedScopes),
		SkipAuthorization: na.SkipAuthorization,
		UserID:            na.UserID,
		CreatedAt:         p.now().UTC().Truncate(time.Second),
	}
	if err := p.CheckApplication(app); err != nil {
		return nil, "", err
	}
	id := na.ClientID
	if id == "" {
		var err error
		if id, err = randomID(24); err != nil {
			return nil, "", err
		}
	}
	app.ClientID = id
	var secret string
	if na.ClientType == store.Confidential {
		var err error
		if secret, app.SecretHash, err = NewClientSecret(); err != nil {
			return nil, "", err
		}
	}
	if err := p.store.CreateApplication(ctx, app); err != nil {
		return nil, "", fmt.Errorf("ginoauth: create application: %w", err)
	}
	return app, secret, nil
}

// CheckApplication checks an application's settings: the one validator of
// application metadata, which CreateApplication, UpdateApplication, the
// management pages and commands all use. It returns nil, or an
// *InvalidApplicationError listing every problem in a sentence a user can
// act on.
func (p *Provider) CheckApplication(app *store.Application) error {
	var problems []string
	if app.ClientType != store.Confidential && app.ClientType != store.Public {
		problems = append(problems, "Choose a client type: confidential or public.")
	}
	if len(app.GrantTypes) == 0 {
		problems = append(problems, "Choose at least one authorization grant type.")
	}
	for _, g := range app.GrantTypes {
		if _, ok := p.grants[g]; !ok {
			problems = append(problems, fmt.Sprintf("This server does not offer the grant type %q.", g))
		}
	}
	if app.ClientType == store.Public && app.AllowsGrant(store.GrantClientCredentials) {
		problems = append(problems, "A public client cannot use the client_credentials grant: it has no secret to authenticate with (RFC 6749 section 4.4).")
	}
	if app.AllowsGrant(store.GrantAuthorizationCode) && len(app.RedirectURIs) == 0 {
		problems = append(problems, "The authorization_code grant needs at least one redirect URI.")
	}
	for _, u := range app.RedirectURIs {
		if problem := redirectURIProblem(u); problem != "" {
			problems = append(problems, problem)
		}
	}
	for _, s := range app.AllowedScopes {
		if _, ok := p.scopes[s]; !ok {
			problems = append(problems, fmt.Sprintf("Scope %q is not one this server offers.", s))
		}
	}
	if len(problems) > 0 {
		return &InvalidApplicationError{Problems: problems}
	}
	return nil
}

// ValidateRedirectURI checks a redirect URI for registration (RFC 6749
// section 3.1.2): absolute, without a fragment or user information, and
// https unless it is a loopback URI (see MatchRedirectURI; RFC 8252
// section 7.3) or a private-use scheme for native apps (RFC 8252 section
// 7.1, a scheme with a dot, such as com.example.app). A refused URI gives
// an *InvalidApplicationError saying why.
func ValidateRedirectURI(raw string) error {
	if problem := redirectURIProblem(raw); problem != "" {
		return &InvalidApplicationError{Problems: []string{problem}}
	}
	return nil
}

// redirectURIProblem says what is wrong with raw as a redirect URI to
// register, or "" when nothing is.
func redirectURIProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Sprintf("The redirect URI %q is not an absolute URI.", raw)
	case u.Fragment != "" || u.RawFragment != "" || strings.HasSuffix(raw, "#"):
		return fmt.Sprintf("The redirect URI %q may not have a fragment (#...).", raw)
	case u.User != nil:
		return fmt.Sprintf("The redirect URI %q may not carry a user name or password.", raw)
	case !validPort(u):
		return fmt.Sprintf("The redirect URI %q has a port that is not a number from 1 to 65535.", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Sprintf("The redirect URI %q has no host.", raw)
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Sprintf("The redirect URI %q must use https: http is for loopback addresses only.", raw)
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("The redirect URI %q has a custom scheme that is not reverse-DNS, such as com.example.app.", raw)
		}
	}
	return ""
}
