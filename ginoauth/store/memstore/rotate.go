package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

var _ store.RefreshRotator = (*Store)(nil)

// RotateRefresh implements store.RefreshRotator under the store's lock.
// The new access token's Audience is the grant's Resources.
func (s *Store) RotateRefresh(_ context.Context, old store.Key, req store.RotateRefresh) (*store.RefreshToken, error) {
	if !validKey(old) || !validKey(req.Access) || !validKey(req.Refresh) {
		return nil, fmt.Errorf("%w: rotation without valid Keys", ErrInvalid)
	}
	if req.Access.Family != old.Family || req.Refresh.Family != old.Family {
		return nil, fmt.Errorf("%w: new tokens outside the family %q", ErrInvalid, old.Family)
	}
	if req.AccessExpiresAt.IsZero() || req.Now.IsZero() {
		return nil, fmt.Errorf("%w: rotation without Now or AccessExpiresAt", ErrInvalid)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	fam := old.Family
	if s.revokedLocked(fam, now) {
		return nil, store.ErrRevoked
	}
	cur, ok := s.refresh[fam]
	if !ok || expired(cur.ExpiresAt, req.Now) || expired(cur.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	if cur.ClientID != req.ClientID || cur.Generation != req.Generation {
		return nil, store.ErrGrantMismatch
	}
	if !sameSig(cur.Key, old) {
		return nil, store.ErrRotated
	}
	if cur.JKT != "" {
		// A DPoP-bound refresh token (RFC 9449 section 5) needs a proof,
		// which the caller checks on its slower path.
		return nil, store.ErrGrantMismatch
	}
	if len(req.Ceiling) > 0 {
		for _, sc := range cur.Scopes {
			if !slices.Contains(req.Ceiling, sc) {
				return nil, store.ErrCeiling
			}
		}
	}
	was := cloneRefresh(cur)
	created := cur.GrantCreatedAt
	delete(s.access, fam)
	delete(s.refresh, fam)
	a := &store.AccessToken{
		Key: req.Access, ClientID: cur.ClientID, UserID: cur.UserID, Username: cur.Username,
		Scopes: slices.Clone(cur.Scopes), Audience: slices.Clone(cur.Resources), Generation: cur.Generation,
		IssuedAt: req.Now.UTC(), ExpiresAt: req.AccessExpiresAt,
	}
	r := cloneRefresh(cur)
	r.Key, r.IssuedAt, r.ExpiresAt = req.Refresh, req.Now.UTC(), req.RefreshExpiresAt
	s.putLocked(a, r, created, now)
	return was, nil
}
