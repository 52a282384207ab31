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
	at := &store.AccessToken{Key: ak, ClientID: "c", Refresh: rk, IssuedAt: n, ExpiresAt: n.Add(atTTL)}
	rt := &store.RefreshToken{Key: rk, ClientID: "c", Access: ak, IssuedAt: n}
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
	if err := s.RotateRefreshToken(ctx, rt, at2, rt2); !errors.Is(err, store.ErrNotFound) {
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
		{"RotateRefreshToken(nil old)", s.RotateRefreshToken(ctx, nil, at, rt)},
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
	if err := s.RotateRefreshToken(ctx, rt, at2, rt2); !errors.Is(err, ErrInvalid) {
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
