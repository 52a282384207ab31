package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// Environment variables the demo reads.
const (
	envRedisURL  = "REDIS_URL"
	envSecretKey = "GINOAUTH_SECRET_KEY"
)

// defaultPrefix is the prefix of every Redis key the demo writes.
const defaultPrefix = "demo:"

// minSecretKey is the shortest secret key ginoauth accepts, in bytes.
const minSecretKey = 32

// backend is where the demo keeps its data, and the key its tokens are
// signed with.
type backend struct {
	store     store.Store
	snippets  snippets.Store
	secretKey []byte
	// embedded is true for the in-process stores (no Redis).
	embedded bool
	// where describes the backend for logs and messages, without secrets.
	where string
	// redis is the Redis client, nil for the embedded stores.
	redis redis.UniversalClient
	close func()
}

// usageError is a bad command-line argument: main prints it and exits 2.
type usageError struct{ msg string }

// Error implements error.
func (e *usageError) Error() string { return e.msg }

// openBackend opens the Redis at redisURL, or the embedded stores when it
// is empty. With Redis, the secret key is GINOAUTH_SECRET_KEY or else the one
// kept in Redis (created on first use), so that every instance and command
// agrees; embedded, it is random.
func (e *runEnv) openBackend(ctx context.Context, redisURL string) (*backend, error) {
	if redisURL == "" {
		key := make([]byte, minSecretKey)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		return &backend{
			store:     memstore.New(),
			snippets:  snippets.NewMemory(),
			secretKey: key,
			embedded:  true,
			where:     "embedded in-memory store",
			close:     func() {},
		}, nil
	}
	client, where, closeFn, err := e.dialRedis(redisURL)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			closeFn()
		}
	}()
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", where, err)
	}
	key, err := e.secretKey(ctx, client)
	if err != nil {
		return nil, err
	}
	st, err := redisstore.New(client, append([]redisstore.Option{redisstore.WithPrefix(e.prefix)}, e.storeOpts...)...)
	if err != nil {
		return nil, err
	}
	ok = true
	return &backend{
		store:     st,
		snippets:  snippets.NewRedis(client, e.prefix),
		secretKey: key,
		where:     "Redis at " + where,
		redis:     client,
		close:     closeFn,
	}, nil
}

// dialRedis makes a client for redisURL (redis:// or rediss://), or uses
// the test's dialer. where names the server without its password.
func (e *runEnv) dialRedis(redisURL string) (client redis.UniversalClient, where string, closeFn func(), err error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, "", nil, &usageError{"--redis: " + redactURLError(err).Error()}
	}
	where = fmt.Sprintf("%s db %d", opt.Addr, opt.DB)
	if e.dial != nil {
		c, err := e.dial(redisURL)
		if err != nil {
			return nil, "", nil, err
		}
		return c, where, func() {}, nil
	}
	c := redis.NewClient(opt)
	return c, where, func() { _ = c.Close() }, nil
}

// redactURLError drops the URL from a url.Error: it may hold a password.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("invalid URL: %w", ue.Err)
	}
	return err
}

// secretKey returns GINOAUTH_SECRET_KEY, or else the key kept in Redis at
// <prefix>secret_key, creating it with SET NX if no instance has yet.
func (e *runEnv) secretKey(ctx context.Context, client redis.UniversalClient) ([]byte, error) {
	if v := e.getenv(envSecretKey); v != "" {
		key, err := parseSecretKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envSecretKey, err)
		}
		return key, nil
	}
	redisKey := e.prefix + "secret_key"
	fresh := make([]byte, minSecretKey)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if err := client.SetNX(ctx, redisKey, hex.EncodeToString(fresh), 0).Err(); err != nil {
		return nil, fmt.Errorf("storing the secret key in Redis: %w", err)
	}
	v, err := client.Get(ctx, redisKey).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the secret key from Redis: %w", err)
	}
	key, err := parseSecretKey(v)
	if err != nil {
		return nil, fmt.Errorf("the secret key in Redis at %q: %w", redisKey, err)
	}
	return key, nil
}

// parseSecretKey decodes a hex secret key of at least minSecretKey bytes.
func parseSecretKey(v string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, errors.New("the secret key must be hex encoded")
	}
	if len(key) < minSecretKey {
		return nil, fmt.Errorf("the secret key must be at least %d bytes (%d hex digits); generate one with: openssl rand -hex 32",
			minSecretKey, 2*minSecretKey)
	}
	return key, nil
}
