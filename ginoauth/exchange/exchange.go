// Package exchange lets a client trade an access token of another OAuth2
// provider (an "upstream": GitHub, Google, another ginoauth or Django OAuth
// Toolkit server) for an access and refresh token of this one, as
// django-rest-framework-social-oauth2's convert-token endpoint does. It
// answers two grant types at the token endpoint, both for authenticated
// clients:
//
//   - convert_token, with backend (a Backend's Name) and token (the
//     upstream access token), as django-rest-framework-social-oauth2;
//   - RFC 8693 token exchange (urn:ietf:params:oauth:grant-type:token-exchange),
//     with subject_token and subject_token_type
//     (urn:ietf:params:oauth:token-type:access_token); the backend is named
//     by the audience parameter, else the resource parameter, else
//     Config.DefaultBackend. The answer carries issued_token_type.
//
// The server calls the backend's user-details URL with the upstream token
// as a bearer token, finds the local user linked to the upstream account
// (store.SocialLinks) or creates one, and issues local tokens for it.
//
// The server trusts the upstream's answer: whoever it names is the token's
// user. For a backend whose URL holds {username} (a lookup of the user the
// request names), the upstream must therefore answer only for the token's
// own user, and 404 for any other username. Never configure a lookup that
// answers for anyone, such as a public profile
// (https://api.github.com/users/{username}): every valid token would get
// every user's account. As a cross-check the answer's username must equal
// the requested one (see Backend.UserDetailsURL); that catches an upstream
// answering for someone else than asked, not one answering for whoever is
// asked.
//
// Register the grants with the provider and allow them to an application:
//
//	grants, err := exchange.GrantTypes(exchange.Config{Backends: []exchange.Backend{{
//		Name:           "github",
//		UserDetailsURL: "https://api.github.com/user",
//		UsernameField:  "login",
//		AnyClient:      true, // GitHub cannot tell which app a token was issued to
//	}}})
//	p, err := ginoauth.New(ginoauth.Config{..., GrantTypes: grants})
//	p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Confidential,
//		GrantTypes: []string{exchange.GrantConvertToken, exchange.GrantTokenExchange}})
//
// docs/social-login.md walks through it with the demo.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Grant types and token types of the exchange grants.
const (
	// GrantConvertToken is django-rest-framework-social-oauth2's grant type.
	GrantConvertToken = "convert_token"
	// GrantTokenExchange is RFC 8693's grant type.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is RFC 8693's token type of an OAuth2 access
	// token: the only subject_token_type accepted, and the
	// issued_token_type of every answer.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 5 * time.Second

// UsernamePlaceholder is the placeholder of Backend.UserDetailsURL replaced
// by the path-escaped username of the request.
const UsernamePlaceholder = "{username}"

// Backend is an upstream OAuth2 provider whose access tokens are accepted,
// as a python-social-auth backend. It is provider-neutral: any site with
// an endpoint answering the token's user as a JSON object will do.
type Backend struct {
	// Name identifies the backend in requests (convert_token's backend,
	// RFC 8693's audience or resource) and in social links: an account is
	// (Name, upstream user ID). It must not be empty or contain ':' and
	// should never change once users are linked.
	Name string
	// UserDetailsURL is the absolute http or https URL answering the
	// token's user as a JSON object, called with GET and "Authorization:
	// Bearer <token>" (GitHub's https://api.github.com/user). It may hold
	// {username} (UsernamePlaceholder) in its path, as the seed's "with
	// params" backend: it is replaced by the request's username parameter
	// (see UsernameParam), path-escaped; such a backend answers 404 for an
	// unknown username, which is invalid_grant.
	//
	// The answer of a {username} URL is trusted as the token's user, so
	// the upstream must answer only when {username} is the token's own
	// user and 404 for anyone else; one that answers for any username
	// (a public profile lookup) hands every user's account to any valid
	// token. The server checks that the answer's username (UsernameField)
	// equals the request's username exactly (case included), and answers
	// invalid_grant otherwise, also when the answer has no username: this
	// catches an upstream that ignores {username} or answers for another
	// user, but cannot catch one that answers for whoever is asked.
	UserDetailsURL string
	// UsernameParam is the request parameter holding the {username} of
	// UserDetailsURL. Empty means "username".
	UsernameParam string
	// IntrospectionURL, if set, is the upstream's RFC 7662 introspection
	// endpoint: the token is introspected first (POST token=...) and an
	// inactive one is invalid_grant without a call to UserDetailsURL.
	// IntrospectionClientID and IntrospectionClientSecret authenticate
	// that call with HTTP Basic; without them it carries the token itself
	// as a bearer token.
	IntrospectionURL                                 string
	IntrospectionClientID, IntrospectionClientSecret string

	// AllowedClientIDs are the upstream clients whose tokens this backend
	// accepts. An upstream token is a user's grant to one upstream
	// client: every third-party application the user ever authorized
	// there holds one, and could sign in here as the user if any token
	// were accepted. The upstream must say which client a token is for:
	// the introspection answer's client_id or one of its aud values (RFC
	// 7662 section 2.2; IntrospectionURL), or the user-details answer's
	// ClientIDField, or both (each is checked). A backend sets
	// AllowedClientIDs or AnyClient, never both nor neither.
	AllowedClientIDs []string
	// AnyClient accepts a token issued to any upstream client, for an
	// upstream that cannot tell which client a token is for (no
	// introspection, as GitHub's user API): any application the user
	// authorized there can then sign in here as the user.
	AnyClient bool
	// ClientIDField is the field of the user-details answer naming the
	// client the token was issued to, for an upstream whose token-info
	// endpoint says so (Google's tokeninfo "azp", the demo's social site
	// "client_id"); a dotted name reads a nested object. With
	// AllowedClientIDs, an answer whose field names no allowed client is
	// invalid_grant.
	ClientIDField string

	// The fields of the user-details object mapped to the local user. A
	// dotted name ("data.id") reads a nested object. A number is taken
	// as its decimal text. Empty means "id", "username", "email",
	// "first_name" and "last_name", python-social-auth's names. The ID
	// is required (an answer without one is an upstream failure); the
	// username falls back to Name + "_user" when absent.
	IDField, UsernameField, EmailField, FirstNameField, LastNameField string

	// UsernamePrefix is put before the upstream username to make the local
	// one ("gh_" makes "octocat" "gh_octocat"), so that upstreams do not
	// compete for names. Whatever it is, a username already taken by
	// another local user is never reused: a suffix is added
	// ("octocat_3f9a"); only the social link decides who the upstream
	// user is, never a matching username.
	UsernamePrefix string
}

// Config configures the exchange grants.
type Config struct {
	// Backends are the accepted upstreams; at least one.
	Backends []Backend
	// DefaultBackend is the Name of the backend of an RFC 8693 request
	// that names none (no audience or resource). Empty means such a
	// request is refused (invalid_request), unless there is exactly one
	// backend.
	DefaultBackend string
	// RevokeEarlierTokens revokes every earlier grant (access and refresh
	// tokens) of the user for the requesting application before issuing
	// the new tokens, as django-rest-framework-social-oauth2 does: one
	// live login per user and application.
	RevokeEarlierTokens bool
	// NoRefresh issues an access token only. The zero value issues a
	// refresh token too, as the seed does.
	NoRefresh bool
	// PublicClients lets public clients (no secret) use the grants. By
	// default only confidential clients may: the grants mint long-lived
	// local tokens from a bearer token alone.
	PublicClients bool
	// Timeout bounds each call to an upstream. Zero means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient makes the upstream calls. Nil means a client that does
	// not follow redirects (a redirect is an upstream failure, so the
	// token goes nowhere but the configured URLs).
	HTTPClient *http.Client
	// Logger receives a line for each upstream failure (backend, status or
	// network error, elapsed time; never the token or the body). Nil means
	// slog.Default().
	Logger *slog.Logger
	// Links keeps the social links. Nil means the provider's store, which
	// must then implement store.SocialLinks (memstore and redisstore do).
	Links store.SocialLinks
}

// exchanger is a validated Config.
type exchanger struct {
	backends map[string]*backend
	def      string
	revoke   bool
	refresh  bool
	timeout  time.Duration
	client   *http.Client
	log      *slog.Logger
	links    store.SocialLinks
}

// GrantTypes returns the convert_token and RFC 8693 grants for
// ginoauth.Config.GrantTypes. It fails on a Config it cannot use: no backend,
// two with one Name, a Name empty or holding ':', a URL that is not
// absolute http or https, a DefaultBackend that is not a backend, a
// negative Timeout.
func GrantTypes(cfg Config) ([]ginoauth.GrantType, error) {
	x, err := newExchanger(cfg)
	if err != nil {
		return nil, err
	}
	return []ginoauth.GrantType{
		{Name: GrantConvertToken, Handle: x.convertToken, PublicClients: cfg.PublicClients},
		// resource names a backend here (RFC 8693 section 2.1), not an
		// RFC 8707 resource of this server.
		{Name: GrantTokenExchange, Handle: x.tokenExchange, PublicClients: cfg.PublicClients, OwnResource: true},
	}, nil
}

func newExchanger(cfg Config) (*exchanger, error) {
	if len(cfg.Backends) == 0 {
		return nil, errors.New("exchange: Config.Backends is empty")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("exchange: Config.Timeout is negative")
	}
	x := &exchanger{
		backends: make(map[string]*backend, len(cfg.Backends)),
		def:      cfg.DefaultBackend,
		revoke:   cfg.RevokeEarlierTokens,
		refresh:  !cfg.NoRefresh,
		timeout:  cfg.Timeout,
		client:   cfg.HTTPClient,
		log:      cfg.Logger,
		links:    cfg.Links,
	}
	for _, b := range cfg.Backends {
		nb, err := newBackend(b)
		if err != nil {
			return nil, err
		}
		if _, dup := x.backends[b.Name]; dup {
			return nil, fmt.Errorf("exchange: backend %q is configured twice", b.Name)
		}
		x.backends[b.Name] = nb
	}
	if x.def == "" && len(cfg.Backends) == 1 {
		x.def = cfg.Backends[0].Name
	}
	if x.def != "" && x.backends[x.def] == nil {
		return nil, fmt.Errorf("exchange: DefaultBackend %q is not a configured backend", x.def)
	}
	if x.timeout == 0 {
		x.timeout = DefaultTimeout
	}
	if x.client == nil {
		x.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if x.log == nil {
		x.log = slog.Default()
	}
	return x, nil
}

// checkURL checks that raw is an absolute http or https URL without
// credentials or fragment.
func checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("exchange: %s is not a URL", what)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("exchange: %s must be an absolute http or https URL, not %q", what, u.Redacted())
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("exchange: %s may not carry credentials or a fragment", what)
	}
	return nil
}

