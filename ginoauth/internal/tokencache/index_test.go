package tokencache

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadIndexMatchesFamilies runs random Puts (replacing, overflowing a
// family, evicting), DropFamily, DropClient and Flush on a small cache,
// and after each checks that Get, which reads only the lock-free index,
// hits exactly the entries the shards' family maps hold, and that each
// index counts its taken slots right, stays under three quarters full
// (tombstones included) and within four slots an entry of the shard's
// bound.
func TestReadIndexMatchesFamilies(t *testing.T) {
	c, clk := newLive(t, Options{MaxEntries: 64})
	r := rand.New(rand.NewPCG(1, 2))
	const fams, sigs = 24, 300
	for op := range 20_000 {
		fam := fmt.Sprintf("f%d", r.IntN(fams))
		switch k := r.IntN(100); {
		case k < 80:
			c.Put(c.Ticket(), fam, sum(fmt.Sprint(r.IntN(sigs))), info(clk, fmt.Sprintf("app%d", r.IntN(4)), time.Hour+time.Duration(r.IntN(1000))))
		case k < 95:
			c.DropFamily(fam)
		case k < 99:
			c.DropClient(fmt.Sprintf("app%d", r.IntN(4)))
		default:
			c.Flush()
		}
		for i := range c.shards { // every op: the indexes' shape
			sh := &c.shards[i]
			if idx := sh.idx.Load(); idx != nil {
				taken := 0 // entries and tombstones
				for j := range idx.slots {
					if idx.slots[j].Load() != nil {
						taken++
					}
				}
				if taken != sh.used || 4*sh.used > 3*len(idx.slots) || len(idx.slots) > max(8, 4*c.maxShardN) {
					t.Fatalf("op %d: shard %d: %d slots taken, used %d, of %d slots (bound %d entries); want used = taken, at most 3/4 of the slots, at most max(8, 4 x the bound) slots",
						op, i, taken, sh.used, len(idx.slots), c.maxShardN)
				}
			}
		}
		if op%97 != 0 {
			continue
		}
		held := map[string]bool{} // family/digest the maps hold
		for i := range c.shards {
			sh := &c.shards[i]
			for f, es := range sh.fams {
				for _, e := range es {
					held[f+"/"+string(e.sig[:])] = true
				}
			}
		}
		for f := range fams {
			for s := range sigs {
				fam, d := fmt.Sprintf("f%d", f), sum(fmt.Sprint(s))
				_, hit := c.Get(fam, d)
				if want := held[fam+"/"+string(d[:])]; hit != want {
					t.Fatalf("op %d: Get(%s, %d) hit = %v; the family maps hold it: %v", op, fam, s, hit, want)
				}
			}
		}
	}
}

// TestDroppedStaysDropped: readers on every core hammer one family's
// tokens while a writer puts them back under a new client (a generation)
// and drops the family, again and again: a Get that starts after a
// generation's DropFamily returned never hits a token of that generation
// or an older one.
func TestDroppedStaysDropped(t *testing.T) {
	c, clk := newLive(t, Options{MaxEntries: 256})
	var gen atomic.Int64 // the generation whose entries may be hit
	var stop atomic.Bool
	var hits atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				g := gen.Load() // generations before g are dropped
				info, ok := c.Get("hot", sum(fmt.Sprint(i%8)))
				if ok {
					hits.Add(1)
					if got, _ := strconv.ParseInt(info.ClientID, 10, 64); got < g {
						t.Errorf("hit a token of generation %d after its drop returned", got)
						return
					}
				}
			}
		}()
	}
	for g := int64(0); g < 2000; g++ {
		for i := range 8 {
			c.Put(c.Ticket(), "hot", sum(fmt.Sprint(i)), info(clk, fmt.Sprint(g), time.Hour))
			c.Put(c.Ticket(), fmt.Sprintf("cold%d", (int(g)*8+i)%100), sum(fmt.Sprint(i)), info(clk, "cold", time.Hour))
		}
		c.DropFamily("hot")
		gen.Store(g + 1)
	}
	stop.Store(true)
	wg.Wait()
	if hits.Load() == 0 {
		t.Fatal("the readers never hit: nothing was checked")
	}
}
