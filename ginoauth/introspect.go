package ginoauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// IntrospectionResponse is RFC 7662 section 2.2's answer. An inactive
// token is {"active": false} and nothing else.
type IntrospectionResponse struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Iss       string `json:"iss,omitempty"`
	// Aud is the token's audience (RFC 8707 resources; RFC 7662 section
	// 2.2): a string for one, an array for several, absent for none.
	Aud Audience `json:"aud,omitempty"`
	// Cnf is a DPoP-bound token's confirmation (RFC 9449 section 6.2):
	// {"jkt": thumbprint}; TokenType is then "DPoP".
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the "cnf" claim of RFC 7800 with RFC 9449's jkt member.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// Audience is a JWT-style "aud" (RFC 7519 section 4.1.3): it encodes as a
// string when it holds one value, as an array of strings otherwise.
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON implements json.Unmarshaler: a string or an array of
// strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// IntrospectHandler is the introspection endpoint of RFC 7662 (DOT's
// /o/introspect/). The caller authenticates as a confidential client (as
// at the token endpoint) or with a bearer token that holds
// Config.IntrospectionScope ("introspection" by default; it must be one of
// Scopes to be granted). It answers active, scope, client_id, username,
// token_type ("Bearer" for access tokens, "refresh_token" for refresh
// tokens), exp, iat, sub (the user id), iss and aud (the token's RFC 8707
// audience, or for a refresh token the resources its grant allows;
// Config.Resource when none was asked for), or {"active": false} for
// any token that is unknown, expired, revoked or malformed, or that the
// caller may not see. A caller sees its own tokens (for a bearer caller,
// those of its token's client); a resource server, an application whose
// AllowedScopes name the introspection scope, also sees other clients'
// access tokens; a refresh token only its own client sees.
//
// A client whose authentication fails is answered 401 invalid_client with
// a Basic challenge, as at the token endpoint; a caller's bearer token that
// is invalid, 401 invalid_token, and one without the scope, 403
// insufficient_scope, both with a Bearer challenge (RFC 7662 section 2.3).
// Config.TokenRateLimit throttles it as it does the token endpoint (per
// address, then per client: the caller's, or its bearer token's).
func (p *Provider) IntrospectHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		resp, err := p.introspect(c)
		if err != nil {
			p.observeError(observe.EndpointIntrospect, err)
			if bearerCaller(c.Request) {
				p.bearerError(c, err)
			} else {
				p.tokenError(c, err)
			}
			return
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, resp)
	}
}

func (p *Provider) introspect(c *gin.Context) (*IntrospectionResponse, error) {
	params, err := ParseParams(c.Request)
	if err != nil {
		return nil, err
	}
	ctx := c.Request.Context()
	// The token endpoint's budgets (and counters): client secrets can be
	// guessed here as well as there. Per address before the caller is
	// authenticated, per client (authenticateIntrospector) after.
	if err := p.allow(c, "addr", c.ClientIP(), p.cfg.TokenRateLimit.PerAddress); err != nil {
		return nil, err
	}
	caller, err := p.authenticateIntrospector(c, params)
	if err != nil {
		return nil, err
	}
	raw := params["token"]
	if raw == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing token parameter.")
	}
	inactive := &IntrospectionResponse{}
	iss := p.issuer(c)
	now := p.now()
	switch {
	case strings.HasPrefix(raw, opaque.AccessPrefix), isJWT(raw):
		// A JWT access token (RFC 9068) is answered from its record, as an
		// opaque one: the store's word, never only its signature's.
		var info *resource.TokenInfo
		if isJWT(raw) {
			info, err = p.validateJWT(ctx, raw, true)
		} else {
			info, err = p.Validate(ctx, raw)
		}
		if errors.Is(err, oautherr.ErrInvalidToken) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		if info.ClientID != caller.clientID && !caller.resourceServer {
			return inactive, nil
		}
		resp := &IntrospectionResponse{
			Active: true, Scope: scope.Format(info.Scopes), ClientID: info.ClientID, Username: info.Username,
			TokenType: "Bearer", Exp: info.ExpiresAt.Unix(), Iat: info.IssuedAt.Unix(), Sub: info.UserID, Iss: iss,
			Aud: info.Audience,
		}
		if info.JKT != "" { // RFC 9449 section 6.2
			resp.TokenType, resp.Cnf = "DPoP", &Confirmation{JKT: info.JKT}
		}
		return resp, nil
	case strings.HasPrefix(raw, opaque.RefreshPrefix):
		family, err := p.codec.Parse(opaque.RefreshPrefix, raw)
		if err != nil {
			return inactive, nil
		}
		rt, err := p.store.GetRefreshToken(ctx, store.Key{Family: family, Signature: opaque.Signature(raw)})
		if errors.Is(err, store.ErrNotFound) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		if !rt.ExpiresAt.IsZero() && !now.Before(rt.ExpiresAt) {
			return inactive, nil
		}
		if rt.ClientID != caller.clientID {
			return inactive, nil // a refresh token is its own client's business only
		}
		if ok, err := p.currentApp(ctx, rt.ClientID, rt.Generation); err != nil {
			return nil, err
		} else if !ok {
			return inactive, nil
		}
		r := &IntrospectionResponse{
			Active: true, Scope: scope.Format(rt.Scopes), ClientID: rt.ClientID, Username: rt.Username,
			TokenType: "refresh_token", Iat: rt.IssuedAt.Unix(), Sub: rt.UserID, Iss: iss,
			Aud: p.audience(rt.Resources),
		}
		if !rt.ExpiresAt.IsZero() {
			r.Exp = rt.ExpiresAt.Unix()
		}
		return r, nil
	}
	return inactive, nil
}

