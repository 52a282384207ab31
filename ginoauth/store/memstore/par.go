package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

var _ store.PushedRequests = (*Store)(nil)

// pushedTable keeps pushed authorization requests (RFC 9126) by family,
// under its own lock; its zero value is ready.
type pushedTable struct {
	mu       sync.Mutex
	byFamily map[string]*store.PushedRequest
	sweepAt  int
}

func clonePushed(r *store.PushedRequest) *store.PushedRequest {
	cp := *r
	cp.Params = make(map[string][]string, len(r.Params))
	for k, v := range r.Params {
		cp.Params[k] = slices.Clone(v)
	}
	return &cp
}

// sweepLocked drops the expired requests once the table has doubled since
// the last sweep.
func (t *pushedTable) sweepLocked(now time.Time) {
	if t.byFamily == nil {
		t.byFamily = map[string]*store.PushedRequest{}
	}
	if len(t.byFamily) < max(t.sweepAt, 64) {
		return
	}
	maps.DeleteFunc(t.byFamily, func(_ string, r *store.PushedRequest) bool { return !now.Before(r.ExpiresAt) })
	t.sweepAt = 2 * len(t.byFamily)
}

// SavePushedRequest implements store.PushedRequests.
func (s *Store) SavePushedRequest(_ context.Context, r *store.PushedRequest) error {
	if r == nil || !validKey(r.Key) || r.ClientID == "" || r.ExpiresAt.IsZero() {
		return fmt.Errorf("memstore: pushed request without Key, ClientID or ExpiresAt")
	}
	now := s.now()
	if !now.Before(r.ExpiresAt) {
		return nil
	}
	t := &s.pushed
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
	if old, ok := t.byFamily[r.Key.Family]; ok && now.Before(old.ExpiresAt) {
		return fmt.Errorf("%w: pushed request family", store.ErrDuplicate)
	}
	t.byFamily[r.Key.Family] = clonePushed(r)
	return nil
}

// TakePushedRequest implements store.PushedRequests.
func (s *Store) TakePushedRequest(_ context.Context, k store.Key) (*store.PushedRequest, error) {
	now := s.now()
	t := &s.pushed
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.byFamily[k.Family]
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(t.byFamily, k.Family)
	if !sameSig(r.Key, k) || !now.Before(r.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	return clonePushed(r), nil
}
