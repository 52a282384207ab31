package ginoauth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// BenchmarkScale measures whether the cost of a protected GET and of a
// client_credentials issuance stays flat as the store fills. Each level
// (1 thousand, 100 thousand and 1 million live access tokens by default)
// is a store of its own in a Redis database of its own, seeded through the
// store (SaveTokens, as issued tokens are saved). The loads then run
// interleaved, round by round (each level's validation, then each level's
// issuance, SCALE_ROUNDS times after a warm-up round), so that a change
// in the machine's load falls on every level alike; each is a
// fixed-duration load through the HTTP handlers reporting throughput and
// the 99th percentile latency.
// After the rounds, tokens=N/validate and tokens=N/issue report each
// level's medians and, for every level above the first, their ratios to
// the first's (x-first for throughput, p99-x-first for latency).
// docs/benchmarks.md compares 1M against 1k.
//
// It needs a real Redis and EMPTY databases: BENCH_REDIS_URL (default
// redis://127.0.0.1:6379/12) names the first level's, the next levels take
// the next numbers (13 and 14 by default); each is flushed when it ends.
// It skips when REDIS_URL is unset (the miniredis fallback would measure
// miniredis). SCALE_LEVELS overrides the levels (comma separated),
// SCALE_SECONDS the length of each load (default 5) and SCALE_ROUNDS the
// rounds counted (default 5):
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test ./ginoauth -run '^$' -bench Scale -benchtime 1x -timeout 30m
func BenchmarkScale(b *testing.B) {
	if os.Getenv("REDIS_URL") == "" {
		b.Skip("BenchmarkScale needs a real Redis: set REDIS_URL (and BENCH_REDIS_URL to an empty database)")
	}
	levels := scaleLevels(b)
	rounds := envInt(b, "SCALE_ROUNDS", 5)
	var ls []*scaleLevel
	for i, n := range levels {
		l := scaleServer(b, benchRedis(b, i))
		l.n = n
		ls = append(ls, l)
	}
	// Seed all, then let the seeding's after-effects pass once.
	for _, l := range ls {
		seedTokens(b, l.st, l.clientID, l.n)
	}
	settle(b, ls[0].st)

	type result struct{ rate, p99 []float64 }
	res := map[string]*result{}
	// Round 0 warms up and is not counted: issuing adds keys, and the
	// first load past a power of two (2^20 keys is just above the 1M
	// level) makes Redis rehash its whole key space during that load, a
	// one-off cost of growth, not of size, which a store that holds 1M
	// live tokens (issuing as many as expire) does not pay again. It is
	// logged, so its cost stays visible.
	for round := 0; round <= rounds; round++ {
		for _, op := range []string{"validate", "issue"} {
			for _, l := range ls {
				req := l.validate
				if op == "issue" {
					req = l.issue
				}
				rate, p99 := runLoad(b, l.r, req)
				name := fmt.Sprintf("tokens=%d/%s", l.n, op)
				b.Logf("round %d %s: %.0f req/s, p99 %.3f ms", round, name, rate, p99)
				if round == 0 {
					continue
				}
				if res[name] == nil {
					res[name] = &result{}
				}
				res[name].rate = append(res[name].rate, rate)
				res[name].p99 = append(res[name].p99, p99)
			}
		}
	}
	for _, op := range []string{"validate", "issue"} {
		first := res[fmt.Sprintf("tokens=%d/%s", ls[0].n, op)]
		for _, l := range ls {
			name := fmt.Sprintf("tokens=%d/%s", l.n, op)
			got := res[name]
			b.Run(name, func(b *testing.B) {
				b.ReportMetric(median(got.rate), "req/s")
				b.ReportMetric(median(got.p99), "p99-ms")
				if l.n != ls[0].n {
					b.ReportMetric(median(got.rate)/median(first.rate), "x-first")
					b.ReportMetric(median(got.p99)/median(first.p99), "p99-x-first")
				}
			})
		}
	}
}

// scaleLevel is one level of BenchmarkScale: a store of n tokens of
// clientID, the server on it and the requests of its two loads.
type scaleLevel struct {
	n               int
	st              store.Store
	clientID        string
	r               *gin.Engine
	validate, issue func() *http.Request
}

