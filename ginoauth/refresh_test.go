package ginoauth_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
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
		if !wantStatus(t, "refresh", second, 200) {
			t.FailNow()
		}
		if !wantField(t, "reuse", e.refresh(first.str("refresh_token")), "error", "invalid_grant") {
			t.FailNow()
		}
		if !wantStatus(t, "the grant's new access token after the reuse", e.get("/api/whoami", second.str("access_token")), 401) {
			t.FailNow()
		}
		if !wantField(t, "the grant's new refresh token after the reuse", e.refresh(second.str("refresh_token")), "error", "invalid_grant") {
			t.FailNow()
		}
	})
}

// TestRefreshReuseWithoutRetiredRecord: a rotation files no retired record
// (with no grace period), and a rotated token is still recognised as a
// reuse from the family's live token, whichever path (the one-round-trip
// rotation, or the read-then-rotate path a scope parameter takes) rotated
// it and whichever presents it again; presented by another client it is
// refused without revoking anything.
func TestRefreshReuseWithoutRetiredRecord(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		for _, tc := range []struct {
			name           string
			rotate, replay string // the scope parameter of each ("": the one-round-trip path)
			other          bool   // replayed by another client
		}{
			{"fast, then fast", "", "", false},
			{"fast, then scope parameter", "", "read", false},
			{"scope parameter, then fast", "read write", "", false},
			{"scope parameter, then scope parameter", "read write", "read", false},
			{"replayed by another client", "", "", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, kind, nil)
				ctx := context.Background()
				rt := e.passwordToken("read write").str("refresh_token")
				form := func(rt, scope string) url.Values {
					f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
					if scope != "" {
						f.Set("scope", scope)
					}
					return f
				}
				next := e.token(form(rt, tc.rotate), []string{e.confID, e.secret})
				if !wantStatus(t, "refresh", next, 200) {
					t.FailNow()
				}
				k := store.Key{Family: rt[len(opaque.RefreshPrefix) : len(opaque.RefreshPrefix)+opaque.FamilyLen], Signature: opaque.Signature(rt)}
				x, err := e.st.GetRetiredRefreshToken(ctx, k)
				if err != nil {
					t.Fatalf("GetRetiredRefreshToken of the rotated token: %v", err)
				}
				if !x.RotatedAt.IsZero() || len(x.Successor) != 0 || x.ClientID != e.confID {
					t.Fatalf("retired record %+v: want none filed, only the one inferred from the live token (client %s)", x, e.confID)
				}
				creds := []string{e.confID, e.secret}
				if tc.other {
					app, secret, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{Name: "Other", ClientType: store.Confidential,
						GrantTypes: []string{store.GrantPassword, store.GrantRefreshToken}})
					if err != nil {
						t.Fatal(err)
					}
					creds = []string{app.ClientID, secret}
				}
				wantError(t, "the rotated token again", e.token(form(rt, tc.replay), creds), 400, "invalid_grant")
				want := 401 // the grant revoked
				if tc.other {
					want = 200 // another client may not revoke it
				}
				wantStatus(t, "the grant's new access token", e.get("/api/whoami", next.str("access_token")), want)
			})
		}
	})
}

func TestRefreshReuseProtectionDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.DisableRefreshTokenReuseProtection = true })
	first := e.passwordToken("")
	second := e.refresh(first.str("refresh_token"))
	if !wantField(t, "reuse", e.refresh(first.str("refresh_token")), "error", "invalid_grant") {
		t.FailNow()
	}
	if !wantStatus(t, "the new access token without reuse protection", e.get("/api/whoami", second.str("access_token")), 200) {
		t.FailNow()
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
			what := fmt.Sprintf("answer %d", i)
			ok := wantStatus(t, what, a, 200)
			ok = wantField(t, what+" (want answer 0's)", a, "access_token", answers[0].str("access_token")) && ok
			if !wantField(t, what+" (want answer 0's)", a, "refresh_token", answers[0].str("refresh_token")) || !ok {
				t.FailNow()
			}
		}
		if !wantStatus(t, "the new access token", e.get("/api/whoami", answers[0].str("access_token")), 200) {
			t.FailNow()
		}
		later := now.Add(31 * time.Second)
		clock.Store(&later)
		if !wantField(t, "retry after the grace period", e.refresh(rt), "error", "invalid_grant") {
			t.FailNow()
		}
		if !wantStatus(t, "the new access token after a reuse past the grace period", e.get("/api/whoami", answers[0].str("access_token")), 401) {
			t.FailNow()
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
		t.Fatal("retired record: Successor is empty, want the pair kept for the grace period")
	}
	for _, tok := range []string{next.str("access_token"), next.str("refresh_token")} {
		if bytes.Contains(retired.Successor, []byte(tok)) {
			t.Fatal("retired record: Successor contains a new token in clear, want it sealed")
		}
		if bytes.Contains(retired.Successor, []byte(tok[5:25])) {
			t.Fatal("retired record: Successor contains part of a new token in clear, want it sealed")
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
			if !wantStatus(t, fmt.Sprintf("request %d", i), e.token(cc, []string{e.confID, e.secret}), 200) {
				t.FailNow()
			}
		}
		r := e.token(cc, []string{e.confID, e.secret})
		secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
		ok := wantError(t, "4th request of the client", r, 429, "too_many_requests")
		if secs < 1 || secs > 60 {
			t.Errorf("4th request of the client: Retry-After = %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
			ok = false
		}
		if !ok {
			t.FailNow()
		}
		// The address limit counts failed attempts too: the 5th request from
		// this address is a failed authentication, the 6th is refused before
		// any client authentication.
		if !wantStatus(t, "5th request from the address", e.token(cc, []string{"nobody", "wrong"}), 401) {
			t.FailNow()
		}
		if !wantStatus(t, "6th request from the address", e.token(cc, []string{"nobody", "wrong"}), 429) {
			t.FailNow()
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
					if !wantError(t, "refresh", r, 400, tc.want) {
						t.FailNow()
					}
					setCeiling(nil)
					if !wantStatus(t, "refresh after a refused refresh", e.refresh(rt), 200) {
						t.FailNow()
					}
					return
				}
				ok := wantStatus(t, "refresh", r, 200)
				if !wantField(t, "refresh", r, "scope", tc.want) || !ok {
					t.FailNow()
				}
				w := e.get("/api/whoami", r.str("access_token"))
				ok = wantStatus(t, "refreshed access token", w, 200)
				if !wantField(t, "refreshed access token", w, "scope", tc.want) || !ok {
					t.FailNow()
				}
			})
		}
	})
}

// dropScope is a Config.NarrowScopes that drops one scope once armed is
// set: the grant is made with it, then the user may no longer hold it.
func dropScope(drop string, armed *atomic.Bool) func(context.Context, *store.Application, string, []string) ([]string, error) {
	return func(_ context.Context, _ *store.Application, _ string, scopes []string) ([]string, error) {
		if !armed.Load() {
			return scopes, nil
		}
		return slices.DeleteFunc(scopes, func(s string) bool { return s == drop }), nil
	}
}

