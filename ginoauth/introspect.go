package ginoauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
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
func (p *Provider) IntrospectHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		resp, err := p.introspect(c)
		if err != nil {
			p.tokenError(c, err)
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
		return nil, ErrInvalidRequest.WithDescription("Missing token parameter.")
	}
	inactive := &IntrospectionResponse{}
	iss := p.issuer(c)
	now := p.now()
	switch {
	case strings.HasPrefix(raw, opaque.AccessPrefix):
		info, err := p.Validate(ctx, raw)
		if errors.Is(err, ErrInvalidToken) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		return &IntrospectionResponse{
			Active: true, Scope: FormatScope(info.Scopes), ClientID: info.ClientID, Username: info.Username,
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
		r := &IntrospectionResponse{
			Active: true, Scope: FormatScope(rt.Scopes), ClientID: rt.ClientID, Username: rt.Username,
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
// to the server; DOT accepts both).
func (p *Provider) authenticateIntrospector(c *gin.Context, params map[string]string) error {
	h := c.Request.Header.Get("Authorization")
	if tok, err := ParseBearer(h); err == nil {
		info, err := p.Validate(c.Request.Context(), tok)
		if errors.Is(err, ErrInvalidToken) {
			return ErrInvalidClient.WithDescription("The bearer token is invalid, expired or revoked.")
		}
		if err != nil {
			return err
		}
		if !info.HasScope(p.introspectionScope()) {
			return ErrInvalidClient.WithDescription("The bearer token lacks the '%s' scope.", p.introspectionScope())
		}
		return nil
	}
	app, err := p.authenticateClient(c, params)
	if err != nil {
		return err
	}
	if app.ClientType != store.Confidential {
		return ErrInvalidClient.WithDescription("Only confidential clients may introspect tokens.")
	}
	return nil
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
