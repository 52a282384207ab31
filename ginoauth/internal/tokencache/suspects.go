package tokencache

import (
	"sync"
	"sync/atomic"
	"time"
)

// TrustSkew is the clock skew Trusted allows between the instance that
// issued a token (its iat, whole seconds, rounded down) and this one (the
// time an invalidation arrived here): a token issued up to TrustSkew after
// an invalidation of its family or client is still checked against the
// store. Instances' clocks must agree within it (NTP keeps them within
// milliseconds).
const TrustSkew = 2 * time.Second

// suspects remembers, for self-contained tokens (JWT access tokens, RFC
// 9068) that are accepted without a store read, which of them an
// invalidation may concern: the families and clients invalidated since the
// channel went live, with when the message arrived, and a floor before
// which everything is suspect (tokens issued before the channel was live
// here, when an unrecognised message flushed everything, or when the list
// overflowed). A suspect token is not refused: the caller reads it from the
// store, which knows.
//
// The list forgets an entry once no token it could concern may be trusted
// any more (Trusted takes only tokens issued within MaxAge: horizon after
// the entry, plus TrustSkew), and when it holds MaxEntries, the oldest,
// raising the floor to it: memory stays bounded and the answer stays safe,
// at the cost of store reads.
//
// It starts inactive, recording nothing: only the first trusted call (the
// first JWT access token this instance checks) activates it, raising the
// floor to that moment, so that every token issued before is suspect. An
// instance that never checks a JWT access token pays nothing per
// invalidation, neither the time nor the memory of the list.
type suspects struct {
	active  atomic.Bool
	mu      sync.RWMutex
	floor   int64            // unix nanoseconds
	fams    map[string]int64 // family: arrival of its last invalidation
	clients map[string]int64 // client_id: likewise
	queue   []suspect        // arrival order; queue[head:] is current
	head    int
	max     int
	horizon time.Duration
	last    int64 // the latest arrival noted: marks never move back with the clock
}

type suspect struct {
	key    string
	client bool
	at     int64
}

func newSuspects(max int, horizon time.Duration) *suspects {
	return &suspects{fams: make(map[string]int64), clients: make(map[string]int64), max: max, horizon: horizon}
}

// note records an invalidation of a family (client false) or a client at
// now.
func (s *suspects) note(client bool, key string, now time.Time) {
	if !s.active.Load() {
		return // the floor set at activation covers it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at := max(now.UnixNano(), s.last) // a clock stepped back must not lower a mark
	s.last = at
	m := s.fams
	if client {
		m = s.clients
	}
	m[key] = at
	s.queue = append(s.queue, suspect{key: key, client: client, at: at})
	expired := at - int64(s.horizon+TrustSkew)
	for s.head < len(s.queue) {
		e := s.queue[s.head]
		if e.at >= expired && len(s.queue)-s.head <= s.max {
			break
		}
		if e.at >= expired { // overflow: everything up to e is suspect
			s.floor = max(s.floor, e.at)
		}
		s.pop()
	}
	if s.head > len(s.queue)/2 && s.head > 64 {
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
}

// pop forgets the oldest entry; its map entry too, unless a later
// invalidation of the same key replaced it.
func (s *suspects) pop() {
	e := s.queue[s.head]
	s.queue[s.head] = suspect{}
	s.head++
	m := s.fams
	if e.client {
		m = s.clients
	}
	if m[e.key] == e.at {
		delete(m, e.key)
	}
}

// reset makes every token issued up to now suspect, and forgets the rest.
func (s *suspects) reset(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.floor = max(s.floor, now.UnixNano())
	clear(s.fams)
	clear(s.clients)
	s.queue, s.head = s.queue[:0], 0
}

// trusted reports whether no invalidation this instance knows of, or may
// have missed, concerns a token of family and client issued at iat.
func (s *suspects) trusted(family, client string, iat time.Time, now func() time.Time) bool {
	if !s.active.Load() {
		s.activate(now)
		return false // issued before the activation
	}
	t := iat.UnixNano() - int64(TrustSkew)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t <= s.floor {
		return false
	}
	if at, ok := s.fams[family]; ok && t <= at {
		return false
	}
	if at, ok := s.clients[client]; ok && t <= at {
		return false
	}
	return true
}

// activate starts recording, with the floor at the moment it does: an
// invalidation note skipped before is older than the floor, which makes
// every token it could concern suspect.
func (s *suspects) activate(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active.Load() {
		return
	}
	s.active.Store(true)
	at := max(now().UnixNano(), s.last) // read after the flag: no skipped note is later
	s.floor, s.last = max(s.floor, at), at
}

// len returns the number of invalidations remembered.
func (s *suspects) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.queue) - s.head
}
