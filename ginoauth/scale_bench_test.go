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
// client_credentials issuance stays flat as the store fills: it seeds 1
// thousand, then 100 thousand, then 1 million live access tokens through
// the store (SaveTokens, as issued tokens are saved), and at each level
// runs a fixed-duration load of each operation through the HTTP handlers,
// reporting throughput and the 99th percentile latency. docs/benchmarks.md
// compares the levels (1M against 1k).
//
// It needs a real Redis and an EMPTY database, BENCH_REDIS_URL (default
// redis://127.0.0.1:6379/12), which it flushes when it ends; it skips when
// REDIS_URL is unset (the miniredis fallback would measure miniredis).
// SCALE_LEVELS overrides the levels (comma separated), SCALE_SECONDS the
// length of each load (default 5):
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test ./ginoauth -run '^$' -bench Scale -benchtime 1x
func BenchmarkScale(b *testing.B) {
	if os.Getenv("REDIS_URL") == "" {
		b.Skip("BenchmarkScale needs a real Redis: set REDIS_URL (and BENCH_REDIS_URL to an empty database)")
	}
	rdb := benchRedis(b)
	st, err := redisstore.New(rdb, redisstore.WithPrefix("scale:"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
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
	tokenRequest := func() *http.Request {
		req := httptest.NewRequest("POST", "/o/token/", strings.NewReader("grant_type=client_credentials"))
		req.SetBasicAuth(app.ClientID, secret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, tokenRequest())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: status = %d, body %s", w.Code, w.Body)
	}

	seeded := 0
	for _, level := range scaleLevels(b) {
		seedTokens(b, st, app.ClientID, level-seeded)
		seeded = level
		b.Run(fmt.Sprintf("tokens=%d/validate", level), func(b *testing.B) {
			runLoad(b, r, func() *http.Request {
				req := httptest.NewRequest("GET", "/protected", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				return req
			})
		})
		b.Run(fmt.Sprintf("tokens=%d/issue", level), func(b *testing.B) {
			runLoad(b, r, tokenRequest)
		})
	}
}

// benchRedis connects to BENCH_REDIS_URL and checks that its database is
// empty; the database is flushed when the benchmark ends.
func benchRedis(b *testing.B) *redis.Client {
	b.Helper()
	url := os.Getenv("BENCH_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/12"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatalf("BENCH_REDIS_URL: %v", err)
	}
	opt.PoolSize = 64
	rdb := redis.NewClient(opt)
	ctx := context.Background()
	n, err := rdb.DBSize(ctx).Result()
	if err != nil {
		b.Fatalf("BENCH_REDIS_URL %s: %v", url, err)
	}
	if n != 0 {
		b.Fatalf("BENCH_REDIS_URL %s holds %d keys; the benchmark flushes its database, so it needs an empty one", url, n)
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
// and reports the throughput and the 99th percentile latency.
func runLoad(b *testing.B, r *gin.Engine, newRequest func() *http.Request) {
	seconds := 5
	if s := os.Getenv("SCALE_SECONDS"); s != "" {
		if _, err := fmt.Sscan(s, &seconds); err != nil || seconds < 1 {
			b.Fatalf("SCALE_SECONDS: %q is not a positive number", s)
		}
	}
	const workers = 16
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	lat := make([][]time.Duration, workers)
	var bad atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
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
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no request completed")
	}
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d requests did not answer 200", n, len(all))
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
}
