package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// Environment variables the demo reads.
const (
	envRedisURL        = "REDIS_URL"
	envRedisClusterURL = "REDIS_CLUSTER_URL"
	envSecretKey       = "GINOAUTH_SECRET_KEY"
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
	// cluster is true on a Redis Cluster (--redis-cluster).
	cluster bool
	// redis is the Redis client, nil for the embedded stores.
	redis redis.UniversalClient
	close func()
}

// usageError is a bad command-line argument: main prints it and exits 2.
type usageError struct{ msg string }

// Error implements error.
func (e *usageError) Error() string { return e.msg }

// openBackend opens the Redis (single server or Cluster) of target, or
// the embedded stores when it names none. The secret key is GINOAUTH_SECRET_KEY, or else the file of
// --secret-key-file (runEnv.secretKeyFile); never anything kept in Redis,
// where whoever reads Redis could forge login sessions with it. Without
// either, embedded, it is random; with Redis, serve cannot run (every
// instance must agree on the key) and the management commands, which sign
// nothing (runEnv.keyOptional), get a random one.
func (e *runEnv) openBackend(ctx context.Context, target redisTarget) (*backend, error) {
	if target.url == "" {
		key, err := e.loadSecretKey(true)
		if err != nil {
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
	client, where, closeFn, err := e.dialRedis(target)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			closeFn()
		}
	}()
	key, err := e.loadSecretKey(e.keyOptional)
	if err != nil {
		return nil, err
	}
	if err := checkRedis(ctx, client, target, where); err != nil {
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
		where:     where,
		cluster:   target.cluster,
		redis:     client,
		close:     closeFn,
	}, nil
}

// redactURLError drops the URL from a url.Error: it may hold a password.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("invalid URL: %w", ue.Err)
	}
	return err
}

// errNoSecretKey is serve's answer on Redis without a secret key.
var errNoSecretKey = errors.New("with Redis, the demo needs a secret key that every instance shares, and never keeps it in Redis:\n" +
	"make one with\n" +
	"  head -c 32 /dev/urandom | base64 > key\n" +
	"and pass it with --secret-key-file key, or as " + envSecretKey + "=$(cat key)")

// loadSecretKey returns GINOAUTH_SECRET_KEY, or else the key in the file
// runEnv.secretKeyFile; without either, a random key if optional, else
// errNoSecretKey.
func (e *runEnv) loadSecretKey(optional bool) ([]byte, error) {
	if v := e.getenv(envSecretKey); v != "" {
		key, err := parseSecretKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envSecretKey, err)
		}
		return key, nil
	}
	if e.secretKeyFile != "" {
		v, err := os.ReadFile(e.secretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--secret-key-file: %w", err)
		}
		key, err := parseSecretKey(string(v))
		if err != nil {
			return nil, fmt.Errorf("--secret-key-file %s: %w", e.secretKeyFile, err)
		}
		return key, nil
	}
	if !optional {
		return nil, errNoSecretKey
	}
	key := make([]byte, minSecretKey)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return key, nil
}

// parseSecretKey decodes a secret key of at least minSecretKey bytes,
// written in hex (openssl rand -hex 32) or in base64 (head -c 32
// /dev/urandom | base64). Its errors never quote the key.
func parseSecretKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	key, err := hex.DecodeString(v)
	if err != nil {
		key, err = base64.StdEncoding.DecodeString(v)
	}
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(v)
	}
	if err != nil {
		return nil, errors.New("the secret key must be hex or base64 encoded; make one with: head -c 32 /dev/urandom | base64")
	}
	if len(key) < minSecretKey {
		return nil, fmt.Errorf("the secret key must be at least %d bytes; make one with: head -c 32 /dev/urandom | base64", minSecretKey)
	}
	return key, nil
}
