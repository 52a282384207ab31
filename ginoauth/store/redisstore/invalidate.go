package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/redis/go-redis/v9"
)

// Invalidation messages. Every revocation publishes one message on the
// channel <prefix>inv (InvalidationChannel), from the same Lua script as
// the revocation: "F:<ms>:<family>" when tokens of a family were revoked or
// replaced, "C:<ms>:<client_id>" when an application changed, was deleted
// or had all its tokens revoked, where <ms> is the publisher's clock in
// Unix milliseconds, from which subscribers measure the invalidation lag
// (store.InvalidationLagHandler). The untimed "f:<family>" and
// "c:<client_id>" of earlier versions are still understood; an earlier
// version reading a timed message flushes its cache, which is safe.
// Classic PUBLISH reaches every subscriber of a Redis Cluster, whichever
// node it is sent to.
const (
	invFamilyPrefix      = "f:"
	invClientPrefix      = "c:"
	invTimedFamilyPrefix = "F:"
	invTimedClientPrefix = "C:"
)

// InvalidationChannel returns the pub/sub channel of invalidations:
// <prefix>inv.
func (s *Store) InvalidationChannel() string { return s.prefix + InvalidationChannel }

// familyMsg is the invalidation message of a family, "F:<ms>:<family>".
func (s *Store) familyMsg(family string) string {
	return invTimedFamilyPrefix + strconv.FormatInt(s.now().UnixMilli(), 10) + ":" + family
}

// clientMsg is the invalidation message of an application,
// "C:<ms>:<client_id>".
func (s *Store) clientMsg(clientID string) string {
	return invTimedClientPrefix + strconv.FormatInt(s.now().UnixMilli(), 10) + ":" + clientID
}

// PublishFamilyInvalidation publishes "f:<family>", for an invalidation
// that no store script publishes. store.ErrUnavailable if Redis fails.
func (s *Store) PublishFamilyInvalidation(ctx context.Context, family string) error {
	return s.publish(ctx, s.familyMsg(family))
}

// PublishClientInvalidation publishes "c:<client_id>", for an invalidation
// that no store script publishes. store.ErrUnavailable if Redis fails.
func (s *Store) PublishClientInvalidation(ctx context.Context, clientID string) error {
	return s.publish(ctx, s.clientMsg(clientID))
}

func (s *Store) publish(ctx context.Context, msg string) error {
	if err := s.rdb.Publish(ctx, s.InvalidationChannel(), msg).Err(); err != nil {
		return unavailable("publish invalidation", err)
	}
	return nil
}

// InvalidationHandler receives what WatchInvalidations learns. Its methods
// are called from the watcher's goroutine, one at a time, in order.
//
// The handler starts in the lost state: nothing may be trusted to be
// invalidated until ChannelLive. After ChannelLost, every message until the
// next ChannelLive may have been missed.
type InvalidationHandler = store.InvalidationHandler

// Watch implements store.Watcher: WatchInvalidations with the default
// options.
func (s *Store) Watch(ctx context.Context, h store.InvalidationHandler) error {
	return s.WatchInvalidations(ctx, h)
}

var _ store.Watcher = (*Store)(nil)

// WatchOption configures WatchInvalidations.
type WatchOption func(*watchConfig)

type watchConfig struct {
	client     redis.UniversalClient
	health     time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
}

// WatchClient makes the watcher subscribe through c instead of the store's
// client: a client with its own ClientName, say, so that the subscriber's
// connection is recognisable in CLIENT LIST.
func WatchClient(c redis.UniversalClient) WatchOption {
	return func(w *watchConfig) { w.client = c }
}

// WatchHealthInterval sets how long the watcher waits without any message
// before it PINGs through the subscription, and then how long it waits for
// the answer before it declares the channel lost (default 1 s: a silently
// dead connection is noticed within about 2 s).
func WatchHealthInterval(d time.Duration) WatchOption {
	return func(w *watchConfig) {
		if d > 0 {
			w.health = d
		}
	}
}

// WatchBackoff sets the least and the greatest wait between two
// subscription attempts (default 50 ms and 2 s); the wait doubles after
// each attempt that did not get a confirmed subscription, with jitter.
func WatchBackoff(least, most time.Duration) WatchOption {
	return func(w *watchConfig) {
		if least > 0 {
			w.minBackoff = least
		}
		if most >= w.minBackoff {
			w.maxBackoff = most
		}
	}
}

