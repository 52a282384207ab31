package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/internal/redistest"
)

// countHook counts the GETs that reach Redis, alone and in pipelines
// (connection set-up commands are not counted).
type countHook struct{ single, pipelines, piped atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "get" {
			h.single.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		gets := 0
		for _, c := range cmds {
			if c.Name() == "get" {
				gets++
			}
		}
		if gets > 0 {
			h.pipelines.Add(1)
			h.piped.Add(int64(gets))
		}
		return next(ctx, cmds)
	}
}

// TestBatcherAnswersEachCaller: 400 concurrent GETs through 2 slots each
// get their own value (or redis.Nil), and most of them share pipelines.
func TestBatcherAnswersEachCaller(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	ctx := context.Background()
	for i := range 200 {
		if err := client.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), fmt.Sprintf("v%d", i), time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	h := &countHook{}
	client.AddHook(h)
	b := &getBatcher{rdb: client, maxInflight: 2, maxBatch: 16}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 400 {
		wg.Go(func() {
			<-start
			val, err := b.get(ctx, fmt.Sprintf("%sk%d", prefix, i))
			switch {
			case i < 200 && (err != nil || string(val) != fmt.Sprintf("v%d", i)):
				t.Errorf("key %d: %q, %v", i, val, err)
			case i >= 200 && !errors.Is(err, redis.Nil):
				t.Errorf("missing key %d: %q, %v", i, val, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := h.single.Load() + h.piped.Load(); got != 400 {
		t.Fatalf("%d GETs reached Redis, want 400", got)
	}
	t.Logf("%d alone, %d in %d pipelines", h.single.Load(), h.piped.Load(), h.pipelines.Load())
	if b.inflight != 0 || len(b.pending) != 0 {
		t.Fatalf("batcher not idle: %d in flight, %d pending", b.inflight, len(b.pending))
	}
}

// TestBatcherLoneRequestGoesAlone: with nothing else in flight, a GET is one
// plain command, not a pipeline.
func TestBatcherLoneRequestGoesAlone(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	h := &countHook{}
	client.AddHook(h)
	b := &getBatcher{rdb: client, maxInflight: 2, maxBatch: 16}
	if _, err := b.get(context.Background(), prefix+"nothing"); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if h.single.Load() != 1 || h.pipelines.Load() != 0 {
		t.Fatalf("%d commands, %d pipelines", h.single.Load(), h.pipelines.Load())
	}
}

// TestBatcherWaiterCancelled: a queued caller whose context ends returns at
// once; the batch still completes for the others.
func TestBatcherWaiterCancelled(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	b := &getBatcher{rdb: client, maxInflight: 1, maxBatch: 16}
	b.inflight = 1 // a send is "in flight": the next caller must queue
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { _, err := b.get(ctx, prefix+"k"); got <- err }()
	for {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	// The sender's loop still serves the abandoned call without blocking.
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	b.send(context.Background(), batch)
}

// TestBatcherOutage: every caller gets the error, none hangs.
func TestBatcherOutage(t *testing.T) {
	t.Parallel()
	b := &getBatcher{rdb: redistest.Unreachable(t), maxInflight: 1, maxBatch: 8}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := b.get(context.Background(), "k"); err == nil || errors.Is(err, redis.Nil) {
				t.Errorf("outage answered %v", err)
			}
		})
	}
	wg.Wait()
}
