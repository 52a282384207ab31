// Package redisstore is a store.Store on Redis, through a
// redis.UniversalClient, so a single node, Sentinel and Cluster work alike.
//
// The layout is built for the hot path: validating a bearer token is one
// GET of a compact binary record, issuing tokens is one Lua script (plus,
// for tokens with a user, the user's grant index script in the same
// pipeline: one round trip), and rotating a refresh token is one Lua
// script. Records expire through Redis TTLs, so there is no clean-up job.
// A family (the tokens of one grant) holds one access token, one refresh
// token and one code, at <prefix>{<family>}a, r and c; the braces are the
// Redis Cluster hash tag, which keeps the grant in one slot and lets the
// multi-key scripts run on Cluster. docs/redis-keys.md describes every key.
//
// Durability: Redis replicates asynchronously, so a master that dies
// right after a write may take it along; WithWaitReplicas makes every
// issuance wait for replicas (WAIT), at a cost in latency and
// availability (docs/failover.md).
//
// Errors: a missing key is store.ErrNotFound; every failure of Redis or of
// the connection to it (network, timeout, cancelled context, cluster down)
// is wrapped so that errors.Is(err, store.ErrUnavailable) holds.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// DefaultPrefix is the key prefix used unless WithPrefix says otherwise.
const DefaultPrefix = "ginoauth:"

// ErrInvalid is returned, wrapped with details, for a record the store
// refuses before talking to Redis: a nil record, an empty ClientID, user ID
// or username, a token or code Key with an empty Signature or Family or a
// Family holding '{' or '}', an access token, code or retired refresh token
// without ExpiresAt, records of one write that do not share a Family, a
// GrantFilter without UserID, an empty scope or one holding a space, a
// limiter call with an empty key, a limit below 1 or a window shorter than
// a millisecond, or a social link with an empty provider, upstream ID or
// user ID or a provider holding ':'.
var ErrInvalid = errors.New("redisstore: invalid record")

// undoTimeout bounds the best-effort clean-up of a half-done write.
const undoTimeout = 2 * time.Second

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of every key the store uses (default
// "ginoauth:"), so several deployments can share one Redis. The prefix must
// not contain '{' or '}': it would break the Cluster hash tags; New rejects
// it.
func WithPrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithPipelines sets how many lookups of access tokens and applications
// (the reads of every protected request and every token request) may be on
// the wire at once before further concurrent lookups queue and go out
// together in one pipeline (default: half of GOMAXPROCS, at least 1). Each
// lookup is still one round trip for its caller; batching spares a system
// call per command on the server and on Redis, which roughly doubles
// throughput under load on a small machine (docs/benchmarks.md). A lone
// request is never delayed. n < 1 means no limit: every lookup is sent at
// once on its own.
func WithPipelines(n int) Option {
	return func(s *Store) {
		if n < 1 {
			n = int(^uint(0) >> 1)
		}
		s.pipelines = n
	}
}

// Store is a store.Store on Redis, safe for concurrent use. Create it with
// New.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
	gets   *getBatcher
	writes *writeBatcher
	// pipelines is how many token-validation GETs (or pipelines of them)
	// may be on the wire at once; see WithPipelines.
	pipelines int
	// waitReplicas and waitTimeout are WAIT's arguments after every write
	// that issues tokens or codes (0: no WAIT); see WithWaitReplicas.
	waitReplicas int
	waitTimeout  time.Duration
	// pruneDraw returns a number in [0, 65536) for indexScript's choice
	// to prune (random; fixed in tests).
	pruneDraw func() int
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.SocialLinks = (*Store)(nil)
)

