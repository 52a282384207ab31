package tokencache_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/internal/tokencache"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// The Listener is what WatchInvalidations wants.
var _ redisstore.InvalidationHandler = tokencache.Listener{}

// probe is a Listener that also reports the families it dropped whose
// name starts with "probe-", after dropping them.
type probe struct {
	tokencache.Listener
	dropped chan string
}

func (p probe) InvalidateFamily(family string) {
	p.Listener.InvalidateFamily(family)
	if strings.HasPrefix(family, "probe-") {
		p.dropped <- family
	}
}

// node is one instance: a cache kept in step by its own subscriber.
type node struct {
	cache   *tokencache.Cache
	dropped chan string
	name    string // the subscriber's CLIENT SETNAME
	sub     redis.UniversalClient
}

type fixture struct {
	base   *redis.Client
	store  *redisstore.Store
	prefix string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	client, prefix := redistest.Client(t)
	base, ok := client.(*redis.Client)
	if !ok {
		t.Skipf("needs a single-node client, got %T", client)
	}
	s, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{base: base, store: s, prefix: prefix}
}

// startNode starts a cache and its watcher, subscribing through a client
// of its own named for CLIENT LIST, connected to addr ("" means the
// server's address).
func (f *fixture) startNode(t *testing.T, addr string) *node {
	t.Helper()
	bo := f.base.Options()
	opt := redis.Options{Addr: bo.Addr, Username: bo.Username, Password: bo.Password, DB: bo.DB, TLSConfig: bo.TLSConfig,
		ClientName: "tokencache-test-" + randomHex(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1}
	if addr != "" {
		opt.Addr = addr
	}
	sub := redis.NewClient(&opt)
	n := &node{cache: tokencache.New(tokencache.Options{}), dropped: make(chan string, 1024), name: opt.ClientName, sub: sub}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.store.WatchInvalidations(ctx, probe{tokencache.Listener{Cache: n.cache}, n.dropped},
			redisstore.WatchClient(sub), redisstore.WatchHealthInterval(200*time.Millisecond), redisstore.WatchBackoff(10*time.Millisecond, 100*time.Millisecond))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchInvalidations returned %v; want context.Canceled", err)
		}
		if n.cache.Live() {
			t.Errorf("cache still live after the watcher returned")
		}
		_ = sub.Close()
	})
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func tokenInfo(client string) *resource.TokenInfo {
	return &resource.TokenInfo{ClientID: client, UserID: "u1", Scopes: []string{"read"}, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
}

func put(n *node, family, sig, client string) {
	n.cache.Put(n.cache.Ticket(), family, opaque.Sum(sig), tokenInfo(client))
}

func cached(n *node, family, sig string) bool {
	_, ok := n.cache.Get(family, opaque.Sum(sig))
	return ok
}

// TestTwoCachesOneRedis: a PUBLISH of f:<family> or c:<client> drops the
// entries on both instances within a second; the propagation delay under
// load is logged (go test -v -run TestTwoCachesOneRedis).
func TestTwoCachesOneRedis(t *testing.T) {
	f := newFixture(t)
	a, b := f.startNode(t, ""), f.startNode(t, "")
	nodes := []*node{a, b}
	for _, n := range nodes {
		waitFor(t, "subscription live", 2*time.Second, n.cache.Live)
	}
	ctx := context.Background()

	for _, n := range nodes {
		put(n, "fam1", "sig1", "app1")
		put(n, "fam2", "sig2", "app2")
		put(n, "fam3", "sig3", "app1")
	}
	if err := f.store.PublishFamilyInvalidation(ctx, "fam1"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitFor(t, "f:fam1 dropped", time.Second, func() bool { return !cached(n, "fam1", "sig1") })
		if !cached(n, "fam2", "sig2") || !cached(n, "fam3", "sig3") {
			t.Fatalf("f:fam1 dropped other families")
		}
	}
	if err := f.store.PublishClientInvalidation(ctx, "app1"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitFor(t, "c:app1 dropped", time.Second, func() bool { return !cached(n, "fam3", "sig3") })
		if !cached(n, "fam2", "sig2") {
			t.Fatalf("c:app1 dropped app2's token")
		}
	}
	// An unknown message flushes.
	if err := f.base.Publish(ctx, f.store.InvalidationChannel(), "x:whatever").Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitFor(t, "unknown message flushes", time.Second, func() bool { return !cached(n, "fam2", "sig2") })
	}

	// Propagation under load: both caches serve hits and misses from a
	// goroutine each (spinning: together they keep the CPUs of a small
	// machine busy) while another publishes unrelated invalidations.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops atomic.Int64
	for _, n := range nodes {
		for g := range 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					fam, sig := fmt.Sprintf("load-%d", (g*131+i)%5000), fmt.Sprintf("s%d", (g*131+i)%5000)
					if !cached(n, fam, sig) {
						put(n, fam, sig, "app-load")
					}
					ops.Add(1)
					if i%1000 == 0 {
						runtime.Gosched()
					}
				}
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = f.store.PublishFamilyInvalidation(ctx, fmt.Sprintf("load-%d", i%5000))
			}
		}
	}()
	const rounds = 300
	start := time.Now()
	delays := measure(t, f, nodes, rounds, "busy")
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	server := "miniredis"
	if redistest.UsingRealServer() {
		server = "REDIS_URL"
	}
	t.Logf("propagation PUBLISH -> dropped on both caches (%s, %d rounds, %.0f cache ops/s alongside, ~1000 unrelated invalidations/s): p50 %v, p99 %v, max %v",
		server, rounds, float64(ops.Load())/elapsed.Seconds(), delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1])
	idle := measure(t, f, nodes, rounds, "idle")
	t.Logf("propagation PUBLISH -> dropped on both caches (%s, %d rounds, idle): p50 %v, p99 %v, max %v",
		server, rounds, idle[len(idle)/2], idle[len(idle)*99/100], idle[len(idle)-1])
}

