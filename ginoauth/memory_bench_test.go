package ginoauth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// memBenchDB is the database BenchmarkMemoryPerToken runs in; it refuses
// to run unless the database is empty, and deletes its keys after.
const memBenchDB = 11

// memBenchUsers is how many users the password grants are spread over, so
// that each user's grant index stays small (as it is in practice).
const memBenchUsers = 100

// BenchmarkMemoryPerToken measures Redis memory (INFO memory used_memory)
// per token issued through the HTTP token endpoint: b.N client_credentials
// tokens, then b.N password-grant pairs (access + refresh), on a
// redisstore under a random prefix in database 11 of REDIS_URL's server.
// Run it with a fixed count, e.g.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' \
//	  -bench BenchmarkMemoryPerToken -benchtime 10000x ./ginoauth
//
// It reports B/cc_token and B/password_pair.
func BenchmarkMemoryPerToken(b *testing.B) {
	raw := os.Getenv("REDIS_URL")
	if raw == "" {
		b.Skip("REDIS_URL not set")
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		b.Fatal(err)
	}
	opt.DB = memBenchDB
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	if n, err := rdb.DBSize(ctx).Result(); err != nil {
		b.Fatal(err)
	} else if n != 0 {
		b.Fatalf("database %d holds %d keys; the benchmark runs only in an empty database", memBenchDB, n)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "membench" + hex.EncodeToString(rnd[:]) + ":"
	defer memBenchClean(b, rdb, prefix)

	st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	if err != nil {
		b.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{
		Store:     st,
		SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		Scopes:    map[string]string{"read": "Read", "write": "Write"},
		// The defaults: 10 hours for access tokens; a refresh token
		// lifetime, so that every key has a TTL.
		RefreshTokenExpire: 30 * 24 * time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "bench", ClientType: store.Confidential,
		GrantTypes: []string{store.GrantPassword, store.GrantClientCredentials},
	})
	if err != nil {
		b.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	for i := range memBenchUsers {
		u := &store.User{ID: fmt.Sprint("user", i), Username: fmt.Sprint("name", i), PasswordHash: string(hash), IsActive: true}
		if err := st.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	r := gin.New()
	p.Mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	tokenURL := srv.URL + "/o/token/"
	issue := func(form url.Values) {
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(secret))
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("token endpoint: status %d", resp.StatusCode)
		}
	}
	// One of each first, so that scripts, the application and users are
	// loaded and cached before the baseline.
	issue(url.Values{"grant_type": {"client_credentials"}})
	issue(url.Values{"grant_type": {"password"}, "username": {"name0"}, "password": {"pw"}})

	b.ResetTimer()
	before := memBenchUsed(b, rdb)
	for range b.N {
		issue(url.Values{"grant_type": {"client_credentials"}})
	}
	mid := memBenchUsed(b, rdb)
	for i := range b.N {
		issue(url.Values{"grant_type": {"password"}, "username": {fmt.Sprint("name", i%memBenchUsers)}, "password": {"pw"}})
	}
	after := memBenchUsed(b, rdb)
	b.StopTimer()
	b.ReportMetric(float64(mid-before)/float64(b.N), "B/cc_token")
	b.ReportMetric(float64(after-mid)/float64(b.N), "B/password_pair")
}

// memBenchUsed returns the server's used_memory.
func memBenchUsed(b *testing.B, rdb *redis.Client) int64 {
	b.Helper()
	time.Sleep(100 * time.Millisecond) // let client buffers settle
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}

// memBenchClean deletes every key under prefix.
func memBenchClean(b *testing.B, rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Unlink(ctx, batch...)
	}
	if err := iter.Err(); err != nil {
		b.Errorf("cleaning up %s*: %v", prefix, err)
	}
}
