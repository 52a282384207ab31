// Package redisstore is a store.Store on Redis, through a
// redis.UniversalClient, so a single node, Sentinel and Cluster work alike.
//
// The layout is built for the hot path: validating a bearer token is one GET
// of a compact JSON value, issuing tokens is one Lua script (plus a
// best-effort write of the grant indexes), and rotating a refresh token is
// one Lua script. Records expire through Redis TTLs, so there is no clean-up
// job. Every record of one grant (tokens, retired refresh tokens,
// authorization codes, the family index and the grant record) carries the
// grant's Family as a Redis Cluster hash tag, which keeps the grant in one
// slot and lets the multi-key scripts run on Cluster. docs/redis-keys.md
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
// zero GrantFilter, a limiter call with an empty key, a limit below 1 or
// a window shorter than a millisecond, or a social link with an empty
// provider, upstream ID or user ID or a provider holding ':'.
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
	// pipelines is how many token-validation GETs (or pipelines of them)
	// may be on the wire at once; see WithPipelines.
	pipelines int
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
	s := &Store{rdb: client, prefix: DefaultPrefix, now: time.Now, pipelines: max(1, runtime.GOMAXPROCS(0)/2)}
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

// retiredKey is <prefix>rtx:{<family>}:<signature>.
func (s *Store) retiredKey(k store.Key) string {
	return s.prefix + "rtx:{" + k.Family + "}:" + k.Signature
}

// codeKey is <prefix>code:{<family>}:<signature>.
func (s *Store) codeKey(k store.Key) string {
	return s.prefix + "code:{" + k.Family + "}:" + k.Signature
}

// familyKey is <prefix>fam:{<family>}, the family index.
func (s *Store) familyKey(family string) string { return s.prefix + "fam:{" + family + "}" }

// grantKey is <prefix>grant:{<family>}, the grant record.
func (s *Store) grantKey(family string) string { return s.prefix + "grant:{" + family + "}" }

// revokedKey is <prefix>rev:{<family>}, the tombstone of a revoked family.
func (s *Store) revokedKey(family string) string { return s.prefix + "rev:{" + family + "}" }

// userGrantsKey and clientGrantsKey are the grant indexes (not tagged).
func (s *Store) userGrantsKey(id string) string   { return s.prefix + "grants:user:" + id }
func (s *Store) clientGrantsKey(id string) string { return s.prefix + "grants:client:" + id }

// limitKey is <prefix>rl:<key>:<window ms>:<window start, Unix ms>. Reading
// from the right, the two numbers are unambiguous whatever key holds.
func (s *Store) limitKey(key string, window, start int64) string {
	return s.prefix + "rl:" + key + ":" + strconv.FormatInt(window, 10) + ":" + strconv.FormatInt(start, 10)
}

// tokenPrefixes are the beginnings of access and refresh token key names,
// by which the scripts tell a family's live tokens from its other records.
func (s *Store) tokenPrefixes() (string, string) { return s.prefix + "at:{", s.prefix + "rt:{" }

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
	b, err := s.gets.get(ctx, key) // the token endpoint reads it on every request
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

// micros is exp as the family index keeps it: Unix microseconds, rounded
// up; "0" for never.
func micros(exp time.Time) string {
	if exp.IsZero() {
		return "0"
	}
	us := exp.UnixMicro()
	if exp.Nanosecond()%1000 != 0 {
		us++
	}
	return strconv.FormatInt(us, 10)
}

// write is one record to SET with its TTL (0: none) and to enter in the
// family index with its expiry (see micros).
type write struct {
	key string
	val []byte
	ttl time.Duration
	exp string
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
		ws = append(ws, write{s.accessKey(at.Key), val, d, micros(at.ExpiresAt)})
	}
	if rt != nil {
		if d := s.ttl(rt.ExpiresAt); d >= 0 {
			val, err := json.Marshal(rt)
			if err != nil {
				return nil, fmt.Errorf("redisstore: encoding refresh token: %w", err)
			}
			ws = append(ws, write{s.refreshKey(rt.Key), val, d, micros(rt.ExpiresAt)})
		}
	}
	return ws, nil
}

// syncArgs are the first arguments of every script that calls sync: the
// store's time in Unix microseconds and the token key prefixes.
func (s *Store) syncArgs() []any {
	atp, rtp := s.tokenPrefixes()
	return []any{strconv.FormatInt(s.now().UnixMicro(), 10), atp, rtp}
}

