// Package tokencache is an in-process cache of validated access tokens, for
// Provider.Validate: a hit answers a bearer token without a store round
// trip. It is only safe together with an invalidation channel (redisstore's
// WatchInvalidations through a Listener): the cache starts in bypass, where
// Get always misses and Put stores nothing, and leaves it only while the
// channel is known to be live.
//
// An entry is never returned past its token's ExpiresAt nor past MaxAge
// after it was stored, by the injected clock. Negative answers (unknown,
// revoked, expired tokens) are never cached: the caller simply does not Put
// them.
//
// Layout: the cache is split into shards chosen by a hash of the token's
// family (the grant; every token of a family shares it, and a token's
// family is inside its MAC, so a signature always comes with the same
// family). A shard maps a family to the few cached tokens of that family,
// so DropFamily, the invalidation of every rotation and revocation, is one
// map delete under one shard lock. DropClient, rare (an application changed
// or was deleted), scans every shard instead of keeping a second index that
// every Put would pay for. Eviction picks among a few families sampled from
// the map's randomised iteration the entry that expires first: no list to
// maintain on hits, and a hit takes only its shard's read lock.
package tokencache

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// Defaults of Options.
const (
	DefaultMaxEntries = 100_000
	DefaultMaxBytes   = 64 << 20
	DefaultMaxAge     = 10 * time.Second
)

// maxPerFamily bounds the cached tokens of one family; a family rarely has
// more than one live access token (rotation replaces it).
const maxPerFamily = 8

// evictSamples is how many families an eviction looks at.
const evictSamples = 4

// entryOverhead approximates the bytes an entry costs beyond its strings:
// the entry struct, its slot in the family slice, map bucket share, string
// and slice headers.
const entryOverhead = 208