// ErrResubscribed is what ChannelLost gets when the Redis client reconnected
// and subscribed again by itself (go-redis does so on some connection
// hand-offs): messages published in between may be lost.
var ErrResubscribed = errors.New("redisstore: invalidation subscription was re-established; messages may have been missed")

// WatchInvalidations subscribes to InvalidationChannel and calls h for
// every message, until ctx is done; it then returns ctx's error. It works
// on a single node, Sentinel and Cluster (SUBSCRIBE through the
// UniversalClient; PUBLISH is broadcast cluster-wide).
//
// It reports ChannelLive once Redis confirms the subscription, and
// ChannelLost (then tries again, with backoff) on any receive error, a
// dropped connection, a Redis restart or failover, a PING left unanswered
// (WatchHealthInterval), or a subscription confirmed a second time on the
// same subscriber, which means the client reconnected by itself. Each
// attempt uses a fresh subscription, so no reconnect goes unreported.
// Before it returns, it calls ChannelLost if the channel was live.
func (s *Store) WatchInvalidations(ctx context.Context, h InvalidationHandler, opts ...WatchOption) error {
	cfg := watchConfig{client: s.rdb, health: time.Second, minBackoff: 50 * time.Millisecond, maxBackoff: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	channel := s.InvalidationChannel()
	wait := cfg.minBackoff
	for {
		live, err := watchOnce(ctx, cfg, channel, h)
		if live {
			h.ChannelLost(err)
			wait = cfg.minBackoff
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Full jitter over [wait/2, wait], so instances that lost Redis
		// together do not all come back in the same millisecond.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, cfg.maxBackoff)
	}
}

// watchOnce runs one subscription until it fails. It reports whether the
// subscription was live (ChannelLive called) and why it ended.
func watchOnce(ctx context.Context, cfg watchConfig, channel string, h InvalidationHandler) (live bool, err error) {
	ps := cfg.client.Subscribe(ctx, channel)
	defer ps.Close()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, cfg.health)
		if err != nil {
			if ctx.Err() != nil {
				return live, ctx.Err()
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return live, fmt.Errorf("redisstore: invalidation channel: %w", err)
			}
			if pinged {
				return live, fmt.Errorf("redisstore: invalidation channel: no answer to PING within %v", cfg.health)
			}
			if err := ps.Ping(ctx); err != nil {
				return live, fmt.Errorf("redisstore: invalidation channel: ping: %w", err)
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Channel != channel {
				continue
			}
			if m.Kind != "subscribe" {
				return live, fmt.Errorf("redisstore: invalidation channel: unexpected %s", m.Kind)
			}
			if live {
				// A second confirmation: the client reconnected and
				// resubscribed behind our back.
				h.ChannelLost(ErrResubscribed)
			}
			live = true
			h.ChannelLive()
		case *redis.Message:
			if m.Channel != channel {
				continue
			}
			dispatch(h, m.Payload, time.Now())
		}
	}
}

// dispatch hands one message to h, and its lag (now minus the message's
// time, when it has one and h is a store.InvalidationLagHandler).
func dispatch(h InvalidationHandler, payload string, now time.Time) {
	kind, rest := byte(0), ""
	var sent int64
	switch {
	case len(payload) > 2 && (payload[:2] == invTimedFamilyPrefix || payload[:2] == invTimedClientPrefix):
		ms, name, ok := strings.Cut(payload[2:], ":")
		n, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil || n <= 0 || name == "" {
			h.InvalidateAll()
			return
		}
		kind, rest, sent = payload[0]|0x20, name, n // 'f' or 'c'
	case len(payload) > 2 && (payload[:2] == invFamilyPrefix || payload[:2] == invClientPrefix):
		kind, rest = payload[0], payload[2:]
	default:
		h.InvalidateAll()
		return
	}
	if kind == 'f' {
		h.InvalidateFamily(rest)
	} else {
		h.InvalidateClient(rest)
	}
	if lh, ok := h.(store.InvalidationLagHandler); ok && sent > 0 {
		lh.InvalidationLag(max(0, now.Sub(time.UnixMilli(sent))))
	}
}
