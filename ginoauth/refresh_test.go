package ginoauth_test

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

func (e *env) refresh(rt string) resp {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, []string{e.confID, e.secret})
}

// TestRefreshReuseRevokesGrant: a rotated refresh token presented again
// revokes every token of its grant (RFC 9700 4.14.2), by default.
func TestRefreshReuseRevokesGrant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		first := e.passwordToken("")
		second := e.refresh(first.str("refresh_token"))
		if second.status != 200 {
			t.Fatalf("refresh: %d %v", second.status, second.body)
		}
		if r := e.refresh(first.str("refresh_token")); r.str("error") != "invalid_grant" {
			t.Fatalf("reuse: %d %v", r.status, r.body)
		}
		if r := e.get("/api/whoami", second.str("access_token")); r.status != 401 {
			t.Fatalf("the grant's new access token survived the reuse: %d", r.status)
		}
		if r := e.refresh(second.str("refresh_token")); r.str("error") != "invalid_grant" {
			t.Fatalf("the grant's new refresh token survived the reuse: %d %v", r.status, r.body)
		}
	})
}

func TestRefreshReuseProtectionDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.DisableRefreshTokenReuseProtection = true })
	first := e.passwordToken("")
	second := e.refresh(first.str("refresh_token"))
	if r := e.refresh(first.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Fatalf("reuse: %d %v", r.status, r.body)
	}
	if r := e.get("/api/whoami", second.str("access_token")); r.status != 200 {
		t.Fatalf("without reuse protection the new pair must survive: %d", r.status)
	}
}

// TestRefreshGracePeriod: within the grace period a retry gets the very
// same pair (20 concurrent refreshes: one rotation, 20 identical answers);
// after it, a retry is a reuse.
func TestRefreshGracePeriod(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		now := time.Now()
		var clock atomic.Pointer[time.Time]
		clock.Store(&now)
		e := newEnv(t, kind, func(c *ginoauth.Config) {
			c.RefreshTokenGracePeriod = 30 * time.Second
			c.Now = func() time.Time { return *clock.Load() }
		})
		rt := e.passwordToken("").str("refresh_token")
		var wg sync.WaitGroup
		answers := make([]resp, 20)
		start := make(chan struct{})
		for i := range answers {
			wg.Go(func() { <-start; answers[i] = e.refresh(rt) })
		}
		close(start)
		wg.Wait()
		for i, a := range answers {
			if a.status != 200 || a.str("access_token") != answers[0].str("access_token") || a.str("refresh_token") != answers[0].str("refresh_token") {
				t.Fatalf("answer %d: %d %v; want the same pair as answer 0 (%v)", i, a.status, a.body, answers[0].body)
			}
		}
		if r := e.get("/api/whoami", answers[0].str("access_token")); r.status != 200 {
			t.Fatalf("the new access token: %d", r.status)
		}
		later := now.Add(31 * time.Second)
		clock.Store(&later)
		if r := e.refresh(rt); r.str("error") != "invalid_grant" {
			t.Fatalf("retry after the grace period: %d %v", r.status, r.body)
		}
		if r := e.get("/api/whoami", answers[0].str("access_token")); r.status != 401 {
			t.Fatalf("reuse after the grace period did not revoke the grant: %d", r.status)
		}
	})
}

// TestRetiredRecordHoldsNoToken: the pair kept for the grace period is
// sealed; the stored record does not contain it.
func TestRetiredRecordHoldsNoToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.RefreshTokenGracePeriod = time.Minute })
	rt := e.passwordToken("").str("refresh_token")
	next := e.refresh(rt)
	k := store.Key{Family: rt[len(opaque.RefreshPrefix) : len(opaque.RefreshPrefix)+opaque.FamilyLen], Signature: opaque.Signature(rt)}
	retired, err := e.st.GetRetiredRefreshToken(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if len(retired.Successor) == 0 {
		t.Fatal("no successor kept for the grace period")
	}
	for _, tok := range []string{next.str("access_token"), next.str("refresh_token")} {
		if bytes.Contains(retired.Successor, []byte(tok)) || bytes.Contains(retired.Successor, []byte(tok[5:25])) {
			t.Fatal("the retired record holds a usable token in clear")
		}
	}
}

func TestTokenRateLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *ginoauth.Config) {
			c.TokenRateLimit = ginoauth.RateLimit{PerClient: 3, PerAddress: 5, Window: time.Minute}
		})
		cc := url.Values{"grant_type": {"client_credentials"}}
		for i := range 3 {
			if r := e.token(cc, []string{e.confID, e.secret}); r.status != 200 {
				t.Fatalf("request %d: %d %v", i, r.status, r.body)
			}
		}
		r := e.token(cc, []string{e.confID, e.secret})
		secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != 429 || r.str("error") != "too_many_requests" || secs < 1 || secs > 60 {
			t.Fatalf("4th request of the client: %d %v Retry-After=%q", r.status, r.body, r.header.Get("Retry-After"))
		}
		// The address limit counts failed attempts too: the 5th request from
		// this address is a failed authentication, the 6th is refused before
		// any client authentication.
		if r := e.token(cc, []string{"nobody", "wrong"}); r.status != 401 {
			t.Fatalf("5th request from the address: %d %v", r.status, r.body)
		}
		if r := e.token(cc, []string{"nobody", "wrong"}); r.status != 429 {
			t.Fatalf("6th request from the address: %d %v", r.status, r.body)
		}
	})
}

// TestRefreshScopeCeiling: a refresh re-applies the application's current
// scope ceiling (AllowedScopes). Lowered since the grant, it leaves the new
// tokens only the old scopes it still allows; a request for a scope it no
// longer allows, or a grant none of whose scopes it allows, is
// invalid_scope, and does not use up the refresh token.
func TestRefreshScopeCeiling(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		setCeiling := func(scopes []string) {
			t.Helper()
			if _, err := e.p.UpdateApplication(context.Background(), e.confID, func(a *store.Application) error {
				a.AllowedScopes = scopes
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name    string
			ceiling []string // after the grant of "read write"
			scope   string   // the refresh request's
			want    string   // the new tokens' scope, or the error code
			err     bool
		}{
			{"ceiling unchanged", nil, "", "read write", false},
			{"ceiling still above the grant", []string{"read", "write", "admin"}, "read", "read", false},
			{"lowered, no scope asked", []string{"read", "admin"}, "", "read", false},
			{"lowered, both asked", []string{"write"}, "read write", "invalid_scope", true},
			{"lowered, the allowed one asked", []string{"read"}, "read", "read", false},
			{"lowered below what is asked", []string{"admin"}, "read write", "invalid_scope", true},
			{"lowered below the grant, no scope asked", []string{"admin"}, "", "invalid_scope", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				setCeiling(nil)
				rt := e.passwordToken("read write").str("refresh_token")
				setCeiling(tc.ceiling)
				f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
				if tc.scope != "" {
					f.Set("scope", tc.scope)
				}
				r := e.token(f, []string{e.confID, e.secret})
				if tc.err {
					if r.status != 400 || r.str("error") != tc.want {
						t.Fatalf("refresh: %d %v, want 400 %s", r.status, r.body, tc.want)
					}
					setCeiling(nil)
					if r := e.refresh(rt); r.status != 200 {
						t.Fatalf("refresh token used up by a refused refresh: %d %v", r.status, r.body)
					}
					return
				}
				if r.status != 200 || r.str("scope") != tc.want {
					t.Fatalf("refresh: %d %v, want scope %q", r.status, r.body, tc.want)
				}
				if w := e.get("/api/whoami", r.str("access_token")); w.status != 200 || w.str("scope") != tc.want {
					t.Fatalf("refreshed access token: %d %v, want scope %q", w.status, w.body, tc.want)
				}
			})
		}
	})
}
