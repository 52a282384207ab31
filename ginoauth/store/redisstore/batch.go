package redisstore

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// getBatcher coalesces concurrent GETs into pipelines (group commit, as
// auto-pipelining clients do). Under load, the requests that arrive while
// maxInflight GETs or pipelines are already on the wire wait and go out
// together in the next one: one write and one read carry many GETs, which
// spares the application, the kernel and Redis most of a per-command system
// call, the dominant cost of a small GET. A lone request goes out at once,
// alone, so an idle server pays nothing. Each GET still costs its caller
// exactly one round trip.
//
// A caller that finds a free slot sends its own GET and returns. If others
// queued meanwhile, it hands the slot to a drain goroutine that sends the
// queue in batches until it is empty, so no request waits on other
// requests' round trips, however long the load lasts.
type getBatcher struct {
	rdb         redis.UniversalClient
	maxInflight int
	maxBatch    int
	calls       sync.Pool // of *getCall

	mu       sync.Mutex
	inflight int
	pending  []*getCall
}

// getCall is one GET waiting for its answer.
type getCall struct {
	key  string
	val  []byte
	err  error
	done chan struct{}
}

// get returns the value of key, redis.Nil when it does not exist, or the
// error of the pipeline it went out in.
func (b *getBatcher) get(ctx context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	if b.inflight >= b.maxInflight {
		call, _ := b.calls.Get().(*getCall)
		if call == nil {
			call = &getCall{done: make(chan struct{}, 1)}
		}
		call.key = key
		b.pending = append(b.pending, call)
		b.mu.Unlock()
		select {
		case <-call.done:
			val, err := call.val, call.err
			call.val, call.err = nil, nil
			b.calls.Put(call)
			return val, err
		case <-ctx.Done():
			// The drain still owns call and will signal done (buffered);
			// the call is simply not returned to the pool.
			return nil, ctx.Err()
		}
	}
	b.inflight++
	b.mu.Unlock()

	// A free slot: send our own GET now, alone.
	val, err := b.rdb.Get(ctx, key).Bytes()

	b.mu.Lock()
	if len(b.pending) == 0 {
		b.inflight--
		b.mu.Unlock()
		return val, err
	}
	b.mu.Unlock()
	go b.drain() // keeps our slot
	return val, err
}

// drain sends the queued GETs in batches of at most maxBatch until none is
// left, then frees the slot it holds.
func (b *getBatcher) drain() {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		n := min(len(b.pending), b.maxBatch)
		batch := make([]*getCall, n)
		copy(batch, b.pending)
		b.pending = append(b.pending[:0], b.pending[n:]...)
		b.mu.Unlock()
		b.send(context.Background(), batch)
	}
}

// send runs one pipeline for batch and hands each call its answer.
func (b *getBatcher) send(ctx context.Context, batch []*getCall) {
	cmds := make([]*redis.StringCmd, len(batch))
	_, perr := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range batch {
			cmds[i] = p.Get(ctx, c.key)
		}
		return nil
	})
	for i, c := range batch {
		c.val, c.err = cmds[i].Bytes()
		if c.err == nil && perr != nil && perr != redis.Nil {
			c.err = perr
		}
		c.done <- struct{}{}
	}
}
