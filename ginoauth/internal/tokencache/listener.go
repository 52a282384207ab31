package tokencache

import "log/slog"

// Listener connects a Cache to an invalidation channel: it has the methods
// of redisstore.InvalidationHandler, so
//
//	go rs.WatchInvalidations(ctx, tokencache.Listener{Cache: c, Log: log})
//
// keeps c in step with every revocation published by any instance. A lost
// channel flushes the cache and bypasses it until the subscription is
// confirmed again.
type Listener struct {
	Cache *Cache
	// Log, if set, gets a line when the channel is lost or live again.
	Log *slog.Logger
}

// InvalidateFamily drops the cached tokens of family.
func (l Listener) InvalidateFamily(family string) { l.Cache.DropFamily(family) }

// InvalidateClient drops the cached tokens of clientID.
func (l Listener) InvalidateClient(clientID string) { l.Cache.DropClient(clientID) }

// InvalidateAll flushes the cache (a message the watcher did not
// recognise).
func (l Listener) InvalidateAll() { l.Cache.Flush() }

// ChannelLive turns the cache on: the subscription is confirmed.
func (l Listener) ChannelLive() {
	l.Cache.SetLive(true)
	if l.Log != nil {
		l.Log.Info("tokencache: invalidation channel live; validation cache on")
	}
}

// ChannelLost flushes the cache and bypasses it.
func (l Listener) ChannelLost(err error) {
	l.Cache.SetLive(false)
	if l.Log != nil {
		l.Log.Warn("tokencache: invalidation channel lost; validation cache flushed and bypassed", "err", err)
	}
}
