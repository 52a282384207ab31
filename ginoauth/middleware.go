package ginoauth

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Middleware returns the resource-server middleware. For each request it
// reads the bearer token (see BearerToken), validates it with one store
// round trip and puts a *TokenInfo on the context (TokenFromContext) and,
// with Config.UserLoader, the user (UserFromContext). It never refuses a
// request for lack of a token: a request without one goes on as anonymous,
// and one with a bad token goes on with AuthErrorFromContext set, so the
// guards of package permissions decide, as DRF's permission classes do.
//
// It passes through untouched a request on Config.SkipPaths and one that
// an earlier middleware authenticated with SetUser (a session). The one
// thing it answers itself is a store outage while checking a presented
// token: 503 temporarily_unavailable, so an outage never lets a request
// through as anonymous.
func (p *Provider) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if p.realm != DefaultRealm {
			SetRealm(c, p.realm)
		}
		if len(p.skip) > 0 && p.skip[c.Request.URL.Path] {
			c.Next()
			return
		}
		if _, ok := UserFromContext(c); ok {
			c.Next()
			return
		}
		raw, err := BearerToken(c.Request, p.cfg.AllowAccessTokenInForm, p.cfg.AllowAccessTokenInQuery)
		if errors.Is(err, ErrNoBearer) {
			c.Next()
			return
		}
		if err != nil {
			SetAuthError(c, err)
			c.Next()
			return
		}
		info, err := p.Validate(c.Request.Context(), raw)
		if err == nil && p.cfg.UserLoader != nil && info.UserID != "" {
			var user any
			user, err = p.cfg.UserLoader(c, info.UserID)
			if errors.Is(err, store.ErrNotFound) {
				err = ErrInvalidToken.WithDescription("The token's user no longer exists.")
			} else if err == nil {
				SetUser(c, user)
			} else {
				err = ErrTemporarilyUnavailable.WithCause(err)
			}
		}
		switch {
		case err == nil:
			SetToken(c, info)
		case errors.Is(err, ErrInvalidToken):
			SetAuthError(c, err)
		default:
			p.logError(c.Request.Context(), "ginoauth: validating a bearer token", err)
			AbortWithError(c, err)
			return
		}
		c.Next()
	}
}

// Validate checks an access token and returns what it grants. A token that
// is malformed or forged (refused without a store round trip), unknown,
// revoked or expired gives an *Error with Code invalid_token; a store
// outage gives an error wrapping store.ErrUnavailable.
func (p *Provider) Validate(ctx context.Context, token string) (*TokenInfo, error) {
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
	return &TokenInfo{
		ClientID:  at.ClientID,
		UserID:    at.UserID,
		Username:  at.Username,
		Scopes:    at.Scopes,
		IssuedAt:  at.IssuedAt,
		ExpiresAt: at.ExpiresAt,
	}, nil
}

var errTokenInvalid = ErrInvalidToken.WithDescription("The access token is invalid, expired or revoked.")
