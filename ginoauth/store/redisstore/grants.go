package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ListGrants reads the user's grant index <prefix>u:<user_id> (HGETALL:
// family -> the grant's expiry in Unix ms rounded up to the UTC day, 0:
// never), then the access and refresh token and the tombstone of every
// family whose entry has not expired, in one pipeline (split by slot on
// Cluster), and returns the live grants that match f, newest first (ties
// by Family): client, user, username and scopes from the refresh token
// when there is one (else the access token), CreatedAt from the records,
// ExpiresAt the later of the two tokens' (zero when the refresh token
// never expires). Entries whose expiry has passed, or whose family was
// revoked, are dropped from the index, best effort; an entry whose family
// holds neither token but has no tombstone is not listed and stays until
// its expiry. A filter without
// UserID is refused with ErrInvalid: grants are indexed by user only.
func (s *Store) ListGrants(ctx context.Context, f store.GrantFilter) ([]*store.Grant, error) {
	if f.UserID == "" {
		return nil, fmt.Errorf("%w: grant filter without a user", ErrInvalid)
	}
	index := s.userIndexKey(f.UserID)
	entries, err := s.rdb.HGetAll(ctx, index).Result()
	if err != nil {
		return nil, unavailable("list grants", err)
	}
	out := []*store.Grant{}
	nowMs := s.now().UnixMilli()
	var stale []string
	fams := make([]string, 0, len(entries))
	for fam, e := range entries {
		exp, err := strconv.ParseInt(e, 10, 64)
		if err != nil || !validFamily(fam) || (exp != 0 && exp <= nowMs) {
			stale = append(stale, fam)
			continue
		}
		fams = append(fams, fam)
	}
	if len(fams) > 0 {
		type reads struct {
			a, r *redis.StringCmd
			v    *redis.IntCmd
		}
		cmds := make([]reads, len(fams))
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, fam := range fams {
				cmds[i] = reads{p.Get(ctx, s.familyKey(fam, kindAccess)), p.Get(ctx, s.familyKey(fam, kindRefresh)), p.Exists(ctx, s.familyKey(fam, kindTombstone))}
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable("list grants", err)
		}
		for i, fam := range fams {
			g, err := s.grantOf(fam, cmds[i].a, cmds[i].r)
			if err != nil {
				return nil, err
			}
			if g == nil {
				// Neither token: a revoked family's entry goes. Any other
				// stays until its expiry: on Cluster it may be the entry
				// of tokens still on their way to their node, which a
				// rotation within the day would not write back.
				if cmds[i].v.Val() == 1 {
					stale = append(stale, fam)
				}
				continue
			}
			if g.UserID != f.UserID || (f.ClientID != "" && g.ClientID != f.ClientID) {
				continue
			}
			out = append(out, g)
		}
	}
	if len(stale) > 0 {
		cctx, cancel := undoCtx(ctx)
		_ = s.rdb.HDel(cctx, index, stale...).Err()
		cancel()
	}
	slices.SortFunc(out, func(a, b *store.Grant) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Family, b.Family)
	})
	return out, nil
}

// grantOf builds the grant of family from the replies of its access and
// refresh token GETs; nil when neither lives.
func (s *Store) grantOf(family string, a, r *redis.StringCmd) (*store.Grant, error) {
	now := s.now()
	k := store.Key{Family: family}
	var at *store.AccessToken
	var rt *store.RefreshToken
	if b, err := a.Bytes(); err == nil {
		if at, err = decodeAccess(b, k); err != nil {
			return nil, corrupt("list grants", s.familyKey(family, kindAccess), err)
		}
		if !now.Before(at.ExpiresAt) {
			at = nil
		}
	} else if !errors.Is(err, redis.Nil) {
		return nil, unavailable("list grants", err)
	}
	if b, err := r.Bytes(); err == nil {
		if rt, err = decodeRefresh(b, k); err != nil {
			return nil, corrupt("list grants", s.familyKey(family, kindRefresh), err)
		}
		if !rt.ExpiresAt.IsZero() && !now.Before(rt.ExpiresAt) {
			rt = nil
		}
	} else if !errors.Is(err, redis.Nil) {
		return nil, unavailable("list grants", err)
	}
	switch {
	case rt != nil:
		g := &store.Grant{
			Family: family, ClientID: rt.ClientID, UserID: rt.UserID, Username: rt.Username,
			Scopes: rt.Scopes, Generation: rt.Generation, CreatedAt: rt.GrantCreatedAt, ExpiresAt: rt.ExpiresAt,
		}
		if at != nil && !g.ExpiresAt.IsZero() && at.ExpiresAt.After(g.ExpiresAt) {
			g.ExpiresAt = at.ExpiresAt
		}
		return g, nil
	case at != nil:
		return &store.Grant{
			Family: family, ClientID: at.ClientID, UserID: at.UserID, Username: at.Username,
			Scopes: at.Scopes, Generation: at.Generation, CreatedAt: at.GrantCreatedAt, ExpiresAt: at.ExpiresAt,
		}, nil
	}
	return nil, nil
}
