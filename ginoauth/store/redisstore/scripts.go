package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. A token script's keys are those of one family,
// <prefix>{<family>}a (access token), r (refresh token), c (code), x
// (retired refresh tokens) and v (tombstone), which share the family's hash
// tag, so each runs on Cluster; Redis runs a script atomically. A record's
// digest (see encoding.go) is string.sub(value, 3, 18). A family's
// tombstone exists while the family is revoked: every script that writes
// into a family checks it first and, when it exists, writes nothing and
// returns -1. The scripts that revoke, rotate or delete tokens publish
// "f:<family>" on <prefix>inv (ARGV: the channel and the message); those
// that change an application publish "c:<client_id>".

// saveScript: KEYS = a, r, v; ARGV = access value (” for none), PX,
// refresh value (” for none), PX ('0': none). Returns -1 if the family is
// revoked, else 1. It publishes nothing, even when it overwrites a token:
// the provider saves only into a new family, whose tokens no cache holds.
var saveScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then
	return -1
end
if ARGV[1] ~= '' then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if ARGV[3] ~= '' then
	if ARGV[4] ~= '0' then
		redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
	else
		redis.call('SET', KEYS[2], ARGV[3])
	end
end
return 1
`)

// indexScript: KEYS = <prefix>u:<user>; ARGV = family, its grant's expiry
// (Unix ms, '0': never), now (Unix ms), a random draw in [0, 65536). It
// sets the field and keeps the hash's TTL at its longest entry's (none
// while an entry never expires). Past 64 fields, with n fields it drops
// those whose expiry has passed with probability 64/n (draw * n < 64 *
// 65536): a write reads 64 fields on average whatever the user's number of
// grants, where pruning on every write made each write read them all. The
// draw comes from the caller, so the script stays deterministic for
// replication; without one it prunes every time.
var indexScript = redis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
local cur = redis.call('PTTL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local now = tonumber(ARGV[3])
local n = redis.call('HLEN', KEYS[1])
if n > 64 and (tonumber(ARGV[4]) or 0) * n < 64 * 65536 then
	local all = redis.call('HGETALL', KEYS[1])
	for i = 1, #all, 2 do
		local e = tonumber(all[i + 1]) or 0
		if e ~= 0 and e <= now then
			redis.call('HDEL', KEYS[1], all[i])
		end
	end
end
if ARGV[2] == '0' then
	redis.call('PERSIST', KEYS[1])
	return 1
end
local ttl = tonumber(ARGV[2]) - now
if ttl < 1 then ttl = 1 end
if existed == 0 or (cur >= 0 and cur < ttl) then
	redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
end
return 1
`)

// rotateScript: KEYS = r, a, x, v; ARGV = old digest, retired value (”
// for none), its PX, access value (” for none), PX, refresh value (”
// for none), PX ('0': none), channel, message. Unless the family is
// revoked, and only if the family's refresh token is the old one, it
// replaces the pair (deleting the refresh token when there is no new one),
// files the retired record under the old digest in x (whose TTL it keeps
// at the longest record's) and publishes. Returns -1 when the family is
// revoked, 0 when the old refresh token is gone, else 1. Sent again with
// the same arguments (go-redis resends a pipeline after a read timeout,
// and the first run may have happened), a rotation that issues a new
// refresh token finds that record in place (its digest only this rotation
// minted) and returns 1 again; one that issues none cannot tell its own
// run from another's and returns 0, as store.Tokens' contract says.
var rotateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[4]) == 1 then
	return -1
end
local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 3, 18) ~= ARGV[1] then
	if ARGV[6] ~= '' and cur == ARGV[6] then
		return 1
	end
	return 0
end
redis.call('DEL', KEYS[2])
if ARGV[6] ~= '' then
	if ARGV[7] ~= '0' then
		redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[7])
	else
		redis.call('SET', KEYS[1], ARGV[6])
	end
else
	redis.call('DEL', KEYS[1])
