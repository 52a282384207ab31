package tokencache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// sum is the digest the cache is keyed by, of a test's token name.
func sum(token string) opaque.Digest { return opaque.Sum(token) }

type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func info(c *clock, client string, ttl time.Duration) *resource.TokenInfo {
	return &resource.TokenInfo{ClientID: client, UserID: "u1", Username: "alice", Scopes: []string{"read", "write"}, IssuedAt: c.now(), ExpiresAt: c.now().Add(ttl)}
}

func newLive(t *testing.T, o Options) (*Cache, *clock) {
	t.Helper()
	clk := newClock()
	o.Now = clk.now
	c := New(o)
	c.SetLive(true)
	return c, clk
}

func mustHit(t *testing.T, c *Cache, fam, sig string) *resource.TokenInfo {
	t.Helper()
	got, ok := c.Get(fam, sum(sig))
	if !ok {
		t.Fatalf("Get(%s, %s): miss; want a hit", fam, sig)
	}
	return got
}

func mustMiss(t *testing.T, c *Cache, fam, sig string) {
	t.Helper()
	if _, ok := c.Get(fam, sum(sig)); ok {
		t.Fatalf("Get(%s, %s): hit; want a miss", fam, sig)
	}
}

func TestBypassUntilLive(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.now})
	c.Put(c.Ticket(), "f1", sum("s1"), info(clk, "app", time.Hour))
	mustMiss(t, c, "f1", "s1")
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("bypassed cache holds %d entries; want 0", n)
	}
	c.SetLive(true)
	c.Put(c.Ticket(), "f1", sum("s1"), info(clk, "app", time.Hour))
	got := mustHit(t, c, "f1", "s1")
	if got.ClientID != "app" || got.Username != "alice" || len(got.Scopes) != 2 {
		t.Fatalf("hit = %+v; want the stored info", got)
	}
	c.SetLive(false)
	mustMiss(t, c, "f1", "s1")
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("after SetLive(false) the cache holds %d entries; want 0 (flushed)", n)
	}
	c.Put(c.Ticket(), "f1", sum("s1"), info(clk, "app", time.Hour))
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("Put in bypass stored %d entries; want 0", n)
	}
}

func TestExpiryAndMaxAge(t *testing.T) {
	c, clk := newLive(t, Options{MaxAge: 10 * time.Second})
	c.Put(c.Ticket(), "f1", sum("short"), info(clk, "app", 3*time.Second))
	c.Put(c.Ticket(), "f1", sum("long"), info(clk, "app", time.Hour))
	clk.advance(3*time.Second - 1)
	mustHit(t, c, "f1", "short")
	clk.advance(1)
	mustMiss(t, c, "f1", "short") // at ExpiresAt
	mustHit(t, c, "f1", "long")
	clk.advance(7 * time.Second)
	mustMiss(t, c, "f1", "long") // MaxAge
	c.Put(c.Ticket(), "f1", sum("dead"), info(clk, "app", 0))
	mustMiss(t, c, "f1", "dead")
}

func TestDropFamilyClientFlush(t *testing.T) {
	c, clk := newLive(t, Options{})
	for i := range 50 {
		c.Put(c.Ticket(), fmt.Sprintf("f%d", i%10), sum(fmt.Sprintf("s%d", i)), info(clk, fmt.Sprintf("app%d", i%3), time.Hour))
	}
	c.DropFamily("f3")
	for i := range 50 {
		fam, sig := fmt.Sprintf("f%d", i%10), fmt.Sprintf("s%d", i)
		if i%10 == 3 {
			mustMiss(t, c, fam, sig)
		} else {
			mustHit(t, c, fam, sig)
		}
	}
	c.DropClient("app1")
	for i := range 50 {
		fam, sig := fmt.Sprintf("f%d", i%10), fmt.Sprintf("s%d", i)
		if i%10 == 3 || i%3 == 1 {
			mustMiss(t, c, fam, sig)
		} else {
			mustHit(t, c, fam, sig)
		}
	}
	if n, _ := c.Len(); n != 50-5-17+2 { // f3 has 5, app1 has 17, 2 in both
		t.Fatalf("Len = %d; want %d", n, 50-5-17+2)
	}
	c.Flush()
	mustMiss(t, c, "f0", "s0")
	if n, b := c.Len(); n != 0 || b != 0 {
		t.Fatalf("after Flush Len = %d, %d bytes; want 0, 0", n, b)
	}
}