// New returns a Store on client. It does not contact Redis; call Ping to
// check the connection. It fails if the prefix contains '{' or '}'.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	s := &Store{rdb: client, prefix: DefaultPrefix, now: time.Now, pipelines: max(1, runtime.GOMAXPROCS(0)/2),
		pruneDraw: func() int { return rand.IntN(1 << 16) }}
	for _, o := range opts {
		o(s)
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q contains '{' or '}', which would break Redis Cluster hash tags", s.prefix)
	}
	s.gets = &getBatcher{rdb: client, maxInflight: s.pipelines, maxBatch: 128}
	s.writes = &writeBatcher{rdb: client, maxInflight: s.pipelines, maxBatch: 128, gets: s.gets}
	return s, nil
}

// --- keys ---

func (s *Store) appKey(clientID string) string  { return s.prefix + "app:" + clientID }
func (s *Store) appsKey() string                { return s.prefix + "apps" }
func (s *Store) userKey(id string) string       { return s.prefix + "user:" + id }
func (s *Store) usernameKey(name string) string { return s.prefix + "username:" + name }

// familyKey is <prefix>{<family>}<kind>: kind 'a' (access token), 'r'
// (refresh token), 'c' (code), 'x' (retired refresh tokens) or 'v'
// (tombstone). The braces are the Cluster hash tag.
func (s *Store) familyKey(family string, kind byte) string {
	return s.prefix + "{" + family + "}" + string(kind)
}

const kindTombstone = 'v'

// userIndexKey is <prefix>u:<user_id>, the user's grant index.
func (s *Store) userIndexKey(userID string) string { return s.prefix + "u:" + userID }

// appGenKey is <prefix>appgen, the counter of application generations.
func (s *Store) appGenKey() string { return s.prefix + "appgen" }

// InvalidationChannel is the channel, under the prefix, on which the store
// publishes "f:<family>" when a family's tokens are revoked or replaced and
// "c:<client_id>" when an application is updated, deleted or its tokens
// revoked (see Store.InvalidationChannel, invalidate.go).
const InvalidationChannel = "inv"

// limitKey is <prefix>rl:<key>:<window ms>. Reading from the right, the
// number is unambiguous whatever key holds.
func (s *Store) limitKey(key string, window int64) string {
	return s.prefix + "rl:" + key + ":" + strconv.FormatInt(window, 10)
}

// validKey reports whether k can name a key: an empty Family would make the
// hash tag empty (Redis then hashes the whole key), and a brace in it would
// end or confuse the tag.
func validKey(k store.Key) bool {
	return k.Signature != "" && validFamily(k.Family)
}

func validFamily(f string) bool { return f != "" && !strings.ContainsAny(f, "{}") }

// --- errors ---

// unavailable wraps a Redis or connection error. redis.Nil is mapped by the
// callers before they get here.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: redisstore: %s: %w", store.ErrUnavailable, op, err)
}

// mapErr maps redis.Nil to store.ErrNotFound and anything else to
// store.ErrUnavailable.
func mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return store.ErrNotFound
	default:
		return unavailable(op, err)
	}
}

// corrupt reports a stored value that does not decode. The store returned
// garbage, so the backend failed: ErrUnavailable.
func corrupt(op, key string, err error) error {
	return fmt.Errorf("%w: redisstore: %s: undecodable value at %q: %w", store.ErrUnavailable, op, key, err)
}

// undoCtx returns a context for a best-effort clean-up that must run even if
// the caller's context was cancelled.
func undoCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
}

// delIfEqual deletes KEYS[1] only if it still holds ARGV[1]: the undo of a
// write whose outcome is unknown, which must not delete someone else's
// record.
var delIfEqual = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Ping checks that Redis answers; store.ErrUnavailable if it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// --- applications ---

// An application's value is its Generation in decimal followed by its JSON
// (without the generation): the scripts that change one keep the other. A
// value that starts with '{' (written before generations) is generation 0.

// encodeApp returns app's JSON without its Generation.
func encodeApp(app *store.Application) ([]byte, error) {
	c := *app
	c.Generation = 0
	val, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("redisstore: encoding application: %w", err)
	}
	return val, nil
}

