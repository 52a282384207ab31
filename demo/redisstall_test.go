package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestServeRedisStall: demo serve on a single Redis that stops answering
// (a proxy in front of it reads the commands and never answers). With the
// demo's client defaults (singleOptions: one-second timeouts, one retry)
// a token request and a protected request answer 503
// temporarily_unavailable within seconds, not go-redis's default tens of
// seconds, and serve answers again once Redis does, without a restart.
func TestServeRedisStall(t *testing.T) {
	if redistest.UsingCluster() {
		t.Skip("puts a proxy in front of one Redis server (REDIS_CLUSTER_URL is set)")
	}
	t.Parallel()
	upstream, prefix := redistest.Client(t)
	addr, _ := redistest.SingleAddr(upstream)
	proxy := redistest.NewFaultProxy(t, addr)
	o := upstream.(*redis.Client).Options()
	u := url.URL{Scheme: "redis", Host: proxy.Addr(), Path: fmt.Sprint("/", o.DB)}
	if o.Password != "" {
		u.User = url.UserPassword(o.Username, o.Password) // REDIS_URL's credentials
	}
	redisURL := u.String()
	env := &runEnv{getenv: keyEnv, prefix: prefix}
	r := runCmd(t, env, "createapplication", "--redis", redisURL, "--json", "confidential", "client-credentials")
	var app struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &app) != nil {
		t.Fatalf("createapplication: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var errOut syncBuffer
	e := *env
	e.stdout, e.stderr, e.logger = &syncBuffer{}, &errOut, testLogger(t)
	srv, _ := runServe(t, &e, &errOut, "--redis", redisURL, "--bench", "--validation-cache=false")

	hc := &http.Client{Timeout: time.Minute} // a hang shows as this
	send := func(req *http.Request) (int, string, time.Duration) {
		start := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		defer res.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Error, time.Since(start)
	}
	issue := func() (int, string, time.Duration) {
		req, _ := http.NewRequest("POST", srv.url+tokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ID, app.Secret)
		return send(req)
	}
	tk := srv.tokenForm(basic(app.ID, app.Secret), url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}).wantTokens(t)
	protected := func() (int, string, time.Duration) {
		req, _ := http.NewRequest("GET", srv.url+"/bench/protected", nil)
		req.Header.Set("Authorization", "Bearer "+tk.access)
		return send(req)
	}
	if st, _, _ := protected(); st != http.StatusOK {
		t.Fatalf("protected GET before the stall: %d, want 200", st)
	}

	proxy.Set(redistest.Stall)
	// A request makes at most four Redis commands in a row (the token
	// endpoint's rate limiter, the application, the pipeline queued ahead
	// of its own, its own), each at most two tries of a second plus a
	// backoff: 12 s leaves room for a slow machine; go-redis's defaults
	// would allow 4 x 4 tries of 5 s.
	const bound = 12 * time.Second
	for _, c := range []struct {
		name string
		do   func() (int, string, time.Duration)
	}{{"token request", issue}, {"protected GET", protected}} {
		st, code, took := c.do()
		if st != http.StatusServiceUnavailable || code != "temporarily_unavailable" || took > bound {
			t.Errorf("%s with Redis stalled: %d %q after %v; want 503 temporarily_unavailable within %v", c.name, st, code, took.Round(time.Millisecond), bound)
		} else {
			t.Logf("%s with Redis stalled: 503 after %v", c.name, took.Round(time.Millisecond))
		}
	}
	proxy.Set(redistest.Pass)
	deadline := time.Now().Add(bound)
	for {
		st1, _, _ := issue()
		st2, _, _ := protected()
		if st1 == http.StatusOK && st2 == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve does not answer again %v after Redis did: token %d, protected GET %d", bound, st1, st2)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
