package ginoauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/internal/tokencache"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Middleware returns the resource-server middleware for the provider's own
// tokens: resource.Authenticate with the provider as validator and
// Config.Middleware as options, its Audience being Config.Resource unless
// set: a token for another resource (RFC 8707) is refused as
// invalid_token. Each request that carries a token costs one store round
// trip.
func (p *Provider) Middleware() gin.HandlerFunc {
	opts := p.cfg.Middleware
	if opts.Audience == "" {
		opts.Audience = p.cfg.Resource
	}
	if opts.DPoP.Verifier == nil && !opts.DPoP.Enabled && p.dpop != nil {
		opts.DPoP.Verifier = p.dpop // RFC 9449: replay records in the store
	}
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
// trip of the token lookup. TokenInfo.Audience is the token's audience
// (RFC 8707), Config.Resource for a token issued without a resource
// parameter; checking it is the middleware's (resource.Options.Audience).
// A token that is malformed or forged
// (refused without a store round trip), unknown, revoked or expired gives
// an *oautherr.Error with Code invalid_token (RFC 6750 section 3.1); a
// store outage gives an error wrapping store.ErrUnavailable.
func (p *Provider) Validate(ctx context.Context, token string) (*resource.TokenInfo, error) {
	if isJWT(token) {
		return p.validateJWT(ctx, token, false)
	}
	family, ok := opaque.Family(opaque.AccessPrefix, token)
	if !ok {
		return nil, errTokenInvalid
	}
	digest := opaque.Sum(token)
	var ticket tokencache.Ticket
	if p.tokens != nil {
		// The cache holds only tokens whose tag was checked, under their
		// SHA-256: a hit is one of them, so its tag needs no new check.
		if info, ok := p.tokens.Get(family, digest); ok {
			p.observeValidation(observe.ValidationCacheHit)
			return info, nil
		}
		// Taken before any store read: a revocation published meanwhile
		// keeps this answer out of the cache.
		ticket = p.tokens.Ticket()
	}
	if _, err := p.codec.Parse(opaque.AccessPrefix, token); err != nil {
		return nil, errTokenInvalid // forged: refused before any store read
	}
	return p.validateStored(ctx, family, digest, ticket, p.tokens != nil)
}

// validateStored answers an access token from its store record, and caches
// the answer (under ticket, taken before the read) when cache is set.
func (p *Provider) validateStored(ctx context.Context, family string, digest opaque.Digest, ticket tokencache.Ticket, cache bool) (*resource.TokenInfo, error) {
	at, err := p.store.GetAccessToken(ctx, store.Key{Family: family, Signature: digest.Signature()})
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
	info := &resource.TokenInfo{
		ClientID:  at.ClientID,
		UserID:    at.UserID,
		Username:  at.Username,
		Scopes:    at.Scopes,
		Audience:  p.audience(at.Audience),
		JKT:       at.JKT,
		IssuedAt:  at.IssuedAt,
		ExpiresAt: at.ExpiresAt,
	}
	if cache {
		p.cache(ticket, family, digest, info)
	}
	return info, nil
}

// cache puts a copy of info in the validation cache.
func (p *Provider) cache(ticket tokencache.Ticket, family string, digest opaque.Digest, info *resource.TokenInfo) {
	cached := *info
	cached.Scopes = slices.Clone(info.Scopes) // the cache keeps its own
	cached.Audience = slices.Clone(info.Audience)
	p.tokens.Put(ticket, family, digest, &cached)
}

// startValidationCache starts Config.ValidationCache: the cache, and the
// subscription to the redisstore invalidation channel that keeps it live.
func (p *Provider) startValidationCache(cfg Config) {
	if !cfg.ValidationCache {
		return
	}
	w, ok := cfg.Store.(store.Watcher)
	if !ok {
		p.log.Info("ginoauth: ValidationCache needs a store that publishes revocations (redisstore); not caching")
		return
	}
	p.tokens = tokencache.New(tokencache.Options{
		MaxEntries: cfg.ValidationCacheMaxEntries,
		MaxBytes:   cfg.ValidationCacheMaxBytes,
		MaxAge:     cfg.ValidationCacheMaxAge,
		Now:        p.now,
	})
	// This instance's own revocations drop what it cached at once, not
	// when their message comes back.
	p.store = localInvalidations{Store: p.store, c: p.tokens}
	if p.rotator != nil {
		p.rotator = localRotator{RefreshRotator: p.rotator, c: p.tokens}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	reported := make(chan struct{})
	p.stopWatch = func() { cancel(); <-done; <-reported }
	go func() {
		defer close(done)
		_ = w.Watch(ctx, invalidations{Listener: tokencache.Listener{Cache: p.tokens, Log: p.log}, apps: p.apps, obs: p.obs})
	}()
	go p.reportCacheSize(ctx, reported)
}

// cacheSizeEvery is how often the validation cache's size goes to
// Config.Observer (observe.Observer.CacheSize).
const cacheSizeEvery = time.Second

// reportCacheSize reports the validation cache's entries to the Observer
// every cacheSizeEvery until ctx ends, then closes done. The size is read
// off the hot path: the cache never calls the Observer itself.
func (p *Provider) reportCacheSize(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	if p.obs == nil {
		return
	}
	t := time.NewTicker(cacheSizeEvery)
	defer t.Stop()
	for {
		n, _ := p.tokens.Len()
		p.obs.CacheSize(n)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// invalidations passes the store's invalidations to the validation cache,
// and an application's to the application cache too, so a revocation of
// an application's tokens reaches this instance at once rather than when
// its cached application record ages out.
type invalidations struct {
	tokencache.Listener
	apps *appCache
	obs  observe.Observer // nil: lags not reported
}

// InvalidationLag implements store.InvalidationLagHandler: the watcher
// learned of a revocation lag after the store recorded it.
func (h invalidations) InvalidationLag(lag time.Duration) {
	if h.obs != nil {
		h.obs.CacheInvalidationLag(lag)
	}
}

func (h invalidations) InvalidateClient(clientID string) {
	h.apps.forget(clientID)
	h.Listener.InvalidateClient(clientID)
}

// Close stops what New started in the background, the validation cache's
// subscription (Config.ValidationCache), and waits for it to end. The
// provider still answers afterwards, without the cache. Close it once.
func (p *Provider) Close() error {
	if p.stopWatch != nil {
		p.stopWatch()
		p.tokens.SetLive(false) // no invalidations arrive any more
	}
	return nil
}

// ValidationCacheLive reports whether the validation cache is in use: on,
// and its invalidation channel confirmed live.
func (p *Provider) ValidationCacheLive() bool { return p.tokens != nil && p.tokens.Live() }

var errTokenInvalid = oautherr.ErrInvalidToken.WithDescription("The access token is invalid, expired or revoked.")

// Provider satisfies resource.TokenValidator.
var _ resource.TokenValidator = (*Provider)(nil)
