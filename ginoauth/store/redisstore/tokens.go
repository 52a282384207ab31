package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

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

// pair is the encoded tokens of one write: value and PX ("" when the token
// is not written, PX "0" for no TTL), and the grant's expiry for the user
// index (Unix ms, 0: never).
type pair struct {
	atVal, atPX, rtVal, rtPX string
	atTTL                    time.Duration
	exp                      int64
}

// tokenWrites validates at and rt (the family, when not empty, is the one
// they must be in) and encodes them, with created (Unix ms, 0: IssuedAt)
// as the grant's creation time. A record whose ExpiresAt has already
// passed is not written: it is accepted and, like any expired record,
// never returned.
func (s *Store) tokenWrites(at *store.AccessToken, rt *store.RefreshToken, family string, created int64) (pair, error) {
	var w pair
	if at == nil || !validKey(at.Key) {
		return w, fmt.Errorf("%w: access token without a valid Key", ErrInvalid)
	}
	if at.ExpiresAt.IsZero() {
		return w, fmt.Errorf("%w: access token without ExpiresAt", ErrInvalid)
	}
	if family == "" {
		family = at.Key.Family
	}
	if at.Key.Family != family {
		return w, fmt.Errorf("%w: access token is in family %q, not %q", ErrInvalid, at.Key.Family, family)
	}
	if rt != nil {
		if !validKey(rt.Key) {
			return w, fmt.Errorf("%w: refresh token without a valid Key", ErrInvalid)
		}
		if rt.Key.Family != family {
			return w, fmt.Errorf("%w: refresh token is in family %q, not %q", ErrInvalid, rt.Key.Family, family)
		}
	}
	now := s.now()
	if d := s.ttl(at.ExpiresAt); d > 0 {
		a := *at
		if a.IssuedAt.IsZero() {
			a.IssuedAt = now
		}
		c := created
		if c > ms(a.IssuedAt) {
			c = 0
		}
		val, err := encodeAccess(&a, c)
		if err != nil {
			return w, err
		}
		w.atVal, w.atPX, w.atTTL = string(val), strconv.FormatInt(d.Milliseconds(), 10), d
		w.exp = expMs(at.ExpiresAt)
	}
	if rt != nil {
		if d := s.ttl(rt.ExpiresAt); d >= 0 {
			r := *rt
			if r.IssuedAt.IsZero() {
				r.IssuedAt = now
			}
			c := created
			if c > ms(r.IssuedAt) {
				c = 0
			}
			val, err := encodeRefresh(&r, c)
			if err != nil {
				return w, err
			}
			w.rtVal, w.rtPX = string(val), strconv.FormatInt(d.Milliseconds(), 10)
			if rt.ExpiresAt.IsZero() {
				w.exp = 0
			} else if e := expMs(rt.ExpiresAt); e > w.exp {
				w.exp = e
			}
		}
	}
	return w, nil
}

// runWithIndex runs a family script and, when userID is not empty, the
// user index script, through the write batcher (writeBatcher): one round
// trip, shared with concurrent writes under load (on Cluster, the index
// goes through its own master's batcher, at the same time). The index write is best effort: its failure is not reported
// (the tokens are stored; only ListGrants, and so the revocation of the
// user's grants, misses the family). A server without the scripts gets
// them loaded and the failed ones run again. With WithWaitReplicas, the
// script and WAIT go first, then the index script on its own.
func (s *Store) runWithIndex(ctx context.Context, script *redis.Script, keys []string, args []any, userID, family string, exp int64) (*redis.Cmd, error) {
	if s.waitReplicas > 0 {
		cmd, err := s.runDurable(ctx, script, keys, args)
		if err == nil && userID != "" {
			s.runIndex(ctx, userID, family, indexExpiry(exp))
		}
		return cmd, err
	}
	var cmd *redis.Cmd
	err := s.writeWithIndex(ctx, keys[0], func(p redis.Pipeliner) redis.Cmder {
		cmd = script.EvalSha(ctx, p, keys, args...)
		return cmd
	}, userID, family, exp)
	if err != nil || cmd == nil {
		return nil, cmp.Or(err, context.Canceled) // never sent: its caller's context ended
	}
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd = script.Run(ctx, s.rdb, keys, args...)
	}
	return cmd, cmd.Err()
}

