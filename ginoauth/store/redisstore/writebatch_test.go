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

// pipelineCount counts the pipelines of INCRBY that reach Redis.
type pipelineCount struct{ pipelines atomic.Int64 }

func (h *pipelineCount) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *pipelineCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipelineCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "incrby" { // not the connection's set-up
			h.pipelines.Add(1)
		}
		return next(ctx, cmds)
	}
}

// queueWrites starts n writes (INCRBY <prefix>w<i> i) on b while its one
// slot is taken, and waits until all are queued.
func queueWrites(t *testing.T, b *writeBatcher, ctx context.Context, prefix string, n int) (cmds []*redis.IntCmd, errs []error, wg *sync.WaitGroup) {
	t.Helper()
	b.inflight = b.maxInflight // a send is "in flight": every caller queues
	cmds, errs, wg = make([]*redis.IntCmd, n), make([]error, n), &sync.WaitGroup{}
	for i := range n {
		wg.Go(func() {
			errs[i] = b.run(ctx, fmt.Sprintf("%sw%d", prefix, i), func(p redis.Pipeliner) []redis.Cmder {
				cmds[i] = p.IncrBy(ctx, fmt.Sprintf("%sw%d", prefix, i), int64(i))
				return []redis.Cmder{cmds[i]}
			})
		})
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		pending := len(b.pending)
		b.mu.Unlock()
		if pending == n {
			return cmds, errs, wg
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued after 5 s", pending, n)
		}
	}
}

// TestWriteBatcherEachGetsItsReply: 100 queued writes go out in
// ceil(100/16) pipelines, and each caller finds its own reply.
func TestWriteBatcherEachGetsItsReply(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	client, prefix := redistest.Client(t)
	h := &pipelineCount{}
	client.AddHook(h)
	b := &writeBatcher{rdb: client, maxInflight: 1, maxBatch: 16}
	const n = 100
	cmds, errs, wg := queueWrites(t, b, context.Background(), prefix, n)
	go b.drain() // as the slot's holder does when it finds a queue
	wg.Wait()
	for i := range n {
		if errs[i] != nil || cmds[i].Err() != nil || cmds[i].Val() != int64(i) {
			t.Errorf("write %d: run %v, reply %v, %v; want %d", i, errs[i], cmds[i].Val(), cmds[i].Err(), i)
		}
	}
	if got, want := h.pipelines.Load(), int64((n+15)/16); got != want {
		t.Errorf("pipelines = %d, want %d", got, want)
	}
}

// TestWriteBatcherCancelledNotSent: a queued write whose caller's context
// has ended is not sent, and its caller gets the context's error.
func TestWriteBatcherCancelledNotSent(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	client, prefix := redistest.Client(t)
	b := &writeBatcher{rdb: client, maxInflight: 1, maxBatch: 16}
	ctx, cancel := context.WithCancel(context.Background())
	_, errs, wg := queueWrites(t, b, ctx, prefix, 3)
	cancel()
	time.Sleep(10 * time.Millisecond)
	go b.drain()
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("write %d: got %v, want context.Canceled", i, err)
		}
	}
	if n, err := client.Exists(context.Background(), prefix+"w0", prefix+"w1", prefix+"w2").Result(); err != nil || n != 0 {
		t.Errorf("keys of the cancelled writes: %d exist (%v), want none", n, err)
	}
}

// TestWriteBatcherOutage: with Redis unreachable, every write, alone or
// queued, holds an error of its own and none hangs.
func TestWriteBatcherOutage(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	b := &writeBatcher{rdb: client, maxInflight: 1, maxBatch: 16}
	cmds, errs, wg := queueWrites(t, b, context.Background(), "x:", 5)
	go b.drain()
	wg.Wait()
	for i := range cmds {
		if errs[i] != nil || cmds[i].Err() == nil {
			t.Errorf("write %d: run %v, reply error %v; want the reply to hold the dial error", i, errs[i], cmds[i].Err())
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		idle := b.inflight == 0
		b.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the drain kept its slot after the queue emptied")
		}
	}
	var alone *redis.IntCmd
	_ = b.run(context.Background(), "x:alone", func(p redis.Pipeliner) []redis.Cmder {
		alone = p.Incr(context.Background(), "x:alone")
		return []redis.Cmder{alone}
	})
	if alone.Err() == nil {
		t.Error("a lone write with Redis down: no error")
	}
}

// TestWriteBatcherCancelledAfterDequeue: a caller whose context ends while
// its write, already taken off the queue, is on the wire is told the
// write went out (its reply), never an error for a write that was
// applied; one cancelled while still queued is withdrawn and not sent.
func TestWriteBatcherCancelledAfterDequeue(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	client, prefix := redistest.Client(t)
	b := &writeBatcher{rdb: client, maxInflight: 1, maxBatch: 16}
	ctx, cancel := context.WithCancel(context.Background())
	var cmd *redis.IntCmd
	b.inflight = 1 // every caller queues
	got := make(chan error, 1)
	go func() {
		got <- b.run(ctx, prefix+"k", func(p redis.Pipeliner) []redis.Cmder {
			cancel() // the caller gives up while its write is being sent
			cmd = p.Incr(ctx, prefix+"k")
			return []redis.Cmder{cmd}
		})
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write never queued")
		}
	}
	go b.drain()
	err := <-got
	n, gerr := client.Get(context.Background(), prefix+"k").Int()
	if err != nil || gerr != nil || n != 1 || cmd.Val() != 1 {
		t.Fatalf("write cancelled on the wire: run = %v, reply %v; stored %d (%v); want nil, 1, 1", err, cmd.Val(), n, gerr)
	}

	// Cancelled while queued: withdrawn, not sent, ctx's error.
	ctx2, cancel2 := context.WithCancel(context.Background())
	b.mu.Lock()
	b.inflight = 1
	b.mu.Unlock()
	got2 := make(chan error, 1)
	go func() {
		got2 <- b.run(ctx2, prefix+"q", func(p redis.Pipeliner) []redis.Cmder {
			return []redis.Cmder{p.Incr(ctx2, prefix+"q")}
		})
	}()
	for b.mu.Lock(); len(b.pending) != 1; b.mu.Lock() {
		b.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	b.mu.Unlock()
	cancel2()
	if err := <-got2; !errors.Is(err, context.Canceled) {
		t.Fatalf("write cancelled while queued: run = %v, want context.Canceled", err)
	}
	b.mu.Lock()
	left := len(b.pending)
	b.mu.Unlock()
	if left != 0 {
		t.Errorf("queue after the withdrawal: %d calls, want 0", left)
	}
	if n, _ := client.Exists(context.Background(), prefix+"q").Result(); n != 0 {
		t.Error("the withdrawn write was stored")
	}
}
