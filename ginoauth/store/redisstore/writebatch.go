package redisstore

import (
	"context"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// writeBatcher coalesces the scripts that issue and rotate tokens into
// pipelines, as getBatcher does for lookups (group commit): a lone write
// goes out at once, alone; the writes that arrive while maxInflight
// pipelines are on the wire queue and go out together in the next one.
// Each write still costs its caller one round trip, and each is its own
// script, atomic on its own: batching shares the system calls, not the
// outcome (every write gets its own reply or error).
//
// On a *redis.ClusterClient, writes are batched per master (the master of
// the write's route key), so a write never waits behind another node's,
// and a failure asks for a reload of the slot map (getBatcher.reloadSlots).
type writeBatcher struct {
	rdb         redis.UniversalClient
	maxInflight int
	maxBatch    int
	// gets is the store's lookup batcher, whose reload throttle the
	// writes share.
	gets *getBatcher

	mu       sync.Mutex
	inflight int
	pending  []*writeCall

	routed bool     // a per-master batcher of a cluster
	nodes  sync.Map // address -> *writeBatcher (ClusterClient only)
}

// writeCall is one write waiting to be sent: fill adds its commands to the
// pipeline, and their replies are in those commands once done is closed.
type writeCall struct {
	ctx  context.Context
	fill func(p redis.Pipeliner) []redis.Cmder
	cmds []redis.Cmder
	sent bool // set before done is closed: false if never sent
	done chan struct{}
}

// run sends the commands fill adds, routed by routeKey on a cluster, and
// returns once they have their replies (each command holds its own error),
// or with ctx's error if ctx ends while the write is still queued, in
// which case it is never sent. A write taken off the queue goes out and
// completes whatever ctx does, and its caller gets its replies: the
// answer always says whether the write was sent.
func (b *writeBatcher) run(ctx context.Context, routeKey string, fill func(p redis.Pipeliner) []redis.Cmder) error {
	if cc, ok := b.rdb.(*redis.ClusterClient); ok && !b.routed {
		nb := b
		if node, err := cc.MasterForKey(ctx, routeKey); err == nil {
			nb = b.nodeBatcher(node.Options().Addr)
		}
		return nb.batched(ctx, fill)
	}
	return b.batched(ctx, fill)
}

// nodeBatcher returns the batcher of the master at addr, creating it.
func (b *writeBatcher) nodeBatcher(addr string) *writeBatcher {
	if nb, ok := b.nodes.Load(addr); ok {
		return nb.(*writeBatcher)
	}
	nb, _ := b.nodes.LoadOrStore(addr, &writeBatcher{rdb: b.rdb, maxInflight: b.maxInflight, maxBatch: b.maxBatch, gets: b.gets, routed: true})
	return nb.(*writeBatcher)
}

// batched is run without cluster routing.
func (b *writeBatcher) batched(ctx context.Context, fill func(p redis.Pipeliner) []redis.Cmder) error {
	call := &writeCall{ctx: ctx, fill: fill}
	b.mu.Lock()
	if b.inflight >= b.maxInflight {
		call.done = make(chan struct{})
		b.pending = append(b.pending, call)
		b.mu.Unlock()
		select {
		case <-call.done:
			if !call.sent {
				return ctx.Err()
			}
			return nil
		case <-ctx.Done():
			// Still queued: withdraw it, so it is never sent. Already
			// taken by the drain: it goes out, and the caller must hear
			// how it went (a rotation applied but reported failed would
			// make the client's retry a reuse).
			b.mu.Lock()
			if i := slices.Index(b.pending, call); i >= 0 {
				b.pending = slices.Delete(b.pending, i, i+1)
				b.mu.Unlock()
				return ctx.Err()
			}
			b.mu.Unlock()
			<-call.done
			if !call.sent {
				return ctx.Err()
			}
			return nil
		}
	}
	b.inflight++
	b.mu.Unlock()

	b.send(ctx, []*writeCall{call}) // a free slot: our own write, now

	b.mu.Lock()
	if len(b.pending) == 0 {
		b.inflight--
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	go b.drain() // keeps our slot
	return nil
}

// drain sends the queued writes in batches of at most maxBatch until none
// is left, then frees the slot it holds.
func (b *writeBatcher) drain() {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		n := min(len(b.pending), b.maxBatch)
		batch := make([]*writeCall, 0, n)
		for _, c := range b.pending[:n] {
			if c.ctx.Err() != nil {
				close(c.done) // its caller has gone: not sent
				continue
			}
			batch = append(batch, c)
		}
		b.pending = append(b.pending[:0], b.pending[n:]...)
		b.mu.Unlock()
		if len(batch) > 0 {
			b.send(context.Background(), batch)
			for _, c := range batch {
				c.sent = true
				close(c.done)
			}
		}
	}
}

// send runs one pipeline for batch. A command the pipeline never sent
// (it failed before: a dial error, say) has no reply of its own and gets
// the pipeline's error. A failure other than the scripts' own error
// replies asks a cluster client to reload its slot map.
func (b *writeBatcher) send(ctx context.Context, batch []*writeCall) {
	_, perr := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range batch {
			c.cmds = c.fill(p)
		}
		return nil
	})
	failed := false
	for _, c := range batch {
		for _, cmd := range c.cmds {
			if cmd.Err() == nil && perr != nil && perr != redis.Nil && noReply(cmd) {
				cmd.SetErr(perr)
			}
			if err := cmd.Err(); err != nil && err != redis.Nil && !isScriptReply(err) {
				failed = true
			}
		}
	}
	if cc, ok := b.rdb.(*redis.ClusterClient); ok && failed && ctx.Err() == nil {
		b.gets.reloadSlots(cc)
	}
}

// noReply reports whether cmd holds no reply (it was never sent).
func noReply(cmd redis.Cmder) bool {
	c, ok := cmd.(*redis.Cmd)
	return ok && c.Val() == nil
}
