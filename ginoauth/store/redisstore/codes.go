package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// --- authorization codes ---

// SaveAuthorizationCode stores c at <prefix>code:{<family>}:<signature>, a
// hash of its JSON ("v") and, once consumed, its consumption time ("ca"),
// kept until c.ExpiresAt + store.CodeRetention, and enters it in the family
// index so that RevokeFamily removes it: one Lua script. c must have a
// valid Key and an ExpiresAt (ErrInvalid). A code already stored under
// c.Key is not replaced: store.ErrDuplicate (so that a save can never undo
// a consumption). If the family was revoked (RevokeFamily's tombstone
// exists) nothing is written: store.ErrRevoked. A code whose retention has
// already passed is not written, and SaveAuthorizationCode returns nil.
func (s *Store) SaveAuthorizationCode(ctx context.Context, c *store.AuthorizationCode) error {
	if c == nil || !validKey(c.Key) {
		return fmt.Errorf("%w: authorization code without a valid Key", ErrInvalid)
	}
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: authorization code without ExpiresAt", ErrInvalid)
	}
	keep := c.ExpiresAt.Add(store.CodeRetention)
	d := s.ttl(keep)
	if d <= 0 {
		return nil
	}
	v := *c
	v.ConsumedAt = time.Time{}
	val, err := json.Marshal(&v)
	if err != nil {
		return fmt.Errorf("redisstore: encoding authorization code: %w", err)
	}
	consumed := ""
	if !c.ConsumedAt.IsZero() {
		consumed = c.ConsumedAt.Format(time.RFC3339Nano)
	}
	family := c.Key.Family
	keys := []string{s.codeKey(c.Key), s.familyKey(family), s.grantKey(family), s.revokedKey(family)}
	args := append(s.syncArgs(), val, consumed, d.Milliseconds(), micros(keep))
	n, err := saveCodeScript.Run(ctx, s.rdb, keys, args...).Int()
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
	key := s.codeKey(k)
	vals, err := s.rdb.HMGet(ctx, key, "v", "ca").Result()
	if err != nil {
		return nil, mapErr("get authorization code", err)
	}
	v, ok := vals[0].(string)
	if !ok {
		return nil, store.ErrNotFound
	}
	c := new(store.AuthorizationCode)
	if err := json.Unmarshal([]byte(v), c); err != nil {
		return nil, corrupt("get authorization code", key, err)
	}
	c.ConsumedAt = time.Time{}
	if ca, ok := vals[1].(string); ok {
		if c.ConsumedAt, err = time.Parse(time.RFC3339Nano, ca); err != nil {
			return nil, corrupt("get authorization code", key, err)
		}
	}
	if !s.now().Before(c.ExpiresAt.Add(store.CodeRetention)) {
		return nil, store.ErrNotFound // TTLs are rounded up to the millisecond
	}
	c.Key = k
	return c, nil
}

// ConsumeAuthorizationCode sets the field "ca" of the code under k with
// HSETNX, in a script that first checks the code exists: of concurrent
// calls exactly one gets nil, the others store.ErrConsumed;
// store.ErrNotFound if there is no such code. A zero at is taken as now.
func (s *Store) ConsumeAuthorizationCode(ctx context.Context, k store.Key, at time.Time) error {
	if !validKey(k) {
		return store.ErrNotFound
	}
	if at.IsZero() {
		at = s.now() // the zero time would read as "not consumed"
	}
	n, err := consumeScript.Run(ctx, s.rdb, []string{s.codeKey(k)}, at.Format(time.RFC3339Nano)).Int()
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

// Allow counts one event under key in the current fixed window, aligned on
// the Unix epoch and counted in whole milliseconds: one script runs INCR on
// <prefix>rl:<key>:<window ms>:<window start ms>, PEXPIRE NX to the
// window's end, and PTTL, whose answer is retryAfter when the count is over
// limit. The window is computed on this process's clock, so instances
// sharing a Redis should keep their clocks in sync.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if key == "" || limit < 1 || window < time.Millisecond {
		return false, 0, fmt.Errorf("%w: limiter key %q, limit %d, window %v", ErrInvalid, key, limit, window)
	}
	wms := window.Milliseconds()
	now := s.now().UnixMilli()
	start := now - now%wms
	left := start + wms - now // at least 1
	res, err := limitScript.Run(ctx, s.rdb, []string{s.limitKey(key, wms, start)}, left).Int64Slice()
	if err != nil {
		return false, 0, unavailable("limiter", err)
	}
	if len(res) != 2 {
		return false, 0, unavailable("limiter", fmt.Errorf("unexpected reply %v", res))
	}
	if res[0] <= int64(limit) {
		return true, 0, nil
	}
	retry := time.Duration(res[1]) * time.Millisecond
	if retry <= 0 || retry > window {
		retry = time.Duration(left) * time.Millisecond
	}
	return false, retry, nil
}