// SaveTokens writes at and, when rt is not nil, rt in one Lua script, which
// also enters them in their family index and creates or updates the
// family's grant record: all or nothing. They must share a Family (one
// Cluster slot), and at must have an ExpiresAt, which becomes the key's
// TTL; a refresh token with a zero ExpiresAt gets no TTL. A record whose
// ExpiresAt has already passed is not written, and SaveTokens still returns
// nil: it behaves as a record that expired at once. Then, best effort, the
// family is added to its user's and client's grant indexes (a failure there
// is not reported: the tokens are stored, and only ListGrants misses them).
// If the family was revoked (RevokeFamily's tombstone exists) the script
// writes nothing and SaveTokens returns store.ErrRevoked; the index writes
// that rode along then name a family without a grant record, which
// ListGrants removes.
func (s *Store) SaveTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	ws, err := s.tokenWrites(at, rt, "")
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return nil
	}
	family := at.Key.Family
	g, created, err := s.grantOf(at, rt)
	if err != nil {
		return err
	}
	keys := []string{s.familyKey(family), s.grantKey(family), s.revokedKey(family)}
	args := append(s.syncArgs(), g.raw, created.Format(time.RFC3339Nano))
	for _, w := range ws {
		keys = append(keys, w.key)
		args = append(args, w.val, w.ttl.Milliseconds(), w.exp)
	}
	// One round trip: the script (the family's slot) and, after it, the
	// user and client grant indexes (other slots; best effort, as ListGrants
	// and RevokeFamily mend them).
	cmd, err := s.runIndexed(ctx, saveScript, keys, args, family, g, grantScore(at, rt))
	if err != nil {
		return unavailable("save tokens", err)
	}
	n, err := cmd.Int()
	if err != nil {
		return unavailable("save tokens", err)
	}
	if n < 0 {
		return store.ErrRevoked
	}
	return nil
}

// runIndexed runs a token-writing script and, in the same pipeline (one
// round trip), the grant index writes of its family (other slots; best
// effort, as ListGrants and RevokeFamily mend them). A server that does
// not have the script yet gets it loaded, and the indexes written again.
func (s *Store) runIndexed(ctx context.Context, script *redis.Script, keys []string, args []any, family string, g grantValue, score float64) (*redis.Cmd, error) {
	var cmd *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmd = script.EvalSha(ctx, p, keys, args...)
		s.addGrantIndexes(ctx, p, family, g, score)
		return nil
	})
	if err != nil && cmd.Err() != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = script.Run(ctx, s.rdb, keys, args...)
		if cmd.Err() == nil {
			s.indexGrant(ctx, family, g, score)
		}
	}
	return cmd, cmd.Err()
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

// RotateRefreshToken runs one Lua script that deletes the refresh token
// old.Key and, only if it was still stored, deletes the access token
// old.Access, writes retired (when not nil) under old.Key at
// <prefix>rtx:{<family>}:<signature> until its ExpiresAt, writes at and rt
// (rt may be nil) with their TTLs, and brings the family index and the
// grant record up to date (client, user and scopes from the new tokens,
// CreatedAt kept, expiry from the family's live tokens). If old was already
// used, revoked or expired it changes nothing and returns
// store.ErrNotFound; of concurrent rotations of one token exactly one
// succeeds. If the family was revoked (RevokeFamily's tombstone exists) it
// changes nothing and returns store.ErrRevoked, whether or not old is still
// stored. old.Key, old.Access, at and rt must share one Family, and
// retired must have an ExpiresAt and a zero Key or old's (ErrInvalid
// otherwise). New records already past their ExpiresAt are not written, as
// in SaveTokens.
func (s *Store) RotateRefreshToken(ctx context.Context, old *store.RefreshToken, retired *store.RetiredRefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
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
	retiredKey, retiredVal, retiredTTL, retiredExp := oldRefresh, []byte{}, int64(0), "0"
	if retired != nil {
		if !retired.Key.IsZero() && retired.Key != old.Key {
			return fmt.Errorf("%w: retired refresh token keyed %v, not the rotated token's %v", ErrInvalid, retired.Key, old.Key)
		}
		if retired.ExpiresAt.IsZero() {
			return fmt.Errorf("%w: retired refresh token without ExpiresAt", ErrInvalid)
		}
		if d := s.ttl(retired.ExpiresAt); d > 0 {
			if retiredVal, err = json.Marshal(retired); err != nil {
				return fmt.Errorf("redisstore: encoding retired refresh token: %w", err)
			}
			retiredKey, retiredTTL, retiredExp = s.retiredKey(old.Key), d.Milliseconds(), micros(retired.ExpiresAt)
		}
	}
	g, created, err := s.grantOf(at, rt)
	if err != nil {
		return err
	}
	keys := make([]string, 0, 6+len(ws))
	args := make([]any, 0, 8+3*len(ws))
	keys = append(keys, oldRefresh, oldAccess, s.familyKey(family), s.grantKey(family), retiredKey, s.revokedKey(family))
	args = append(append(args, s.syncArgs()...), g.raw, created.Format(time.RFC3339Nano), retiredVal, retiredTTL, retiredExp)
	for _, w := range ws {
		keys = append(keys, w.key)
		args = append(args, w.val, w.ttl.Milliseconds(), w.exp)
	}
	// The index writes ride along even when the rotation finds the token
	// gone: ZADD GT then only restates the family's expiry, or re-adds a
	// revoked family, which ListGrants cleans.
	cmd, err := s.runIndexed(ctx, rotateScript, keys, args, family, g, grantScore(at, rt))
	if err != nil {
		return unavailable("rotate refresh token", err)
	}
	n, err := cmd.Int()
	if err != nil {
		return unavailable("rotate refresh token", err)
	}
	switch {
	case n < 0:
		return store.ErrRevoked
	case n == 0:
		return store.ErrNotFound
	}
	return nil
}

