package ginoauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

	// The rest of the client metadata, as store.Application's fields of
	// the same names (empty: the defaults). ParseClientMetadata fills them
	// from an RFC 7591 document.
	PostLogoutRedirectURIs   []string
	TokenEndpointAuthMethod  string
	JWKS                     json.RawMessage
	JWKSURI                  string
	IDTokenSignedResponseAlg string
	AccessTokenFormat        string
	// RequirePushedAuthorizationRequests: RFC 9126 section 6.
	RequirePushedAuthorizationRequests bool
	// DPoPBoundAccessTokens: RFC 9449 section 5.2.
	DPoPBoundAccessTokens bool

	// RegistrationTokenHash is store.Application's: set by the dynamic
	// registration endpoint (RFC 7592), empty otherwise.
	RegistrationTokenHash string
}

// CreateApplication registers a client, after CheckApplication, and returns
// it with its secret. The secret (empty for a client that does not
// authenticate with one: a public client, or a private_key_jwt one) is
// returned only here: the store keeps its hash, as DOT does since 2.0.
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

		PostLogoutRedirectURIs:   dedupe(na.PostLogoutRedirectURIs),
		TokenEndpointAuthMethod:  na.TokenEndpointAuthMethod,
		JWKS:                     append(json.RawMessage(nil), na.JWKS...),
		JWKSURI:                  na.JWKSURI,
		IDTokenSignedResponseAlg: na.IDTokenSignedResponseAlg,
		AccessTokenFormat:        na.AccessTokenFormat,

		RequirePushedAuthorizationRequests: na.RequirePushedAuthorizationRequests,
		DPoPBoundAccessTokens:              na.DPoPBoundAccessTokens,
		RegistrationTokenHash:              na.RegistrationTokenHash,
	}
	if err := p.CheckApplication(app); err != nil {
		return nil, "", err
	}
	id := na.ClientID
	if id == "" {
		id = newID()
	}
	app.ClientID = id
	var secret string
	if app.UsesSecret() {
		var err error
		if secret, app.SecretHash, err = NewClientSecret(); err != nil {
			return nil, "", err
		}
		if app.SealedSecret, err = p.sealSecretFor(app, secret); err != nil {
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
// management pages and commands, and ParseClientMetadata's documents all
// go through. It returns nil, or an *InvalidApplicationError listing every
// problem in a sentence a user can act on, with the RFC 7591 member each
// is about (see InvalidApplicationError.RegistrationErrorCode).
func (p *Provider) CheckApplication(app *store.Application) error {
	var l problemList
	if app.ClientType != store.Confidential && app.ClientType != store.Public {
		l.add("token_endpoint_auth_method", "Choose a client type: confidential or public.")
	}
	checkName(&l, app.Name)
	p.checkGrants(&l, app)
	for _, u := range app.RedirectURIs {
		if problem := uriProblem("redirect URI", u); problem != "" {
			l.add("redirect_uris", "%s", problem)
		}
	}
	for _, u := range app.PostLogoutRedirectURIs {
		if problem := uriProblem("post-logout redirect URI", u); problem != "" {
			l.add("post_logout_redirect_uris", "%s", problem)
		}
	}
	for _, s := range app.AllowedScopes {
		if _, ok := p.scopes[s]; !ok {
			l.add("scope", "Scope %q is not one this server offers.", s)
		}
	}
	checkAuthMethod(&l, app)
	checkKeys(&l, app)
	switch app.IDTokenSignedResponseAlg {
	case "", store.AlgRS256, store.AlgES256:
	default:
		l.add("id_token_signed_response_alg", "The ID token algorithm %q is not offered: choose RS256 or ES256.", app.IDTokenSignedResponseAlg)
	}
	switch app.AccessTokenFormat {
	case "", store.TokenFormatOpaque:
	case store.TokenFormatJWT:
		if p.keys == nil {
			l.add("access_token_format", "This server keeps no signing keys (its store does not implement them), so it cannot issue JWT access tokens.")
		}
	default:
		l.add("access_token_format", "The access token format %q is not offered: choose opaque or jwt.", app.AccessTokenFormat)
	}
	if app.RequirePushedAuthorizationRequests && p.pushedRequests() == nil {
		l.add("require_pushed_authorization_requests", "This server cannot keep pushed authorization requests (its store does not implement them), so it cannot require them.")
	}
	return l.err()
}

// MaxApplicationName bounds an application's name (client_name), in
// characters.
const MaxApplicationName = 255

// checkName checks an application's name: plain text on one line, at most
// MaxApplicationName characters.
func checkName(l *problemList, name string) {
	if utf8.RuneCountInString(name) > MaxApplicationName {
		l.add("client_name", "The name is too long: %d characters at most.", MaxApplicationName)
	}
	if !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		l.add("client_name", "The name must be plain text on one line.")
	}
}

// checkGrants checks the grant types: known to the provider, and what
// each needs (a secret, redirect URIs).
func (p *Provider) checkGrants(l *problemList, app *store.Application) {
	if len(app.GrantTypes) == 0 {
		l.add("grant_types", "Choose at least one authorization grant type.")
	}
	for _, g := range app.GrantTypes {
		if _, ok := p.grants[g]; !ok {
			l.add("grant_types", "This server does not offer the grant type %q.", g)
		}
	}
	if app.ClientType == store.Public && app.AllowsGrant(store.GrantClientCredentials) {
		l.add("grant_types", "A public client cannot use the client_credentials grant: it has no secret to authenticate with (RFC 6749 section 4.4).")
	}
	if app.AllowsGrant(store.GrantAuthorizationCode) && len(app.RedirectURIs) == 0 {
		l.add("redirect_uris", "The authorization_code grant needs at least one redirect URI.")
	}
}

// checkAuthMethod checks token_endpoint_auth_method against the client
// type: "none" is a public client's, every other a confidential one's.
func checkAuthMethod(l *problemList, app *store.Application) {
	switch m := app.TokenEndpointAuthMethod; m {
	case "":
	case store.AuthNone:
		if app.ClientType == store.Confidential {
			l.add("token_endpoint_auth_method", "A confidential client must authenticate: token_endpoint_auth_method %q is a public client's.", m)
		}
	case store.AuthClientSecretBasic, store.AuthClientSecretPost, store.AuthClientSecretJWT, store.AuthPrivateKeyJWT:
		if app.ClientType == store.Public {
			l.add("token_endpoint_auth_method", "A public client does not authenticate: its token_endpoint_auth_method is \"none\", not %q.", m)
		}
	default:
		l.add("token_endpoint_auth_method", "The token_endpoint_auth_method %q is not offered: choose client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt or none.", m)
	}
}

// ValidateRedirectURI checks a redirect URI for registration (RFC 6749
// section 3.1.2): absolute, without a fragment or user information, and
// https unless it is a loopback URI (see MatchRedirectURI; RFC 8252
// section 7.3) or a private-use scheme for native apps (RFC 8252 section
// 7.1, a scheme with a dot, such as com.example.app). A refused URI gives
// an *InvalidApplicationError saying why.
func ValidateRedirectURI(raw string) error {
	if problem := redirectURIProblem(raw); problem != "" {
		return &InvalidApplicationError{Problems: []string{problem}, Fields: []string{"redirect_uris"}}
	}
	return nil
}

// redirectURIProblem says what is wrong with raw as a redirect URI to
// register, or "" when nothing is.
func redirectURIProblem(raw string) string { return uriProblem("redirect URI", raw) }

// uriProblem is redirectURIProblem for a URI that kind names in its
// sentences ("redirect URI", "post-logout redirect URI").
func uriProblem(kind, raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Sprintf("The %s %q is not an absolute URI.", kind, raw)
	case u.Fragment != "" || u.RawFragment != "" || strings.HasSuffix(raw, "#"):
		return fmt.Sprintf("The %s %q may not have a fragment (#...).", kind, raw)
	case u.User != nil:
		return fmt.Sprintf("The %s %q may not carry a user name or password.", kind, raw)
	case !validPort(u):
		return fmt.Sprintf("The %s %q has a port that is not a number from 1 to 65535.", kind, raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Sprintf("The %s %q has no host.", kind, raw)
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Sprintf("The %s %q must use https: http is for loopback addresses only.", kind, raw)
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("The %s %q has a custom scheme that is not reverse-DNS, such as com.example.app.", kind, raw)
		}
	}
	return ""
}
