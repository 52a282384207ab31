package ginoauth

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TokenRequest is a token request from an authenticated client, as a
// GrantTypeHandler sees it.
type TokenRequest struct {
	// GrantType is the request's grant_type.
	GrantType string
	// Client is the authenticated client, allowed to use GrantType.
	Client *store.Application
	// Params are the request's parameters (form or JSON), each once, but
	// for resource.
	Params map[string]string
	// Resources are the request's resource parameters (RFC 8707 section
	// 2), which may repeat: absolute URIs this server serves, checked
	// before the handler runs; nil when none was sent. IssueTokens makes
	// them the tokens' audience.
	Resources []string
	// HTTP is the request itself, for headers.
	HTTP *http.Request
	// clientIP returns the source address; see ClientIP.
	clientIP func() string
}

// ClientIP is the request's source address as gin's Context.ClientIP says
// it (the engine's trusted proxies decide), as the rate limits count it;
// computed when asked for.
func (r *TokenRequest) ClientIP() string {
	if r.clientIP == nil {
		return ""
	}
	return r.clientIP()
}

// GrantTypeHandler answers a token request of one grant type: it checks the
// grant's own parameters, decides the user and the scopes, and issues
// tokens, usually with Provider.IssueTokens. It returns an *oautherr.Error (built
// from oautherr.ErrInvalidGrant, oautherr.ErrInvalidRequest, oautherr.ErrInvalidScope, ...) for the
// client's mistakes; any other error answers 503 when it wraps
// store.ErrUnavailable, else 500.
type GrantTypeHandler func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error)

// GrantType registers a grant type at the token endpoint (Config.GrantTypes): the
// built-in ones (authorization_code, password, client_credentials,
// refresh_token) are registered the same way.
type GrantType struct {
	// Name is the grant_type value, such as "aws_identity" or an absolute
	// URI (RFC 6749 4.5).
	Name string
	// Handle answers the requests.
	Handle GrantTypeHandler
	// PublicClients lets public clients (no secret) use the grant.
	PublicClients bool
	// AnyClient lets every client use the grant, whether or not it lists
	// it among its grant types (the refresh_token grant: a client may
	// refresh whatever it was issued).
	AnyClient bool
	// OwnResource is for a grant that gives the resource parameter a
	// meaning of its own (the exchange package's token exchange names a
	// backend with it): the token endpoint leaves it in Params (sent at
	// most once) without the RFC 8707 checks, and the tokens get the
	// default audience. Otherwise resource is RFC 8707's, checked for
	// every grant, and in TokenRequest.Resources.
	OwnResource bool
}

// builtinGrantTypes are the grants of RFC 6749.
func builtinGrantTypes() []GrantType {
	return []GrantType{
		{Name: store.GrantAuthorizationCode, PublicClients: true, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.codeGrant(ctx, r.Client, r.Params)
		}},
		{Name: store.GrantPassword, PublicClients: true, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.passwordGrant(ctx, r.Client, r.Params, r.ClientIP())
		}},
		{Name: store.GrantClientCredentials, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.clientCredentialsGrant(ctx, r.Client, r.Params)
		}},
		{Name: store.GrantRefreshToken, PublicClients: true, AnyClient: true, Handle: func(ctx context.Context, p *Provider, r *TokenRequest) (*TokenResponse, error) {
			return p.refreshGrant(ctx, r.Client, r.Params)
		}},
	}
}

// grantTable builds the grant-type table from the built-ins and extra
// (Config.GrantTypes).
func grantTable(extra []GrantType) (map[string]GrantType, error) {
	table := map[string]GrantType{}
	for _, g := range append(builtinGrantTypes(), extra...) {
		if g.Name == "" || g.Handle == nil {
			return nil, fmt.Errorf("ginoauth: a grant type needs a Name and a Handle")
		}
		if _, dup := table[g.Name]; dup {
			return nil, fmt.Errorf("ginoauth: grant type %q is registered twice", g.Name)
		}
		table[g.Name] = g
	}
	return table, nil
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
// GrantTypeHandler: an access token, and a refresh token if asked, in a new
// family. Called with the context the handler got, the tokens are for the
// token request's resources (TokenRequest.Resources, RFC 8707), or for
// the default resource (Config.Resource) when it named none.
func (p *Provider) IssueTokens(ctx context.Context, client *store.Application, r IssueRequest) (*TokenResponse, error) {
	return p.issue(ctx, client, r.UserID, r.Username, r.Scopes, r.Refresh)
}

// GrantScopes decides the scopes of a token for client from a requested
// scope parameter, for a GrantTypeHandler: the requested ones, or
// Config.DefaultScopes when none, within the configured scopes and the
// client's ceiling; anything else is an *oautherr.Error with Code invalid_scope.
func (p *Provider) GrantScopes(requested string, client *store.Application) ([]string, error) {
	return p.grantScopes(requested, client.AllowedScopes)
}
