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
// maintain on hits.
//
// A hit takes no lock: each shard also keeps a read index of its entries
// by digest (an open-addressing table of atomic pointers), which only the
// shard's writers change, under the shard's lock, and which Get reads with
// atomic loads. A token read on every core at once (a busy client's) then
// shares no written cache line between the cores, as a read lock's
// counter would.
package tokencache

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
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
// the entry struct (224 bytes, the digest inside), its slot in the family
// slice, its share of the family map and of the read index.
const entryOverhead = 296

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
	// The fields above are what every Get reads; the ones below change
	// with each invalidation, so they start on another cache line.
	_ [64]byte
	// seq counts invalidations; a Ticket is its value before a store read,
	// and Put refuses a ticket older than any invalidation that could
	// concern its entry (flushSeq, the shard's dropSeq, the client stripe).
	seq      atomic.Uint64
	flushSeq atomic.Uint64
	clients  [clientStripes]atomic.Uint64

	sus *suspects // for Trusted

	// tomb marks a read-index slot whose entry was removed.
	tomb *entry
}

const clientStripes = 256

// shard is written under mu; Get reads only idx, without the lock. idx
// has a cache line of its own (128 bytes a shard, two lines), so that the
// writers' fields changing does not evict it from the readers' caches.
type shard struct {
	idx     atomic.Pointer[table] // nil: empty
	_       [56]byte
	mu      sync.Mutex
	fams    map[string][]*entry
	n       int    // entries
	bytes   int    // approximate bytes of the entries
	dropSeq uint64 // seq of the last DropFamily on this shard
	used    int    // slots of idx not nil: entries and tombstones
	_       [16]byte
}

type entry struct {
	sig      opaque.Digest
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
		tomb:      &entry{},
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
// and digest, if it is cached, the cache is live, and neither the token's
// ExpiresAt nor the entry's MaxAge has passed. The copy's Scopes and
// Audience share the cached arrays (clipped, so appending copies): do not
// modify their elements. Get takes no lock.
func (c *Cache) Get(family string, digest opaque.Digest) (*resource.TokenInfo, bool) {
	if !c.live.Load() {
		return nil, false
	}
	hit := c.shardOf(family).idx.Load().lookup(family, digest, c.tomb)
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
// digest, unless the cache is in bypass, an invalidation of the family,
// of info.ClientID or of everything happened since t was taken, or the
// token is already expired. It copies the strings it keeps; info.Scopes and
// info.Audience are kept as they are: the caller must not modify them
// afterwards.
func (c *Cache) Put(t Ticket, family string, digest opaque.Digest, info *resource.TokenInfo) {
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
		sig:      digest,
		family:   strings.Clone(family),
		info:     *info,
		deadline: deadline.UnixNano(),
	}
	e.size = entryOverhead + len(e.family) + len(info.ClientID) + len(info.UserID) + len(info.Username) + len(info.JKT)
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
		if old.sig == digest {
			sh.n--
			sh.bytes -= old.size
			sh.unindex(old, c.tomb)
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
		sh.unindex(es[j], c.tomb)
		es = append(es[:j], es[j+1:]...)
	}
	sh.fams[family] = es // family may be evicted below; reinserted after
	for sh.n+1 > c.maxShardN || sh.bytes+e.size > c.maxShardB {
		if !sh.evictOne(c.tomb) {
			break
		}
	}
	sh.fams[family] = append(sh.fams[family], e)
	sh.n++
	sh.bytes += e.size
	sh.index(e, c.tomb)
}

// evictOne removes, among the entries of a few families the map's
// randomised iteration yields, the one that expires first. It reports
// whether it removed anything.
func (sh *shard) evictOne(tomb *entry) bool {
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
	sh.unindex(es[victim], tomb)
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
		sh.unindex(e, c.tomb)
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
					sh.unindex(e, c.tomb)
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
		sh.idx.Store(nil)
		sh.used = 0
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
		sh.mu.Lock()
		entries += sh.n
		bytes += sh.bytes
		sh.mu.Unlock()
	}
	return entries, bytes
}

// table is a shard's read index: its entries by digest, in open addressing
// with linear probing. Only the shard's writers change it, under the
// shard's lock; Get reads it with atomic loads alone. A removed entry
// leaves a tombstone, so that the probes of the entries after it go on.
// When entries and tombstones would fill three quarters of the slots, the
// writer builds a new table from the shard's families and publishes it: a
// Get that loaded the old one answers as if it had run just before.
type table struct {
	slots []atomic.Pointer[entry] // a power of two of them
}

// home is where the probe for digest starts; a SHA-256 is uniform, so its
// first bytes are hash enough (and only tokens the store accepted are
// cached, so their digests are not an attacker's choice).
func home(d opaque.Digest, slots int) int {
	return int(binary.LittleEndian.Uint64(d[:8]) & uint64(slots-1))
}

// lookup returns the entry of family and digest, or nil; t may be nil
// (empty).
func (t *table) lookup(family string, d opaque.Digest, tomb *entry) *entry {
	if t == nil {
		return nil
	}
	mask := len(t.slots) - 1
	for i, n := home(d, len(t.slots)), 0; n < len(t.slots); i, n = (i+1)&mask, n+1 {
		switch e := t.slots[i].Load(); {
		case e == nil:
			return nil
		case e != tomb && e.sig == d && e.family == family:
			return e
		}
	}
	return nil
}

// index adds e, already in sh.fams, to the read index. Under sh.mu.
func (sh *shard) index(e, tomb *entry) {
	t := sh.idx.Load()
	if t == nil || 4*(sh.used+1) > 3*len(t.slots) {
		sh.reindex() // from sh.fams, e included
		return
	}
	mask := len(t.slots) - 1
	for i := home(e.sig, len(t.slots)); ; i = (i + 1) & mask {
		switch old := t.slots[i].Load(); old {
		case nil:
			sh.used++
			fallthrough
		case tomb:
			t.slots[i].Store(e)
			return
		}
	}
}

// unindex replaces e in the read index with a tombstone. Under sh.mu.
func (sh *shard) unindex(e, tomb *entry) {
	t := sh.idx.Load()
	if t == nil {
		return
	}
	mask := len(t.slots) - 1
	for i, n := home(e.sig, len(t.slots)), 0; n < len(t.slots); i, n = (i+1)&mask, n+1 {
		switch t.slots[i].Load() {
		case nil:
			return
		case e:
			t.slots[i].Store(tomb)
			return
		}
	}
}

// reindex publishes a new read index of the shard's entries, with at least
// twice as many slots as entries (and at least 8). Under sh.mu.
func (sh *shard) reindex() {
	size := 1 << bits.Len(uint(max(8, 2*sh.n)-1))
	t := &table{slots: make([]atomic.Pointer[entry], size)}
	used := 0
	for _, es := range sh.fams {
		for _, e := range es {
			for i := home(e.sig, size); ; i = (i + 1) & (size - 1) {
				if t.slots[i].Load() == nil {
					t.slots[i].Store(e)
					used++
					break
				}
			}
		}
	}
	sh.idx.Store(t)
	sh.used = used
}
