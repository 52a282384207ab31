package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// serveOnRedis runs `demo serve` with args on a test Redis of its own and
// registers a confidential client_credentials application there with
// `demo createapplication`; it returns the server and the application.
// The server stops when the test ends.
func serveOnRedis(t *testing.T, args ...string) (*testServer, clientCreds) {
	t.Helper()
	env, _ := redisEnv(t)
	r := runCmd(t, env, "createapplication", "--json", "--redis", testRedisURL, "--name", "throttled", "confidential", "client-credentials")
	var creds map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &creds) != nil {
		t.Fatalf("createapplication: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return startServe(t, env, args...), clientCreds{creds["client_id"], creds["client_secret"]}
}

// TestTokenRateLimit: `demo serve --token-rate-limit N` lets a client make
// N token requests a minute, from one address, then answers 429 with
// Retry-After; failed client authentications count against the address
// too. The default is defaultTokenRateLimit; 0 is no limit.
func TestTokenRateLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		limit     int  // requests that pass in a window; 0: no limit
		badSecret bool // the first limit requests use a wrong client secret
	}{
		{"--token-rate-limit 3", []string{"--token-rate-limit", "3"}, 3, false},
		{"failed client authentication counts per address", []string{"--token-rate-limit", "3"}, 3, true},
		{"default", nil, defaultTokenRateLimit, false},
		{"--token-rate-limit 0: no limit", []string{"--token-rate-limit", "0"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A sliding window: the request past the limit is refused
			// whenever the requests fall.
			s, c := serveOnRedis(t, tt.args...)
			n := tt.limit
			if n == 0 {
				n = defaultTokenRateLimit + 50
			}
			for i := range n {
				secret, want := c.secret, http.StatusOK
				if tt.badSecret {
					secret, want = "wrong", http.StatusUnauthorized
				}
				r := s.tokenForm(basic(c.id, secret), url.Values{"grant_type": {"client_credentials"}})
				if r.status != want {
					t.Fatalf("request %d of %d: status %d, want %d; body %s", i+1, n, r.status, want, r.body)
				}
			}
			r := s.tokenForm(basic(c.id, c.secret), url.Values{"grant_type": {"client_credentials"}})
			if tt.limit == 0 {
				r.wantTokens(t)
				return
			}
			r.wantError(t, http.StatusTooManyRequests, "too_many_requests")
			retry, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || retry < 1 || retry > 60 {
				t.Errorf("Retry-After = %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

// TestTrustedProxy: behind `--trusted-proxy ADDR`, the per-address token
// budget counts the client X-Forwarded-For names when the peer is that
// proxy; without it the header is ignored, so a client cannot pick a new
// address for each guess by sending one.
func TestTrustedProxy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		args       []string
		wantOthers int // the status of another forwarded address once the first is spent
	}{
		{"no trusted proxy", nil, http.StatusTooManyRequests},
		{"--trusted-proxy 127.0.0.1", []string{"--trusted-proxy", "127.0.0.1"}, http.StatusUnauthorized},
		{"--trusted-proxy 127.0.0.0/8", []string{"--trusted-proxy", "127.0.0.0/8"}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := serveOnRedis(t, append([]string{"--token-rate-limit", "3"}, tt.args...)...)
			guess := func(from string) result {
				return s.do(http.MethodPost, "/o/token/", map[string]string{
					"Authorization": basic(c.id, "wrong"), "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": from,
				}, "grant_type=client_credentials")
			}
			for i := range 3 {
				if r := guess("203.0.113.1"); r.status != http.StatusUnauthorized {
					t.Fatalf("guess %d: status %d, want 401", i+1, r.status)
				}
			}
			if r := guess("203.0.113.1"); r.status != http.StatusTooManyRequests {
				t.Errorf("a fourth guess from the same address: status %d, want 429", r.status)
			}
			if r := guess("203.0.113.2"); r.status != tt.wantOthers {
				t.Errorf("a guess forwarded for another address: status %d, want %d", r.status, tt.wantOthers)
			}
		})
	}
}
