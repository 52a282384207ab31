package ginoauth

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Middleware returns the resource-server middleware for the provider's own
// tokens: resource.Authenticate with the provider as validator and
// Config.Middleware as options. Each request that carries a token costs
// one store round trip.
func (p *Provider) Middleware() gin.HandlerFunc {
	opts := p.cfg.Middleware
	if load := opts.UserLoader; load != nil {
		opts.UserLoader = func(c *gin.Context, userID string) (any, error) {
			user, err := load(c, userID)
			if errors.Is(err, store.ErrNotFound) {
				return nil, resource.ErrUserNotFound
			}
			return user, err
		}
	}
	return resource.Authenticate(p, opts)
}

// Validate checks an access token and returns what it grants; it
// implements resource.TokenValidator. The token's application must still
// exist with the Generation the token was issued under (see
// store.Application.Generation); applications are read through a cache
// (Config.ApplicationCacheTTL), so this is usually the one store round
// trip of the token lookup. A token that is malformed or forged
// (refused without a store round trip), unknown, revoked or expired gives
// an *oautherr.Error with Code invalid_token (RFC 6750 section 3.1); a
// store outage gives an error wrapping store.ErrUnavailable.
func (p *Provider) Validate(ctx context.Context, token string) (*resource.TokenInfo, error) {
	family, err := p.codec.Parse(opaque.AccessPrefix, token)
	if err != nil {
		return nil, errTokenInvalid
	}
	at, err := p.store.GetAccessToken(ctx, store.Key{Family: family, Signature: opaque.Signature(token)})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errTokenInvalid
	}
	if err != nil {
		return nil, err
	}
	if !p.now().Before(at.ExpiresAt) {
		return nil, errTokenInvalid
	}
	// The application must still exist and not have had its tokens revoked
	// since (Generation); read through the provider's cache.
	if ok, err := p.currentApp(ctx, at.ClientID, at.Generation); err != nil {
		return nil, err
	} else if !ok {
		return nil, errTokenInvalid
	}
	return &resource.TokenInfo{
		ClientID:  at.ClientID,
		UserID:    at.UserID,
		Username:  at.Username,
		Scopes:    at.Scopes,
		IssuedAt:  at.IssuedAt,
		ExpiresAt: at.ExpiresAt,
	}, nil
}

var errTokenInvalid = oautherr.ErrInvalidToken.WithDescription("The access token is invalid, expired or revoked.")

// Provider satisfies resource.TokenValidator.
var _ resource.TokenValidator = (*Provider)(nil)
