package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/storetest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return New() })
}

func TestSocialLinksContract(t *testing.T) {
	t.Parallel()
	storetest.RunSocialLinks(t, func(t *testing.T) store.SocialLinks { return New() })
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func pair(clock *fakeClock, family, name string, atTTL, rtTTL time.Duration) (*store.AccessToken, *store.RefreshToken) {
	n := clock.Now()
	ak := store.Key{Family: family, Signature: "at-" + name}
	rk := store.Key{Family: family, Signature: "rt-" + name}
	at := &store.AccessToken{Key: ak, ClientID: "c", IssuedAt: n, ExpiresAt: n.Add(atTTL)}
	rt := &store.RefreshToken{Key: rk, ClientID: "c", IssuedAt: n}
	if rtTTL != 0 {
		rt.ExpiresAt = n.Add(rtTTL)
	}
	return at, rt
}

func TestFakeClockExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clock.Now))
	at, rt := pair(clock, "fam", "1", time.Hour, 2*time.Hour)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour - time.Nanosecond)
	if _, err := s.GetAccessToken(ctx, at.Key); err != nil {
		t.Fatalf("access token gone 1ns before its expiry: %v", err)
	}
	clock.Advance(time.Nanosecond)
	if _, err := s.GetAccessToken(ctx, at.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAccessToken at ExpiresAt: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetRefreshToken(ctx, rt.Key); err != nil {
		t.Fatalf("refresh token: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := s.GetRefreshToken(ctx, rt.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRefreshToken after ExpiresAt: got %v, want ErrNotFound", err)
	}
	at2, rt2 := pair(clock, "fam", "2", time.Hour, 0)
	if err := s.RotateRefreshToken(ctx, rt, nil, at2, rt2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RotateRefreshToken of an expired token: got %v, want ErrNotFound", err)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clock.Now))

	// Tokens that never expire (the refresh ones) and tokens that do.
	for i := range 1000 {
		at, rt := pair(clock, fmt.Sprint("f", i), fmt.Sprint(i), time.Minute, 0)
		if err := s.SaveTokens(ctx, at, rt); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	// Only access tokens that live a minute from now on.
	for i := range 5000 {
		at, _ := pair(clock, "x", fmt.Sprint("x", i), time.Minute, 0)
		if err := s.SaveTokens(ctx, at, nil); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			clock.Advance(time.Hour)
		}
	}
	s.mu.RLock()
	nAccess, nRefresh := len(s.access), len(s.refresh)
	s.mu.RUnlock()
	// 1000 live refresh tokens; of the 6000 access tokens written, all but
	// the last 1000 have expired, and sweeping keeps at most about as many
	// stale ones as live ones around.
	if nRefresh != 1000 {
		t.Fatalf("%d refresh tokens kept, want the 1000 that never expire", nRefresh)
	}
	if nAccess > 3000 {
		t.Fatalf("%d access tokens kept in memory; expired ones are not swept", nAccess)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	clock := &fakeClock{t: time.Now()}
	at, rt := pair(clock, "fam", "1", time.Hour, 0)
	noExp := *at
	noExp.ExpiresAt = time.Time{}
	noFam := *at
	noFam.Key.Family = ""
	otherFam := *rt
	otherFam.Key.Family = "other"

	cases := []struct {
		name string
		err  error
	}{
		{"CreateApplication(nil)", s.CreateApplication(ctx, nil)},
		{"CreateApplication(no ClientID)", s.CreateApplication(ctx, &store.Application{})},
		{"UpdateApplication(nil)", s.UpdateApplication(ctx, nil)},
		{"CreateUser(nil)", s.CreateUser(ctx, nil)},
		{"CreateUser(no username)", s.CreateUser(ctx, &store.User{ID: "u"})},
		{"SaveTokens(nil)", s.SaveTokens(ctx, nil, nil)},
		{"SaveTokens(no ExpiresAt)", s.SaveTokens(ctx, &noExp, nil)},
		{"SaveTokens(no Family)", s.SaveTokens(ctx, &noFam, nil)},
		{"SaveTokens(families differ)", s.SaveTokens(ctx, at, &otherFam)},
		{"RotateRefreshToken(nil old)", s.RotateRefreshToken(ctx, nil, nil, at, rt)},
	}
	for _, c := range cases {
		if !errors.Is(c.err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", c.name, c.err)
		}
	}
	if _, err := s.GetAccessToken(ctx, at.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a rejected save stored the access token: %v", err)
	}

	// Rotation into another family is refused and consumes nothing.
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	at2, rt2 := pair(clock, "other", "2", time.Hour, 0)
	if err := s.RotateRefreshToken(ctx, rt, nil, at2, rt2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("RotateRefreshToken into another family: got %v, want ErrInvalid", err)
	}
	if _, err := s.GetRefreshToken(ctx, rt.Key); err != nil {
		t.Fatalf("refused rotation consumed the old token: %v", err)
	}
}

func TestPingCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New().Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping(cancelled): got %v, want ErrUnavailable", err)
	}
}

