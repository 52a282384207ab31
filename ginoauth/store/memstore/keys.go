package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

var _ store.SigningKeys = (*Store)(nil)

// SaveSigningKey implements store.SigningKeys.
func (s *Store) SaveSigningKey(ctx context.Context, k *store.SigningKey) error {
	if k == nil || k.KID == "" {
		return fmt.Errorf("memstore: signing key without KID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.KID] = cloneKey(k)
	return nil
}

// ListSigningKeys implements store.SigningKeys.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*store.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneKey(k))
	}
	return out, nil
}

// DeleteSigningKey implements store.SigningKeys.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, kid)
	return nil
}

func cloneKey(k *store.SigningKey) *store.SigningKey {
	c := *k
	c.Sealed = slices.Clone(k.Sealed)
	return &c
}