end
if ARGV[2] ~= '' then
	local t = redis.call('PTTL', KEYS[3])
	redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
	if t < tonumber(ARGV[3]) then
		redis.call('PEXPIRE', KEYS[3], ARGV[3])
	end
end
if ARGV[4] ~= '' then
	redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return 1
`)

// revokeTokenScript: KEYS = a token key; ARGV = digest, channel, message.
// It deletes the token only if it is the one named by the digest, and
// publishes. Returns the number of keys deleted.
var revokeTokenScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 3, 18) ~= ARGV[1] then
	return 0
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// revokeFamilyScript: KEYS = a, r, c, x, v; ARGV = the tombstone's least
// TTL in ms, its value (now, Unix ms), channel, message. It deletes the
// family's records and sets the tombstone with the TTL of the
// longest-lived deleted record (those without a TTL aside), at least the
// least TTL, unless the tombstone already lives longer; then publishes.
var revokeFamilyScript = redis.NewScript(`
local ttl = tonumber(ARGV[1])
for i = 1, 4 do
	local t = redis.call('PTTL', KEYS[i])
	if t > ttl then ttl = t end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local cur = redis.call('PTTL', KEYS[5])
if cur == -2 or (cur >= 0 and cur < ttl) then
	redis.call('SET', KEYS[5], ARGV[2], 'PX', string.format('%.0f', ttl))
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`)

// saveCodeScript: KEYS = c, v; ARGV = code value, consumption time (Unix
// ms, ” for none), PX. It writes the code unless the family is revoked or
// holds a code. Returns 1, 0 if a code was already stored, or -1 if the
// family is revoked.
var saveCodeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
	return -1
end
if redis.call('EXISTS', KEYS[1]) == 1 then
	return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
if ARGV[2] ~= '' then
	redis.call('HSET', KEYS[1], 'ca', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// consumeScript: KEYS = c; ARGV = digest, consumption time, the call's
// nonce. Returns -1 when the family holds no code of that digest, 1 for
// the first consumption and 0 for a replay. The nonce, kept in "cn",
// makes the same call sent again (go-redis resends a command whose reply
// was lost) answer 1 again instead of reading as its own replay.
var consumeScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v or string.sub(v, 3, 18) ~= ARGV[1] then
	return -1
end
if redis.call('HSETNX', KEYS[1], 'ca', ARGV[2]) == 1 then
	redis.call('HSET', KEYS[1], 'cn', ARGV[3])
	return 1
end
if redis.call('HGET', KEYS[1], 'cn') == ARGV[3] then
	return 1
end
return 0
`)

// updateAppScript: KEYS = app; ARGV = JSON, channel, message. It replaces
// the JSON after the stored generation digits, keeping them. Returns 0 if
// there is no application, else 1.
var updateAppScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
	return 0
end
local g = string.match(cur, '^%d*')
redis.call('SET', KEYS[1], g .. ARGV[1], 'KEEPTTL')
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// newGenScript: KEYS = app; ARGV = new generation, channel, message. It
// sets the generation digits unless the stored one is already higher.
// Returns -1 if there is no application, else the generation it holds.
var newGenScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
	return -1
end
local g = string.match(cur, '^%d*')
local old = tonumber(g) or 0
local new = tonumber(ARGV[1])
if old >= new then
	return old
end
redis.call('SET', KEYS[1], ARGV[1] .. string.sub(cur, #g + 1), 'KEEPTTL')
redis.call('PUBLISH', ARGV[2], ARGV[3])
return new
`)

// limitScript: KEYS = the sliding window's log (a sorted set of event
// times, Unix ms, by Redis's own clock so every instance agrees); ARGV =
// window ms, limit, a member unique to this event. It drops the events
// older than the window, then records this one if fewer than limit remain
// and returns {1, 0}, or records nothing and returns {0, ms until the
// oldest leaves the window}. The log holds at most limit members and
// expires a window after its last event.
var limitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - w)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], w)
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) + w - now}
`)