// convertToken is django-rest-framework-social-oauth2's convert_token.
func (x *exchanger) convertToken(ctx context.Context, p *ginoauth.Provider, r *ginoauth.TokenRequest) (*ginoauth.TokenResponse, error) {
	name := r.Params["backend"]
	if name == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing backend parameter.")
	}
	b := x.backends[name]
	if b == nil {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Unknown backend '%s'.", name)
	}
	token := r.Params["token"]
	if token == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing token parameter.")
	}
	return x.exchange(ctx, p, r, b, token)
}

// ErrInvalidTarget is RFC 8693's invalid_target (section 2.2.2): the
// audience or resource of a token exchange names no backend.
var ErrInvalidTarget = &oautherr.Error{Code: "invalid_target", Status: http.StatusBadRequest}

// tokenExchange is RFC 8693 section 2.1.
func (x *exchanger) tokenExchange(ctx context.Context, p *ginoauth.Provider, r *ginoauth.TokenRequest) (*ginoauth.TokenResponse, error) {
	token, typ := r.Params["subject_token"], r.Params["subject_token_type"]
	if token == "" || typ == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Token exchange needs subject_token and subject_token_type.")
	}
	if typ != TokenTypeAccessToken {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Unsupported subject_token_type; only %s is accepted.", TokenTypeAccessToken)
	}
	if rt := r.Params["requested_token_type"]; rt != "" && rt != TokenTypeAccessToken {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Unsupported requested_token_type; only %s is issued.", TokenTypeAccessToken)
	}
	if r.Params["actor_token"] != "" || r.Params["actor_token_type"] != "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Delegation (actor_token) is not supported.")
	}
	aud, res := r.Params["audience"], r.Params["resource"]
	if aud != "" && res != "" && aud != res {
		return nil, ErrInvalidTarget.WithDescription("audience and resource name different backends.")
	}
	name := aud
	if name == "" {
		name = res
	}
	if name == "" {
		if x.def == "" {
			return nil, oautherr.ErrInvalidRequest.WithDescription("Name the backend in the audience parameter.")
		}
		name = x.def
	}
	b := x.backends[name]
	if b == nil {
		return nil, ErrInvalidTarget.WithDescription("Unknown backend '%s'.", name)
	}
	resp, err := x.exchange(ctx, p, r, b, token)
	if err != nil {
		return nil, err
	}
	resp.IssuedTokenType = TokenTypeAccessToken
	return resp, nil
}

