// Package awsidentity is the aws_identity grant: a client proves an AWS
// identity (an IAM user or an assumed role) by handing the authorization
// server a SigV4-signed sts:GetCallerIdentity request, which the server
// forwards to AWS STS, and gets an access token for the local user that
// identity is mapped to. It is django-oauth2's grant of the same name, and
// the scheme HashiCorp Vault's AWS IAM auth method uses.
//
// The token request carries, besides the client's own credentials:
//
//	grant_type=aws_identity
//	region=us-east-1
//	post_body=Action=GetCallerIdentity&Version=2011-06-15
//	headers_json={"Host":"sts.us-east-1.amazonaws.com","X-Amz-Date":"...","Authorization":"AWS4-HMAC-SHA256 ...", ...}
//	scope=read            (optional)
//
// The server never takes a URL from the client: it builds
// https://sts.<region>.amazonaws.com/ from a strictly validated region, and
// checks, before any network call, that the signed request is a
// GetCallerIdentity call to that host, signed for sts in that region,
// recently, and that it carries Config.ServerIDHeader with the value
// Config.ServerID inside the signature, so a request signed for another
// server (or another service) cannot be replayed here. See
// docs/aws-identity.md.
package awsidentity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// GrantType is the grant_type value of the aws_identity grant.
const GrantType = "aws_identity"

// Defaults for Config.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxClockSkew = 15 * time.Minute
	// DefaultMaxFutureSkew is how far ahead of the server's clock a
	// request's X-Amz-Date may be: clocks drift, but a request dated
	// further ahead would stay usable for longer than MaxClockSkew.
	DefaultMaxFutureSkew = time.Minute
)

// Config configures the aws_identity grant.
type Config struct {
	// ServerIDHeader is the header that binds a signed request to this
	// server, such as "X-Ginoauth-Server-ID". Clients must send it inside
	// the signature (listed in SignedHeaders). Required.
	ServerIDHeader string
	// ServerID is the value ServerIDHeader must carry, unique to this
	// authorization server (its public host name, say). Required.
	ServerID string
	// Mappings map AWS identities to local users; the first that matches
	// the caller wins, and a caller no mapping matches is refused. At
	// least one is required.
	Mappings []Mapping
	// AllowedRegions, if not empty, limits the regions clients may sign
	// for; any well-formed region is accepted otherwise.
	AllowedRegions []string
	// IssueRefreshToken issues a refresh token with the access token. Off
	// by default: a client that can sign for its AWS identity can simply
	// ask again.
	IssueRefreshToken bool
	// HTTPClient sends the requests to STS; http.DefaultClient's transport
	// when nil. Redirects are never followed, whatever its CheckRedirect.
	// The requests always go to https://sts.<region>.amazonaws.com/ (or
	// .amazonaws.com.cn); tests route them to a fake STS with the client of
	// package awsidentitytest.
	HTTPClient *http.Client
	// Timeout bounds the STS round trip; DefaultTimeout when zero.
	Timeout time.Duration
	// MaxClockSkew is how old X-Amz-Date may be; DefaultMaxClockSkew when
	// zero (STS itself accepts a request for 15 minutes). Each signed
	// request is accepted once: its signature is kept in the store
	// (store.Replays) until X-Amz-Date + MaxClockSkew.
	MaxClockSkew time.Duration
	// MaxFutureSkew is how far X-Amz-Date may be ahead of the server's
	// clock; DefaultMaxFutureSkew when zero.
	MaxFutureSkew time.Duration
	// ClientIDHeader, if set (such as "X-Ginoauth-Client-ID"), binds a
	// signed request to one client: the request must carry this header,
	// inside the signature, with the authenticating client's client_id.
	// Without it, a signed request is bound to this server only, and
	// whoever holds it and any client's credentials can use it (once).
	ClientIDHeader string
	// Logger receives one line per refused or accepted request (never a
	// signature, credential or session token); slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock X-Amz-Date is checked against; time.Now when nil.
	Now func() time.Time
}

