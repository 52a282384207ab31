package ginoauth

import (
	"context"

	"github.com/ginoauth/toolkit/ginoauth/internal/tokencache"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// localInvalidations wraps the provider's store when it keeps a validation
// cache: every write that revokes or replaces tokens, or changes an
// application, also drops what this instance cached for them, as soon as
// the store call returns. The invalidation channel tells every instance,
// this one included, but its message arrives a moment later: without this,
// a request that follows a revocation on the same instance (a client that
// revokes its token, then tries it) could still be answered from the
// cache. An error of the store call drops too: the write may have
// happened.
type localInvalidations struct {
	store.Store
	c *tokencache.Cache
}

func (s localInvalidations) UpdateApplication(ctx context.Context, app *store.Application) error {
	defer s.c.DropClient(app.ClientID)
	return s.Store.UpdateApplication(ctx, app)
}

func (s localInvalidations) DeleteApplication(ctx context.Context, clientID string) error {
	defer s.c.DropClient(clientID)
	return s.Store.DeleteApplication(ctx, clientID)
}

func (s localInvalidations) RevokeApplicationTokens(ctx context.Context, clientID string) (int64, error) {
	defer s.c.DropClient(clientID)
	return s.Store.RevokeApplicationTokens(ctx, clientID)
}

func (s localInvalidations) RotateRefreshToken(ctx context.Context, old *store.RefreshToken, retired *store.RetiredRefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	defer s.c.DropFamily(old.Key.Family)
	return s.Store.RotateRefreshToken(ctx, old, retired, at, rt)
}

func (s localInvalidations) RevokeAccessToken(ctx context.Context, k store.Key) error {
	defer s.c.DropFamily(k.Family)
	return s.Store.RevokeAccessToken(ctx, k)
}

func (s localInvalidations) RevokeRefreshToken(ctx context.Context, k store.Key) error {
	defer s.c.DropFamily(k.Family)
	return s.Store.RevokeRefreshToken(ctx, k)
}

func (s localInvalidations) RevokeFamily(ctx context.Context, family string) error {
	defer s.c.DropFamily(family)
	return s.Store.RevokeFamily(ctx, family)
}

// localRotator is localInvalidations for the one-round-trip rotation.
type localRotator struct {
	store.RefreshRotator
	c *tokencache.Cache
}

func (r localRotator) RotateRefresh(ctx context.Context, old store.Key, req store.RotateRefresh) (*store.RefreshToken, error) {
	defer r.c.DropFamily(old.Family)
	return r.RefreshRotator.RotateRefresh(ctx, old, req)
}
