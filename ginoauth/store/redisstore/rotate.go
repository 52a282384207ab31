package redisstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

var (
	_ store.RefreshRotator  = (*Store)(nil)
	_ store.FreshTokenSaver = (*Store)(nil)
)

// rotateInPlaceScript is RotateRefresh: the family's refresh token is read,
// checked and replaced by one script, which derives the new records from
// the old one (docs/redis-keys.md, "Records"): it reads the header and the
// numbers (issue time, expiry, grant creation, generation) and copies the
// strings after them (client, user, username, scopes) as they are; the
// numbers it writes come encoded from Go, but for the grant's age.
//
// It looks at the tombstone only when the refresh token is gone: while r
// exists the family is not revoked, since RevokeFamily deletes r in the
// step that sets the tombstone, and every other write of r checks the
// tombstone first (this one writes r only where it found it).
//
// KEYS = r, a, v. ARGV = [1] old digest, [2] client id, [3] generation,
// [4] now (Unix ms), [5] access digest, [6] access lifetime (ms), [7]
// refresh digest, [8] refresh lifetime (ms, 0: never), [9] ceiling (space
// separated, ” for none), [10] channel, [11] message, and the uvarints
// of the records: [12] now, [13] and [14] twice the access and refresh
// lifetimes (the zigzag expiry deltas). Returns -1 (revoked), 0 (no live
// refresh token), -2 (another client or generation, or the token is bound
// to a DPoP key, flag fExtra: RFC 9449 section 5 needs a proof, which the
// caller checks on the slower path), -3 (a scope outside the ceiling), -4
// (the live token is another of this client and generation: the old one
// was rotated away), or the old record.
//
// Run again with the same arguments (go-redis sends a pipeline again after
// a read timeout, and the first run may have happened), it finds the live
// refresh token to be the one ARGV[7] names, which only this rotation
// minted, and returns that record, whose strings are the old one's: the
// rotation happened once, and is not taken for a reuse of the old token.
var rotateInPlaceScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
	if redis.call('EXISTS', KEYS[3]) == 1 then
		return -1
	end
	return 0
end
local pos = 20
local function uv()
	local x, mul = 0, 1
	while true do
		local b = string.byte(cur, pos)
		if not b or mul > 72057594037927936 then
			error('ERR malformed refresh record')
		end
		pos = pos + 1
		x = x + (b % 128) * mul
		if b < 128 then
			return x
		end
		mul = mul * 128
	end
end
local now = tonumber(ARGV[4])
local flags = string.byte(cur, 19)
local issued = uv()
local exp = 0
if flags % 2 == 1 then
	local z = uv()
	if z % 2 == 0 then exp = issued + z / 2 else exp = issued - (z + 1) / 2 end
end
if exp ~= 0 and exp <= now then
	return 0
end
local created = issued
if flags % 4 >= 2 then
	created = issued - uv()
end
if created > now then
	created = now
end
local gen, genb = 0, ''
if flags % 8 >= 4 then
	local p = pos
	gen = uv()
	genb = string.sub(cur, p, pos - 1)
end
local tail = string.sub(cur, pos)
local clen = uv()
if string.sub(cur, pos, pos + clen - 1) ~= ARGV[2] or gen ~= tonumber(ARGV[3]) then
	return -2
end
pos = pos + clen
if string.sub(cur, 3, 18) == ARGV[7] then
	return cur
end
if string.sub(cur, 3, 18) ~= ARGV[1] then
	return -4
end
if flags % 128 >= 64 then
	return -2
end
if ARGV[9] ~= '' and flags % 64 >= 32 then
	if flags % 16 >= 8 then pos = pos + uv() end
	if flags % 32 >= 16 then pos = pos + uv() end
	local l = uv()
	local scopes = string.sub(cur, pos, pos + l - 1)
	local ceiling = {}
	for s in string.gmatch(ARGV[9], '%S+') do ceiling[s] = true end
	for s in string.gmatch(scopes, '%S+') do
		if not ceiling[s] then
			return -3
		end
	end
end
local sf, shared = flags - flags % 4, ''
if created ~= now then
	sf = sf + 2
	local x, t, n = now - created, {}, 0
	while x >= 128 do
		n = n + 1
		t[n] = x % 128 + 128
		x = (x - x % 128) / 128
	end
	n = n + 1
	t[n] = x
	shared = string.char(unpack(t, 1, n))
end
shared = shared .. genb .. tail
if ARGV[8] ~= '0' then
	redis.call('SET', KEYS[1], '\002r' .. ARGV[7] .. string.char(sf + 1) .. ARGV[12] .. ARGV[14] .. shared, 'PX', ARGV[8])
else
	redis.call('SET', KEYS[1], '\002r' .. ARGV[7] .. string.char(sf) .. ARGV[12] .. shared)