// measure publishes rounds family invalidations one after the other and
// returns, sorted, how long each took to be dropped from every node's
// cache.
func measure(t *testing.T, f *fixture, nodes []*node, rounds int, tag string) []time.Duration {
	t.Helper()
	ctx := context.Background()
	delays := make([]time.Duration, 0, rounds)
	for i := range rounds {
		fam := fmt.Sprintf("probe-%s-%d", tag, i)
		for _, n := range nodes {
			put(n, fam, "sig", "app-probe")
		}
		t0 := time.Now()
		if err := f.store.PublishFamilyInvalidation(ctx, fam); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			select {
			case got := <-n.dropped:
				if got != fam {
					t.Fatalf("dropped %s; want %s", got, fam)
				}
			case <-time.After(time.Second):
				t.Fatalf("round %d: f:%s not delivered within 1s", i, fam)
			}
			if cached(n, fam, "sig") {
				t.Fatalf("round %d: %s still cached after its message", i, fam)
			}
		}
		delays = append(delays, time.Since(t0))
	}
	slices.Sort(delays)
	return delays
}

// killByName kills the connections named name with CLIENT KILL ID; only
// connections this test named are touched.
func killByName(t *testing.T, c *redis.Client, name string) int {
	t.Helper()
	ctx := context.Background()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	killed := 0
	for line := range strings.SplitSeq(list, "\n") {
		var id string
		named := false
		for field := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(field, "id="); ok {
				id = v
			}
			if field == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatalf("CLIENT KILL ID %s: %v", id, err)
			}
			killed++
		}
	}
	return killed
}

