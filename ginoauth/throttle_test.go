package ginoauth_test

import (
	"fmt"
	"net/url"
	"strconv"
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
