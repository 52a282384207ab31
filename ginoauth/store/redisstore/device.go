package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Device authorizations (RFC 8628) live at <prefix>{<family>}d, a hash
// holding the record ("v", JSON), the digest of the device code's
// signature ("dg"), the client ("ci"), the state ("st": p, a, d or c), the deciding user
// ("u", "n"), the last poll ("lp", Unix ms) and the interval ("iv", ms),
// kept until ExpiresAt + store.DeviceRetention; the hash tag is the device
// code's family, as for the tokens issued from it, so a poll and the
// consumption are one script on one key. The user code index is
// <prefix>uc:<user code>, holding the family until ExpiresAt: it is looked
// up by the user code, so it is in a slot of its own.
const kindDevice = 'd'

var _ store.DeviceCodes = (*Store)(nil)

func (s *Store) userCodeKey(code string) string { return s.prefix + "uc:" + code }

var saveDeviceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'dg', ARGV[2], 'st', 'p', 'iv', ARGV[3], 'ci', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`)

var decideDeviceScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return -1 end
if st ~= 'p' then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'u', ARGV[2], 'n', ARGV[3])
return 1`)

var pollDeviceScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'dg', 'v', 'st', 'u', 'n', 'lp', 'iv', 'ci')
if not r[1] or r[1] ~= ARGV[1] then return false end
local slow = 0
local iv = tonumber(r[7])
if r[3] == 'p' and r[8] == ARGV[4] then
	if r[6] and tonumber(ARGV[2]) - tonumber(r[6]) < iv - math.floor(iv / 10) then
		iv = iv + tonumber(ARGV[3])
		slow = 1
		redis.call('HSET', KEYS[1], 'iv', iv)
	end
	redis.call('HSET', KEYS[1], 'lp', ARGV[2])
end
return {r[2], r[3], r[4] or '', r[5] or '', tostring(iv), slow}`)

var consumeDeviceScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'dg', 'st')
if not r[1] or r[1] ~= ARGV[1] then return -1 end
if r[2] == 'c' then return 0 end
if r[2] ~= 'a' then return -1 end
redis.call('HSET', KEYS[1], 'st', 'c')
return 1`)

// SaveDeviceAuthorization implements store.DeviceCodes: SET NX of the
// user code index, then one script writing the record (the index is
// deleted again if that fails).
func (s *Store) SaveDeviceAuthorization(ctx context.Context, d *store.DeviceAuthorization) error {
	if d == nil || !validKey(d.Key) || d.UserCode == "" || d.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: device authorization without Key, UserCode or ExpiresAt", ErrInvalid)
	}
	ttl := s.ttl(d.ExpiresAt)
	if ttl <= 0 {
		return nil
	}
	val, err := json.Marshal(d)
	if err != nil {
		return err
	}
	uc := s.userCodeKey(d.UserCode)
	ok, err := s.rdb.SetNX(ctx, uc, d.Key.Family, ttl).Result()
	if err != nil {
		return unavailable("save device authorization", err)
	}
	if !ok {
		return fmt.Errorf("%w: user code", store.ErrDuplicate)
	}
	keep := ttl + store.DeviceRetention
	n, err := saveDeviceScript.Run(ctx, s.rdb, []string{s.familyKey(d.Key.Family, kindDevice)},
		val, digest(d.Key.Signature), d.Interval.Milliseconds(), keep.Milliseconds(), d.ClientID).Int()
	if err == nil && n == 1 {
		return nil
	}
	uctx, cancel := undoCtx(ctx)
	defer cancel()
	delIfEqual.Run(uctx, s.rdb, []string{uc}, d.Key.Family)
	if err != nil {
		return unavailable("save device authorization", err)
	}
	return fmt.Errorf("%w: device code family", store.ErrDuplicate)
}

// familyOfUserCode reads the user code index.
func (s *Store) familyOfUserCode(ctx context.Context, code string) (string, error) {
	if code == "" {
		return "", store.ErrNotFound
	}
	fam, err := s.rdb.Get(ctx, s.userCodeKey(code)).Result()
	if err != nil {
		return "", mapErr("device user code", err)
	}
	if !validFamily(fam) {
		return "", corrupt("device user code", s.userCodeKey(code), errors.New("bad family"))
	}
	return fam, nil
}