// introspector is who asks the introspection endpoint: the client (the
// bearer token's, for a bearer caller), and whether it is a resource
// server, which may see other clients' access tokens.
type introspector struct {
	clientID       string
	resourceServer bool
}

// isResourceServer reports whether app may introspect other clients'
// access tokens: its AllowedScopes name the introspection scope (an empty
// ceiling, which allows every scope, does not count).
func (p *Provider) isResourceServer(app *store.Application) bool {
	return slices.Contains(app.AllowedScopes, p.introspectionScope())
}

// authenticateIntrospector lets in a confidential client, or a bearer token
// holding the introspection scope (RFC 7662 section 2.1 leaves the choice
// to the server; DOT accepts both). A caller using a bearer token is
// answered as a protected resource answers (RFC 7662 section 2.3, RFC 6750
// section 3.1): invalid_token for a bad token, insufficient_scope for one
// without the scope; a caller using client credentials as the token
// endpoint answers, invalid_client.
func (p *Provider) authenticateIntrospector(c *gin.Context, params map[string]string) (*introspector, error) {
	if bearerCaller(c.Request) {
		tok, err := resource.ParseBearer(c.Request.Header.Get("Authorization"))
		if err != nil {
			return nil, err
		}
		info, err := p.Validate(c.Request.Context(), tok)
		if err != nil {
			return nil, err
		}
		if need := p.introspectionScope(); !info.HasScope(need) {
			e := oautherr.ErrInsufficientScope.WithDescription("The request requires higher privileges than provided by the access token.")
			e.Scope = []string{need}
			return nil, e
		}
		caller := &introspector{clientID: info.ClientID}
		app, err := p.store.GetApplication(c.Request.Context(), info.ClientID)
		switch {
		case errors.Is(err, store.ErrNotFound): // deleted since: its own tokens only
			app = &store.Application{ClientID: info.ClientID} // counted as public
		case err != nil:
			return nil, err
		default:
			caller.resourceServer = p.isResourceServer(app)
		}
		if err := p.allowClient(c, app); err != nil {
			return nil, err
		}
		return caller, nil
	}
	app, err := p.authenticateClient(c, params)
	if err != nil {
		return nil, err
	}
	if app.ClientType != store.Confidential {
		return nil, oautherr.ErrInvalidClient.WithDescription("Only confidential clients may introspect tokens.")
	}
	if err := p.allowClient(c, app); err != nil {
		return nil, err
	}
	return &introspector{clientID: app.ClientID, resourceServer: p.isResourceServer(app)}, nil
}

// bearerCaller reports whether r authenticates with a bearer token: one
// Authorization header, with the Bearer scheme (well-formed or not).
func bearerCaller(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return false
	}
	tok, err := resource.ParseBearer(h[0])
	return tok != "" || err != nil
}

// bearerError answers an introspection request authenticated with a bearer
// token as a protected resource answers, with a Bearer challenge.
func (p *Provider) bearerError(c *gin.Context, err error) {
	e := asError(err)
	if e.Status >= 500 {
		p.logError(c.Request.Context(), "ginoauth: introspection endpoint", err)
	}
	setRetryAfter(c, err)
	oautherr.WriteBearer(c, p.realm, e)
}

// IntrospectionScope returns the introspection scope
// (Config.IntrospectionScope or DefaultIntrospectionScope): a bearer token
// needs it to call the introspection endpoint, and an application whose
// AllowedScopes name it is a resource server there.
func (p *Provider) IntrospectionScope() string { return p.introspectionScope() }

func (p *Provider) introspectionScope() string {
	if p.cfg.IntrospectionScope != "" {
		return p.cfg.IntrospectionScope
	}
	return DefaultIntrospectionScope
}

// DefaultIntrospectionScope is the scope a bearer token needs to call the
// introspection endpoint, as DOT's.
const DefaultIntrospectionScope = "introspection"
