// Package redistest gives tests a Redis to talk to: the Redis Cluster named
// by the REDIS_CLUSTER_URL environment variable when it is set, else the
// server named by REDIS_URL when it is set, else an in-process miniredis.
// Every client comes with its own key prefix, so tests sharing a real
// server run in parallel without seeing each other's keys.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL is the environment variable naming a real Redis server, as a
// redis:// or rediss:// URL (for example redis://127.0.0.1:6379/0). When it
// is unset, Client starts a miniredis instead.
const EnvURL = "REDIS_URL"

// EnvClusterURL is the environment variable naming a real Redis Cluster, in
// go-redis's ParseClusterURL form: redis://host:port?addr=host2:port2&...
// (any reachable nodes; the client discovers the rest). It wins over
// REDIS_URL.
const EnvClusterURL = "REDIS_CLUSTER_URL"

// UsingRealServer reports whether REDIS_CLUSTER_URL or REDIS_URL is set, so
// that Client talks to a real, possibly shared, server. Tests that would
// disturb other users of the server (SCRIPT FLUSH, CONFIG SET) skip
// themselves when it does.
func UsingRealServer() bool { return os.Getenv(EnvURL) != "" || UsingCluster() }

// UsingCluster reports whether REDIS_CLUSTER_URL is set, so that Client
// returns a *redis.ClusterClient. Tests that cannot run on a cluster skip
// themselves, with the reason, when it does.
func UsingCluster() bool { return os.Getenv(EnvClusterURL) != "" }

// Client returns a Redis client and a key prefix of the form
// "test:<random>:" unique to this call. With REDIS_CLUSTER_URL set it
// returns a *redis.ClusterClient on that cluster; else, with REDIS_URL set,
// a client of that server; either fails the test if Redis does not answer
// PING within two seconds; without it, it starts a miniredis whose TTLs follow the wall clock
// as a real server's do. Cleanup deletes every key under the prefix (SCAN and
// DEL, on every master of a cluster) and closes the client.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	prefix := "test:" + randomHex(t, 8) + ":"

	var client redis.UniversalClient
	if url := os.Getenv(EnvClusterURL); url != "" {
		c, err := NewClusterClient(url)
		if err != nil {
			t.Fatalf("redistest: %s=%q: %v", EnvClusterURL, url, err)
		}
		client = c
	} else if url := os.Getenv(EnvURL); url != "" {
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

// NewClusterClient returns a Cluster client for url (ParseClusterURL form)
// once every master answers PING within two seconds.
func NewClusterClient(url string) (*redis.ClusterClient, error) {
	opt, err := redis.ParseClusterURL(url)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the cluster URL: %w", err)
	}
	c := redis.NewClusterClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.Ping(ctx).Err()
	})
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("the cluster's masters do not answer PING within 2s: %w", err)
	}
	return c, nil
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

// Keys returns every key starting with prefix, sorted, from every master
// when client is a Cluster client (a SCAN through a Cluster client reaches
// one node only). The prefix must not contain glob characters.
func Keys(ctx context.Context, client redis.UniversalClient, prefix string) ([]string, error) {
	var (
		mu  sync.Mutex
		out []string
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			out = append(out, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	} else {
		err = scan(ctx, client)
	}
	slices.Sort(out)
	return out, err
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