// GetDeviceAuthorizationByUserCode implements store.DeviceCodes: GET of
// the index, then HMGET of the record.
func (s *Store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCode string) (*store.DeviceAuthorization, error) {
	fam, err := s.familyOfUserCode(ctx, userCode)
	if err != nil {
		return nil, err
	}
	key := s.familyKey(fam, kindDevice)
	r, err := s.rdb.HMGet(ctx, key, "v", "st", "u", "n", "iv").Result()
	if err != nil {
		return nil, mapErr("get device authorization", err)
	}
	d, err := decodeDevice(key, fam, r)
	if err != nil {
		return nil, err
	}
	if d.UserCode != userCode || !s.now().Before(d.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	return d, nil
}

// decodeDevice decodes the fields v, st, u, n, iv of a record.
func decodeDevice(key, family string, r []any) (*store.DeviceAuthorization, error) {
	v, ok := r[0].(string)
	if !ok {
		return nil, store.ErrNotFound
	}
	d := &store.DeviceAuthorization{}
	if err := json.Unmarshal([]byte(v), d); err != nil {
		return nil, corrupt("device authorization", key, err)
	}
	d.Key.Family = family
	st, _ := r[1].(string)
	switch st {
	case "p":
		d.Status = store.DevicePending
	case "a":
		d.Status = store.DeviceApproved
	case "d":
		d.Status = store.DeviceDenied
	case "c":
		d.Status = store.DeviceConsumed
	default:
		return nil, corrupt("device authorization", key, fmt.Errorf("state %q", st))
	}
	d.UserID, _ = r[2].(string)
	d.Username, _ = r[3].(string)
	var ivs string
	switch x := r[4].(type) {
	case string:
		ivs = x
	case int64:
		ivs = strconv.FormatInt(x, 10)
	}
	iv, err := strconv.ParseInt(ivs, 10, 64)
	if err != nil {
		return nil, corrupt("device authorization", key, fmt.Errorf("interval %q", ivs))
	}
	d.Interval = time.Duration(iv) * time.Millisecond
	return d, nil
}

// DecideDeviceAuthorization implements store.DeviceCodes: GET of the
// index, then one script that changes a pending record only.
func (s *Store) DecideDeviceAuthorization(ctx context.Context, userCode string, approve bool, userID, username string) error {
	fam, err := s.familyOfUserCode(ctx, userCode)
	if err != nil {
		return err
	}
	st := "d"
	if approve {
		st = "a"
	}
	n, err := decideDeviceScript.Run(ctx, s.rdb, []string{s.familyKey(fam, kindDevice)}, st, userID, username).Int()
	if err != nil {
		return unavailable("decide device authorization", err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		return store.ErrConsumed
	}
	return store.ErrNotFound
}

// PollDeviceAuthorization implements store.DeviceCodes: one script, which
// compares the digest, counts a pending authorization's poll and slows it
// down when it came sooner than its interval after the last.
func (s *Store) PollDeviceAuthorization(ctx context.Context, k store.Key, clientID string, now time.Time) (*store.DeviceAuthorization, bool, error) {
	if !validKey(k) {
		return nil, false, store.ErrNotFound
	}
	key := s.familyKey(k.Family, kindDevice)
	res, err := pollDeviceScript.Run(ctx, s.rdb, []string{key}, digest(k.Signature), now.UnixMilli(), store.SlowDownStep.Milliseconds(), clientID).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, false, store.ErrNotFound
	}
	if err != nil {
		return nil, false, unavailable("poll device authorization", err)
	}
	if len(res) != 6 {
		return nil, false, corrupt("poll device authorization", key, fmt.Errorf("reply %v", res))
	}
	d, err := decodeDevice(key, k.Family, res[:5])
	if err != nil {
		return nil, false, err
	}
	d.Key = k
	slow, _ := res[5].(int64)
	if !s.now().Before(d.ExpiresAt.Add(store.DeviceRetention)) {
		return nil, false, store.ErrNotFound
	}
	return d, slow == 1, nil
}

// ConsumeDeviceAuthorization implements store.DeviceCodes: one script
// turning an approved record consumed.
func (s *Store) ConsumeDeviceAuthorization(ctx context.Context, k store.Key) error {
	if !validKey(k) {
		return store.ErrNotFound
	}
	n, err := consumeDeviceScript.Run(ctx, s.rdb, []string{s.familyKey(k.Family, kindDevice)}, digest(k.Signature)).Int()
	if err != nil {
		return unavailable("consume device authorization", err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		return store.ErrConsumed
	}
	return store.ErrNotFound
}
