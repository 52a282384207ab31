package snippets

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Memory is an in-process Store: the demo's when it runs without Redis. It
// forgets everything when the process exits. Create it with NewMemory.
type Memory struct {
	mu     sync.RWMutex
	lastID int64
	byID   map[int64]Snippet
	// order is every snippet's place in the list, sorted by listOrder,
	// so that List copies one page only.
	order []entry
}

// entry is a snippet's place in the list.
type entry struct {
	created time.Time
	id      int64
}

func cmpEntry(a, b entry) int { return listOrder(a.created, a.id, b.created, b.id) }

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{byID: make(map[int64]Snippet)}
}

// insert puts e in its place in m.order.
func (m *Memory) insert(e entry) {
	i, _ := slices.BinarySearchFunc(m.order, e, cmpEntry)
	m.order = slices.Insert(m.order, i, e)
}

// remove takes e out of m.order.
func (m *Memory) remove(e entry) {
	if i, ok := slices.BinarySearchFunc(m.order, e, cmpEntry); ok {
		m.order = slices.Delete(m.order, i, i+1)
	}
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, s *Snippet) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastID++
	s.ID = m.lastID
	m.byID[s.ID] = *s
	m.insert(entry{s.Created, s.ID})
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
func (m *Memory) List(_ context.Context, offset, limit int) ([]*Snippet, int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	lo, hi := pageBounds(offset, limit, len(m.order))
	out := make([]*Snippet, 0, hi-lo)
	for _, e := range m.order[lo:hi] {
		s := m.byID[e.id]
		out = append(out, &s)
	}
	return out, len(m.order), nil
}

// Update implements Store.
func (m *Memory) Update(_ context.Context, s *Snippet) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.byID[s.ID]
	if !ok {
		return store.ErrNotFound
	}
	m.remove(entry{old.Created, old.ID})
	m.byID[s.ID] = *s
	m.insert(entry{s.Created, s.ID})
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.byID[id]
	if !ok {
		return store.ErrNotFound
	}
	m.remove(entry{old.Created, old.ID})
	delete(m.byID, id)
	return nil
}