// exchange checks token with b, finds or creates the local user and issues
// its tokens.
func (x *exchanger) exchange(ctx context.Context, p *ginoauth.Provider, r *ginoauth.TokenRequest, b *backend, token string) (*ginoauth.TokenResponse, error) {
	if !validToken(token) {
		return nil, errRejected
	}
	links := x.links
	if links == nil {
		l, ok := p.Store().(store.SocialLinks)
		if !ok {
			return nil, oautherr.ErrServerError.WithCause(errors.New("exchange: the provider's store does not implement store.SocialLinks; set Config.Links"))
		}
		links = l
	}
	scopes, err := p.GrantScopes(r.Params["scope"], r.Client)
	if err != nil {
		return nil, err
	}
	details, err := x.fetch(ctx, b, token, r.Params[b.usernameParam])
	if err != nil {
		return nil, err
	}
	u, err := localUser(ctx, p.Store(), links, b, details)
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, oautherr.ErrInvalidGrant.WithDescription("The user is inactive.")
	}
	if x.revoke {
		if _, err := p.RevokeGrants(ctx, store.GrantFilter{UserID: u.ID, ClientID: r.Client.ClientID}); err != nil {
			return nil, err
		}
	}
	return p.IssueTokens(ctx, r.Client, ginoauth.IssueRequest{
		UserID: u.ID, Username: u.Username, Scopes: scopes, Refresh: x.refresh,
	})
}