// TestRefreshInOneStoreCall: a refresh that keeps the grant's scopes is
// one store call (store.RefreshRotator: read, check and rotate at once);
// one that asks for scopes, meets a lowered ceiling or needs a grace
// period's sealed answer reads the token first, then rotates it.
func TestRefreshInOneStoreCall(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		for _, tc := range []struct {
			name    string
			cfg     func(*ginoauth.Config)
			ceiling []string
			scope   string
			want    [3]int64 // RotateRefresh, GetRefreshToken, RotateRefreshToken calls
			scopes  string   // the new access token's; "" for "read write", narrowed by ceiling or scope
			// Config.NarrowScopes, when drop is set: it drops that scope
			// after the grant; narrowed is Config.NarrowedScopes.
			drop     string
			narrowed []string
		}{
			{"same scopes", nil, nil, "", [3]int64{1, 0, 0}, "", "", nil},
			{"ceiling above the grant", nil, []string{"read", "write", "admin"}, "", [3]int64{1, 0, 0}, "", "", nil},
			{"scope asked", nil, nil, "read", [3]int64{0, 1, 1}, "", "", nil},
			{"ceiling lowered", nil, []string{"read"}, "", [3]int64{1, 1, 1}, "", "", nil},
			{"grace period", func(c *ginoauth.Config) { c.RefreshTokenGracePeriod = time.Minute }, nil, "", [3]int64{0, 1, 1}, "", "", nil},
			{"with an Observer", func(c *ginoauth.Config) { c.Observer = &recorder{} }, nil, "", [3]int64{1, 0, 0}, "", "", nil},
			{"OIDC", func(c *ginoauth.Config) { c.OIDC.Enabled = true }, nil, "", [3]int64{1, 0, 0}, "", "", nil},
			// A claims hook may refuse the id_token, which must happen
			// before the rotation.
			{"OIDC claims hook", func(c *ginoauth.Config) {
				c.OIDC.Enabled = true
				c.OIDC.AdditionalClaims = func(_ context.Context, _ ginoauth.ClaimsRequest, claims map[string]any) (map[string]any, error) {
					return claims, nil
				}
			}, nil, "", [3]int64{0, 1, 1}, "", "", nil},
			// Config.NarrowScopes is asked at every refresh, unless
			// Config.NarrowedScopes says it cannot drop what the grant
			// holds.
			{"NarrowScopes", nil, nil, "", [3]int64{0, 1, 1}, "read", "write", nil},
			{"NarrowScopes, NarrowedScopes not held", nil, nil, "", [3]int64{1, 0, 0}, "", "admin", []string{"admin"}},
			{"NarrowScopes, NarrowedScopes held", nil, nil, "", [3]int64{1, 1, 1}, "read", "write", []string{"write"}},
			{"NarrowedScopes and a ceiling", nil, []string{"read", "write", "admin"}, "", [3]int64{1, 0, 0}, "", "admin", []string{"admin"}},
			{"every scope NarrowedScopes", nil, nil, "", [3]int64{0, 1, 1}, "", "admin", []string{"read", "write", "admin"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var armed atomic.Bool
				e := newEnv(t, kind, func(c *ginoauth.Config) {
					if tc.cfg != nil {
						tc.cfg(c)
					}
					if tc.drop != "" {
						c.NarrowScopes, c.NarrowedScopes = dropScope(tc.drop, &armed), tc.narrowed
					}
				})
				rt := e.passwordToken("read write").str("refresh_token")
				armed.Store(true)
				if _, err := e.p.UpdateApplication(context.Background(), e.confID, func(a *store.Application) error {
					a.AllowedScopes = tc.ceiling
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				e.st.inPlace.Store(0)
				e.st.refreshReads.Store(0)
				e.st.rotations.Store(0)
				f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
				if tc.scope != "" {
					f.Set("scope", tc.scope)
				}
				r := e.token(f, []string{e.confID, e.secret})
				if !wantStatus(t, "refresh", r, 200) {
					t.FailNow()
				}
				got := [3]int64{e.st.inPlace.Load(), e.st.refreshReads.Load(), e.st.rotations.Load()}
				if got != tc.want {
					t.Errorf("store calls (RotateRefresh, GetRefreshToken, RotateRefreshToken): got %v, want %v", got, tc.want)
				}
				w := e.get("/api/whoami", r.str("access_token"))
				if !wantStatus(t, "the new access token", w, 200) {
					t.FailNow()
				}
				want := "read write"
				if tc.scope != "" || len(tc.ceiling) == 1 {
					want = "read"
				}
				if tc.scopes != "" {
					want = tc.scopes
				}
				wantField(t, "the new access token", w, "scope", want)
				// The rotated token is now a reuse, whichever way it went,
				// but within a grace period, which answers the same pair.
				again := e.refresh(rt)
				if tc.name == "grace period" {
					wantField(t, "the rotated token again, within the grace period", again, "access_token", r.str("access_token"))
				} else {
					wantError(t, "the rotated token again", again, 400, "invalid_grant")
				}
			})
		}
	})
}
