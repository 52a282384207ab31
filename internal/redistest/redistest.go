// Package redistest gives tests a Redis to talk to: the server named by the
// REDIS_URL environment variable when it is set, an in-process miniredis
// otherwise. Every client comes with its own key prefix, so tests sharing a
// real server run in parallel without seeing each other's keys.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL is the environment variable naming a real Redis server, as a
// redis:// or rediss:// URL (for example redis://127.0.0.1:6379/0). When it
// is unset, Client starts a miniredis instead.
const EnvURL = "REDIS_URL"

// UsingRealServer reports whether REDIS_URL is set, so that Client talks to
// a real, possibly shared, server. Tests that would disturb other users of
// the server (SCRIPT FLUSH, CONFIG SET) skip themselves when it does.
func UsingRealServer() bool { return os.Getenv(EnvURL) != "" }

// Client returns a Redis client and a key prefix of the form
// "test:<random>:" unique to this call. With REDIS_URL set it connects to
// that server and fails the test if it does not answer PING within two
// seconds; without it, it starts a miniredis whose TTLs follow the wall clock
// as a real server's do. Cleanup deletes every key under the prefix (SCAN and
// DEL) and closes the client.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	prefix := "test:" + randomHex(t, 8) + ":"

	var client redis.UniversalClient
	if url := os.Getenv(EnvURL); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("redistest: cannot parse %s=%q: %v", EnvURL, url, err)
		}
		c := redis.NewClient(opt)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = c.Ping(ctx).Err()
		cancel()
		if err != nil {
			_ = c.Close()
			t.Fatalf("redistest: Redis at %s=%q does not answer PING within 2s: %v (unset %s to use miniredis)", EnvURL, url, err, EnvURL)
		}
		client = c
	} else {
		m := miniredis.RunT(t)
		// Let TTLs run against the wall clock, as on a real server, so that
		// tests which sleep past an expiry see the key gone.
		m.ClockTTL(true)
		client = redis.NewClient(&redis.Options{Addr: m.Addr()})
	}

	// Cleanups run last-registered first: this one runs before miniredis's
	// Close registered by RunT above.
	t.Cleanup(func() {
		// Benchmarks can leave hundreds of thousands of keys behind.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := DeletePrefix(ctx, client, prefix); err != nil {
			t.Errorf("redistest: deleting keys %s*: %v", prefix, err)
		}
		_ = client.Close()
	})
	return client, prefix
}

// DeletePrefix deletes every key starting with prefix, on every master when
// client is a Cluster client. The prefix must not contain glob characters.
func DeletePrefix(ctx context.Context, client redis.UniversalClient, prefix string) error {
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return deletePrefix(ctx, node, prefix)
		})
	}
	return deletePrefix(ctx, client, prefix)
}

func deletePrefix(ctx context.Context, c redis.Cmdable, prefix string) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		// One key per UNLINK, pipelined: keys of a prefix may hash to
		// different slots.
		if len(keys) > 0 {
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(ctx, k)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// Unreachable returns a client pointed at a local port nobody listens on,
// with short timeouts and no retries, so every command fails fast with a
// connection error. Use it to test outage handling. Cleanup closes it.
func Unreachable(t testing.TB) redis.UniversalClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: cannot reserve a local port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("redistest: closing listener: %v", err)
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:              []string{addr},
		DialTimeout:        100 * time.Millisecond,
		DialerRetries:      1,
		DialerRetryTimeout: time.Millisecond,
		ReadTimeout:        100 * time.Millisecond,
		WriteTimeout:       100 * time.Millisecond,
		PoolTimeout:        100 * time.Millisecond,
		MaxRetries:         -1,
	})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	return hex.EncodeToString(b)
}