// indexArgs are indexScript's arguments for family's entry expiring at
// exp (Unix ms, already rounded by indexExpiry).
func (s *Store) indexArgs(family string, exp int64) []any {
	return []any{family, strconv.FormatInt(exp, 10), strconv.FormatInt(s.now().UnixMilli(), 10), strconv.Itoa(s.pruneDraw())}
}

// writeWithIndex sends the command main adds to the pipeline (on key's
// slot) through the write batcher and, when userID is not empty, the user
// index script in the same round trip (on Cluster, through the index's
// own master's batcher, at the same time). It returns the batch's error,
// or context.Canceled when main was never sent; main's reply is in its
// command. The index write is best effort: its failure is not reported,
// and a server without the script gets it loaded and run again.
func (s *Store) writeWithIndex(ctx context.Context, key string, main func(redis.Pipeliner) redis.Cmder, userID, family string, exp int64) error {
	var sent bool
	first := func(p redis.Pipeliner) []redis.Cmder {
		sent = true
		return []redis.Cmder{main(p)}
	}
	if userID == "" {
		err := s.writes.run(ctx, key, first)
		if err == nil && !sent {
			err = context.Canceled
		}
		return err
	}
	exp = indexExpiry(exp)
	var idx *redis.Cmd
	idxKeys := []string{s.userIndexKey(userID)}
	idxArgs := s.indexArgs(family, exp)
	index := func(p redis.Pipeliner) []redis.Cmder {
		idx = indexScript.EvalSha(ctx, p, idxKeys, idxArgs...)
		return []redis.Cmder{idx}
	}
	var err, idxErr error
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		// The index is another slot, maybe another master: its write goes
		// through that master's batcher, at the same time, so that neither
		// waits behind the other's node.
		var wg sync.WaitGroup
		wg.Go(func() { idxErr = s.writes.run(ctx, idxKeys[0], index) })
		err = s.writes.run(ctx, key, first)
		wg.Wait()
	} else {
		err = s.writes.run(ctx, key, func(p redis.Pipeliner) []redis.Cmder { return append(first(p), index(p)...) })
	}
	if err == nil && !sent {
		err = context.Canceled
	}
	if err == nil && idxErr == nil && idx != nil && idx.Err() != nil && redis.HasErrorPrefix(idx.Err(), "NOSCRIPT") {
		_ = indexScript.Run(ctx, s.rdb, idxKeys, idxArgs...).Err()
	}
	return err
}

// SaveTokens writes at and, when rt is not nil, rt under their family,
// <prefix>{<family>}a and r, replacing what the family held, in one Lua
// script that first checks the family's tombstone; in the same pipeline,
// when the tokens have a user, the family is entered in the user's grant
// index <prefix>u:<user_id> (best effort). One round trip. They must share
// a Family (one Cluster slot), and at must have an ExpiresAt, which
// becomes the key's TTL; a refresh token with a zero ExpiresAt gets no
// TTL. A record whose ExpiresAt has already passed is not written, and
// SaveTokens still returns nil. If the family was revoked the script
// writes nothing and SaveTokens returns store.ErrRevoked (the index entry
// that rode along names a dead family, which ListGrants drops).
func (s *Store) SaveTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	w, err := s.tokenWrites(at, rt, "", 0)
	if err != nil {
		return err
	}
	if w.atVal == "" && w.rtVal == "" {
		return nil
	}
	family := at.Key.Family
	keys := []string{s.familyKey(family, kindAccess), s.familyKey(family, kindRefresh), s.familyKey(family, kindTombstone)}
	user := at.UserID
	if rt != nil && rt.UserID != "" {
		user = rt.UserID
	}
	cmd, err := s.runWithIndex(ctx, saveScript, keys, []any{w.atVal, w.atPX, w.rtVal, w.rtPX}, user, family, w.exp)
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

// SaveFreshTokens implements store.FreshTokenSaver. An access token
// alone is one SET of <prefix>{<family>}a with its TTL (and, when it has
// a user, the user index entry in the same pipeline, as SaveTokens): no
// script and no tombstone check, a third of SaveTokens's Redis time. A
// pair, or a store that waits for replicas (WithWaitReplicas), goes
// through SaveTokens, whose script keeps the pair's two writes one step.
func (s *Store) SaveFreshTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	if rt != nil || s.waitReplicas > 0 {
		return s.SaveTokens(ctx, at, rt)
	}
	w, err := s.tokenWrites(at, nil, "", 0)
	if err != nil {
		return err
	}
	if w.atVal == "" {
		return nil
	}
	key := s.familyKey(at.Key.Family, kindAccess)
	var cmd *redis.StatusCmd
	err = s.writeWithIndex(ctx, key, func(p redis.Pipeliner) redis.Cmder {
		cmd = p.Set(ctx, key, w.atVal, w.atTTL)
		return cmd
	}, at.UserID, at.Key.Family, w.exp)
	if err == nil {
		err = cmd.Err()
	}
	if err != nil {
		return unavailable("save tokens", err)
	}
	return nil
}

