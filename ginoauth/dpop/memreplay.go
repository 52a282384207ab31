package dpop

import (
	"context"
	"sync"
	"time"
)

// DefaultMemoryReplaySize is NewMemoryReplay's bound when given none.
const DefaultMemoryReplaySize = 100_000

// MemoryReplay is a ReplayChecker in process memory, for a resource server
// without a shared store (one that trusts a remote provider by
// introspection). It is per instance: a proof replayed to another
// instance is not recognised there, so behind a load balancer give every
// instance a shared ReplayChecker (a redisstore.Store is one). It holds at
// most its size of keys; when full, expired keys are dropped and, if none
// has expired, a new proof is refused (an error: the caller answers 503)
// rather than a remembered one forgotten.
type MemoryReplay struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time
	now  func() time.Time
}

// NewMemoryReplay returns a MemoryReplay holding at most size keys (zero
// means DefaultMemoryReplaySize).
func NewMemoryReplay(size int) *MemoryReplay {
	if size <= 0 {
		size = DefaultMemoryReplaySize
	}
	return &MemoryReplay{max: size, seen: make(map[string]time.Time), now: time.Now}
}

// errReplayFull is MemoryReplay's answer when it is full of live keys.
var errReplayFull = errorString("dpop: the in-memory replay cache is full")

type errorString string

func (e errorString) Error() string { return string(e) }

// FirstUse implements ReplayChecker.
func (m *MemoryReplay) FirstUse(_ context.Context, key string, expiresAt time.Time) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	if len(m.seen) >= m.max {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= m.max {
			return false, errReplayFull
		}
	}
	m.seen[key] = expiresAt
	return true, nil
}
