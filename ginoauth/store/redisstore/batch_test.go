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

// skipOnCluster skips a test of one batcher's queue: on Redis Cluster the
// lookups go to per-master batchers, so the queue it watches stays empty.
func skipOnCluster(t *testing.T) {
	t.Helper()
	if redistest.UsingCluster() {
		t.Skip("watches one batcher's queue; on Redis Cluster lookups are batched per master")
	}
}

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
// get their own value (or redis.Nil), and they are batched: the 2 GETs that
// take the slots are held on the wire until the other 398 have queued, so
// the queue goes out in ceil(398/16) = 25 pipelines, 27 round trips in all
// for 400 lookups, on every run.
func TestBatcherAnswersEachCaller(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	client, prefix := redistest.Client(t)
	ctx := context.Background()
	for i := range 200 {
		if err := client.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), fmt.Sprintf("v%d", i), time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const (
		lookups     = 400
		maxInflight = 2
		maxBatch    = 16
	)
	h := &countHook{}
	client.AddHook(h)
	gate := gateHook{single: make(chan struct{}), piped: make(chan struct{})}
	close(gate.piped) // pipelines go out at once; single GETs wait for the gate
	client.AddHook(gate)
	var once sync.Once
	open := func() { once.Do(func() { close(gate.single) }) }
	t.Cleanup(open) // before the client's clean-up, even on failure
	b := &getBatcher{rdb: client, maxInflight: maxInflight, maxBatch: maxBatch}
	var wg sync.WaitGroup
	for i := range lookups {
		wg.Go(func() {
			val, err := b.get(ctx, fmt.Sprintf("%sk%d", prefix, i))
			switch {
			case i < 200 && err != nil:
				t.Errorf("key %d: err = %v, want nil", i, err)
			case i < 200 && string(val) != fmt.Sprintf("v%d", i):
				t.Errorf("key %d: value = %q, want %q", i, val, fmt.Sprintf("v%d", i))
			case i >= 200 && !errors.Is(err, redis.Nil):
				t.Errorf("missing key %d: err = %v, want redis.Nil", i, err)
			}
		})
	}
	queued := lookups - maxInflight
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		inflight, pending := b.inflight, len(b.pending)
		b.mu.Unlock()
		if inflight == maxInflight && pending == queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for the callers to queue: %d in flight, %d pending; want %d, %d", inflight, pending, maxInflight, queued)
		}
	}
	open()
	wg.Wait()
	if got := h.single.Load() + h.piped.Load(); got != lookups {
		t.Errorf("GETs that reached Redis = %d, want %d", got, lookups)
	}
	if got, want := h.single.Load(), int64(maxInflight); got != want {
		t.Errorf("GETs sent alone = %d, want %d", got, want)
	}
	if got, want := h.pipelines.Load(), int64((queued+maxBatch-1)/maxBatch); got != want {
		t.Errorf("pipelines = %d, want %d", got, want)
	}
	if got := h.single.Load() + h.pipelines.Load(); got >= lookups {
		t.Errorf("round trips = %d, want fewer than the %d lookups", got, lookups)
	}
	// The last drain frees its slot just after answering its last batch.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		inflight, pending := b.inflight, len(b.pending)
		b.mu.Unlock()
		if inflight == 0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batcher not idle: %d in flight, %d pending; want 0, 0", inflight, pending)
		}
	}
}

// TestBatcherSenderNotHeld: a caller that sent its own GET returns with its
// answer while others are queued; it does not wait on their pipeline.
func TestBatcherSenderNotHeld(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	client, prefix := redistest.Client(t)
	h := gateHook{single: make(chan struct{}), piped: make(chan struct{})}
	client.AddHook(h)
	var once sync.Once
	open := func() { once.Do(func() { close(h.piped) }) }
	t.Cleanup(open) // before the client's clean-up, even on failure
	b := &getBatcher{rdb: client, maxInflight: 1, maxBatch: 16}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			b.mu.Lock()
			ok := cond()
			b.mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	own := make(chan error, 1)
	go func() { _, err := b.get(context.Background(), prefix+"own"); own <- err }()
	waitFor("the sender's GET", func() bool { return b.inflight == 1 })
	queued := make(chan error, 3)
	for i := range 3 {
		go func() { _, err := b.get(context.Background(), fmt.Sprintf("%sq%d", prefix, i)); queued <- err }()
	}
	waitFor("3 queued GETs", func() bool { return len(b.pending) == 3 })
	close(h.single) // the sender's GET answers; the queue's pipeline is held
	select {
	case err := <-own:
		if !errors.Is(err, redis.Nil) {
			t.Fatalf("sender: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sender waited on the pipeline of the GETs queued behind it")
	}
	open()
	for range 3 {
		if err := <-queued; !errors.Is(err, redis.Nil) {
			t.Fatalf("queued: %v", err)
		}
	}
}

// gateHook holds each GET until its gate is closed: single commands on
// single, pipelines with a GET on piped.
type gateHook struct{ single, piped chan struct{} }

func (gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "get" {
			<-h.single
		}
		return next(ctx, cmd)
	}
}
func (h gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "get" {
				<-h.piped
				break
			}
		}
		return next(ctx, cmds)
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
	skipOnCluster(t)
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
	// The drain still serves the abandoned call without blocking.
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

// errPipe is the error failPipes gives every pipeline.
var errPipe = errors.New("pipeline refused by the test hook")

// failPipes fails every pipeline before anything is sent, setting no
// command's error (as a pipeline that cannot get a connection does), until
// the test ends (the key clean-up pipelines).
type failPipes struct{ off atomic.Bool }

// failPipelines adds a failPipes hook to client for the rest of the test.
func failPipelines(t *testing.T, client redis.UniversalClient) {
	h := new(failPipes)
	client.AddHook(h)
	t.Cleanup(func() { h.off.Store(true) })
}

func (*failPipes) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*failPipes) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *failPipes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.off.Load() {
			return next(ctx, cmds)
		}
		return errPipe
	}
}

// TestBatcherUnsentPipeline: a batch whose pipeline failed before it was
// sent gives every caller the pipeline's error, not an empty value.
func TestBatcherUnsentPipeline(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	failPipelines(t, client)
	b := &getBatcher{rdb: client, maxInflight: 1, maxBatch: 8, routed: true}
	batch := []*getCall{
		{key: prefix + "a", done: make(chan struct{}, 1)},
		{key: prefix + "b", done: make(chan struct{}, 1)},
	}
	b.send(context.Background(), batch)
	for i, c := range batch {
		if got, want := c.err, errPipe; !errors.Is(got, want) {
			t.Errorf("call %d: err = %v (value %q), want %v", i, got, c.val, want)
		}
	}
}
