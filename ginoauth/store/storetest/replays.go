package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// testFirstUse: a key is new once, other keys stay new, and an empty key
// or an expiry already passed never counts as a first use.
func testFirstUse(t *testing.T, s store.Store) {
	c := ctx(t)
	exp := time.Now().Add(time.Minute)
	for _, tc := range []struct {
		name    string
		key     string
		exp     time.Time
		want    bool
		wantErr bool
	}{
		{"first use", "test:a", exp, true, false},
		{"second use", "test:a", exp, false, false},
		{"second use, later expiry", "test:a", exp.Add(time.Hour), false, false},
		{"another key", "test:b", exp, true, false},
		{"expiry passed", "test:c", time.Now().Add(-time.Second), false, false},
		{"after a past expiry", "test:c", exp, true, false},
		{"empty key", "", exp, false, true},
	} {
		got, err := s.FirstUse(c, tc.key, tc.exp)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: FirstUse(%q): got %v, %v; want %v, error %v", tc.name, tc.key, got, err, tc.want, tc.wantErr)
		}
	}
}

// testFirstUseConcurrent: of concurrent first uses of one key, exactly one
// wins.
func testFirstUseConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	exp := time.Now().Add(time.Minute)
	var mu sync.Mutex
	wins := 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			ok, err := s.FirstUse(c, "test:race", exp)
			if err != nil {
				t.Errorf("FirstUse: %v", err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("16 concurrent first uses of one key: got %d winners, want 1", wins)
	}
}

// testFirstUseExpiry: once its expiry has passed, a key is new again.
func testFirstUseExpiry(t *testing.T, s store.Store) {
	c := ctx(t)
	ok, err := s.FirstUse(c, "test:short", time.Now().Add(expiryWait))
	must(t, "FirstUse", err)
	if !ok {
		t.Fatal("first FirstUse: got false, want true")
	}
	time.Sleep(sleepPast)
	ok, err = s.FirstUse(c, "test:short", time.Now().Add(time.Minute))
	must(t, "FirstUse", err)
	if !ok {
		t.Error("FirstUse after the first use expired: got false, want true")
	}
}
