package ginoauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
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
}

// IntrospectHandler is the introspection endpoint of RFC 7662 (DOT's
// /o/introspect/). The caller authenticates as a confidential client (as
// at the token endpoint) or with a bearer token that holds
// Config.IntrospectionScope ("introspection" by default; it must be one of
// Scopes to be granted). It answers active, scope, client_id, username,
// token_type ("Bearer" for access tokens, "refresh_token" for refresh
// tokens), exp, iat, sub (the user id) and iss, or {"active": false} for
// any token that is unknown, expired, revoked or malformed.
//
// A client whose authentication fails is answered 401 invalid_client with
// a Basic challenge, as at the token endpoint; a caller's bearer token that
// is invalid, 401 invalid_token, and one without the scope, 403
// insufficient_scope, both with a Bearer challenge (RFC 7662 section 2.3).
func (p *Provider) IntrospectHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		resp, err := p.introspect(c)
		if err != nil {
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
	if err := p.authenticateIntrospector(c, params); err != nil {
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
	case strings.HasPrefix(raw, opaque.AccessPrefix):
		info, err := p.Validate(ctx, raw)
		if errors.Is(err, oautherr.ErrInvalidToken) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		return &IntrospectionResponse{
			Active: true, Scope: scope.Format(info.Scopes), ClientID: info.ClientID, Username: info.Username,
			TokenType: "Bearer", Exp: info.ExpiresAt.Unix(), Iat: info.IssuedAt.Unix(), Sub: info.UserID, Iss: iss,
		}, nil
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
		if ok, err := p.currentApp(ctx, rt.ClientID, rt.Generation); err != nil {
			return nil, err
		} else if !ok {
			return inactive, nil
		}
		r := &IntrospectionResponse{
			Active: true, Scope: scope.Format(rt.Scopes), ClientID: rt.ClientID, Username: rt.Username,
			TokenType: "refresh_token", Iat: rt.IssuedAt.Unix(), Sub: rt.UserID, Iss: iss,
		}
		if !rt.ExpiresAt.IsZero() {
			r.Exp = rt.ExpiresAt.Unix()
		}
		return r, nil
	}
	return inactive, nil
}

// authenticateIntrospector lets in a confidential client, or a bearer token
// holding the introspection scope (RFC 7662 section 2.1 leaves the choice
// to the server; DOT accepts both). A caller using a bearer token is
// answered as a protected resource answers (RFC 7662 section 2.3, RFC 6750
// section 3.1): invalid_token for a bad token, insufficient_scope for one
// without the scope; a caller using client credentials as the token
// endpoint answers, invalid_client.
func (p *Provider) authenticateIntrospector(c *gin.Context, params map[string]string) error {
	if bearerCaller(c.Request) {
		tok, err := resource.ParseBearer(c.Request.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		info, err := p.Validate(c.Request.Context(), tok)
		if err != nil {
			return err
		}
		if need := p.introspectionScope(); !info.HasScope(need) {
			e := oautherr.ErrInsufficientScope.WithDescription("The request requires higher privileges than provided by the access token.")
			e.Scope = []string{need}
			return e
		}
		return nil
	}
	app, err := p.authenticateClient(c, params)
	if err != nil {
		return err
	}
	if app.ClientType != store.Confidential {
		return oautherr.ErrInvalidClient.WithDescription("Only confidential clients may introspect tokens.")
	}
	return nil
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

func (p *Provider) introspectionScope() string {
	if p.cfg.IntrospectionScope != "" {
		return p.cfg.IntrospectionScope
	}
	return DefaultIntrospectionScope
}

// DefaultIntrospectionScope is the scope a bearer token needs to call the
// introspection endpoint, as DOT's.
const DefaultIntrospectionScope = "introspection"