func BenchmarkGetAccessToken(b *testing.B) {
	ctx := context.Background()
	s := New()
	clock := &fakeClock{t: time.Now()}
	at, rt := pair(clock, "fam", "1", time.Hour, 0)
	at.Scopes = []string{"read", "write"}
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetAccessToken(ctx, at.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestFakeClockFamilies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clock.Now))

	// A code is kept exactly until ExpiresAt + CodeRetention.
	code := &store.AuthorizationCode{Key: store.Key{Family: "fam", Signature: "c"}, ClientID: "c", ExpiresAt: clock.Now().Add(time.Minute)}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthorizationCode(ctx, code); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("saving a code twice: got %v, want ErrDuplicate", err)
	}
	clock.Advance(time.Minute + store.CodeRetention - time.Nanosecond)
	if _, err := s.GetAuthorizationCode(ctx, code.Key); err != nil {
		t.Fatalf("code gone 1ns before the end of its retention: %v", err)
	}
	clock.Advance(time.Nanosecond)
	if _, err := s.GetAuthorizationCode(ctx, code.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAuthorizationCode at the end of the retention: got %v, want ErrNotFound", err)
	}
	if err := s.ConsumeAuthorizationCode(ctx, code.Key, clock.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeAuthorizationCode at the end of the retention: got %v, want ErrNotFound", err)
	}
	// Its key is free again.
	code.ExpiresAt = clock.Now().Add(time.Minute)
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatalf("saving a code over one past its retention: %v", err)
	}

	// The grant expires with its last token; the retired record at its own
	// ExpiresAt.
	at, rt := pair(clock, "fam", "1", time.Hour, 2*time.Hour)
	at.UserID, rt.UserID = "u", "u"
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	created := clock.Now()
	clock.Advance(time.Minute)
	at2, rt2 := pair(clock, "fam", "2", time.Hour, 3*time.Hour)
	at2.UserID, rt2.UserID = "u", "u"
	retired := &store.RetiredRefreshToken{ClientID: "c", RotatedAt: clock.Now(), ExpiresAt: clock.Now().Add(10 * time.Minute)}
	if err := s.RotateRefreshToken(ctx, rt, retired, at2, rt2); err != nil {
		t.Fatal(err)
	}
	gs, err := s.ListGrants(ctx, store.GrantFilter{UserID: "u"})
	if err != nil || len(gs) != 1 {
		t.Fatalf("ListGrants = %v, %v; want one grant", gs, err)
	}
	if !gs[0].CreatedAt.Equal(created) || !gs[0].ExpiresAt.Equal(rt2.ExpiresAt) {
		t.Fatalf("grant created %v expiring %v, want %v and %v", gs[0].CreatedAt, gs[0].ExpiresAt, created, rt2.ExpiresAt)
	}
	clock.Advance(10*time.Minute - time.Nanosecond)
	if x, err := s.GetRetiredRefreshToken(ctx, rt.Key); err != nil || x.RotatedAt.IsZero() {
		t.Fatalf("filed retired record 1ns before its ExpiresAt: got %+v, %v; want the filed record", x, err)
	}
	clock.Advance(time.Nanosecond)
	// From then on the record is the one inferred from the live rt2.
	if x, err := s.GetRetiredRefreshToken(ctx, rt.Key); err != nil || !x.RotatedAt.IsZero() || !x.ExpiresAt.Equal(rt2.ExpiresAt) {
		t.Fatalf("GetRetiredRefreshToken at the filed record's ExpiresAt: got %+v, %v; want the record inferred from the live token", x, err)
	}
	clock.Advance(rt2.ExpiresAt.Sub(clock.Now()) - time.Nanosecond)
	if _, err := s.GetRetiredRefreshToken(ctx, rt.Key); err != nil {
		t.Fatalf("inferred retired record gone 1ns before the live token's expiry: %v", err)
	}
	if gs, _ := s.ListGrants(ctx, store.GrantFilter{UserID: "u"}); len(gs) != 1 {
		t.Fatal("grant gone 1ns before its last token expires")
	}
	clock.Advance(time.Nanosecond)
	if gs, _ := s.ListGrants(ctx, store.GrantFilter{UserID: "u"}); len(gs) != 0 {
		t.Fatalf("grant listed after its last token expired: %v", gs)
	}
	if _, err := s.GetRetiredRefreshToken(ctx, rt.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRetiredRefreshToken once the live token expired: got %v, want ErrNotFound", err)
	}
	// A new grant in the family (ids are not reused by the provider, but
	// the store must not resurrect the old grant's CreatedAt).
	at3, _ := pair(clock, "fam", "3", time.Hour, 0)
	at3.UserID = "u"
	if err := s.SaveTokens(ctx, at3, nil); err != nil {
		t.Fatal(err)
	}
	if gs, _ := s.ListGrants(ctx, store.GrantFilter{UserID: "u"}); len(gs) != 1 || !gs[0].CreatedAt.Equal(clock.Now()) {
		t.Fatalf("grant after its family was dead: %v, want one created now", gs)
	}
}

