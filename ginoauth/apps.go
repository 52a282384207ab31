package ginoauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
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

// CreateApplication registers a client and returns it with its secret. The
// secret (empty for a public client) is returned only here: the store
// keeps its hash, as DOT does since 2.0.
func (p *Provider) CreateApplication(ctx context.Context, na NewApplication) (*store.Application, string, error) {
	if na.ClientType != store.Confidential && na.ClientType != store.Public {
		return nil, "", fmt.Errorf("ginoauth: client type must be %q or %q", store.Confidential, store.Public)
	}
	if len(na.GrantTypes) == 0 {
		return nil, "", errors.New("ginoauth: an application needs at least one grant type")
	}
	for _, g := range na.GrantTypes {
		if _, ok := p.grants[g]; !ok {
			return nil, "", fmt.Errorf("ginoauth: unknown grant type %q", g)
		}
	}
	if na.ClientType == store.Public && slices.Contains(na.GrantTypes, store.GrantClientCredentials) {
		return nil, "", errors.New("ginoauth: a public client may not use the client_credentials grant (RFC 6749 4.4)")
	}
	if slices.Contains(na.GrantTypes, store.GrantAuthorizationCode) && len(na.RedirectURIs) == 0 {
		return nil, "", errors.New("ginoauth: the authorization_code grant needs at least one redirect URI")
	}
	for _, u := range na.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return nil, "", err
		}
	}
	for _, s := range na.AllowedScopes {
		if _, ok := p.scopes[s]; !ok {
			return nil, "", fmt.Errorf("ginoauth: allowed scope %q is not a configured scope", s)
		}
	}
	id := na.ClientID
	if id == "" {
		var err error
		if id, err = randomID(24); err != nil {
			return nil, "", err
		}
	}
	app := &store.Application{
		ClientID:          id,
		Name:              na.Name,
		ClientType:        na.ClientType,
		GrantTypes:        slices.Clone(na.GrantTypes),
		RedirectURIs:      slices.Clone(na.RedirectURIs),
		AllowedScopes:     slices.Clone(na.AllowedScopes),
		SkipAuthorization: na.SkipAuthorization,
		UserID:            na.UserID,
		CreatedAt:         p.now().UTC().Truncate(time.Second),
	}
	var secret string
	if na.ClientType == store.Confidential {
		var err error
		if secret, err = randomID(32); err != nil {
			return nil, "", err
		}
		app.SecretHash = HashClientSecret(secret)
	}
	if err := p.store.CreateApplication(ctx, app); err != nil {
		return nil, "", fmt.Errorf("ginoauth: create application: %w", err)
	}
	return app, secret, nil
}

// ValidateRedirectURI checks a redirect URI for registration (RFC 6749
// 3.1.2): absolute, no fragment, and https unless it is a loopback http
// URI (RFC 8252 7.3) or a private-use scheme for native apps (RFC 8252 7.1,
// a scheme with a dot, such as com.example.app).
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("ginoauth: redirect URI %q is not an absolute URI", raw)
	}
	if u.Fragment != "" || u.RawFragment != "" || len(raw) > 0 && raw[len(raw)-1] == '#' {
		return fmt.Errorf("ginoauth: redirect URI %q must not have a fragment", raw)
	}
	if u.User != nil {
		return fmt.Errorf("ginoauth: redirect URI %q must not have a user name or password", raw)
	}
	if !validPort(u) {
		return fmt.Errorf("ginoauth: redirect URI %q has an invalid port", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("ginoauth: redirect URI %q has no host", raw)
		}
	case "http":
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return fmt.Errorf("ginoauth: redirect URI %q must use https (http is for loopback only)", raw)
		}
	default:
		if !slices.Contains([]byte(u.Scheme), '.') {
			return fmt.Errorf("ginoauth: redirect URI %q: a custom scheme must be reverse-DNS (com.example.app)", raw)
		}
	}
	return nil
}