// scaleServer is BenchmarkScale's server on rdb: a provider, an
// application, a token of it for the protected GET, and the two requests.
func scaleServer(b *testing.B, rdb *redis.Client) *scaleLevel {
	b.Helper()
	st, err := redisstore.New(rdb, redisstore.WithPrefix("scale:"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	r.GET("/protected", p.Middleware(), func(c *gin.Context) {
		if _, ok := resource.TokenFromContext(c); !ok {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.JSON(http.StatusOK, gin.H{"hello": "world"})
	})
	issue := func() *http.Request {
		req := httptest.NewRequest("POST", "/o/token/", strings.NewReader("grant_type=client_credentials"))
		req.SetBasicAuth(app.ClientID, secret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, issue())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: status = %d, body %s", w.Code, w.Body)
	}
	validate := func() *http.Request {
		req := httptest.NewRequest("GET", "/protected", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return req
	}
	return &scaleLevel{st: st, clientID: app.ClientID, r: r, validate: validate, issue: issue}
}

// benchRedis connects to database BENCH_REDIS_URL's number plus offset
// and checks that it is empty; it is flushed when the benchmark ends.
func benchRedis(b *testing.B, offset int) *redis.Client {
	b.Helper()
	url := os.Getenv("BENCH_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/12"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatalf("BENCH_REDIS_URL: %v", err)
	}
	opt.DB += offset
	opt.PoolSize = 64
	rdb := redis.NewClient(opt)
	ctx := context.Background()
	n, err := rdb.DBSize(ctx).Result()
	if err != nil {
		b.Fatalf("BENCH_REDIS_URL %s, database %d: %v", url, opt.DB, err)
	}
	if n != 0 {
		b.Fatalf("Redis database %d holds %d keys; the benchmark flushes its databases, so it needs empty ones (BENCH_REDIS_URL %s and the next)", opt.DB, n, url)
	}
	b.Cleanup(func() {
		_ = rdb.FlushDB(context.Background()).Err()
		_ = rdb.Close()
	})
	return rdb
}

func scaleLevels(b *testing.B) []int {
	s := os.Getenv("SCALE_LEVELS")
	if s == "" {
		return []int{1_000, 100_000, 1_000_000}
	}
	var levels []int
	for f := range strings.SplitSeq(s, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			b.Fatalf("SCALE_LEVELS: %q is not a positive number", f)
		}
		levels = append(levels, n)
	}
	slices.Sort(levels)
	return levels
}

// seedTokens saves n live client_credentials access tokens of clientID,
// as the token endpoint saves them, from 32 goroutines.
func seedTokens(b *testing.B, st store.Store, clientID string, n int) {
	b.Helper()
	if n <= 0 {
		return
	}
	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			ctx := context.Background()
			for next.Add(1) <= int64(n) {
				now := time.Now()
				at := &store.AccessToken{
					Key:       store.Key{Family: randomFamily(), Signature: randomSignature()},
					ClientID:  clientID,
					Scopes:    []string{"read", "write"},
					IssuedAt:  now,
					ExpiresAt: now.Add(10 * time.Hour),
				}
				if err := st.SaveTokens(ctx, at, nil); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("seeding: %d of %d saves failed", f, n)
	}
	b.Logf("seeded %d tokens in %v", n, time.Since(start).Round(time.Millisecond))
	settle(b, st)
}

// settle lets the seeding's after-effects pass before a level is measured,
// so that the level measures a store of that size, not the minutes after
// filling it: Redis rehashes its key space incrementally after it grew
// (activerehashing, a millisecond in every 100), and the seeding left
// garbage for the collector.
func settle(b *testing.B, st store.Store) {
	b.Helper()
	runtime.GC()
	if err := st.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	time.Sleep(3 * time.Second)
}

// randomFamily returns a family shaped as the opaque codec's: 9 random
// bytes, base64url.
func randomFamily() string {
	var f [9]byte
	_, _ = rand.Read(f[:])
	return base64.RawURLEncoding.EncodeToString(f[:])
}

// randomSignature returns a signature shaped as opaque.Signature's: a hex
// SHA-256.
func randomSignature() string {
	var s [32]byte
	_, _ = rand.Read(s[:])
	return hex.EncodeToString(s[:])
}

// runLoad sends requests from 16 goroutines for SCALE_SECONDS (default 5)
// and returns the throughput (requests a second) and the 99th percentile
// latency (ms).
func runLoad(b *testing.B, r *gin.Engine, newRequest func() *http.Request) (rate, p99 float64) {
	b.Helper()
	seconds := envInt(b, "SCALE_SECONDS", 5)
	const workers = 16
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	lat := make([][]time.Duration, workers)
	var bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req := newRequest()
				t0 := time.Now()
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				lat[i] = append(lat[i], time.Since(t0))
				if w.Code != http.StatusOK {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no request completed")
	}
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d requests did not answer 200", n, len(all))
	}
	return float64(len(all)) / elapsed.Seconds(), float64(all[len(all)*99/100].Microseconds()) / 1000
}

// envInt is the positive number in environment variable name, or def.
func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
		b.Fatalf("%s: %q is not a positive number", name, s)
	}
	return n
}

// median is the median of xs (the mean of the middle two for an even
// count); xs is sorted in place.
func median(xs []float64) float64 {
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
