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
