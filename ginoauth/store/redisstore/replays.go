package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// FirstUse implements store.Replays with SET <prefix>once:<key> NX PXAT
// <expiresAt, Unix ms>: one round trip, and Redis itself drops the key when
// it expires. Of concurrent calls with one key, only the one whose SET
// created the key reports true.
func (s *Store) FirstUse(ctx context.Context, key string, expiresAt time.Time) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("%w: empty replay key", ErrInvalid)
	}
	if !s.now().Before(expiresAt) {
		return false, nil
	}
	err := s.rdb.Do(ctx, "SET", s.prefix+"once:"+key, "", "NX", "PXAT", expiresAt.UnixMilli()).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil): // NX: the key exists
		return false, nil
	default:
		return false, unavailable("replay check", err)
	}
}
