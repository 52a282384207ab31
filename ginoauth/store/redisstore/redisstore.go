// Package redisstore is a store.Store on Redis, through a
// redis.UniversalClient, so a single node, Sentinel and Cluster work alike.
//
// The layout is built for the hot path: validating a bearer token is one GET
// of a compact JSON value, issuing tokens is one MULTI/EXEC, and rotating a
// refresh token is one Lua script. Tokens expire through Redis TTLs, so there
// is no clean-up job. Every token of one grant carries the grant's Family as
// a Redis Cluster hash tag, which keeps the grant in one slot and lets the
// multi-key transaction and script run on Cluster. docs/redis-keys.md
// describes every key.
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
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// DefaultPrefix is the key prefix used unless WithPrefix says otherwise.
const DefaultPrefix = "ginoauth:"

// ErrInvalid is returned, wrapped with details, for a record the store
// refuses before talking to Redis: a nil record, an empty ClientID, user ID
// or username, a token Key with an empty Signature or Family or a Family
// holding '{' or '}', an access token without ExpiresAt, or tokens of one
// write that do not share a Family.
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

// WithPipelines sets how many access-token lookups may be on the wire at
// once before further concurrent lookups queue and go out together in one
// pipeline (default: GOMAXPROCS, at least 2). Each lookup is still one
// round trip for its caller; batching spares a system call per command on
// the server and on Redis, which roughly doubles throughput under load on a
// small machine (docs/benchmarks.md). A lone request is never delayed.
// n < 1 means no limit: every lookup is sent at once on its own.
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
	// pipelines is how many token-validation GETs (or pipelines of them)
	// may be on the wire at once; see WithPipelines.
	pipelines int
}

var _ store.Store = (*Store)(nil)

// New returns a Store on client. It does not contact Redis; call Ping to
// check the connection. It fails if the prefix contains '{' or '}'.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	s := &Store{rdb: client, prefix: DefaultPrefix, now: time.Now, pipelines: max(2, runtime.GOMAXPROCS(0))}
	for _, o := range opts {
		o(s)
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q contains '{' or '}', which would break Redis Cluster hash tags", s.prefix)
	}
	s.gets = &getBatcher{rdb: client, maxInflight: s.pipelines, maxBatch: 128}
	return s, nil
}

// --- keys ---

func (s *Store) appKey(clientID string) string  { return s.prefix + "app:" + clientID }
func (s *Store) appsKey() string                { return s.prefix + "apps" }
func (s *Store) userKey(id string) string       { return s.prefix + "user:" + id }
func (s *Store) usernameKey(name string) string { return s.prefix + "username:" + name }

// accessKey is <prefix>at:{<family>}:<signature>.
func (s *Store) accessKey(k store.Key) string {
	return s.prefix + "at:{" + k.Family + "}:" + k.Signature
}

// refreshKey is <prefix>rt:{<family>}:<signature>.
func (s *Store) refreshKey(k store.Key) string {
	return s.prefix + "rt:{" + k.Family + "}:" + k.Signature
}

// validKey reports whether k can name a key: an empty Family would make the
// hash tag empty (Redis then hashes the whole key), and a brace in it would
// end or confuse the tag.
func validKey(k store.Key) bool {
	return k.Signature != "" && k.Family != "" && !strings.ContainsAny(k.Family, "{}")
}

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

// CreateApplication stores app at <prefix>app:<client_id> with SET NX
// (store.ErrDuplicate if the ClientID is taken), then adds the ClientID to
// the <prefix>apps index. If the index write fails, the record is removed
// again and the error is store.ErrUnavailable.
func (s *Store) CreateApplication(ctx context.Context, app *store.Application) error {
	if app == nil || app.ClientID == "" {
		return fmt.Errorf("%w: application without ClientID", ErrInvalid)
	}
	val, err := json.Marshal(app)
	if err != nil {
		return fmt.Errorf("redisstore: encoding application: %w", err)
	}
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
	b, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, mapErr("get application", err)
	}
	app := new(store.Application)
	if err := json.Unmarshal(b, app); err != nil {
		return nil, corrupt("get application", key, err)
	}
	return app, nil
}