func decodeApp(b []byte) (*store.Application, error) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	var gen int64
	if i > 0 {
		g, err := strconv.ParseInt(string(b[:i]), 10, 64)
		if err != nil {
			return nil, err
		}
		gen = g
	}
	app := new(store.Application)
	if err := json.Unmarshal(b[i:], app); err != nil {
		return nil, err
	}
	app.Generation = gen
	return app, nil
}

// CreateApplication takes a new generation from <prefix>appgen (INCR),
// sets app.Generation to it, stores app at <prefix>app:<client_id> with
// SET NX (store.ErrDuplicate if the ClientID is taken), then adds the
// ClientID to the <prefix>apps index. If the index write fails, the record
// is removed again and the error is store.ErrUnavailable.
func (s *Store) CreateApplication(ctx context.Context, app *store.Application) error {
	if app == nil || app.ClientID == "" {
		return fmt.Errorf("%w: application without ClientID", ErrInvalid)
	}
	js, err := encodeApp(app)
	if err != nil {
		return err
	}
	gen, err := s.rdb.Incr(ctx, s.appGenKey()).Result()
	if err != nil {
		return unavailable("create application: generation", err)
	}
	val := append([]byte(strconv.FormatInt(gen, 10)), js...)
	key := s.appKey(app.ClientID)
	ok, err := s.rdb.SetNX(ctx, key, val, 0).Result()
	if err != nil {
		s.undo(ctx, key, val)
		return unavailable("create application", err)
	}
	if !ok {
		return fmt.Errorf("%w: application %q", store.ErrDuplicate, app.ClientID)
	}
	if err := s.rdb.SAdd(ctx, s.appsKey(), app.ClientID).Err(); err != nil {
		s.undo(ctx, key, val)
		return unavailable("create application: index", err)
	}
	app.Generation = gen
	return nil
}

// undo deletes key if it still holds val, ignoring errors: the caller is
// already returning one.
func (s *Store) undo(ctx context.Context, key string, val []byte) {
	ctx, cancel := undoCtx(ctx)
	defer cancel()
	_ = delIfEqual.Run(ctx, s.rdb, []string{key}, val).Err()
}

// GetApplication returns the application or store.ErrNotFound.
func (s *Store) GetApplication(ctx context.Context, clientID string) (*store.Application, error) {
	key := s.appKey(clientID)
	b, err := s.gets.get(ctx, key) // the token endpoint reads it on every request
	if err != nil {
		return nil, mapErr("get application", err)
	}
	app, err := decodeApp(b)
	if err != nil {
		return nil, corrupt("get application", key, err)
	}
	return app, nil
}