// TestChannelKilled: killing the subscriber's connection (CLIENT KILL on
// the real server; cutting it at a proxy on miniredis, which has no CLIENT
// KILL) flushes that cache and bypasses it until the subscription is
// confirmed again, then caching resumes. The other instance is untouched.
func TestChannelKilled(t *testing.T) {
	f := newFixture(t)
	var p *redistest.FaultProxy
	addr := ""
	if !redistest.UsingRealServer() {
		p = redistest.NewFaultProxy(t, f.base.Options().Addr)
		addr = p.Addr()
	}
	a, other := f.startNode(t, addr), f.startNode(t, "")
	for _, n := range []*node{a, other} {
		waitFor(t, "subscription live", 2*time.Second, n.cache.Live)
		put(n, "fam", "sig", "app")
	}
	// The watcher reports lost then live; record the states it goes
	// through, polling.
	sawBypass := make(chan struct{})
	go func() {
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if !a.cache.Live() {
				close(sawBypass)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	if p != nil {
		p.Set(redistest.Drop)
		p.Set(redistest.Pass)
	} else if n := killByName(t, f.base, a.name); n != 1 {
		t.Fatalf("killed %d connections named %s; want 1", n, a.name)
	}
	select {
	case <-sawBypass:
	case <-time.After(3 * time.Second):
		t.Fatalf("the cache never went into bypass after its channel was cut")
	}
	if cached(a, "fam", "sig") {
		t.Fatalf("entry survived the lost channel")
	}
	waitFor(t, "resubscribed", 3*time.Second, a.cache.Live)
	if cached(a, "fam", "sig") {
		t.Fatalf("entry from before the gap is back")
	}
	put(a, "fam", "sig", "app")
	if !cached(a, "fam", "sig") {
		t.Fatalf("caching did not resume after resubscription")
	}
	if !other.cache.Live() || !cached(other, "fam", "sig") {
		t.Fatalf("the other instance lost its cache")
	}
	// And the new subscription delivers.
	if err := f.store.PublishFamilyInvalidation(context.Background(), "fam"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, other} {
		waitFor(t, "f:fam dropped after resubscription", time.Second, func() bool { return !cached(n, "fam", "sig") })
	}
}

// TestOutage: while Redis is unreachable the cache stays in bypass (Get
// misses, Put stores nothing); when it is back the cache comes back on.
func TestOutage(t *testing.T) {
	f := newFixture(t)
	p := redistest.NewFaultProxy(t, f.base.Options().Addr)
	n := f.startNode(t, p.Addr())
	waitFor(t, "subscription live", 2*time.Second, n.cache.Live)
	put(n, "fam", "sig", "app")

	p.Set(redistest.Drop)
	waitFor(t, "bypass after the outage", 2*time.Second, func() bool { return !n.cache.Live() })
	for range 50 { // about a second of outage, with retries going on
		if n.cache.Live() {
			t.Fatalf("cache live again during the outage")
		}
		put(n, "fam", "sig", "app")
		if cached(n, "fam", "sig") {
			t.Fatalf("cache answered during the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Set(redistest.Pass)
	waitFor(t, "live after the outage", 3*time.Second, n.cache.Live)
	put(n, "fam", "sig", "app")
	if !cached(n, "fam", "sig") {
		t.Fatalf("caching did not resume after the outage")
	}
}

// TestNeverLive: a watcher that cannot reach Redis at all never lets the
// cache on.
func TestNeverLive(t *testing.T) {
	f := newFixture(t)
	dead := redistest.Unreachable(t)
	c := tokencache.New(tokencache.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := f.store.WatchInvalidations(ctx, tokencache.Listener{Cache: c}, redisstore.WatchClient(dead), redisstore.WatchBackoff(5*time.Millisecond, 20*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WatchInvalidations = %v; want context.DeadlineExceeded", err)
	}
	c.Put(c.Ticket(), "fam", opaque.Sum("sig"), tokenInfo("app"))
	if c.Live() {
		t.Fatalf("cache live without Redis")
	}
	if _, ok := c.Get("fam", opaque.Sum("sig")); ok {
		t.Fatalf("cache answered without Redis")
	}
}

func randomHex(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// BenchmarkRedisGET is what a cache hit saves: one GET of a small value,
// in parallel, on the REDIS_URL server (miniredis without it).
func BenchmarkRedisGET(b *testing.B) {
	client, prefix := redistest.Client(b)
	ctx := context.Background()
	key := prefix + "at:{fam}sig"
	if err := client.Set(ctx, key, strings.Repeat("x", 200), time.Hour).Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := client.Get(ctx, key).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
