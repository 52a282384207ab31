package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// deviceTests are the contract of store.DeviceCodes, run when the store
// implements it.
var deviceTests = []contractTest[store.Store]{
	{"Device/Flow", testDeviceFlow},
	{"Device/Deny", testDeviceDeny},
	{"Device/SlowDown", testDeviceSlowDown},
	{"Device/ConsumeConcurrent", testDeviceConsumeConcurrent},
}

func deviceStore(t *testing.T, s store.Store) store.DeviceCodes {
	t.Helper()
	d, ok := s.(store.DeviceCodes)
	if !ok {
		t.Skip("the store does not implement store.DeviceCodes")
	}
	return d
}

func newDevice(family, userCode string) *store.DeviceAuthorization {
	n := now()
	return &store.DeviceAuthorization{
		Key:      store.Key{Family: family, Signature: strings.Repeat("ab", 32)},
		UserCode: userCode, ClientID: "tv", Scopes: []string{"read"},
		IssuedAt: n, ExpiresAt: n.Add(time.Minute), Interval: 5 * time.Second,
	}
}

func testDeviceFlow(t *testing.T, s store.Store) {
	ds, ctx := deviceStore(t, s), context.Background()
	d := newDevice("devfam001", "BCDFGHJK")
	if err := ds.SaveDeviceAuthorization(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := ds.SaveDeviceAuthorization(ctx, newDevice("devfam002", "BCDFGHJK")); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("same user code again: %v, want ErrDuplicate", err)
	}
	got, err := ds.GetDeviceAuthorizationByUserCode(ctx, "BCDFGHJK")
	if err != nil || got.ClientID != "tv" || got.Status != store.DevicePending || got.Key.Family != "devfam001" {
		t.Fatalf("get by user code: %+v, %v", got, err)
	}
	if _, err := ds.GetDeviceAuthorizationByUserCode(ctx, "BCDFGHJL"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user code: %v", err)
	}
	if err := ds.ConsumeDeviceAuthorization(ctx, d.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consume pending: %v, want ErrNotFound", err)
	}
	if err := ds.DecideDeviceAuthorization(ctx, "BCDFGHJK", true, "u1", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := ds.DecideDeviceAuthorization(ctx, "BCDFGHJK", false, "u2", "bob"); !errors.Is(err, store.ErrConsumed) {
		t.Fatalf("second decision: %v, want ErrConsumed", err)
	}
	wrong := store.Key{Family: d.Key.Family, Signature: strings.Repeat("cd", 32)}
	if _, _, err := ds.PollDeviceAuthorization(ctx, wrong, "tv", now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("poll with a wrong signature: %v", err)
	}
	got, _, err = ds.PollDeviceAuthorization(ctx, d.Key, "tv", now())
	if err != nil || got.Status != store.DeviceApproved || got.UserID != "u1" || got.Username != "alice" || len(got.Scopes) != 1 {
		t.Fatalf("poll approved: %+v, %v", got, err)
	}
	if err := ds.ConsumeDeviceAuthorization(ctx, d.Key); err != nil {
		t.Fatal(err)
	}
	if err := ds.ConsumeDeviceAuthorization(ctx, d.Key); !errors.Is(err, store.ErrConsumed) {
		t.Fatalf("second consume: %v, want ErrConsumed", err)
	}
	got, slow, err := ds.PollDeviceAuthorization(ctx, d.Key, "tv", now())
	if err != nil || got.Status != store.DeviceConsumed || slow {
		t.Fatalf("poll consumed: %+v, %v, %v", got, slow, err)
	}
}

func testDeviceDeny(t *testing.T, s store.Store) {
	ds, ctx := deviceStore(t, s), context.Background()
	d := newDevice("devfam003", "MNPQRSTV")
	if err := ds.SaveDeviceAuthorization(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := ds.DecideDeviceAuthorization(ctx, "MNPQRSTV", false, "u1", "alice"); err != nil {
		t.Fatal(err)
	}
	got, _, err := ds.PollDeviceAuthorization(ctx, d.Key, "tv", now())
	if err != nil || got.Status != store.DeviceDenied {
		t.Fatalf("poll denied: %+v, %v", got, err)
	}
	if err := ds.ConsumeDeviceAuthorization(ctx, d.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consume denied: %v, want ErrNotFound", err)
	}
}

func testDeviceSlowDown(t *testing.T, s store.Store) {
	ds, ctx := deviceStore(t, s), context.Background()
	d := newDevice("devfam004", "WXZBCDFG")
	if err := ds.SaveDeviceAuthorization(ctx, d); err != nil {
		t.Fatal(err)
	}
	t0 := now()
	steps := []struct {
		at       time.Duration
		tooFast  bool
		interval time.Duration
	}{
		{0, false, 5 * time.Second},
		{5 * time.Second, false, 5 * time.Second},
		{9 * time.Second, true, 10 * time.Second},
		{17 * time.Second, true, 15 * time.Second},
		{31 * time.Second, false, 15 * time.Second},
		{43 * time.Second, true, 20 * time.Second},
	}
	if _, slow, err := ds.PollDeviceAuthorization(ctx, d.Key, "other", t0); err != nil || slow {
		t.Fatalf("another client's poll: tooFast %v, %v", slow, err)
	}
	for i, st := range steps {
		got, slow, err := ds.PollDeviceAuthorization(ctx, d.Key, "tv", t0.Add(st.at))
		if err != nil || slow != st.tooFast || got.Interval != st.interval {
			t.Fatalf("poll %d: interval %v, tooFast %v, %v; want %v, %v", i, got.Interval, slow, err, st.interval, st.tooFast)
		}
	}
	// Another client's poll right after is neither slowed down nor counted.
	got, slow, err := ds.PollDeviceAuthorization(ctx, d.Key, "other", t0.Add(44*time.Second))
	if err != nil || slow || got.Interval != 20*time.Second {
		t.Fatalf("another client's poll: %+v, %v, %v", got, slow, err)
	}
	if _, slow, _ := ds.PollDeviceAuthorization(ctx, d.Key, "tv", t0.Add(43*time.Second+18*time.Second)); slow {
		t.Fatal("the client's poll 18 s after its last (interval 20 s, slack 2 s) was slowed down")
	}
}

func testDeviceConsumeConcurrent(t *testing.T, s store.Store) {
	ds, ctx := deviceStore(t, s), context.Background()
	d := newDevice("devfam005", "HJKLMNPQ")
	if err := ds.SaveDeviceAuthorization(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := ds.DecideDeviceAuthorization(ctx, "HJKLMNPQ", true, "u1", "alice"); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := ds.ConsumeDeviceAuthorization(ctx, d.Key); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrConsumed):
				t.Errorf("consume: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d consumptions succeeded, want 1", wins.Load())
	}
}