// Options configures a Cache. The zero value means the defaults.
type Options struct {
	// MaxEntries bounds the number of cached tokens (default 100 000).
	MaxEntries int
	// MaxBytes bounds the approximate memory of the entries (default 64
	// MiB), counted as their strings plus a fixed overhead per entry.
	MaxBytes int
	// MaxAge is the longest an entry is used after it was stored, whatever
	// its token's ExpiresAt (default 10 s). It bounds how long a
	// revocation whose message was lost on a channel that looked live could
	// go unnoticed.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Cache is safe for concurrent use. Create it with New.
type Cache struct {
	now       func() time.Time
	maxAge    time.Duration
	seed      maphash.Seed
	shards    []shard
	mask      uint64
	maxShardN int
	maxShardB int

	live atomic.Bool
	// seq counts invalidations; a Ticket is its value before a store read,
	// and Put refuses a ticket older than any invalidation that could
	// concern its entry (flushSeq, the shard's dropSeq, the client stripe).
	seq      atomic.Uint64
	flushSeq atomic.Uint64
	clients  [clientStripes]atomic.Uint64

	sus *suspects // for Trusted
}

const clientStripes = 256

type shard struct {
	mu      sync.RWMutex
	fams    map[string][]*entry
	n       int    // entries
	bytes   int    // approximate bytes of the entries
	dropSeq uint64 // seq of the last DropFamily on this shard
	_       [64]byte
}

type entry struct {
	sig      string
	family   string
	info     resource.TokenInfo
	deadline int64 // unix nanoseconds: min(ExpiresAt, stored + MaxAge)
	size     int
}

// Ticket is taken with Cache.Ticket before reading a token from the store
// and handed to Put: an invalidation that happens in between makes Put
// store nothing, so a revocation racing with a miss cannot leave a revoked
// token in the cache.
type Ticket uint64

// New returns an empty Cache, in bypass until SetLive.
func New(o Options) *Cache {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Up to 256 shards, a power of two, with room for at least 16 entries
	// (of 512 bytes) a shard; the per-shard bounds are floors, so the
	// totals never exceed the options.
	n := min(o.MaxEntries/16, o.MaxBytes/(16*512), 256)
	n = 1 << (bits.Len(uint(max(1, n))) - 1)
	c := &Cache{
		now:       o.Now,
		maxAge:    o.MaxAge,
		seed:      maphash.MakeSeed(),
		shards:    make([]shard, n),
		mask:      uint64(n - 1),
		maxShardN: max(1, o.MaxEntries/n),
		maxShardB: max(entryOverhead, o.MaxBytes/n),
		sus:       newSuspects(o.MaxEntries, o.MaxAge),
	}
	for i := range c.shards {
		c.shards[i].fams = make(map[string][]*entry)
	}
	return c
}

func (c *Cache) shardOf(family string) *shard {
	return &c.shards[maphash.String(c.seed, family)&c.mask]
}

func (c *Cache) clientStripe(clientID string) *atomic.Uint64 {
	return &c.clients[maphash.String(c.seed, clientID)%clientStripes]
}

// Live reports whether the cache is in use (not in bypass).
func (c *Cache) Live() bool { return c.live.Load() }

// Get returns a copy of the cached TokenInfo of the token with this family
// and signature, if it is cached, the cache is live, and neither the
// token's ExpiresAt nor the entry's MaxAge has passed. The copy's Scopes
// and Audience share the cached arrays (clipped, so appending copies): do
// not modify their elements.
func (c *Cache) Get(family, signature string) (*resource.TokenInfo, bool) {
	if !c.live.Load() {
		return nil, false
	}
	sh := c.shardOf(family)
	sh.mu.RLock()
	var hit *entry
	for _, e := range sh.fams[family] {
		if e.sig == signature {
			hit = e
			break
		}
	}
	sh.mu.RUnlock()
	if hit == nil || c.now().UnixNano() >= hit.deadline {
		return nil, false
	}
	info := hit.info
	info.Scopes = info.Scopes[:len(info.Scopes):len(info.Scopes)]
	info.Audience = info.Audience[:len(info.Audience):len(info.Audience)]
	return &info, true
}

// Ticket returns the ticket for a Put of what the caller is about to read
// from the store. Take it before the read.
func (c *Cache) Ticket() Ticket { return Ticket(c.seq.Load()) }

// Put caches info (a token the store just said is valid) under family and
// signature, unless the cache is in bypass, an invalidation of the family,
// of info.ClientID or of everything happened since t was taken, or the
// token is already expired. It copies the strings it keeps; info.Scopes and
// info.Audience are kept as they are: the caller must not modify them
// afterwards.
func (c *Cache) Put(t Ticket, family, signature string, info *resource.TokenInfo) {
	if info == nil || !c.live.Load() {
		return
	}
	now := c.now()
	deadline := now.Add(c.maxAge)
	if !info.ExpiresAt.IsZero() && info.ExpiresAt.Before(deadline) {
		deadline = info.ExpiresAt
	}
	if !now.Before(deadline) {
		return
	}
	e := &entry{
		sig:      strings.Clone(signature),
		family:   strings.Clone(family),
		info:     *info,
		deadline: deadline.UnixNano(),
	}
	e.size = entryOverhead + len(e.sig) + len(e.family) + len(info.ClientID) + len(info.UserID) + len(info.Username)
	for _, s := range info.Scopes {
		e.size += 16 + len(s)
	}
	for _, s := range info.Audience {
		e.size += 16 + len(s)
	}
	if e.size > c.maxShardB {
		return
	}
	stripe := c.clientStripe(info.ClientID)
	sh := c.shardOf(family)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Checked under the shard lock: an invalidation bumps its counter
	// before it takes the lock to delete, so either this Put sees the bump
	// or the invalidation deletes what this Put stores.
	if !c.live.Load() || uint64(t) < c.flushSeq.Load() || uint64(t) < sh.dropSeq || uint64(t) < stripe.Load() {
		return
	}
	es := sh.fams[family]
	for i, old := range es {
		if old.sig == signature {
			sh.n--
			sh.bytes -= old.size
			es = append(es[:i], es[i+1:]...)
			break
		}
	}
	if len(es) >= maxPerFamily {
		// Drop the entry that expires first.
		j := 0
		for i := range es {
			if es[i].deadline < es[j].deadline {
				j = i
			}
		}
		sh.n--
		sh.bytes -= es[j].size
		es = append(es[:j], es[j+1:]...)
	}
	sh.fams[family] = es // family may be evicted below; reinserted after
	for sh.n+1 > c.maxShardN || sh.bytes+e.size > c.maxShardB {
		if !sh.evictOne() {
			break
		}
	}
	sh.fams[family] = append(sh.fams[family], e)
	sh.n++
	sh.bytes += e.size
}

// evictOne removes, among the entries of a few families the map's
// randomised iteration yields, the one that expires first. It reports
// whether it removed anything.
func (sh *shard) evictOne() bool {
	var victimFam string
	var victim = -1
	var deadline int64
	seen := 0
	for fam, es := range sh.fams {
		for i, e := range es {
			if victim < 0 || e.deadline < deadline {
				victimFam, victim, deadline = fam, i, e.deadline
			}
		}
		if seen++; seen >= evictSamples {
			break
		}
	}
	if victim < 0 {
		return false
	}
	es := sh.fams[victimFam]
	sh.n--
	sh.bytes -= es[victim].size
	es = append(es[:victim], es[victim+1:]...)
	if len(es) == 0 {
		delete(sh.fams, victimFam)
	} else {
		sh.fams[victimFam] = es
	}
	return true
}

// bump returns a new invalidation sequence number.
func (c *Cache) bump() uint64 { return c.seq.Add(1) }

// storeMax raises a to v unless it is already higher.
func storeMax(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if old >= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// Trusted reports whether a self-contained token (a JWT access token,
// verified by its signature alone) of family and clientID, issued at iat,
// may be accepted without a store read: the cache is live; the token was
// issued at most MaxAge ago (the store's answer at its issue is then no
// older than a cached one may be, so a revocation whose message was lost,
// or that publishes none, is seen within MaxAge, as for cached tokens) and
// not in the future (beyond TrustSkew); and no invalidation of the family
// or the client arrived here since it was issued (give or take
// TrustSkew), nor may one have been missed (it was issued before the
// channel was last confirmed live). Otherwise the caller asks the store,
// and may Put the answer.
func (c *Cache) Trusted(family, clientID string, iat time.Time) bool {
	now := c.now()
	if !c.live.Load() || iat.After(now.Add(TrustSkew)) || now.Sub(iat) > c.maxAge {
		return false
	}
	return c.sus.trusted(family, clientID, iat, c.now)
}

// DropFamily removes every cached token of family, and makes its tokens
// issued until now suspect to Trusted.
func (c *Cache) DropFamily(family string) {
	c.sus.note(false, family, c.now())
	s := c.bump()
	sh := c.shardOf(family)
	sh.mu.Lock()
	sh.dropSeq = max(sh.dropSeq, s)
	for _, e := range sh.fams[family] {
		sh.n--
		sh.bytes -= e.size
	}
	delete(sh.fams, family)
	sh.mu.Unlock()
}

// DropClient removes every cached token issued to clientID. It scans the
// whole cache, shard by shard (a few milliseconds for 100 000 entries,
// each shard locked only for its own part): application changes are rare,
// and a per-client index would cost every Put a second map update and
// memory.
func (c *Cache) DropClient(clientID string) {
	c.sus.note(true, clientID, c.now())
	storeMax(c.clientStripe(clientID), c.bump())
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for fam, es := range sh.fams {
			kept := es[:0]
			for _, e := range es {
				if e.info.ClientID == clientID {
					sh.n--
					sh.bytes -= e.size
					continue
				}
				kept = append(kept, e)
			}
			clear(es[len(kept):])
			if len(kept) == 0 {
				delete(sh.fams, fam)
			} else {
				sh.fams[fam] = kept
			}
		}
		sh.mu.Unlock()
	}
}

// Flush removes everything, makes every outstanding Ticket stale, and
// every token issued until now suspect to Trusted.
func (c *Cache) Flush() {
	c.sus.reset(c.now())
	storeMax(&c.flushSeq, c.bump())
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.fams = make(map[string][]*entry)
		sh.n, sh.bytes = 0, 0
		sh.mu.Unlock()
	}
}

// SetLive switches the cache on (the invalidation channel is confirmed
// live) or into bypass (the channel is lost or not yet confirmed), where
// Get misses and Put stores nothing. Both flush the cache and make every
// outstanding Ticket stale: what was read before the channel was live may
// have missed an invalidation.
func (c *Cache) SetLive(live bool) {
	if !live {
		c.live.Store(false)
		c.Flush()
		return
	}
	c.Flush()
	c.live.Store(true)
}

// Len returns the number of cached entries, and their approximate bytes.
func (c *Cache) Len() (entries, bytes int) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		entries += sh.n
		bytes += sh.bytes
		sh.mu.RUnlock()
	}
	return entries, bytes
}
