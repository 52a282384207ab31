package ginoauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// RevokeHandler is the revocation endpoint of RFC 7009 (DOT's
// /o/revoke_token/). The client authenticates as at the token endpoint and
// names a token in the token parameter. Only the caller's own tokens are
// revoked; the answer is 200 with an empty body whether or not the token
// existed or was the caller's (section 2.2), so it tells nothing about
// other clients' tokens. Revoking a refresh token revokes every token of
// its grant (section 2.1: "SHOULD"); revoking an access token revokes its
// refresh token too when Config.RevokeRefreshWithAccessToken is set.
// Config.TokenRateLimit throttles it as it does the token endpoint.
func (p *Provider) RevokeHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := p.revoke(c); err != nil {
			p.observeError(observe.EndpointRevoke, err)
			p.tokenError(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
	}
}

func (p *Provider) revoke(c *gin.Context) error {
	params, err := ParseParams(c.Request)
	if err != nil {
		return err
	}
	app, err := p.authenticateThrottled(c, params) // the token endpoint's budgets
	if err != nil {
		return err
	}
	raw := params["token"]
	if raw == "" {
		return oautherr.ErrInvalidRequest.WithDescription("Missing token parameter.")
	}
	ctx := c.Request.Context()
	// The prefix tells the token's type, so token_type_hint (section 2.1)
	// is not needed; unknown hints are ignored, as the RFC allows.
	switch {
	case strings.HasPrefix(raw, opaque.AccessPrefix):
		family, err := p.codec.Parse(opaque.AccessPrefix, raw)
		if err != nil {
			return nil
		}
		return p.revokeAccess(ctx, app.ClientID, store.Key{Family: family, Signature: opaque.Signature(raw)})
	case isJWT(raw):
		// A JWT access token (RFC 9068): its jti names its family; its
		// record is found by the SHA-256 of the whole JWT, so a forged one
		// matches nothing and needs no signature check here.
		_, family, ok := peekAccessJWT(raw)
		if !ok {
			return nil
		}
		return p.revokeAccess(ctx, app.ClientID, store.Key{Family: family, Signature: opaque.Signature(raw)})
	case strings.HasPrefix(raw, opaque.RefreshPrefix):
		return p.revokeRefresh(ctx, app.ClientID, raw)
	}
	return nil
}

// revokeAccess revokes the access token k of clientID, if it is one.
func (p *Provider) revokeAccess(ctx context.Context, clientID string, k store.Key) error {
	family := k.Family
	at, err := p.store.GetAccessToken(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if at.ClientID != clientID {
		return nil
	}
	if p.cfg.RevokeRefreshWithAccessToken {
		// A family holds one pair (store.Key): the access token is live, so
		// the family's refresh token, if any, is the one issued with it.
		// Revoking the family removes both.
		if err := p.store.RevokeFamily(ctx, family); err != nil {
			return err
		}
		p.observeRevocation(observe.RevokeFamily)
		return nil
	}
	if err := p.store.RevokeAccessToken(ctx, k); err != nil {
		return err
	}
	p.observeRevocation(observe.RevokeToken)
	return nil
}

func (p *Provider) revokeRefresh(ctx context.Context, clientID, raw string) error {
	family, err := p.codec.Parse(opaque.RefreshPrefix, raw)
	if err != nil {
		return nil
	}
	k := store.Key{Family: family, Signature: opaque.Signature(raw)}
	rt, err := p.store.GetRefreshToken(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rt.ClientID != clientID {
		return nil
	}
	// Section 2.1: revoking a refresh token SHOULD invalidate every access
	// token of the same grant.
	if err := p.store.RevokeFamily(ctx, rt.Key.Family); err != nil {
		return err
	}
	p.observeRevocation(observe.RevokeFamily)
	return nil
}
