package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// --- authorization codes ---

// SaveAuthorizationCode stores c at <prefix>{<family>}c, a hash of its
// encoded record ("v") and, once consumed, its consumption time in Unix
// ms ("ca") and the consuming call's nonce ("cn"), kept until c.ExpiresAt + store.CodeRetention: one Lua
// script. c must have a valid Key and an ExpiresAt (ErrInvalid). If the
// family holds a code already it is not replaced: store.ErrDuplicate (so
// that a save can never undo a consumption). If the family was revoked
// nothing is written: store.ErrRevoked. A code whose retention has already
// passed is not written, and SaveAuthorizationCode returns nil.
func (s *Store) SaveAuthorizationCode(ctx context.Context, c *store.AuthorizationCode) error {
	if c == nil || !validKey(c.Key) {
		return fmt.Errorf("%w: authorization code without a valid Key", ErrInvalid)
	}
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: authorization code without ExpiresAt", ErrInvalid)
	}
	d := s.ttl(c.ExpiresAt.Add(store.CodeRetention))
	if d <= 0 {
		return nil
	}
	v := *c
	if v.IssuedAt.IsZero() {
		v.IssuedAt = s.now()
	}
	val, err := encodeCode(&v)
	if err != nil {
		return err
	}
	consumed := ""
	if !c.ConsumedAt.IsZero() {
		consumed = strconv.FormatInt(c.ConsumedAt.UnixMilli(), 10)
	}
	family := c.Key.Family
	keys := []string{s.familyKey(family, kindCode), s.familyKey(family, kindTombstone)}
	var res *redis.Cmd
	if s.waitReplicas > 0 {
		res, err = s.runDurable(ctx, saveCodeScript, keys, []any{val, consumed, d.Milliseconds()})
	} else {
		res = saveCodeScript.Run(ctx, s.rdb, keys, val, consumed, d.Milliseconds())
		err = res.Err()
	}
	if err != nil {
		return unavailable("save authorization code", err)
	}
	n, err := res.Int()
	if err != nil {
		return unavailable("save authorization code", err)
	}
	switch n {
	case 0:
		return fmt.Errorf("%w: authorization code", store.ErrDuplicate)
	case -1:
		return store.ErrRevoked
	}
	return nil
}

// GetAuthorizationCode returns the code stored under k, consumed or not
// (ConsumedAt tells), or store.ErrNotFound. It is one HMGET.
func (s *Store) GetAuthorizationCode(ctx context.Context, k store.Key) (*store.AuthorizationCode, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	key := s.familyKey(k.Family, kindCode)
	vals, err := s.rdb.HMGet(ctx, key, "v", "ca").Result()
	if err != nil {
		return nil, mapErr("get authorization code", err)
	}
	v, ok := vals[0].(string)
	if !ok {
		return nil, store.ErrNotFound
	}
	c, err := decodeCode([]byte(v), k)
	if err != nil {
		return nil, corrupt("get authorization code", key, err)
	}
	if !matches([]byte(v), k.Signature) {
		return nil, store.ErrNotFound
	}
	if ca, ok := vals[1].(string); ok {
		m, err := strconv.ParseInt(ca, 10, 64)
		if err != nil || m <= 0 {
			return nil, corrupt("get authorization code", key, fmt.Errorf("consumption time %q", ca))
		}
		c.ConsumedAt = time.UnixMilli(m).UTC()
	}
	if !s.now().Before(c.ExpiresAt.Add(store.CodeRetention)) {
		return nil, store.ErrNotFound // TTLs are rounded up to the millisecond
	}
	return c, nil
}

// ConsumeAuthorizationCode sets the field "ca" of the family's code with
// HSETNX, in a script that first checks the family holds k's code: of
// concurrent calls exactly one gets nil, the others store.ErrConsumed;
// store.ErrNotFound if there is no such code. A zero at is taken as now.
// The call's random nonce, stored beside "ca", lets the script tell a
// resend of the winning call (go-redis resends after a lost reply; on a
// ClusterClient even after a read timeout) from a replay.
func (s *Store) ConsumeAuthorizationCode(ctx context.Context, k store.Key, at time.Time) error {
	return s.consumeCode(ctx, k, at, strconv.FormatUint(rand.Uint64(), 36))
}

func (s *Store) consumeCode(ctx context.Context, k store.Key, at time.Time, nonce string) error {
	if !validKey(k) {
		return store.ErrNotFound
	}
	if at.IsZero() {
		at = s.now() // the zero time would read as "not consumed"
	}
	m := max(at.UnixMilli(), 1)
	n, err := consumeScript.Run(ctx, s.rdb, []string{s.familyKey(k.Family, kindCode)}, digest(k.Signature), m, nonce).Int()
	if err != nil {
		return unavailable("consume authorization code", err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		return store.ErrConsumed
	default:
		return store.ErrNotFound
	}
}

// --- limiter ---

// Allow implements store.Limiter with a sliding window log: one script
// keeps the times of the allowed events under <prefix>rl:<key>:<window
// ms> (a sorted set of at most limit members, by Redis's clock, expiring a
// window after the last event), so that no interval of length window ever
// holds more than limit allowed events, on any instance.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if key == "" || limit < 1 || window < time.Millisecond {
		return false, 0, fmt.Errorf("%w: limiter key %q, limit %d, window %v", ErrInvalid, key, limit, window)
	}
	wms := window.Milliseconds()
	member := strconv.FormatUint(rand.Uint64(), 36) // two events in one ms are two members
	res, err := limitScript.Run(ctx, s.rdb, []string{s.limitKey(key, wms)}, wms, limit, member).Int64Slice()
	if err != nil {
		return false, 0, unavailable("limiter", err)
	}
	if len(res) != 2 {
		return false, 0, unavailable("limiter", fmt.Errorf("unexpected reply %v", res))
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	retry := time.Duration(res[1]) * time.Millisecond
	if retry <= 0 || retry > window {
		retry = min(max(retry, time.Millisecond), window)
	}
	return false, retry, nil
}

// Forget implements store.Limiter: it deletes the log of key's window.
func (s *Store) Forget(ctx context.Context, key string, window time.Duration) error {
	if key == "" || window < time.Millisecond {
		return fmt.Errorf("%w: limiter key %q, window %v", ErrInvalid, key, window)
	}
	if err := s.rdb.Del(ctx, s.limitKey(key, window.Milliseconds())).Err(); err != nil {
		return unavailable("limiter", err)
	}
	return nil
}