func TestFakeClockLimiter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// 50s into a minute: an epoch-aligned window would end in 10s.
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 50, 0, time.UTC)}
	s := New(WithClock(clock.Now))
	for i := range 2 {
		if ok, _, err := s.Allow(ctx, "k", 2, time.Minute); err != nil || !ok {
			t.Fatalf("Allow #%d = %v, %v", i+1, ok, err)
		}
		clock.Advance(5 * time.Second)
	}
	// 10s after the first event: 50s until it leaves the window.
	ok, retry, err := s.Allow(ctx, "k", 2, time.Minute)
	if err != nil || ok || retry != 50*time.Second {
		t.Fatalf("Allow #3 = %v, %v, %v; want refused with 50s until the first event leaves the window", ok, retry, err)
	}
	clock.Advance(50*time.Second - time.Nanosecond)
	if ok, retry, _ := s.Allow(ctx, "k", 2, time.Minute); ok || retry != time.Nanosecond {
		t.Fatalf("Allow 1ns before the first event leaves = %v, %v; want refused, 1ns", ok, retry)
	}
	clock.Advance(time.Nanosecond)
	if ok, _, _ := s.Allow(ctx, "k", 2, time.Minute); !ok {
		t.Fatal("Allow refused once the first event left the window")
	}
	// The second event (5s later) is still in the window, with the one just allowed.
	if ok, retry, _ := s.Allow(ctx, "k", 2, time.Minute); ok || retry != 5*time.Second {
		t.Fatalf("Allow with two events in the window = %v, %v; want refused, 5s", ok, retry)
	}
}

