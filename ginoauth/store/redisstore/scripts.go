package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. Every script's keys share one family hash tag, so each
// runs on Cluster; Redis runs a script atomically.
//
// A family index, <prefix>fam:{<family>}, is a hash from the name of every
// key of the family (tokens, retired refresh tokens, codes) to its expiry
// in Unix microseconds ("0": never). A grant record, <prefix>grant:{<family>},
// is a hash of "v" (JSON client, user and scopes), "i" (creation time) and
// "e" (expiry, Unix microseconds, "0": never). A family's tombstone,
// <prefix>rev:{<family>}, exists while the family is revoked: every script
// that writes into a family checks it first and, when it exists, writes
// nothing and returns -1.

// syncLua defines sync(fam, grant, now, atp, rtp), which brings a family
// index and its grant record up to date after a write: it drops index
// entries that expired by now (the store's clock, Unix microseconds), gives
// the index the TTL of its longest-lived entry (none if one never expires),
// and gives the grant the expiry and TTL of the family's longest-lived
// access or refresh token (key names starting with atp or rtp), deleting it
// when none lives. It does not create a grant record. TTLs are relative to
// now, as the tokens' own are.
const syncLua = `
local function ms(us, now)
	return string.format('%.0f', math.ceil((us - now) / 1000))
end

local function sync(fam, grant, now, atp, rtp)
	local all = redis.call('HGETALL', fam)
	local dead = {}
	local famMax, famNever = 0, false
	local tokMax, tokMaxS, tokNever, tokLive = 0, '0', false, false
	for i = 1, #all, 2 do
		local k, e = all[i], all[i + 1]
		local n = tonumber(e) or 0
		if n ~= 0 and n <= now then
			dead[#dead + 1] = k
		else
			local tok = string.sub(k, 1, #atp) == atp or string.sub(k, 1, #rtp) == rtp
			if tok then tokLive = true end
			if n == 0 then
				famNever = true
				if tok then tokNever = true end
			else
				if n > famMax then famMax = n end
				if tok and n > tokMax then tokMax, tokMaxS = n, e end
			end
		end
	end
	for i = 1, #dead, 500 do
		redis.call('HDEL', fam, unpack(dead, i, math.min(i + 499, #dead)))
	end
	if famNever then
		redis.call('PERSIST', fam)
	elseif famMax > 0 then
		redis.call('PEXPIRE', fam, ms(famMax, now))
	end
	if redis.call('EXISTS', grant) == 0 then
		return
	end
	if not tokLive then
		redis.call('DEL', grant)
	elseif tokNever then
		redis.call('HSET', grant, 'e', '0')
		redis.call('PERSIST', grant)
	else
		redis.call('HSET', grant, 'e', tokMaxS)
		redis.call('PEXPIRE', grant, ms(tokMax, now))
	end
end
`

// saveScript: KEYS = fam, grant, tombstone, then the token keys; ARGV =
// now, atp, rtp, grant value, grant creation time, then value, PX (0: none)
// and index expiry per token key. Unless the family is revoked, it writes
// the tokens and their index entries, sets the grant's value (and its
// creation time if it has none) and syncs. Returns -1 if the family is
// revoked, 1 if it created the grant, else 0.
var saveScript = redis.NewScript(syncLua + `
if redis.call('EXISTS', KEYS[3]) == 1 then
	return -1
end
local now = tonumber(ARGV[1])
for i = 4, #KEYS do
	local j = 6 + 3 * (i - 4)
	if ARGV[j + 1] ~= '0' then
		redis.call('SET', KEYS[i], ARGV[j], 'PX', ARGV[j + 1])
	else
		redis.call('SET', KEYS[i], ARGV[j])
	end
	redis.call('HSET', KEYS[1], KEYS[i], ARGV[j + 2])
end
redis.call('HSET', KEYS[2], 'v', ARGV[4])
local created = redis.call('HSETNX', KEYS[2], 'i', ARGV[5])
sync(KEYS[1], KEYS[2], now, ARGV[2], ARGV[3])
return created
`)