// UpdateApplication replaces a stored application with SET XX;
// store.ErrNotFound if absent.
func (s *Store) UpdateApplication(ctx context.Context, app *store.Application) error {
	if app == nil || app.ClientID == "" {
		return fmt.Errorf("%w: application without ClientID", ErrInvalid)
	}
	val, err := json.Marshal(app)
	if err != nil {
		return fmt.Errorf("redisstore: encoding application: %w", err)
	}
	ok, err := s.rdb.SetXX(ctx, s.appKey(app.ClientID), val, 0).Result()
	if err != nil {
		return mapErr("update application", err)
	}
	if !ok {
		return store.ErrNotFound
	}
	return nil
}

// DeleteApplication removes the ClientID from the index, then the record;
// store.ErrNotFound if there was no record. Tokens issued to the application
// are left to expire.
func (s *Store) DeleteApplication(ctx context.Context, clientID string) error {
	// Index first: a Create racing with this Delete then either fails with
	// ErrDuplicate (record still there) or re-adds its own index entry.
	if err := s.rdb.SRem(ctx, s.appsKey(), clientID).Err(); err != nil {
		return unavailable("delete application: index", err)
	}
	n, err := s.rdb.Del(ctx, s.appKey(clientID)).Result()
	if err != nil {
		return unavailable("delete application", err)
	}
	if n == 0 {
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
		app := new(store.Application)
		if err := json.Unmarshal(b, app); err != nil {
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

// --- tokens ---

// ttl is how long a record expiring at exp has left: 0 for never, -1 when it
// has already expired. It is rounded up to the millisecond; the reads check
// ExpiresAt themselves, so the record is never honoured past it.
func (s *Store) ttl(exp time.Time) time.Duration {
	if exp.IsZero() {
		return 0
	}
	d := exp.Sub(s.now())
	if d <= 0 {
		return -1
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// write is one token key to SET with its TTL (0: none).
type write struct {
	key string
	val []byte
	ttl time.Duration
}

// tokenWrites validates at and rt (the family, when not empty, is the one
// they must be in) and returns their writes. A record whose ExpiresAt has
// already passed has no write: it is accepted and, like any expired record,
// never returned.
func (s *Store) tokenWrites(at *store.AccessToken, rt *store.RefreshToken, family string) ([]write, error) {
	if at == nil || !validKey(at.Key) {
		return nil, fmt.Errorf("%w: access token without a valid Key", ErrInvalid)
	}
	if at.ExpiresAt.IsZero() {
		return nil, fmt.Errorf("%w: access token without ExpiresAt", ErrInvalid)
	}
	if family == "" {
		family = at.Key.Family
	}
	if at.Key.Family != family {
		return nil, fmt.Errorf("%w: access token is in family %q, not %q", ErrInvalid, at.Key.Family, family)
	}
	if rt != nil {
		if !validKey(rt.Key) {
			return nil, fmt.Errorf("%w: refresh token without a valid Key", ErrInvalid)
		}
		if rt.Key.Family != family {
			return nil, fmt.Errorf("%w: refresh token is in family %q, not %q", ErrInvalid, rt.Key.Family, family)
		}
	}
	ws := make([]write, 0, 2)
	if d := s.ttl(at.ExpiresAt); d > 0 {
		val, err := json.Marshal(at)
		if err != nil {
			return nil, fmt.Errorf("redisstore: encoding access token: %w", err)
		}
		ws = append(ws, write{s.accessKey(at.Key), val, d})
	}
	if rt != nil {
		if d := s.ttl(rt.ExpiresAt); d >= 0 {
			val, err := json.Marshal(rt)
			if err != nil {
				return nil, fmt.Errorf("redisstore: encoding refresh token: %w", err)
			}
			ws = append(ws, write{s.refreshKey(rt.Key), val, d})
		}
	}
	return ws, nil
}

// SaveTokens writes at and, when rt is not nil, rt in one MULTI/EXEC: both
// or neither. They must share a Family (one Cluster slot), and at must have
// an ExpiresAt, which becomes the key's TTL; a refresh token with a zero
// ExpiresAt gets no TTL. A record whose ExpiresAt has already passed is not
// written, and SaveTokens still returns nil: it behaves as a record that
// expired at once.
func (s *Store) SaveTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	ws, err := s.tokenWrites(at, rt, "")
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return nil
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, w := range ws {
			p.Set(ctx, w.key, w.val, w.ttl)
		}
		return nil
	})
	if err != nil {
		return unavailable("save tokens", err)
	}
	return nil
}

// GetAccessToken returns the access token stored under k, or
// store.ErrNotFound when it does not exist, expired or was revoked. It is
// one GET. A Key that cannot name a key (see ErrInvalid) is not found.
func (s *Store) GetAccessToken(ctx context.Context, k store.Key) (*store.AccessToken, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	key := s.accessKey(k)
	b, err := s.gets.get(ctx, key)
	if err != nil {
		return nil, mapErr("get access token", err)
	}
	at := new(store.AccessToken)
	if err := json.Unmarshal(b, at); err != nil {
		return nil, corrupt("get access token", key, err)
	}
	if !s.now().Before(at.ExpiresAt) {
		return nil, store.ErrNotFound // TTLs are rounded up to the millisecond
	}
	at.Key = k
	return at, nil
}

// GetRefreshToken returns the refresh token stored under k or
// store.ErrNotFound. It is one GET.
func (s *Store) GetRefreshToken(ctx context.Context, k store.Key) (*store.RefreshToken, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	key := s.refreshKey(k)
	b, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, mapErr("get refresh token", err)
	}
	rt := new(store.RefreshToken)
	if err := json.Unmarshal(b, rt); err != nil {
		return nil, corrupt("get refresh token", key, err)
	}
	if !rt.ExpiresAt.IsZero() && !s.now().Before(rt.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	rt.Key = k
	return rt, nil
}

// rotateScript consumes KEYS[1] (the old refresh token) and, only if it was
// there, deletes KEYS[2] (the old access token) and SETs KEYS[3..n] to
// ARGV[2i-5] with a PX of ARGV[2i-4] milliseconds (0: no TTL). It returns 1,
// or 0 when the old refresh token was already gone. All keys share one hash
// tag, so the script runs on Cluster.
var rotateScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then
	return 0
end
redis.call('DEL', KEYS[2])
for i = 3, #KEYS do
	local px = ARGV[2*i-4]
	if tonumber(px) > 0 then
		redis.call('SET', KEYS[i], ARGV[2*i-5], 'PX', px)
	else
		redis.call('SET', KEYS[i], ARGV[2*i-5])
	end
end
return 1
`)

// RotateRefreshToken runs one Lua script that deletes the refresh token
// old.Key and, only if it was still stored, deletes the access token
// old.Access and writes at and rt (rt may be nil) with their TTLs. If old was
// already used, revoked or expired it changes nothing and returns
// store.ErrNotFound; of concurrent rotations of one token exactly one
// succeeds. old.Key, old.Access, at and rt must share one Family
// (ErrInvalid otherwise). New records already past their ExpiresAt are not
// written, as in SaveTokens.
func (s *Store) RotateRefreshToken(ctx context.Context, old *store.RefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	if old == nil || !validKey(old.Key) {
		return fmt.Errorf("%w: old refresh token without a valid Key", ErrInvalid)
	}
	family := old.Key.Family
	if !old.Access.IsZero() && old.Access.Family != family {
		return fmt.Errorf("%w: old access token is in family %q, not %q", ErrInvalid, old.Access.Family, family)
	}
	ws, err := s.tokenWrites(at, rt, family)
	if err != nil {
		return err
	}
	oldRefresh := s.refreshKey(old.Key)
	oldAccess := oldRefresh // deleted already; keeps KEYS[2] in the slot
	if !old.Access.IsZero() {
		oldAccess = s.accessKey(old.Access)
	}
	keys := make([]string, 0, 2+len(ws))
	args := make([]any, 0, 2*len(ws))
	keys = append(keys, oldRefresh, oldAccess)
	for _, w := range ws {
		keys = append(keys, w.key)
		args = append(args, w.val, w.ttl.Milliseconds())
	}
	n, err := rotateScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return unavailable("rotate refresh token", err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RevokeAccessToken deletes an access token; no error if absent.
func (s *Store) RevokeAccessToken(ctx context.Context, k store.Key) error {
	if !validKey(k) {
		return nil
	}
	if err := s.rdb.Del(ctx, s.accessKey(k)).Err(); err != nil {
		return unavailable("revoke access token", err)
	}
	return nil
}

// RevokeRefreshToken deletes a refresh token; no error if absent.
func (s *Store) RevokeRefreshToken(ctx context.Context, k store.Key) error {
	if !validKey(k) {
		return nil
	}
	if err := s.rdb.Del(ctx, s.refreshKey(k)).Err(); err != nil {
		return unavailable("revoke refresh token", err)
	}
	return nil
}