// UpdateApplication replaces a stored application's JSON, keeping its
// stored generation, and publishes "c:<client_id>" on <prefix>inv: one
// script. store.ErrNotFound if absent.
func (s *Store) UpdateApplication(ctx context.Context, app *store.Application) error {
	if app == nil || app.ClientID == "" {
		return fmt.Errorf("%w: application without ClientID", ErrInvalid)
	}
	js, err := encodeApp(app)
	if err != nil {
		return err
	}
	n, err := updateAppScript.Run(ctx, s.rdb, []string{s.appKey(app.ClientID)}, js, s.InvalidationChannel(), s.clientMsg(app.ClientID)).Int()
	if err != nil {
		return unavailable("update application", err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RevokeApplicationTokens takes a new generation from <prefix>appgen and
// sets it on the application (unless it already holds a higher one), and
// publishes "c:<client_id>": two round trips. store.ErrNotFound if absent.
func (s *Store) RevokeApplicationTokens(ctx context.Context, clientID string) (int64, error) {
	gen, err := s.rdb.Incr(ctx, s.appGenKey()).Result()
	if err != nil {
		return 0, unavailable("revoke application tokens: generation", err)
	}
	n, err := newGenScript.Run(ctx, s.rdb, []string{s.appKey(clientID)}, gen, s.InvalidationChannel(), s.clientMsg(clientID)).Int64()
	if err != nil {
		return 0, unavailable("revoke application tokens", err)
	}
	if n < 0 {
		return 0, store.ErrNotFound
	}
	return n, nil
}

// DeleteApplication deletes the record and PUBLISHes "c:<client_id>" in
// one pipeline, then removes the ClientID from the <prefix>apps index;
// store.ErrNotFound if there was no record. If the pipeline fails, the
// index still lists the live application. If the index write fails, the
// entry is left behind, which ListApplications skips. A Create racing
// with this Delete may have re-added its own entry just before the SREM:
// the record is then checked once more and, if present, its entry put
// back. Tokens issued to the application are left to expire: the provider
// refuses them.
func (s *Store) DeleteApplication(ctx context.Context, clientID string) error {
	var del *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, s.appKey(clientID))
		p.Publish(ctx, s.InvalidationChannel(), s.clientMsg(clientID))
		return nil
	})
	if err != nil {
		return unavailable("delete application", err)
	}
	if err := s.rdb.SRem(ctx, s.appsKey(), clientID).Err(); err != nil {
		return unavailable("delete application: index", err)
	}
	if n, err := s.rdb.Exists(ctx, s.appKey(clientID)).Result(); err == nil && n == 1 {
		_ = s.rdb.SAdd(ctx, s.appsKey(), clientID).Err() // a racing Create's
	}
	if del.Val() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListApplications reads the index and then every record in one pipeline
// (which a Cluster client splits by node), skipping index entries whose
// record is gone. The result is ordered by ClientID.
func (s *Store) ListApplications(ctx context.Context) ([]*store.Application, error) {
	ids, err := s.rdb.SMembers(ctx, s.appsKey()).Result()
	if err != nil {
		return nil, mapErr("list applications", err)
	}
	slices.Sort(ids)
	out := make([]*store.Application, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.appKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("list applications", err)
	}
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // deleted, or a Create whose index write failed
		}
		if err != nil {
			return nil, unavailable("list applications", err)
		}
		app, err := decodeApp(b)
		if err != nil {
			return nil, corrupt("list applications", s.appKey(ids[i]), err)
		}
		out = append(out, app)
	}
	return out, nil
}

// --- users ---

// CreateUser claims <prefix>username:<username> with SET NX, then writes
// <prefix>user:<id> with SET NX; store.ErrDuplicate if either is taken. When
// the second write fails, the username claim is undone.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u == nil || u.ID == "" || u.Username == "" {
		return fmt.Errorf("%w: user without ID or Username", ErrInvalid)
	}
	val, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("redisstore: encoding user: %w", err)
	}
	nameKey, userKey := s.usernameKey(u.Username), s.userKey(u.ID)
	ok, err := s.rdb.SetNX(ctx, nameKey, u.ID, 0).Result()
	if err != nil {
		s.undo(ctx, nameKey, []byte(u.ID))
		return unavailable("create user", err)
	}
	if !ok {
		return fmt.Errorf("%w: username %q", store.ErrDuplicate, u.Username)
	}
	ok, err = s.rdb.SetNX(ctx, userKey, val, 0).Result()
	if err != nil {
		// The write may have happened: undo both, each only if it is ours.
		s.undo(ctx, userKey, val)
		s.undo(ctx, nameKey, []byte(u.ID))
		return unavailable("create user", err)
	}
	if !ok {
		s.undo(ctx, nameKey, []byte(u.ID))
		return fmt.Errorf("%w: user ID %q", store.ErrDuplicate, u.ID)
	}
	return nil
}

// GetUser returns the user with that ID or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	key := s.userKey(id)
	b, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, mapErr("get user", err)
	}
	u := new(store.User)
	if err := json.Unmarshal(b, u); err != nil {
		return nil, corrupt("get user", key, err)
	}
	return u, nil
}

// GetUserByUsername resolves the username to an ID and returns that user
// (two round trips), or store.ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	id, err := s.rdb.Get(ctx, s.usernameKey(username)).Result()
	if err != nil {
		return nil, mapErr("get user by username", err)
	}
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Username != username {
		return nil, store.ErrNotFound // stale username key
	}
	return u, nil
}