// Mapping maps AWS identities to a local user and a scope ceiling.
//
// A Mapping matches a caller when both its Account (if set) and its ARN
// pattern (if set) match; at least one must be set. The ARN pattern is
// matched against the caller's principal ARN:
//
//	IAM user:      arn:aws:iam::123456789012:user/path/alice   (as STS answers it)
//	assumed role:  arn:aws:iam::123456789012:role/deployer     (the session name, which
//	               the caller chooses, is dropped; role paths are not in the answer)
//
// where '*' matches any run of characters other than ':', so
// "arn:aws:iam::123456789012:role/ci-*" matches every role whose name
// starts with "ci-" in that account, and nothing in another account. A
// wildcard is allowed in the resource part only: New refuses a pattern
// whose partition, service or account is not literal (such as
// "arn:aws:iam::*:role/x"), one that names an assumed-role session
// (arn:aws:sts::...), and one whose account is not the mapping's Account.
type Mapping struct {
	// Account is a 12-digit AWS account ID.
	Account string
	// ARN is a principal ARN pattern, as above.
	ARN string
	// Username is the local user the token is issued for. The user must
	// already exist in the provider's store (store.Users.GetUserByUsername)
	// and be active; it is never created. Required.
	Username string
	// Scopes is the ceiling of the token's scopes: a request for a scope
	// outside it is invalid_scope, and a request without scope gets the
	// provider's default scopes within it. Required.
	Scopes []string
}

// grant is a configured aws_identity grant.
type grant struct {
	cfg           Config
	serverIDLower string
	regions       map[string]bool
	client        *http.Client
	timeout       time.Duration
	skew          time.Duration
	future        time.Duration
	clientIDLower string
	log           *slog.Logger
	now           func() time.Time
}

