package ginoauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
)

// TestRevokeAndIntrospectThrottled: the token endpoint's budgets
// (TokenRateLimit) apply to revocation and introspection too, so client
// secrets cannot be guessed there without limit: per address before the
// client is authenticated (failed attempts count), per client after. The
// request over the limit is 429 too_many_requests with Retry-After.
func TestRevokeAndIntrospectThrottled(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/o/revoke_token/", "/o/introspect/"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, kind string) {
				// Per address: 3 requests, whatever their credentials.
				e := newEnv(t, kind, func(c *ginoauth.Config) {
					c.TokenRateLimit = ginoauth.RateLimit{PerAddress: 3, Window: time.Minute}
				})
				form := url.Values{"token": {"goat_unknown"}}
				for i, cred := range [][]string{{e.confID, e.secret}, {e.confID, "guess1"}, {e.confID, "guess2"}} {
					r := e.post(path, form, cred, "")
					if r.status == 429 {
						t.Fatalf("request %d from the address: status = 429, want it allowed", i+1)
					}
				}
				r := e.post(path, form, []string{e.confID, "guess3"}, "")
				wantThrottled(t, "4th request from the address", r)

				// Per client: 2 requests of the authenticated client.
				e = newEnv(t, kind, func(c *ginoauth.Config) {
					c.TokenRateLimit = ginoauth.RateLimit{PerClient: 2, Window: time.Minute}
				})
				for i := range 2 {
					if r := e.post(path, form, []string{e.confID, e.secret}, ""); !wantStatus(t, fmt.Sprintf("request %d of the client", i+1), r, 200) {
						t.FailNow()
					}
				}
				wantThrottled(t, "3rd request of the client", e.post(path, form, []string{e.confID, e.secret}, ""))
			})
		})
	}
}

func wantThrottled(t *testing.T, what string, r resp) {
	t.Helper()
	wantError(t, what, r, 429, "too_many_requests")
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Errorf("%s: Retry-After = %q, want 1 to 60 seconds", what, r.header.Get("Retry-After"))
	}
}

// TestPublicClientBudgetPerAddress: a public client is identified by its
// client_id alone, which anyone may send, so its PerClient budget is
// counted per client and source address: one address spending it (bogus
// requests, from 203.0.113.1) gets 429, while the client's users at
// other addresses go on. A confidential client, which authenticated with
// its secret, keeps one budget across addresses. The per-address budget
// holds for both.
func TestPublicClientBudgetPerAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		public bool
		path   string // the endpoint spent from address A
		wantB  int    // status of the next request of the client from address B
	}{
		{"public client, token endpoint", true, "/o/token/", 200},
		{"public client, revocation", true, "/o/revoke_token/", 200},
		{"confidential client, token endpoint", false, "/o/token/", 429},
		{"confidential client, revocation", false, "/o/revoke_token/", 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, kind string) {
				e := newEnv(t, kind, func(c *ginoauth.Config) {
					c.TokenRateLimit = ginoauth.RateLimit{PerClient: 3, PerAddress: 5, Window: time.Hour}
				})
				client := []string{e.confID, e.secret}
				if tt.public {
					client = []string{e.pubID, ""}
				}
				from := func(addr, path string, form url.Values) resp {
					t.Helper()
					if path == "/o/revoke_token/" {
						form = url.Values{"token": {"goat_bogus"}}
					}
					form.Set("client_id", client[0])
					if client[1] != "" {
						form.Set("client_secret", client[1])
					}
					req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("X-Forwarded-For", addr)
					return e.do(req)
				}
				bogus := url.Values{"grant_type": {"authorization_code"}, "code": {"goac_bogus"}, "redirect_uri": {testRedirect}}
				for i := range 3 {
					if r := from("203.0.113.1", tt.path, bogus); r.status == 429 {
						t.Fatalf("bogus request %d from A: status 429, want it allowed (body %v)", i+1, r.body)
					}
				}
				wantThrottledHour(t, "4th request of the client from A", from("203.0.113.1", tt.path, bogus))
				password := url.Values{"grant_type": {"password"}, "username": {e.username}, "password": {e.password}}
				r := from("198.51.100.2", "/o/token/", password)
				if tt.wantB == 429 {
					wantThrottledHour(t, "the client's request from B", r)
				} else {
					wantStatus(t, "the client's request from B", r, tt.wantB)
				}
				// The per-address budget (5) still holds at A, for any client.
				from("203.0.113.1", "/o/token/", password)
				wantThrottledHour(t, "6th request from A, another client", from("203.0.113.1", "/o/token/", url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}}))
			})
		})
	}
}

// wantThrottledHour is wantThrottled for a window of an hour.
func wantThrottledHour(t *testing.T, what string, r resp) {
	t.Helper()
	wantError(t, what, r, 429, "too_many_requests")
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 3600 {
		t.Errorf("%s: Retry-After = %q, want 1 to 3600 seconds", what, r.header.Get("Retry-After"))
	}
}