end
redis.call('SET', KEYS[2], '\002a' .. ARGV[5] .. string.char(sf + 1) .. ARGV[12] .. ARGV[13] .. shared, 'PX', ARGV[6])
redis.call('PUBLISH', ARGV[10], ARGV[11])
return cur
`)

// RotateRefresh implements store.RefreshRotator with one script on the
// family's keys: one round trip (through the write batcher, with WAIT when
// WithWaitReplicas is set). The user's grant index, which lives in another
// slot, is written only when the new tokens outlive what it records: its
// entries hold the grant's expiry rounded up to the UTC day (indexExpiry),
// so a grant refreshed again and again within a day costs no index write.
func (s *Store) RotateRefresh(ctx context.Context, old store.Key, req store.RotateRefresh) (*store.RefreshToken, error) {
	if !validKey(old) || !validKey(req.Access) || !validKey(req.Refresh) {
		return nil, fmt.Errorf("%w: rotation without valid Keys", ErrInvalid)
	}
	if req.Access.Family != old.Family || req.Refresh.Family != old.Family {
		return nil, fmt.Errorf("%w: new tokens outside the family %q", ErrInvalid, old.Family)
	}
	now := ms(req.Now)
	aexp := expMs(req.AccessExpiresAt)
	rexp := expMs(req.RefreshExpiresAt)
	if now <= 0 || aexp <= now || (rexp != 0 && rexp <= now) {
		return nil, fmt.Errorf("%w: rotation with Now %v, expiries %v and %v", ErrInvalid, req.Now, req.AccessExpiresAt, req.RefreshExpiresAt)
	}
	if req.Generation < 0 || req.Generation >= 1<<53 {
		// Lua's numbers are doubles: exact only below 2^53.
		return nil, fmt.Errorf("%w: generation %d out of the script's range", ErrInvalid, req.Generation)
	}
	for _, sc := range req.Ceiling {
		if sc == "" || strings.ContainsAny(sc, " \t\n") {
			return nil, fmt.Errorf("%w: ceiling scope %q", ErrInvalid, sc)
		}
	}
	rlife := int64(0)
	if rexp != 0 {
		rlife = rexp - now
	}
	family := old.Family
	newDigest := digest(req.Refresh.Signature)
	keys := []string{
		s.familyKey(family, kindRefresh), s.familyKey(family, kindAccess), s.familyKey(family, kindTombstone),
	}
	args := []any{
		digest(old.Signature), req.ClientID, strconv.FormatInt(req.Generation, 10), strconv.FormatInt(now, 10),
		digest(req.Access.Signature), strconv.FormatInt(aexp-now, 10),
		newDigest, strconv.FormatInt(rlife, 10),
		strings.Join(req.Ceiling, " "), s.InvalidationChannel(), s.familyMsg(family),
		uvarint(now), uvarint(2 * (aexp - now)), uvarint(2 * rlife),
	}
	cmd, err := s.runWithIndex(ctx, rotateInPlaceScript, keys, args, "", family, 0)
	if err != nil {
		return nil, mapErr("rotate refresh token", err)
	}
	var b []byte
	switch v := cmd.Val().(type) {
	case int64:
		switch v {
		case -1:
			return nil, store.ErrRevoked
		case -2:
			return nil, store.ErrGrantMismatch
		case -3:
			return nil, store.ErrCeiling
		case -4:
			return nil, store.ErrRotated
		default:
			return nil, store.ErrNotFound
		}
	case string:
		b = []byte(v)
	default:
		return nil, fmt.Errorf("redisstore: rotate refresh token: unexpected reply %T", v)
	}
	was, err := decodeRefresh(b, old)
	if err != nil {
		return nil, corrupt("rotate refresh token", keys[0], err)
	}
	// A resend (the script found this rotation's own new record, b) cannot
	// tell whether the first send's index write happened: write it again.
	resent := string(b[2:2+digestLen]) == newDigest
	if was.UserID != "" && (resent || indexStale(b[0], was.ExpiresAt, max(aexp, rexp), rexp == 0)) {
		s.runIndex(ctx, was.UserID, family, familyExpiry(aexp, rexp))
	}
	return was, nil
}

// uvarint is x as the records encode it, for a script to copy.
func uvarint(x int64) string {
	var b [binary.MaxVarintLen64]byte
	return string(binary.AppendUvarint(b[:0], uint64(x)))
}

// familyExpiry is a family's expiry for the user index: the later of its
// tokens', 0 (never) when the refresh token never expires.
func familyExpiry(aexp, rexp int64) int64 {
	if rexp == 0 {
		return 0
	}
	return max(aexp, rexp)
}

// indexStale reports whether a rotation must write the user index entry:
// the old record was written before entries were rounded up to the day
// (version 1), or the new tokens outlive the day the entry records for the
// old refresh token (its expiry rounded up; 0, never, covers everything).
func indexStale(version byte, oldExp time.Time, newExp int64, newNever bool) bool {
	if version < 2 {
		return true
	}
	if oldExp.IsZero() {
		return false
	}
	return newNever || indexExpiry(newExp) > indexExpiry(expMs(oldExp))
}

// indexDay is the unit the user index rounds expiries up to.
const indexDay = int64(24 * time.Hour / time.Millisecond)

// indexExpiry is what the user index records for a family expiring at exp
// (Unix ms; 0: never): exp rounded up to the next UTC day, so that its
// refreshes within a day need not touch the index (RotateRefresh).
func indexExpiry(exp int64) int64 {
	if exp <= 0 {
		return 0
	}
	return (exp + indexDay - 1) / indexDay * indexDay
}
