package redisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// socialKey is <prefix>social:<provider>:<upstream id>; the provider holds
// no ':', so the name is unambiguous.
func (s *Store) socialKey(provider, upstreamID string) string {
	return s.prefix + "social:" + provider + ":" + upstreamID
}

// LinkSocialUser links the upstream account (provider, upstreamID) to
// userID by claiming <prefix>social:<provider>:<upstream id> with SET NX
// (no TTL); when the key is taken, it reads it: the same user is success,
// another is store.ErrDuplicate.
func (s *Store) LinkSocialUser(ctx context.Context, provider, upstreamID, userID string) error {
	if provider == "" || upstreamID == "" || userID == "" || strings.Contains(provider, ":") {
		return fmt.Errorf("%w: social link without provider, upstream ID or user ID, or a provider with ':'", ErrInvalid)
	}
	key := s.socialKey(provider, upstreamID)
	ok, err := s.rdb.SetNX(ctx, key, userID, 0).Result()
	if err != nil {
		return unavailable("link social user", err)
	}
	if ok {
		return nil
	}
	cur, err := s.rdb.Get(ctx, key).Result()
	if err != nil {
		return mapErr("link social user", err)
	}
	if cur != userID {
		return fmt.Errorf("%w: %s account %q is linked to another user", store.ErrDuplicate, provider, upstreamID)
	}
	return nil
}

// GetSocialUser returns the ID of the user the upstream account is linked
// to, or store.ErrNotFound.
func (s *Store) GetSocialUser(ctx context.Context, provider, upstreamID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.socialKey(provider, upstreamID)).Result()
	if err != nil {
		return "", mapErr("get social user", err)
	}
	return id, nil
}
