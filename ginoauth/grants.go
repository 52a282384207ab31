package ginoauth

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TokenRequest is a token request from an authenticated client, as a
// GrantHandler sees it.
type TokenRequest struct {
	// GrantType is the request's grant_type.
	GrantType string
	// Client is the authenticated client, allowed to use GrantType.
	Client *store.Application
	// Params are the request's parameters (form or JSON), each once.
	Params map[string]string
	// HTTP is the request itself, for headers and the remote address.
	HTTP *http.Request
}

// GrantHandler answers a token request of one grant type: it checks the
// grant's own parameters, decides the user and the scopes, and issues
// tokens, usually with Provider.IssueTokens. It returns an *Error (built
// from ErrInvalidGrant, ErrInvalidRequest, ErrInvalidScope, ...) for the
// client's mistakes; any other error answers 503 when it wraps
// store.ErrUnavailable, else 500.
type GrantHandler func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error)

// Grant registers a grant type at the token endpoint (Config.Grants): the
// built-in ones (authorization_code, password, client_credentials,
// refresh_token) are registered the same way.
type Grant struct {
	// Type is the grant_type value, such as "aws_identity" or an absolute
	// URI (RFC 6749 4.5).
	Type string
	// Handle answers the requests.
	Handle GrantHandler
	// PublicClients lets public clients (no secret) use the grant.
	PublicClients bool
	// AnyClient lets every client use the grant, whether or not it lists
	// it among its grant types (the refresh_token grant: a client may
	// refresh whatever it was issued).
	AnyClient bool
}

// builtinGrants are the grants of RFC 6749.
func builtinGrants() []Grant {
	return []Grant{
		{Type: store.GrantAuthorizationCode, PublicClients: true, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.codeGrant(ctx, r.Client, r.Params)
		}},
		{Type: store.GrantPassword, PublicClients: true, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.passwordGrant(ctx, r.Client, r.Params)
		}},
		{Type: store.GrantClientCredentials, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.clientCredentialsGrant(ctx, r.Client, r.Params)
		}},
		{Type: store.GrantRefreshToken, PublicClients: true, AnyClient: true, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.refreshGrant(ctx, r.Client, r.Params)
		}},
	}
}

// registerGrants builds the grant table from the built-ins and cfg.Grants.
func (p *Provider) registerGrants(extra []Grant) error {
	p.grants = map[string]Grant{}
	for _, g := range append(builtinGrants(), extra...) {
		if g.Type == "" || g.Handle == nil {
			return fmt.Errorf("ginoauth: a grant needs a Type and a Handle")
		}
		if _, dup := p.grants[g.Type]; dup {
			return fmt.Errorf("ginoauth: grant type %q is registered twice", g.Type)
		}
		p.grants[g.Type] = g
	}
	return nil
}

// GrantTypes lists the grant types the token endpoint accepts.
func (p *Provider) GrantTypes() []string {
	out := make([]string, 0, len(p.grants))
	for t := range p.grants {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// IssueRequest is what IssueTokens mints tokens for.
type IssueRequest struct {
	// UserID and Username name the resource owner; empty for a token that
	// acts for the client itself.
	UserID, Username string
	// Scopes granted, already checked (see GrantScopes).
	Scopes []string
	// Refresh asks for a refresh token too.
	Refresh bool
}

// IssueTokens mints and stores a new grant's tokens for client, for a
// GrantHandler: an access token, and a refresh token if asked, in a new
// family.
func (p *Provider) IssueTokens(ctx context.Context, client *store.Application, r IssueRequest) (*TokenResponse, error) {
	return p.issue(ctx, client, r.UserID, r.Username, r.Scopes, r.Refresh)
}

// GrantScopes decides the scopes of a token for client from a requested
// scope parameter, for a GrantHandler: the requested ones, or
// Config.DefaultScopes when none, within the configured scopes and the
// client's ceiling; anything else is an *Error with Code invalid_scope.
func (p *Provider) GrantScopes(requested string, client *store.Application) ([]string, error) {
	return p.grantScopes(requested, client.AllowedScopes)
}
