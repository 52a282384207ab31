package ginoauth

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// DefaultApplicationCacheTTL is Config.ApplicationCacheTTL's default: an
// application read from the store is reused for at most one second, so a
// change or deletion of an application (or the revocation of its tokens)
// is honoured by every instance within one second.
const DefaultApplicationCacheTTL = time.Second

// DefaultApplicationCacheSize is Config.ApplicationCacheSize's default.
const DefaultApplicationCacheSize = 10000

// appCache keeps applications read from the store for a short while, so
// that validating a token (which checks the token's application and its
// generation) and authenticating a client at the token endpoint usually
// cost no store round trip. It is bounded (an arbitrary entry makes room
// for a new one when full) and collapses concurrent misses for one
// client_id into one store read. Store errors are not cached, nor is
// ErrNotFound: an unknown client costs a read each time.
type appCache struct {
	load func(ctx context.Context, clientID string) (*store.Application, error)
	ttl  time.Duration // <= 0: no caching
	size int
	now  func() time.Time

	mu       sync.RWMutex
	entries  map[string]appEntry
	inflight map[string]*appCall
}

type appEntry struct {
	app     *store.Application
	fetched time.Time
}

// appCall is one store read that concurrent misses wait for.
type appCall struct {
	done  chan struct{}
	stale bool // set by forget, under the cache's lock
	app   *store.Application
	err   error
}

func newAppCache(load func(context.Context, string) (*store.Application, error), ttl time.Duration, size int, now func() time.Time) *appCache {
	return &appCache{load: load, ttl: ttl, size: size, now: now, entries: map[string]appEntry{}, inflight: map[string]*appCall{}}
}

// get returns the application (a copy the caller may change), from the
// cache when its entry is younger than the TTL. Errors are the store's
// (ErrNotFound, ErrUnavailable).
func (c *appCache) get(ctx context.Context, clientID string) (*store.Application, error) {
	app, err := c.shared(ctx, clientID)
	if err != nil {
		return nil, err
	}
	return cloneApp(app), nil
}

// shared is get without the copy: the caller must not change the result.
func (c *appCache) shared(ctx context.Context, clientID string) (*store.Application, error) {
	if c.ttl <= 0 {
		return c.load(ctx, clientID)
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[clientID]
	c.mu.RUnlock()
	if ok {
		if age := now.Sub(e.fetched); age >= 0 && age < c.ttl {
			return e.app, nil
		}
	}
	c.mu.Lock()
	if e, ok := c.entries[clientID]; ok {
		if age := now.Sub(e.fetched); age >= 0 && age < c.ttl {
			c.mu.Unlock()
			return e.app, nil
		}
		delete(c.entries, clientID)
	}
	call, ok := c.inflight[clientID]
	if !ok {
		call = &appCall{done: make(chan struct{})}
		c.inflight[clientID] = call
		c.mu.Unlock()
		// Detached from the first caller's cancellation, so that the others
		// waiting on it do not fail with its context; bounded all the same.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		call.app, call.err = c.load(lctx, clientID)
		cancel()
		c.mu.Lock()
		if c.inflight[clientID] == call {
			delete(c.inflight, clientID)
		}
		// A forget during the read (the application changed) keeps its
		// possibly old answer out of the cache.
		if call.err == nil && !call.stale {
			if len(c.entries) >= c.size {
				for k := range c.entries { // make room: drop an arbitrary entry
					delete(c.entries, k)
					break
				}
			}
			// Stamped with the time the read started: never reused for
			// longer than the TTL after the store answered it.
			c.entries[clientID] = appEntry{app: call.app, fetched: now}
		}
		c.mu.Unlock()
		close(call.done)
	} else {
		c.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if call.err != nil {
		return nil, call.err
	}
	return call.app, nil
}

// forget drops clientID's entry, after this instance changed the
// application.
func (c *appCache) forget(clientID string) {
	c.mu.Lock()
	delete(c.entries, clientID)
	if call, ok := c.inflight[clientID]; ok {
		// A read already under way may return the old record: it is not
		// cached, and later callers start a read of their own.
		call.stale = true
		delete(c.inflight, clientID)
	}
	c.mu.Unlock()
}

func cloneApp(a *store.Application) *store.Application {
	c := *a
	c.GrantTypes = append([]string(nil), a.GrantTypes...)
	c.RedirectURIs = append([]string(nil), a.RedirectURIs...)
	c.AllowedScopes = append([]string(nil), a.AllowedScopes...)
	c.PostLogoutRedirectURIs = append([]string(nil), a.PostLogoutRedirectURIs...)
	c.JWKS = append(json.RawMessage(nil), a.JWKS...)
	c.SealedSecret = append([]byte(nil), a.SealedSecret...)
	return &c
}

// currentApp reports whether the application a token, code or grant was
// issued to (clientID, with generation gen) still exists with that
// generation: false when it is gone or its tokens were revoked since. err
// is a store failure (ErrUnavailable): the caller answers 503, never lets
// the token through.
func (p *Provider) currentApp(ctx context.Context, clientID string, gen int64) (ok bool, err error) {
	app, err := p.apps.shared(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return app.Generation == gen, nil
}
