package redisstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// recorder is an InvalidationHandler that sends what it is told on a
// channel, as "family:x", "client:x", "all", "live", "lost".
type recorder chan string

func (r recorder) InvalidateFamily(f string) { r <- "family:" + f }
func (r recorder) InvalidateClient(c string) { r <- "client:" + c }
func (r recorder) InvalidateAll()            { r <- "all" }
func (r recorder) ChannelLive()              { r <- "live" }
func (r recorder) ChannelLost(error)         { r <- "lost" }

func next(t *testing.T, r recorder) string {
	t.Helper()
	select {
	case s := <-r:
		return s
	case <-time.After(2 * time.Second):
		t.Fatal("no call within 2s")
		return ""
	}
}

func TestWatchInvalidations(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	if got, want := s.InvalidationChannel(), prefix+"inv"; got != want {
		t.Fatalf("InvalidationChannel = %q; want %q", got, want)
	}
	r := make(recorder, 16)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- s.WatchInvalidations(ctx, r, WatchHealthInterval(100*time.Millisecond)) }()
	if got := next(t, r); got != "live" {
		t.Fatalf("first call %q; want live", got)
	}
	if err := s.PublishFamilyInvalidation(ctx, "fam1"); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishClientInvalidation(ctx, "app1"); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"zz", "f:", "c:"} {
		if err := client.Publish(ctx, prefix+"inv", msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Another prefix's channel is not ours.
	if err := client.Publish(ctx, prefix+"other:inv", "f:x").Err(); err != nil {
		t.Fatal(err)
	}
	// On a Cluster, messages published through different nodes may
	// arrive in another order: compare them as a set.
	var got []string
	for range 5 {
		got = append(got, next(t, r))
	}
	slices.Sort(got)
	if want := []string{"all", "all", "all", "client:app1", "family:fam1"}; !slices.Equal(got, want) {
		t.Fatalf("got %q; want %q (in any order)", got, want)
	}
	// Quiet for several health intervals: PINGs keep the channel live.
	select {
	case got := <-r:
		t.Fatalf("unexpected %q while quiet", got)
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	if got := next(t, r); got != "lost" {
		t.Fatalf("after cancel %q; want lost", got)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchInvalidations = %v; want context.Canceled", err)
	}
}

func TestPublishInvalidationUnavailable(t *testing.T) {
	t.Parallel()
	s, err := New(redistest.Unreachable(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PublishFamilyInvalidation(testCtx(t), "f"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("publish to a dead Redis = %v; want store.ErrUnavailable", err)
	}
}
