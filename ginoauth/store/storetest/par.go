package storetest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// pushedTests are the contract of store.PushedRequests, run when the
// store implements it.
var pushedTests = []contractTest[store.Store]{
	{"Pushed/SaveTake", testPushedSaveTake},
	{"Pushed/WrongSignature", testPushedWrongSignature},
	{"Pushed/Expiry", testPushedExpiry},
	{"Pushed/Duplicate", testPushedDuplicate},
	{"Pushed/TakeConcurrent", testPushedTakeConcurrent},
}

func pushedStore(t *testing.T, s store.Store) store.PushedRequests {
	t.Helper()
	ps, ok := s.(store.PushedRequests)
	if !ok {
		t.Skip("the store does not implement store.PushedRequests")
	}
	return ps
}

func newPushed(family string, ttl time.Duration) *store.PushedRequest {
	return &store.PushedRequest{
		Key:      store.Key{Family: family, Signature: strings.Repeat("ef", 32)},
		ClientID: "web",
		Params: map[string][]string{
			"response_type": {"code"}, "redirect_uri": {"https://web.example/cb"},
			"scope": {"read write"}, "state": {"s p&a=c e"}, "resource": {"https://api.example/"},
		},
		ExpiresAt: now().Add(ttl),
	}
}

func testPushedSaveTake(t *testing.T, s store.Store) {
	ps, ctx := pushedStore(t, s), context.Background()
	r := newPushed("parfam001", time.Minute)
	if err := ps.SavePushedRequest(ctx, r); err != nil {
		t.Fatalf("SavePushedRequest: %v", err)
	}
	got, err := ps.TakePushedRequest(ctx, r.Key)
	if err != nil {
		t.Fatalf("TakePushedRequest: %v", err)
	}
	if got.ClientID != r.ClientID || !got.ExpiresAt.Equal(r.ExpiresAt) || got.Key != r.Key || !reflect.DeepEqual(got.Params, r.Params) {
		t.Fatalf("TakePushedRequest = %+v, want %+v", got, r)
	}
	got.Params["scope"][0] = "changed"
	if r.Params["scope"][0] != "read write" {
		t.Fatal("the returned request aliases the saved one")
	}
	if _, err := ps.TakePushedRequest(ctx, r.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second take: %v, want ErrNotFound", err)
	}
	if _, err := ps.TakePushedRequest(ctx, store.Key{Family: "parfam999", Signature: r.Key.Signature}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take of an unknown family: %v, want ErrNotFound", err)
	}
}

func testPushedWrongSignature(t *testing.T, s store.Store) {
	ps, ctx := pushedStore(t, s), context.Background()
	r := newPushed("parfam002", time.Minute)
	if err := ps.SavePushedRequest(ctx, r); err != nil {
		t.Fatalf("SavePushedRequest: %v", err)
	}
	wrong := store.Key{Family: r.Key.Family, Signature: strings.Repeat("cd", 32)}
	if _, err := ps.TakePushedRequest(ctx, wrong); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take with a wrong signature: %v, want ErrNotFound", err)
	}
	if _, err := ps.TakePushedRequest(ctx, r.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take after a wrong signature: %v, want ErrNotFound (the request is burnt)", err)
	}
}

func testPushedExpiry(t *testing.T, s store.Store) {
	ps, ctx := pushedStore(t, s), context.Background()
	r := newPushed("parfam003", 150*time.Millisecond)
	if err := ps.SavePushedRequest(ctx, r); err != nil {
		t.Fatalf("SavePushedRequest: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := ps.TakePushedRequest(ctx, r.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take after expiry: %v, want ErrNotFound", err)
	}
	past := newPushed("parfam004", -time.Second)
	if err := ps.SavePushedRequest(ctx, past); err != nil {
		t.Fatalf("SavePushedRequest of an expired request: %v, want nil (nothing stored)", err)
	}
	if _, err := ps.TakePushedRequest(ctx, past.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take of a request saved expired: %v, want ErrNotFound", err)
	}
}

func testPushedDuplicate(t *testing.T, s store.Store) {
	ps, ctx := pushedStore(t, s), context.Background()
	r := newPushed("parfam005", time.Minute)
	if err := ps.SavePushedRequest(ctx, r); err != nil {
		t.Fatalf("SavePushedRequest: %v", err)
	}
	other := newPushed("parfam005", time.Minute)
	other.ClientID = "other"
	if err := ps.SavePushedRequest(ctx, other); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("save into a family holding a request: %v, want ErrDuplicate", err)
	}
	got, err := ps.TakePushedRequest(ctx, r.Key)
	if err != nil || got.ClientID != "web" {
		t.Fatalf("take after the refused save: %+v, %v; want the first request", got, err)
	}
	if err := ps.SavePushedRequest(ctx, &store.PushedRequest{ClientID: "web", ExpiresAt: now().Add(time.Minute)}); err == nil {
		t.Fatal("save without a Key: nil error")
	}
}

func testPushedTakeConcurrent(t *testing.T, s store.Store) {
	ps, ctx := pushedStore(t, s), context.Background()
	r := newPushed("parfam006", time.Minute)
	if err := ps.SavePushedRequest(ctx, r); err != nil {
		t.Fatalf("SavePushedRequest: %v", err)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ps.TakePushedRequest(ctx, r.Key)
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("concurrent take: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Fatalf("%d of 20 concurrent takes got the request, want 1", n)
	}
}