func TestSweepFamilies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clock.Now))
	for i := range 1000 {
		fam := fmt.Sprint("f", i)
		code := &store.AuthorizationCode{Key: store.Key{Family: fam, Signature: "c"}, ClientID: "c", ExpiresAt: clock.Now().Add(time.Minute)}
		if err := s.SaveAuthorizationCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		at, rt := pair(clock, fam, "1", time.Minute, time.Minute)
		if err := s.SaveTokens(ctx, at, rt); err != nil {
			t.Fatal(err)
		}
		at2, rt2 := pair(clock, fam, "2", time.Minute, time.Minute)
		retired := &store.RetiredRefreshToken{ClientID: "c", ExpiresAt: clock.Now().Add(time.Minute)}
		if err := s.RotateRefreshToken(ctx, rt, retired, at2, rt2); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Allow(ctx, fmt.Sprint("ip", i), 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.RevokeFamily(ctx, fam); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Advance(time.Hour) // everything expired, codes' retention and tombstones included
	for i := range 5000 {
		at, _ := pair(clock, "x", fmt.Sprint("x", i), time.Minute, 0)
		if err := s.SaveTokens(ctx, at, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.codes) != 0 || len(s.retired) != 0 || len(s.refresh) != 0 || len(s.windows) != 0 || len(s.revoked) != 0 {
		t.Fatalf("expired records kept: %d codes, %d retired, %d refresh tokens, %d limiter windows, %d tombstones", len(s.codes), len(s.retired), len(s.refresh), len(s.windows), len(s.revoked))
	}
	if len(s.access) != 1 {
		t.Fatalf("%d access tokens kept, want only family x's", len(s.access))
	}
}

func TestInvalidFamilies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	clock := &fakeClock{t: time.Now()}
	at, rt := pair(clock, "fam", "1", time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	at2, rt2 := pair(clock, "fam", "2", time.Hour, 0)
	_, _, allowNoKey := s.Allow(ctx, "", 1, time.Second)
	_, _, allowNoLimit := s.Allow(ctx, "k", 0, time.Second)
	_, _, allowNoWindow := s.Allow(ctx, "k", 1, 0)
	_, listNoFilter := s.ListGrants(ctx, store.GrantFilter{})
	cases := []struct {
		name string
		err  error
	}{
		{"Rotate(retired under another key)", s.RotateRefreshToken(ctx, rt, &store.RetiredRefreshToken{Key: rt2.Key, ExpiresAt: time.Now().Add(time.Hour)}, at2, rt2)},
		{"Rotate(retired without ExpiresAt)", s.RotateRefreshToken(ctx, rt, &store.RetiredRefreshToken{}, at2, rt2)},
		{"SaveAuthorizationCode(nil)", s.SaveAuthorizationCode(ctx, nil)},
		{"SaveAuthorizationCode(no Family)", s.SaveAuthorizationCode(ctx, &store.AuthorizationCode{Key: store.Key{Signature: "s"}, ExpiresAt: time.Now().Add(time.Hour)})},
		{"SaveAuthorizationCode(no ExpiresAt)", s.SaveAuthorizationCode(ctx, &store.AuthorizationCode{Key: store.Key{Family: "f", Signature: "s"}})},
		{"Allow(empty key)", allowNoKey},
		{"Allow(limit 0)", allowNoLimit},
		{"Allow(window 0)", allowNoWindow},
		{"ListGrants(zero filter)", listNoFilter},
	}
	for _, c := range cases {
		if !errors.Is(c.err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", c.name, c.err)
		}
	}
	if _, err := s.GetRefreshToken(ctx, rt.Key); err != nil {
		t.Fatalf("a refused rotation consumed the old token: %v", err)
	}
}

// TestFakeClockTombstone: a revoked family refuses writes for
// store.RevokedFamilyRetention, or until its longest-lived record would
// have expired (records that never expire aside), and no longer; revoking
// again does not shorten that.
func TestFakeClockTombstone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clock.Now))
	n := 0
	// save stores a new pair of tokens in family.
	save := func(family string) error {
		n++
		at, rt := pair(clock, family, fmt.Sprint(n), time.Minute, 0)
		return s.SaveTokens(ctx, at, rt)
	}
	revoke := func(family string) {
		if err := s.RevokeFamily(ctx, family); err != nil {
			t.Fatal(err)
		}
	}
	// wantRevokedUntil checks that family refuses a save just before until
	// and takes one at until, moving the clock there.
	start := clock.Now()
	wantRevokedUntil := func(family string, until time.Time) {
		t.Helper()
		clock.Advance(until.Add(-time.Nanosecond).Sub(clock.Now()))
		if err := save(family); !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("%s: SaveTokens %v before the tombstone ends at +%v: %v, want ErrRevoked", family, clock.Now().Sub(start), until.Sub(start), err)
		}
		clock.Advance(time.Nanosecond)
		if err := save(family); err != nil {
			t.Fatalf("%s: SaveTokens when the tombstone ends at +%v: %v", family, until.Sub(start), err)
		}
	}

	// Nothing in the family, or only records that die sooner or never.
	revoke("empty")
	at, rt := pair(clock, "never", "n", time.Minute, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	revoke("never")
	// A consumed code: until its ExpiresAt + CodeRetention.
	code := &store.AuthorizationCode{Key: store.Key{Family: "code", Signature: "c"}, ClientID: "c", ExpiresAt: clock.Now().Add(5 * time.Minute)}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeAuthorizationCode(ctx, code.Key, clock.Now()); err != nil {
		t.Fatal(err)
	}
	revoke("code")
	// A 48h refresh token and a retired record kept 72h.
	at, rt = pair(clock, "long", "l1", time.Minute, 48*time.Hour)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	at2, rt2 := pair(clock, "long", "l2", time.Minute, 48*time.Hour)
	if err := s.RotateRefreshToken(ctx, rt, &store.RetiredRefreshToken{ClientID: "c", ExpiresAt: clock.Now().Add(72 * time.Hour)}, at2, rt2); err != nil {
		t.Fatal(err)
	}
	revoke("long")

	wantRevokedUntil("empty", start.Add(store.RevokedFamilyRetention))
	wantRevokedUntil("never", start.Add(store.RevokedFamilyRetention))
	wantRevokedUntil("code", start.Add(5*time.Minute+store.CodeRetention))
	clock.Advance(time.Hour)
	revoke("long") // again, with nothing left: keeps the 72h
	wantRevokedUntil("long", start.Add(72*time.Hour))
}