// TestStaleTicket: an invalidation between the Ticket (taken before the
// store read) and the Put keeps the Put out of the cache.
func TestStaleTicket(t *testing.T) {
	c, clk := newLive(t, Options{})
	// Client invalidations are kept per stripe: another client must fall
	// in another stripe than "app" (the seed is random), or the test flakes.
	other := "other-app"
	for i := 0; c.clientStripe(other) == c.clientStripe("app"); i++ {
		other = fmt.Sprintf("other-app-%d", i)
	}
	cases := []struct {
		name       string
		invalidate func()
		stored     bool
	}{
		{"same family", func() { c.DropFamily("f1") }, false},
		{"same client", func() { c.DropClient("app") }, false},
		{"flush", c.Flush, false},
		{"channel lost and back", func() { c.SetLive(false); c.SetLive(true) }, false},
		{"other client", func() { c.DropClient(other) }, true},
	}
	for _, tc := range cases {
		tk := c.Ticket()
		tc.invalidate()
		c.Put(tk, "f1", sum("s1"), info(clk, "app", time.Hour))
		if _, ok := c.Get("f1", sum("s1")); ok != tc.stored {
			t.Errorf("%s: stored = %v; want %v", tc.name, ok, tc.stored)
		}
		c.Flush()
	}
}

func TestBounds(t *testing.T) {
	t.Run("entries", func(t *testing.T) {
		c, clk := newLive(t, Options{MaxEntries: 1000})
		for i := range 10_000 {
			c.Put(c.Ticket(), fmt.Sprintf("f%d", i), sum(fmt.Sprintf("s%d", i)), info(clk, "app", time.Hour))
		}
		if n, _ := c.Len(); n > 1000 || n < 500 {
			t.Fatalf("Len = %d; want at most 1000 (and not much less)", n)
		}
		mustHit(t, c, "f9999", "s9999")
	})
	t.Run("bytes", func(t *testing.T) {
		c, clk := newLive(t, Options{MaxBytes: 64 << 10})
		for i := range 10_000 {
			c.Put(c.Ticket(), fmt.Sprintf("f%d", i), sum(fmt.Sprintf("s%d", i)), info(clk, "app", time.Hour))
		}
		if _, b := c.Len(); b > 64<<10 || b < 32<<10 {
			t.Fatalf("bytes = %d; want at most %d (and not much less)", b, 64<<10)
		}
	})
	t.Run("per family", func(t *testing.T) {
		c, clk := newLive(t, Options{})
		for i := range 20 {
			c.Put(c.Ticket(), "f", sum(fmt.Sprintf("s%d", i)), info(clk, "app", time.Hour+time.Duration(i)))
		}
		if n, _ := c.Len(); n != maxPerFamily {
			t.Fatalf("Len = %d; want %d", n, maxPerFamily)
		}
		mustHit(t, c, "f", "s19")
	})
	t.Run("replace", func(t *testing.T) {
		c, clk := newLive(t, Options{})
		c.Put(c.Ticket(), "f", sum("s"), info(clk, "a", time.Hour))
		c.Put(c.Ticket(), "f", sum("s"), info(clk, "b", time.Hour))
		if n, _ := c.Len(); n != 1 {
			t.Fatalf("Len = %d; want 1", n)
		}
		if got := mustHit(t, c, "f", "s"); got.ClientID != "b" {
			t.Fatalf("ClientID = %q; want b", got.ClientID)
		}
	})
}