// GetAccessToken returns the access token stored under k, or
// store.ErrNotFound when it does not exist, expired, was revoked or
// replaced. It is one GET of <prefix>{<family>}a, whose digest is compared
// with k's in constant time. A Key that cannot name a key (see ErrInvalid)
// is not found.
func (s *Store) GetAccessToken(ctx context.Context, k store.Key) (*store.AccessToken, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	key := s.familyKey(k.Family, kindAccess)
	b, err := s.gets.get(ctx, key)
	if err != nil {
		return nil, mapErr("get access token", err)
	}
	at, err := decodeAccess(b, k)
	if err != nil {
		return nil, corrupt("get access token", key, err)
	}
	if !matches(b, k.Signature) {
		return nil, store.ErrNotFound
	}
	if !s.now().Before(at.ExpiresAt) {
		return nil, store.ErrNotFound // TTLs are rounded up to the millisecond
	}
	return at, nil
}

// GetRefreshToken returns the refresh token stored under k or
// store.ErrNotFound. It is one GET of <prefix>{<family>}r.
func (s *Store) GetRefreshToken(ctx context.Context, k store.Key) (*store.RefreshToken, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	key := s.familyKey(k.Family, kindRefresh)
	b, err := s.gets.get(ctx, key) // shared with concurrent lookups, as GetAccessToken's
	if err != nil {
		return nil, mapErr("get refresh token", err)
	}
	rt, err := decodeRefresh(b, k)
	if err != nil {
		return nil, corrupt("get refresh token", key, err)
	}
	if !matches(b, k.Signature) {
		return nil, store.ErrNotFound
	}
	if !rt.ExpiresAt.IsZero() && !s.now().Before(rt.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	return rt, nil
}

// RotateRefreshToken runs one Lua script that, only if the family's refresh
// token is old (same digest) and the family is not revoked, deletes the
// family's access token, replaces the refresh token with rt (or deletes
// it when rt is nil), files retired (when not nil) in <prefix>{<family>}x
// under old's digest, writes at, and publishes "f:<family>" on
// <prefix>inv; in the same pipeline the user's grant index gets the new
// expiry. If old is no longer the family's refresh token it changes
// nothing and returns store.ErrNotFound; of concurrent rotations of one
// token exactly one succeeds. If the family was revoked it changes nothing
// and returns store.ErrRevoked. The new tokens keep the grant's creation
// time (old.GrantCreatedAt, or old.IssuedAt).
func (s *Store) RotateRefreshToken(ctx context.Context, old *store.RefreshToken, retired *store.RetiredRefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	if old == nil || !validKey(old.Key) {
		return fmt.Errorf("%w: old refresh token without a valid Key", ErrInvalid)
	}
	family := old.Key.Family
	created := old.GrantCreatedAt
	if created.IsZero() {
		created = old.IssuedAt
	}
	w, err := s.tokenWrites(at, rt, family, ms(created))
	if err != nil {
		return err
	}
	retiredVal, retiredPX := "", "0"
	if retired != nil {
		if !retired.Key.IsZero() && retired.Key != old.Key {
			return fmt.Errorf("%w: retired refresh token keyed %v, not the rotated token's %v", ErrInvalid, retired.Key, old.Key)
		}
		if retired.ExpiresAt.IsZero() {
			return fmt.Errorf("%w: retired refresh token without ExpiresAt", ErrInvalid)
		}
		if d := s.ttl(retired.ExpiresAt); d > 0 {
			x := *retired
			if x.RotatedAt.IsZero() {
				x.RotatedAt = s.now()
			}
			val, err := encodeRetired(&x, old.Key.Signature)
			if err != nil {
				return err
			}
			retiredVal, retiredPX = string(val), strconv.FormatInt(d.Milliseconds(), 10)
		}
	}
	keys := []string{
		s.familyKey(family, kindRefresh), s.familyKey(family, kindAccess),
		s.familyKey(family, kindRetired), s.familyKey(family, kindTombstone),
	}
	args := []any{digest(old.Key.Signature), retiredVal, retiredPX, w.atVal, w.atPX, w.rtVal, w.rtPX, s.InvalidationChannel(), s.familyMsg(family)}
	user := at.UserID
	if user == "" {
		user = old.UserID
	}
	if w.atVal == "" && w.rtVal == "" {
		user = "" // nothing new lives: no index entry (expiry 0 would read "never")
	}
	cmd, err := s.runWithIndex(ctx, rotateScript, keys, args, user, family, w.exp)
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

// GetRetiredRefreshToken reads the retired record under k's digest in
// <prefix>{<family>}x and the family's refresh token in one round trip
// (one slot): the record if there is one, else one inferred from the live
// refresh token when that is another token (store.Tokens).
func (s *Store) GetRetiredRefreshToken(ctx context.Context, k store.Key) (*store.RetiredRefreshToken, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	xkey, rkey := s.familyKey(k.Family, kindRetired), s.familyKey(k.Family, kindRefresh)
	var xcmd *redis.StringCmd
	var rcmd *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		xcmd = p.HGet(ctx, xkey, digest(k.Signature))
		rcmd = p.Get(ctx, rkey)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, mapErr("get retired refresh token", err)
	}
	now := s.now()
	if b, err := xcmd.Bytes(); err == nil {
		x, err := decodeRetired(b, k)
		if err != nil {
			return nil, corrupt("get retired refresh token", xkey, err)
		}
		if matches(b, k.Signature) && now.Before(x.ExpiresAt) {
			return x, nil
		}
	}
	b, err := rcmd.Bytes()
	if err != nil {
		return nil, mapErr("get retired refresh token", err)
	}
	live, err := decodeRefresh(b, k)
	if err != nil {
		return nil, corrupt("get retired refresh token", rkey, err)
	}
	if matches(b, k.Signature) || (!live.ExpiresAt.IsZero() && !now.Before(live.ExpiresAt)) {
		return nil, store.ErrNotFound
	}
	return &store.RetiredRefreshToken{Key: k, ClientID: live.ClientID, ExpiresAt: live.ExpiresAt}, nil
}

// RevokeAccessToken deletes the family's access token if it is k's, and
// publishes "f:<family>": one script. No error if absent.
func (s *Store) RevokeAccessToken(ctx context.Context, k store.Key) error {
	if !validKey(k) {
		return nil
	}
	return s.revokeToken(ctx, "revoke access token", k, kindAccess)
}

// RevokeRefreshToken deletes the family's refresh token if it is k's, as
// RevokeAccessToken.
func (s *Store) RevokeRefreshToken(ctx context.Context, k store.Key) error {
	if !validKey(k) {
		return nil
	}
	return s.revokeToken(ctx, "revoke refresh token", k, kindRefresh)
}

func (s *Store) revokeToken(ctx context.Context, op string, k store.Key, kind byte) error {
	keys := []string{s.familyKey(k.Family, kind)}
	if err := revokeTokenScript.Run(ctx, s.rdb, keys, digest(k.Signature), s.InvalidationChannel(), s.familyMsg(k.Family)).Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// RevokeFamily deletes, in one Lua script, the family's access and refresh
// tokens, code and retired records, sets its tombstone
// <prefix>{<family>}v, which makes every later write into the family fail
// with store.ErrRevoked (TTL: that of the longest-lived deleted record,
// those without one aside, at least store.RevokedFamilyRetention; a
// tombstone that already lives longer is kept), and publishes
// "f:<family>". The user index entry is left for ListGrants to drop. No
// error if nothing is left. A family that cannot name a key has nothing to
// revoke.
func (s *Store) RevokeFamily(ctx context.Context, family string) error {
	if !validFamily(family) {
		return nil
	}
	keys := []string{
		s.familyKey(family, kindAccess), s.familyKey(family, kindRefresh), s.familyKey(family, kindCode),
		s.familyKey(family, kindRetired), s.familyKey(family, kindTombstone),
	}
	now := strconv.FormatInt(s.now().UnixMilli(), 10)
	err := revokeFamilyScript.Run(ctx, s.rdb, keys, store.RevokedFamilyRetention.Milliseconds(), now, s.InvalidationChannel(), s.familyMsg(family)).Err()
	if err != nil { // the script always returns 1, never nil
		return unavailable("revoke family", err)
	}
	return nil
}
