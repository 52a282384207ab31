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
// hits exactly the entries the shards' family maps hold, and that no
// index is ever full (tombstones included).
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
		if op%97 != 0 {
			continue
		}
		held := map[string]bool{} // family/digest the maps hold
		for i := range c.shards {
			sh := &c.shards[i]
			if idx := sh.idx.Load(); idx != nil && idx.used >= len(idx.slots) {
				t.Fatalf("op %d: shard %d: index full (%d slots)", op, i, len(idx.slots))
			}
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
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				g := gen.Load() // generations before g are dropped
				info, ok := c.Get("hot", sum(fmt.Sprint(i%8)))
				if ok {
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
}
