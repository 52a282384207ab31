package snippets

import (
	"context"
	"sync"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Memory is an in-process Store: the demo's when it runs without Redis. It
// forgets everything when the process exits. Create it with NewMemory.
type Memory struct {
	mu     sync.RWMutex
	lastID int64
	byID   map[int64]Snippet
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{byID: make(map[int64]Snippet)}
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, s *Snippet) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastID++
	s.ID = m.lastID
	m.byID[s.ID] = *s
	return nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id int64) (*Snippet, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.byID[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &s, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context) ([]*Snippet, error) {
	m.mu.RLock()
	out := make([]*Snippet, 0, len(m.byID))
	for _, s := range m.byID {
		out = append(out, &s)
	}
	m.mu.RUnlock()
	sortByCreated(out)
	return out, nil
}

// Update implements Store.
func (m *Memory) Update(_ context.Context, s *Snippet) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[s.ID]; !ok {
		return store.ErrNotFound
	}
	m.byID[s.ID] = *s
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.byID, id)
	return nil
}
