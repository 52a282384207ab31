package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

var _ store.SigningKeys = (*Store)(nil)

// keysKey is the hash holding the signing key set: field KID, value the
// key's JSON (its private key sealed by the provider). The set is small
// (a few keys) and read whole, so one hash, in one slot, is enough.
func (s *Store) keysKey() string { return s.prefix + "oidc:keys" }

// SaveSigningKey implements store.SigningKeys with HSET.
func (s *Store) SaveSigningKey(ctx context.Context, k *store.SigningKey) error {
	if k == nil || k.KID == "" {
		return fmt.Errorf("%w: signing key without KID", ErrInvalid)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.keysKey(), k.KID, b).Err(); err != nil {
		return unavailable("save signing key", err)
	}
	return nil
}

// ListSigningKeys implements store.SigningKeys with HGETALL. A field that
// does not decode is skipped: one bad record must not stop every
// instance from signing.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	m, err := s.rdb.HGetAll(ctx, s.keysKey()).Result()
	if err != nil {
		return nil, unavailable("list signing keys", err)
	}
	out := make([]*store.SigningKey, 0, len(m))
	for kid, v := range m {
		var k store.SigningKey
		if json.Unmarshal([]byte(v), &k) != nil || k.KID != kid {
			continue
		}
		out = append(out, &k)
	}
	return out, nil
}

// DeleteSigningKey implements store.SigningKeys with HDEL.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	if err := s.rdb.HDel(ctx, s.keysKey(), kid).Err(); err != nil {
		return unavailable("delete signing key", err)
	}
	return nil
}