// GetRetiredRefreshToken returns the retired record a rotation left under
// k, or store.ErrNotFound. It is one GET.
func (s *Store) GetRetiredRefreshToken(ctx context.Context, k store.Key) (*store.RetiredRefreshToken, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	key := s.retiredKey(k)
	b, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, mapErr("get retired refresh token", err)
	}
	x := new(store.RetiredRefreshToken)
	if err := json.Unmarshal(b, x); err != nil {
		return nil, corrupt("get retired refresh token", key, err)
	}
	if !x.ExpiresAt.IsZero() && !s.now().Before(x.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	x.Key = k
	return x, nil
}

// RevokeAccessToken deletes an access token, and its family index entry,
// in one script that also brings the grant's expiry up to date (deleting
// the grant once no token of it lives); no error if absent.
func (s *Store) RevokeAccessToken(ctx context.Context, k store.Key) error {
	if !validKey(k) {
		return nil
	}
	return s.revokeToken(ctx, "revoke access token", s.accessKey(k), k.Family)
}

// RevokeRefreshToken deletes a refresh token as RevokeAccessToken deletes
// an access token; no error if absent.
func (s *Store) RevokeRefreshToken(ctx context.Context, k store.Key) error {
	if !validKey(k) {
		return nil
	}
	return s.revokeToken(ctx, "revoke refresh token", s.refreshKey(k), k.Family)
}

func (s *Store) revokeToken(ctx context.Context, op, key, family string) error {
	keys := []string{key, s.familyKey(family), s.grantKey(family)}
	if err := revokeTokenScript.Run(ctx, s.rdb, keys, s.syncArgs()...).Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// RevokeFamily deletes, in one Lua script, every key in the family index
// (access, refresh and retired refresh tokens, authorization codes), the
// index and the grant record, and sets the family's tombstone,
// <prefix>rev:{<family>}, which makes every later write into the family
// fail with store.ErrRevoked: its TTL is that of the longest-lived deleted
// record (those that never expire aside), at least
// store.RevokedFamilyRetention, and a tombstone that already lives longer
// is kept. Then, best effort, it removes the family from its user's and
// client's grant indexes. No error if nothing is left. A family that cannot
// name a key (see ErrInvalid) has nothing to revoke.
func (s *Store) RevokeFamily(ctx context.Context, family string) error {
	if !validFamily(family) {
		return nil
	}
	keys := []string{s.familyKey(family), s.grantKey(family), s.revokedKey(family)}
	now := strconv.FormatInt(s.now().UnixMicro(), 10)
	raw, err := revokeFamilyScript.Run(ctx, s.rdb, keys, now, store.RevokedFamilyRetention.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return nil // no grant record (none yet, or it expired): no index entry to remove
	}
	if err != nil {
		return unavailable("revoke family", err)
	}
	var g grantValue
	if json.Unmarshal([]byte(raw), &g) == nil {
		s.unindexGrant(ctx, family, g)
	}
	return nil
}