// New checks cfg and returns the aws_identity grant, to list in
// ginoauth.Config.GrantTypes. Only confidential clients that list
// "aws_identity" among their grant types may use it: the AWS signature
// proves who the caller is on AWS, and the client secret which client
// software asks.
func New(cfg Config) (ginoauth.GrantType, error) {
	g := &grant{cfg: cfg, timeout: cfg.Timeout, skew: cfg.MaxClockSkew, future: cfg.MaxFutureSkew, log: cfg.Logger, now: cfg.Now}
	if err := checkBindingHeader("ServerIDHeader", cfg.ServerIDHeader); err != nil {
		return ginoauth.GrantType{}, err
	}
	g.serverIDLower = strings.ToLower(cfg.ServerIDHeader)
	if cfg.ClientIDHeader != "" {
		if err := checkBindingHeader("ClientIDHeader", cfg.ClientIDHeader); err != nil {
			return ginoauth.GrantType{}, err
		}
		g.clientIDLower = strings.ToLower(cfg.ClientIDHeader)
		if g.clientIDLower == g.serverIDLower {
			return ginoauth.GrantType{}, errors.New("awsidentity: ClientIDHeader must differ from ServerIDHeader")
		}
	}
	if cfg.ServerID == "" || !validHeaderValue(cfg.ServerID) || strings.TrimSpace(cfg.ServerID) != cfg.ServerID {
		return ginoauth.GrantType{}, errors.New("awsidentity: ServerID must be a non-empty header value without surrounding spaces")
	}
	if len(cfg.Mappings) == 0 {
		return ginoauth.GrantType{}, errors.New("awsidentity: at least one Mapping is required")
	}
	for i, m := range cfg.Mappings {
		if err := m.check(); err != nil {
			return ginoauth.GrantType{}, fmt.Errorf("awsidentity: Mappings[%d]: %w", i, err)
		}
	}
	if len(cfg.AllowedRegions) > 0 {
		g.regions = map[string]bool{}
		for _, r := range cfg.AllowedRegions {
			if !ValidRegion(r) {
				return ginoauth.GrantType{}, fmt.Errorf("awsidentity: AllowedRegions: %q is not a region", r)
			}
			g.regions[r] = true
		}
	}
	if g.timeout == 0 {
		g.timeout = DefaultTimeout
	}
	if g.skew == 0 {
		g.skew = DefaultMaxClockSkew
	}
	if g.future == 0 {
		g.future = DefaultMaxFutureSkew
	}
	if g.timeout < 0 || g.skew < 0 || g.future < 0 {
		return ginoauth.GrantType{}, errors.New("awsidentity: Timeout, MaxClockSkew and MaxFutureSkew must not be negative")
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	c := http.Client{}
	if cfg.HTTPClient != nil {
		c = *cfg.HTTPClient
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	g.client = &c
	return ginoauth.GrantType{Name: GrantType, Handle: g.handle}, nil
}

// checkBindingHeader checks a header name of Config that the signature
// must cover: a valid name that AWS, HTTP or the transport do not own.
func checkBindingHeader(field, name string) error {
	if !validHeaderName(name) {
		return fmt.Errorf("awsidentity: %s must be a header name", field)
	}
	lower := strings.ToLower(name)
	if lower == "host" || strings.HasPrefix(lower, "x-amz-") || lower == "authorization" || lower == "content-length" || hopByHop[lower] {
		return fmt.Errorf("awsidentity: %s %q is reserved", field, name)
	}
	return nil
}

// handle answers an aws_identity token request.
func (g *grant) handle(ctx context.Context, p *ginoauth.Provider, r *ginoauth.TokenRequest) (*ginoauth.TokenResponse, error) {
	req, err := g.checkRequest(r.Params, r.Client.ClientID, g.now())
	if err != nil {
		g.refused(ctx, r, err)
		return nil, err
	}
	if err := g.checkFirstUse(ctx, p, req); err != nil {
		g.refused(ctx, r, err)
		return nil, err
	}
	id, err := g.callerIdentity(ctx, req)
	if err != nil {
		g.refused(ctx, r, err)
		return nil, err
	}
	m := g.match(id)
	if m == nil {
		err := invalidGrant("No mapping allows this AWS identity.")
		g.refused(ctx, r, err, "arn", id.arn)
		return nil, err
	}
	u, err := p.Store().GetUserByUsername(ctx, m.Username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.IsActive) {
		err := invalidGrant("The user this AWS identity maps to does not exist or is inactive.")
		g.refused(ctx, r, err, "arn", id.arn, "username", m.Username)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	scopes, err := g.scopes(p, r, m)
	if err != nil {
		g.refused(ctx, r, err, "arn", id.arn)
		return nil, err
	}
	resp, err := p.IssueTokens(ctx, r.Client, ginoauth.IssueRequest{
		UserID: u.ID, Username: u.Username, Scopes: scopes, Refresh: g.cfg.IssueRefreshToken,
	})
	if err != nil {
		return nil, err
	}
	g.log.InfoContext(ctx, "awsidentity: token issued", "client_id", r.Client.ClientID,
		"arn", id.arn, "account", id.account, "username", u.Username, "scope", resp.Scope)
	return resp, nil
}

// checkFirstUse records the request's signature in the store until the
// request is too old to be accepted anyway, and refuses a signature seen
// before, on any instance. It runs before STS is called: of two
// concurrent uses, one reaches STS. The store keeps a digest, never the
// signature itself.
func (g *grant) checkFirstUse(ctx context.Context, p *ginoauth.Provider, req *signedRequest) error {
	sum := sha256.Sum256([]byte(req.signature))
	first, err := p.Store().FirstUse(ctx, "awsid:"+hex.EncodeToString(sum[:16]), req.signedAt.Add(g.skew))
	if err != nil {
		return err
	}
	if !first {
		return invalidGrant("This signed request was used already; sign a new one.")
	}
	return nil
}

// scopes decides the token's scopes: the provider's decision for the
// client, within the mapping's ceiling.
func (g *grant) scopes(p *ginoauth.Provider, r *ginoauth.TokenRequest, m *Mapping) ([]string, error) {
	requested := r.Params["scope"]
	scopes, err := p.GrantScopes(requested, r.Client)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(requested) != "" {
		for _, s := range scopes {
			if !slices.Contains(m.Scopes, s) {
				return nil, oautherr.ErrInvalidScope.WithDescription("This AWS identity may not request scope '%s'.", s)
			}
		}
		return scopes, nil
	}
	var out []string
	for _, s := range scopes {
		if slices.Contains(m.Scopes, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, oautherr.ErrInvalidScope.WithDescription("No default scope is allowed to this AWS identity; request one.")
	}
	return out, nil
}

// refused logs a refused request: the reason, never the request's headers.
func (g *grant) refused(ctx context.Context, r *ginoauth.TokenRequest, err error, attrs ...any) {
	var e *oautherr.Error
	if errors.As(err, &e) && e.Status >= 500 {
		return // the token endpoint logs 5xx answers with their cause
	}
	args := append([]any{"client_id", r.Client.ClientID, "region", r.Params["region"], "reason", err.Error()}, attrs...)
	if !ValidRegion(r.Params["region"]) {
		args[3] = "(invalid)"
	}
	g.log.InfoContext(ctx, "awsidentity: request refused", args...)
}

func invalidGrant(format string, args ...any) error {
	return oautherr.ErrInvalidGrant.WithDescription(format, args...)
}

func invalidRequest(format string, args ...any) error {
	return oautherr.ErrInvalidRequest.WithDescription(format, args...)
}