// TestConcurrent runs every operation at once, for the race detector, and
// checks that a family dropped after all its Puts returned stays dropped.
func TestConcurrent(t *testing.T) {
	c, clk := newLive(t, Options{MaxEntries: 2000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				fam, sig := fmt.Sprintf("f%d", (g*7+i)%500), fmt.Sprintf("s%d-%d", g, i%50)
				if _, ok := c.Get(fam, sum(sig)); !ok {
					c.Put(c.Ticket(), fam, sum(sig), info(clk, fmt.Sprintf("app%d", i%5), time.Hour))
				}
				switch i % 500 {
				case 1:
					c.DropFamily(fam)
				case 2:
					c.DropClient("app3")
				case 3:
					if g == 0 {
						c.SetLive(false)
						c.SetLive(true)
					}
				}
			}
		}()
	}
	wg.Wait()
	c.DropClient("app1")
	for i := range 500 {
		for g := range 8 {
			for j := range 50 {
				if got, ok := c.Get(fmt.Sprintf("f%d", i), sum(fmt.Sprintf("s%d-%d", g, j))); ok && got.ClientID == "app1" {
					t.Fatalf("an entry of a dropped client survived")
				}
			}
		}
	}
}

// BenchmarkGetHit is the cost of a cache hit under parallel load: 10 000
// cached tokens, each goroutine walking them in its own order. Compare
// with BenchmarkRedisGET (redis_test.go), one GET round trip.
func BenchmarkGetHit(b *testing.B) {
	clk := &clock{}
	clk.t.Store(time.Now().UnixNano())
	c := New(Options{Now: time.Now})
	c.SetLive(true)
	const n = 10_000
	fams, sigs := make([]string, n), make([]opaque.Digest, n)
	for i := range n {
		fams[i], sigs[i] = fmt.Sprintf("fam%09d", i), sum(fmt.Sprint(i))
		c.Put(c.Ticket(), fams[i], sigs[i], info(clk, "app", 1000*time.Hour))
	}
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		for pb.Next() {
			i = (i + 7) % n
			if _, ok := c.Get(fams[i], sigs[i]); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkPut is the cost of filling the cache after a store read,
// evictions included (the cache holds at most 1 000 entries).
func BenchmarkPut(b *testing.B) {
	clk := &clock{}
	clk.t.Store(time.Now().UnixNano())
	c := New(Options{MaxEntries: 1000, Now: time.Now})
	c.SetLive(true)
	in := info(clk, "app", 1000*time.Hour)
	var seed atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := seed.Add(1)
		i := 0
		for pb.Next() {
			i++
			c.Put(c.Ticket(), fmt.Sprintf("f%d-%d", g, i), sum("sig"), in)
		}
	})
	if n, _ := c.Len(); n == 0 {
		b.Fatal("nothing stored")
	}
}

// TestAudience: an entry keeps the token's Audience (RFC 8707), so a hit
// lets the middleware check it; the copy a hit returns cannot change the
// entry by appending; and the audience counts towards the entry's size.
func TestAudience(t *testing.T) {
	c, clk := newLive(t, Options{})
	in := info(clk, "app", time.Hour)
	in.Audience = []string{"https://a.example.com/", "urn:b"}
	c.Put(c.Ticket(), "f1", sum("s1"), in)
	got := mustHit(t, c, "f1", "s1")
	if len(got.Audience) != 2 || got.Audience[0] != "https://a.example.com/" || got.Audience[1] != "urn:b" {
		t.Fatalf("hit: Audience = %q, want %q", got.Audience, in.Audience)
	}
	_ = append(got.Audience, "https://evil.example.com/")
	if again := mustHit(t, c, "f1", "s1"); len(again.Audience) != 2 {
		t.Fatalf("after appending to a hit's Audience: cached Audience = %q, want %q", again.Audience, in.Audience)
	}
	_, withAud := c.Len()
	c2, clk2 := newLive(t, Options{})
	c2.Put(c2.Ticket(), "f1", sum("s1"), info(clk2, "app", time.Hour))
	_, without := c2.Len()
	if withAud <= without {
		t.Errorf("bytes of an entry with an audience: %d, without: %d; want the audience counted", withAud, without)
	}
}
