package ginoauth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

func TestAppCache(t *testing.T) {
	t.Parallel()
	var loads atomic.Int64
	var fail atomic.Bool
	release := make(chan struct{})
	load := func(ctx context.Context, id string) (*store.Application, error) {
		loads.Add(1)
		<-release
		if fail.Load() {
			return nil, store.ErrUnavailable
		}
		return &store.Application{ClientID: id, Generation: 7, GrantTypes: []string{"x"}}, nil
	}
	c := newAppCache(load, 100*time.Millisecond, 2, time.Now)
	ctx := context.Background()

	// Concurrent misses for one client: one load.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if app, err := c.get(ctx, "a"); err != nil || app.Generation != 7 {
				t.Errorf("get = %v, %v", app, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for 20 concurrent misses, want 1", n)
	}
	// A hit; a copy the caller may change.
	app, _ := c.get(ctx, "a")
	app.GrantTypes[0] = "changed"
	if again, _ := c.get(ctx, "a"); again.GrantTypes[0] != "x" || loads.Load() != 1 {
		t.Fatal("a hit loaded again or shared its slices")
	}
	// Forgotten: loaded again. Expired: loaded again.
	c.forget("a")
	c.get(ctx, "a")
	if loads.Load() != 2 {
		t.Fatal("forget did not drop the entry")
	}
	time.Sleep(120 * time.Millisecond)
	c.get(ctx, "a")
	if loads.Load() != 3 {
		t.Fatal("an entry older than the TTL was reused")
	}
	// Errors are not cached; the size bound holds.
	fail.Store(true)
	c.forget("a")
	if _, err := c.get(ctx, "a"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("get during an outage = %v, want ErrUnavailable", err)
	}
	fail.Store(false)
	for _, id := range []string{"a", "b", "c", "d"} {
		c.get(ctx, id)
	}
	if n := len(c.entries); n > 2 {
		t.Fatalf("%d entries cached, bound 2", n)
	}
}
