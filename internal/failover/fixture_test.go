package failover_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// clusterOptions are the client options an operator should use on a
// Redis Cluster: a dead node's commands fail within a few hundred
// milliseconds instead of tying up callers for seconds. go-redis dials a
// node up to DialerRetries times (default 5, 100 ms apart) on each of up
// to MaxRedirects+1 attempts (default 4), and a node client retries
// MaxRetries times more: the defaults make a lookup of a dead master's
// key take seconds.
func clusterOptions(t *testing.T, url string) *redis.ClusterOptions {
	t.Helper()
	opt, err := redis.ParseClusterURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DialTimeout = 200 * time.Millisecond
	opt.DialerRetries = 1
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.PoolTimeout = 500 * time.Millisecond
	opt.MaxRetries = 1
	opt.MaxRedirects = 3 // MOVED after a failover needs one
	opt.MinRetryBackoff = 8 * time.Millisecond
	opt.MaxRetryBackoff = 100 * time.Millisecond
	return opt
}

// app is an application whose record is on master.
type app struct {
	id, secret, master string
}

// fixture is a provider on a ClusterClient behind an HTTP server: the
// token endpoint under /o/ and a protected GET /api.
type fixture struct {
	cc     *redis.ClusterClient
	prefix string
	srv    *httptest.Server
	httpc  *http.Client
	apps   []app // one per master at least
}

func newFixture(t *testing.T, url string, waitReplicas int) *fixture {
	t.Helper()
	cc := redis.NewClusterClient(clusterOptions(t, url))
	t.Cleanup(func() { _ = cc.Close() })
	f := &fixture{cc: cc, prefix: "failover:" + randomHex(t) + ":"}
	opts := []redisstore.Option{redisstore.WithPrefix(f.prefix)}
	if waitReplicas > 0 {
		opts = append(opts, redisstore.WithWaitReplicas(waitReplicas, 250*time.Millisecond))
	}
	st, err := redisstore.New(cc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	// The provider logs every 503; the test counts them instead.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: []byte(randomHex(t) + randomHex(t)), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	gin.SetMode(gin.TestMode)
	r := gin.New()
	p.Mount(r)
	r.GET("/api", p.Middleware(), func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	f.srv = httptest.NewServer(r)
	t.Cleanup(f.srv.Close)
	f.httpc = &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}
	f.createApps(t, p)
	return f
}

// createApps creates client_credentials applications until every master
// holds the record of one.
func (f *fixture) createApps(t *testing.T, p *ginoauth.Provider) {
	t.Helper()
	ctx := t.Context()
	seen := map[string]bool{}
	for i := 0; i < 60 && len(seen) < 3; i++ {
		a, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
			Name: "failover", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
		})
		if err != nil {
			t.Fatal(err)
		}
		m := f.master(t, f.prefix+"app:"+a.ClientID)
		if !seen[m] {
			seen[m] = true
			f.apps = append(f.apps, app{id: a.ClientID, secret: secret, master: m})
		}
	}
	if len(seen) < 3 {
		t.Fatalf("application records on %d masters, want 3", len(seen))
	}
}

// master returns the address of the master holding key.
func (f *fixture) master(t *testing.T, key string) string {
	t.Helper()
	m, err := f.masterOf(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// masterOf returns the address of the master holding key, as the client's
// slot map has it.
func (f *fixture) masterOf(ctx context.Context, key string) (string, error) {
	n, err := f.cc.MasterForKey(ctx, key)
	if err != nil {
		return "", err
	}
	return n.Options().Addr, nil
}

// tokenKey is the key of an access token: <prefix>{<family>}a, the family
// being the 12 characters after "goat_".
func (f *fixture) tokenKey(tok string) string {
	return f.prefix + "{" + tok[len("goat_"):len("goat_")+12] + "}a"
}

// issue asks the token endpoint for a client_credentials token.
func (f *fixture) issue(ctx context.Context, a app) (int, string) {
	body := strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/o/token/", body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.id, a.secret)
	resp, err := f.httpc.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.AccessToken
}

// get calls the protected route with tok.
func (f *fixture) get(ctx context.Context, tok string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := f.httpc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// token is an issued access token: where its key and its application's
// record live, and when its issuance was asked for.
type token struct {
	tok, master, appMaster string
	issued                 time.Time
}

// issueMany issues n tokens, round robin over the applications, with 8
// concurrent requests.
func (f *fixture) issueMany(t *testing.T, n int) []token {
	t.Helper()
	var (
		mu  sync.Mutex
		out []token
		wg  sync.WaitGroup
	)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				a := f.apps[i%len(f.apps)]
				start := time.Now()
				code, tok := f.issue(t.Context(), a)
				if code != http.StatusOK {
					t.Errorf("issuing token %d: status %d", i, code)
					continue
				}
				m, err := f.masterOf(t.Context(), f.tokenKey(tok))
				if err != nil {
					t.Errorf("token %d: %v", i, err)
					continue
				}
				tk := token{tok: tok, master: m, appMaster: a.master, issued: start}
				mu.Lock()
				out = append(out, tk)
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
