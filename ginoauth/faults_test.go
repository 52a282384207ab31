package ginoauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestRedisStallsAndDrops: with a Redis that stops answering (Stall),
// drops every connection (Drop) or runs commands whose replies are lost
// (Mute), every request that needs it, issuance and validation alike, 16
// at once, answers 503 temporarily_unavailable with Retry-After within a
// bound set by the client's timeouts: never a 500, never a hang, never
// let through. A failed issuance leaves nothing half-written: with Stall
// and Drop no key at all (nor one written later, by a write that was
// answered 503 but still queued), with Mute only whole token records that
// expire. Once Redis is back the same provider serves again, with no
// restart.
func TestRedisStallsAndDrops(t *testing.T) {
	t.Parallel()
	upstream, prefix := redistest.Client(t)
	addr, ok := redistest.SingleAddr(upstream)
	if !ok {
		t.Skip("needs a single Redis node to put a proxy in front of (REDIS_CLUSTER_URL is set)")
	}
	proxy := redistest.NewFaultProxy(t, addr)
	// What an operator sets for a fast failure: half a second per command
	// and per connection, one retry (go-redis defaults to 5 s reads, 5 s
	// dials and 3 retries).
	const timeout = 500 * time.Millisecond
	opt := *upstream.(*redis.Client).Options() // its database and credentials
	opt.Addr, opt.Dialer = proxy.Addr(), nil   // the dialer would dial upstream
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	opt.MaxRetries = 1
	client := redis.NewClient(&opt)
	t.Cleanup(func() { _ = client.Close() })
	rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: rs, SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	srv := newServer(t, p)
	ctx := context.Background()
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second} // a hang shows as this
	issue := func() (*http.Response, map[string]string, time.Duration) {
		req, _ := http.NewRequest("POST", srv.URL+"/o/token/", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ClientID, secret)
		return send(t, hc, req)
	}
	validate := func(token string) (*http.Response, map[string]string, time.Duration) {
		req, _ := http.NewRequest("GET", srv.URL+"/api/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return send(t, hc, req)
	}
	res, body, _ := issue()
	if res.StatusCode != 200 {
		t.Fatalf("token before any fault: status = %d, want 200 (%v)", res.StatusCode, body)
	}
	token := body["access_token"]

	// Bound: a command gives up after its tries, each up to the read
	// timeout and a retry backoff; a request makes at most three in a row
	// (the application, unless cached; the pipeline ahead of its own, which
	// it waits for; its own), and the machine may be slow: 2 s more.
	bound := 3*time.Duration(opt.MaxRetries+1)*(opt.ReadTimeout+opt.MaxRetryBackoff) + 2*time.Second
	var slowest [2]time.Duration // token requests, protected GETs
	for _, fault := range []struct {
		name string
		f    redistest.Fault
	}{{"stall", redistest.Stall}, {"drop", redistest.Drop}, {"mute", redistest.Mute}} {
		before, err := redistest.Keys(ctx, upstream, prefix)
		if err != nil {
			t.Fatal(err)
		}
		proxy.Set(fault.f)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range 16 {
			wg.Go(func() {
				what := fmt.Sprintf("%s: token request", fault.name)
				do := issue
				if i%2 == 1 {
					what = fmt.Sprintf("%s: protected GET", fault.name)
					do = func() (*http.Response, map[string]string, time.Duration) { return validate(token) }
				}
				res, body, took := do()
				if res.StatusCode != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || res.Header.Get("Retry-After") == "" {
					t.Errorf("%s: got %d %v (Retry-After %q), want 503 temporarily_unavailable with Retry-After", what, res.StatusCode, body, res.Header.Get("Retry-After"))
				}
				if took > bound {
					t.Errorf("%s: answered after %v, want within %v", what, took.Round(time.Millisecond), bound)
				}
				mu.Lock()
				slowest[i%2] = max(slowest[i%2], took)
				mu.Unlock()
			})
		}
		wg.Wait()
		t.Logf("%s: slowest 503 of a token request %v, of a protected GET %v (bound %v)", fault.name,
			slowest[0].Round(time.Millisecond), slowest[1].Round(time.Millisecond), bound)
		slowest = [2]time.Duration{}
		time.Sleep(2 * timeout) // for a write that would still be on its way
		after, err := redistest.Keys(ctx, upstream, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var added []string
		for _, k := range after {
			if !slices.Contains(before, k) {
				added = append(added, k)
			}
		}
		if fault.f != redistest.Mute && len(added) > 0 {
			t.Errorf("%s: the failed requests left %d new keys (%q...), want none", fault.name, len(added), added[0])
		}
		for _, k := range added { // Mute: what Redis ran, unanswered
			if !strings.Contains(k, "}a") {
				t.Errorf("%s: a failed issuance left %q, want nothing but whole access token records", fault.name, k)
			}
			if ttl := upstream.PTTL(ctx, k).Val(); ttl <= 0 {
				t.Errorf("%s: %q left by a failed issuance: PTTL %v, want it to expire", fault.name, k, ttl)
			}
		}
		if fault.f == redistest.Mute {
			t.Logf("mute: %d access token records written by requests answered 503, each with its TTL", len(added))
		}
		proxy.Set(redistest.Pass)
		recovered := map[string]bool{} // the keys of the tokens issued meanwhile
		back := eventually(bound, func() bool {
			r1, b1, _ := issue()
			if r1.StatusCode == 200 {
				recovered[prefix+"{"+tokenKey(t, b1["access_token"]).Family+"}a"] = true
			}
			r2, _, _ := validate(token)
			return r1.StatusCode == 200 && r2.StatusCode == 200
		})
		if !back {
			t.Fatalf("%s: the provider does not serve again within %v of Redis coming back", fault.name, bound)
		}
		// Nothing answered 503 was still queued, to be written once Redis
		// came back: every key since is a token issued since.
		time.Sleep(2 * timeout)
		final, err := redistest.Keys(ctx, upstream, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range final {
			if !slices.Contains(after, k) && !recovered[k] {
				t.Errorf("%s: %q was written after Redis came back, by none of the requests made since", fault.name, k)
			}
		}
	}
}

// send runs req, and returns the response, its JSON body as strings, and
// how long it took. The body is read and closed.
func send(t *testing.T, hc *http.Client, req *http.Request) (*http.Response, map[string]string, time.Duration) {
	t.Helper()
	start := time.Now()
	res, err := hc.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return &http.Response{StatusCode: 0, Header: http.Header{}}, nil, time.Since(start)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	body := map[string]string{}
	var anyBody map[string]any
	if json.Unmarshal(raw, &anyBody) == nil {
		for k, v := range anyBody {
			if s, ok := v.(string); ok {
				body[k] = s
			}
		}
	}
	return res, body, time.Since(start)
}