// rotateScript: KEYS = old refresh token, old access token, fam, grant,
// retired record, tombstone, then the new token keys; ARGV = now, atp,
// rtp, grant value, grant creation time, retired value (empty for none), PX
// and index expiry, then value, PX (0: none) and index expiry per new token
// key. Unless the family is revoked, it consumes (DELs) the old refresh
// token and, only if it was there, deletes the old access token, writes
// the retired record and the new tokens with their index entries, sets the
// grant's value (keeping its creation time) and syncs. Returns -1 when the
// family is revoked, 0 when the old refresh token was gone, 2 when the
// grant record had to be created, else 1.
var rotateScript = redis.NewScript(syncLua + `
if redis.call('EXISTS', KEYS[6]) == 1 then
	return -1
end
if redis.call('DEL', KEYS[1]) == 0 then
	return 0
end
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[3], KEYS[1], KEYS[2])
local now = tonumber(ARGV[1])
if ARGV[6] ~= '' then
	redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[7])
	redis.call('HSET', KEYS[3], KEYS[5], ARGV[8])
end
for i = 7, #KEYS do
	local j = 9 + 3 * (i - 7)
	if ARGV[j + 1] ~= '0' then
		redis.call('SET', KEYS[i], ARGV[j], 'PX', ARGV[j + 1])
	else
		redis.call('SET', KEYS[i], ARGV[j])
	end
	redis.call('HSET', KEYS[3], KEYS[i], ARGV[j + 2])
end
redis.call('HSET', KEYS[4], 'v', ARGV[4])
local created = redis.call('HSETNX', KEYS[4], 'i', ARGV[5])
sync(KEYS[3], KEYS[4], now, ARGV[2], ARGV[3])
return 1 + created
`)

// revokeTokenScript: KEYS = token key, fam, grant; ARGV = now, atp, rtp.
// It deletes the token and, if it was there, its index entry, and syncs.
// Returns the number of keys deleted.
var revokeTokenScript = redis.NewScript(syncLua + `
local n = redis.call('DEL', KEYS[1])
if n == 1 then
	redis.call('HDEL', KEYS[2], KEYS[1])
	sync(KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2], ARGV[3])
end
return n
`)

// revokeFamilyScript: KEYS = fam, grant, tombstone; ARGV = now (Unix
// microseconds), the tombstone's least TTL in ms. It deletes every key
// named in the family index, the index and the grant, and sets the
// tombstone (value: now) with the TTL of the longest-lived deleted entry
// ("0", never, aside), at least the least TTL, unless the tombstone already
// lives longer. It returns the grant's value (nil if there was no grant).
// The keys it reads from the index are not declared in KEYS, but they
// carry the family's hash tag, so they are in the slot of KEYS on Cluster.
var revokeFamilyScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local ks = {}
for i = 1, #all, 2 do
	ks[#ks + 1] = all[i]
	local n = tonumber(all[i + 1]) or 0
	if n ~= 0 then
		local left = math.ceil((n - now) / 1000)
		if left > ttl then ttl = left end
	end
end
for i = 1, #ks, 500 do
	redis.call('DEL', unpack(ks, i, math.min(i + 499, #ks)))
end
local v = redis.call('HGET', KEYS[2], 'v')
redis.call('DEL', KEYS[1], KEYS[2])
local cur = redis.call('PTTL', KEYS[3])
if cur == -2 or (cur >= 0 and cur < ttl) then
	redis.call('SET', KEYS[3], ARGV[1], 'PX', string.format('%.0f', ttl))
end
return v
`)

// saveCodeScript: KEYS = code, fam, grant, tombstone; ARGV = now, atp,
// rtp, code value, consumption time (empty for none), PX, index expiry. It
// writes the code unless the family is revoked or a code is stored under
// its key, enters it in the index and syncs. Returns 1, 0 if a code was
// already stored, or -1 if the family is revoked.
var saveCodeScript = redis.NewScript(syncLua + `
if redis.call('EXISTS', KEYS[4]) == 1 then
	return -1
end
if redis.call('EXISTS', KEYS[1]) == 1 then
	return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[4])
if ARGV[5] ~= '' then
	redis.call('HSET', KEYS[1], 'ca', ARGV[5])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('HSET', KEYS[2], KEYS[1], ARGV[7])
sync(KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2], ARGV[3])
return 1
`)

// consumeScript: KEYS = code; ARGV = consumption time. Returns -1 when
// there is no code, else HSETNX's answer: 1 for the first consumption, 0
// for a replay.
var consumeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
	return -1
end
return redis.call('HSETNX', KEYS[1], 'ca', ARGV[1])
`)

// limitScript: KEYS = window counter; ARGV = ms to the window's end. It
// counts the event, gives a new counter its TTL, and returns the count and
// the counter's PTTL.
var limitScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return {n, redis.call('PTTL', KEYS[1])}
`)