// maxToken is the longest upstream token accepted; a longer one is
// refused without a call.
const maxToken = 16 << 10

// validToken reports whether token can go in an Authorization header:
// visible ASCII, at most 16 KiB.
func validToken(token string) bool {
	if token == "" || len(token) > maxToken {
		return false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// errRejected is the answer to a token the upstream refused.
var errRejected = oautherr.ErrInvalidGrant.WithDescription("The upstream provider rejected the token.")

// errOtherClient is the answer to an upstream token issued to a client
// the backend does not accept (Backend.AllowedClientIDs).
var errOtherClient = oautherr.ErrInvalidGrant.WithDescription("The upstream token was issued to a client this server does not accept.")

// ErrUpstreamUnavailable is wrapped by the cause of every 503 the grants
// answer because an upstream failed: unreachable, slow (Config.Timeout),
// answering an unexpected status, a redirect, or anything but a JSON
// object of at most 64 KiB with the user's ID. It matches
// store.ErrUnavailable too. The client sees temporarily_unavailable and
// nothing of the upstream's answer.
var ErrUpstreamUnavailable error = upstreamError{}

type upstreamError struct{}

func (upstreamError) Error() string        { return "exchange: the upstream provider is unavailable" }
func (upstreamError) Is(target error) bool { return target == store.ErrUnavailable }
func (upstreamError) Unwrap() error        { return store.ErrUnavailable }

// unavailable is the client's answer to an upstream failure; cause is for
// the log only.
func unavailable(b *backend, format string, a ...any) error {
	cause := fmt.Errorf("%w: backend %s: "+format, append([]any{ErrUpstreamUnavailable, b.Name}, a...)...)
	return oautherr.ErrTemporarilyUnavailable.
		WithDescription("The upstream provider is unavailable; try again later.").
		WithCause(cause)
}

// splitField splits a dotted field name.
func splitField(f string) []string { return strings.Split(f, ".") }
