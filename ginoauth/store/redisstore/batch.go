package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

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
//
// On a *redis.ClusterClient, lookups are batched per master: each key goes
// to the batcher of the master that owns its slot, so a lookup never waits
// behind a lookup of another node (one stuck dialing a dead master, say).
// And a lookup that fails with anything but redis.Nil or its own context's
// end asks the client to reload the slot map (at most every
// clusterReloadEvery): go-redis reloads it by itself only on MOVED or ASK
// and every ClusterStateReloadInterval, so after a failover it would keep
// sending to the dead master until then.
type getBatcher struct {
	rdb         redis.UniversalClient
	maxInflight int
	maxBatch    int
	calls       sync.Pool // of *getCall

	mu       sync.Mutex
	inflight int
	pending  []*getCall

	// routed is true for the per-master batchers of a cluster, whose keys
	// are already routed.
	routed bool
	// nodes are the per-master batchers, by address (ClusterClient only).
	nodes sync.Map // string -> *getBatcher
	// lastReload is when the slot map reload was last asked for, in Unix
	// nanoseconds (ClusterClient only).
	lastReload atomic.Int64
}

// clusterReloadEvery is the shortest time between two reloads of the slot
// map that failed lookups ask for.
const clusterReloadEvery = 500 * time.Millisecond

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
	if cc, ok := b.rdb.(*redis.ClusterClient); ok && !b.routed {
		return b.clusterGet(ctx, cc, key)
	}
	return b.batchedGet(ctx, key)
}

// clusterGet sends key through the batcher of the master owning its slot,
// and asks for a reload of the slot map if that fails.
func (b *getBatcher) clusterGet(ctx context.Context, cc *redis.ClusterClient, key string) ([]byte, error) {
	var (
		val []byte
		err error
	)
	if node, nerr := cc.MasterForKey(ctx, key); nerr != nil {
		val, err = cc.Get(ctx, key).Bytes() // no slot map yet: alone
	} else {
		val, err = b.nodeBatcher(node.Options().Addr).batchedGet(ctx, key)
	}
	if err != nil && err != redis.Nil && ctx.Err() == nil {
		b.reloadSlots(cc)
	}
	return val, err
}

// nodeBatcher returns the batcher of the master at addr, creating it.
func (b *getBatcher) nodeBatcher(addr string) *getBatcher {
	if nb, ok := b.nodes.Load(addr); ok {
		return nb.(*getBatcher)
	}
	nb, _ := b.nodes.LoadOrStore(addr, &getBatcher{rdb: b.rdb, maxInflight: b.maxInflight, maxBatch: b.maxBatch, routed: true})
	return nb.(*getBatcher)
}

// reloadSlots asks cc to reload its slot map in the background, unless it
// was asked less than clusterReloadEvery ago.
func (b *getBatcher) reloadSlots(cc *redis.ClusterClient) {
	now := time.Now().UnixNano()
	last := b.lastReload.Load()
	if now-last < int64(clusterReloadEvery) || !b.lastReload.CompareAndSwap(last, now) {
		return
	}
	cc.ReloadState(context.Background())
}

// batchedGet is get without cluster routing.
func (b *getBatcher) batchedGet(ctx context.Context, key string) ([]byte, error) {
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

// send runs one pipeline for batch and hands each call the answer of its
// own GET: on a cluster, a pipeline's error is the first failed command's,
// which must not replace the good answers of the others.
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
		if c.err == nil && len(c.val) == 0 && perr != nil && perr != redis.Nil {
			// Never sent (the pipeline failed before it): no answer of
			// its own (go-redis then gives an empty, non-nil value). A
			// stored value is never empty.
			c.err = perr
		}
		c.done <- struct{}{}
	}
}
