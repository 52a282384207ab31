// Package memstore is the in-process store.Store: the default when no Redis
// is configured, and handy in tests. Everything lives in maps guarded by one
// sync.RWMutex, so it is lost when the process exits and is not shared
// between processes; run redisstore for more than one server.
//
// Expired tokens are invisible to reads at once and are swept from memory now
// and then by writes, so memory follows the number of live tokens. Records
// are copied on the way in and on the way out: callers never share memory
// with the store.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ErrInvalid is returned, wrapped with details, for a record the store
// refuses: a nil record, an empty ClientID, user ID or username, a token Key
// with an empty Signature or Family, an access token without ExpiresAt, or
// tokens of one write that do not share a Family.
var ErrInvalid = errors.New("memstore: invalid record")

// minSweep is the least number of token writes between two sweeps of expired
// tokens.
const minSweep = 256

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock the store reads to decide whether a record has
// expired; the default is time.Now. Tests inject a fake clock with it.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// Store is an in-memory store.Store, safe for concurrent use. Create it with
// New; the zero value is not usable.
type Store struct {
	now func() time.Time

	mu        sync.RWMutex
	apps      map[string]*store.Application
	users     map[string]*store.User
	usernames map[string]string // username -> user ID
	access    map[store.Key]*store.AccessToken
	refresh   map[store.Key]*store.RefreshToken

	// Token writes since the last sweep, and how many trigger the next one.
	writes, sweepAt int
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:       time.Now,
		apps:      make(map[string]*store.Application),
		users:     make(map[string]*store.User),
		usernames: make(map[string]string),
		access:    make(map[store.Key]*store.AccessToken),
		refresh:   make(map[store.Key]*store.RefreshToken),
		sweepAt:   minSweep,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Ping always succeeds unless ctx is done.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: memstore: %w", store.ErrUnavailable, err)
	}
	return nil
}

// --- applications ---

// CreateApplication stores a copy of app; store.ErrDuplicate if its ClientID
// is taken.
func (s *Store) CreateApplication(_ context.Context, app *store.Application) error {
	if app == nil || app.ClientID == "" {
		return fmt.Errorf("%w: application without ClientID", ErrInvalid)
	}
	c := cloneApp(app)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[c.ClientID]; ok {
		return fmt.Errorf("%w: application %q", store.ErrDuplicate, c.ClientID)
	}
	s.apps[c.ClientID] = c
	return nil
}

// GetApplication returns a copy of the application or store.ErrNotFound.
func (s *Store) GetApplication(_ context.Context, clientID string) (*store.Application, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	app, ok := s.apps[clientID]
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneApp(app), nil
}

// UpdateApplication replaces the stored application with a copy of app;
// store.ErrNotFound if absent.
func (s *Store) UpdateApplication(_ context.Context, app *store.Application) error {
	if app == nil || app.ClientID == "" {
		return fmt.Errorf("%w: application without ClientID", ErrInvalid)
	}
	c := cloneApp(app)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[c.ClientID]; !ok {
		return store.ErrNotFound
	}
	s.apps[c.ClientID] = c
	return nil
}

// DeleteApplication removes an application; store.ErrNotFound if absent.
// Tokens issued to it are left to expire.
func (s *Store) DeleteApplication(_ context.Context, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[clientID]; !ok {
		return store.ErrNotFound
	}
	delete(s.apps, clientID)
	return nil
}

// ListApplications returns copies of every application, ordered by ClientID.
func (s *Store) ListApplications(_ context.Context) ([]*store.Application, error) {
	s.mu.RLock()
	out := make([]*store.Application, 0, len(s.apps))
	for _, app := range s.apps {
		out = append(out, cloneApp(app))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *store.Application) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// --- users ---

// CreateUser stores a copy of u; store.ErrDuplicate if its ID or Username is
// taken.
func (s *Store) CreateUser(_ context.Context, u *store.User) error {
	if u == nil || u.ID == "" || u.Username == "" {
		return fmt.Errorf("%w: user without ID or Username", ErrInvalid)
	}
	c := *u
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.usernames[c.Username]; ok {
		return fmt.Errorf("%w: username %q", store.ErrDuplicate, c.Username)
	}
	if _, ok := s.users[c.ID]; ok {
		return fmt.Errorf("%w: user ID %q", store.ErrDuplicate, c.ID)
	}
	s.users[c.ID] = &c
	s.usernames[c.Username] = c.ID
	return nil
}

// GetUser returns a copy of the user with that ID or store.ErrNotFound.
func (s *Store) GetUser(_ context.Context, id string) (*store.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *u
	return &c, nil
}

// GetUserByUsername returns a copy of the user with that username or
// store.ErrNotFound.
func (s *Store) GetUserByUsername(_ context.Context, username string) (*store.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[s.usernames[username]]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *u
	return &c, nil
}

// --- tokens ---

// SaveTokens stores copies of at and, when rt is not nil, rt. Both must
// have a Key with a Signature and a Family, share the Family, and at must
// have an ExpiresAt. A record whose ExpiresAt has already passed is accepted
// and is, like any expired record, never returned.
func (s *Store) SaveTokens(_ context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	if err := checkPair(at, rt, ""); err != nil {
		return err
	}
	a, r := cloneAccess(at), cloneRefresh(rt)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(a, r)
	return nil
}

// GetAccessToken returns a copy of the access token stored under k, or
// store.ErrNotFound when it does not exist, expired or was revoked.
func (s *Store) GetAccessToken(_ context.Context, k store.Key) (*store.AccessToken, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	at, ok := s.access[k]
	if !ok || expired(at.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	return cloneAccess(at), nil
}

// GetRefreshToken returns a copy of the refresh token stored under k, or
// store.ErrNotFound when it does not exist, expired or was revoked.
func (s *Store) GetRefreshToken(_ context.Context, k store.Key) (*store.RefreshToken, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	rt, ok := s.refresh[k]
	if !ok || expired(rt.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	return cloneRefresh(rt), nil
}

// RotateRefreshToken, under the store's lock, deletes the refresh token
// old.Key and the access token old.Access and stores at and rt (rt may be
// nil). If old.Key is not stored or has expired it changes nothing and
// returns store.ErrNotFound. at and rt must be in old's Family.
func (s *Store) RotateRefreshToken(_ context.Context, old *store.RefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	if old == nil || !validKey(old.Key) {
		return fmt.Errorf("%w: old refresh token without a valid Key", ErrInvalid)
	}
	if !old.Access.IsZero() && old.Access.Family != old.Key.Family {
		return fmt.Errorf("%w: old access token is in family %q, not %q", ErrInvalid, old.Access.Family, old.Key.Family)
	}
	if err := checkPair(at, rt, old.Key.Family); err != nil {
		return err
	}
	a, r := cloneAccess(at), cloneRefresh(rt)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.refresh[old.Key]
	if !ok {
		return store.ErrNotFound
	}
	delete(s.refresh, old.Key)
	if expired(cur.ExpiresAt, now) {
		return store.ErrNotFound
	}
	delete(s.access, old.Access)
	s.putLocked(a, r)
	return nil
}

// RevokeAccessToken deletes an access token; no error if absent.
func (s *Store) RevokeAccessToken(_ context.Context, k store.Key) error {
	s.mu.Lock()
	delete(s.access, k)
	s.mu.Unlock()
	return nil
}

// RevokeRefreshToken deletes a refresh token; no error if absent.
func (s *Store) RevokeRefreshToken(_ context.Context, k store.Key) error {
	s.mu.Lock()
	delete(s.refresh, k)
	s.mu.Unlock()
	return nil
}

// putLocked stores a (and r when not nil) and sweeps expired tokens when
// enough writes have happened since the last sweep. The sweep threshold
// grows with the number of tokens, so sweeping costs O(1) per write
// amortised, and expired tokens never outnumber the writes since the last
// sweep.
func (s *Store) putLocked(a *store.AccessToken, r *store.RefreshToken) {
	s.access[a.Key] = a
	s.writes++
	if r != nil {
		s.refresh[r.Key] = r
		s.writes++
	}
	if s.writes >= s.sweepAt {
		s.sweepLocked(s.now())
	}
}

func (s *Store) sweepLocked(now time.Time) {
	for k, at := range s.access {
		if expired(at.ExpiresAt, now) {
			delete(s.access, k)
		}
	}
	for k, rt := range s.refresh {
		if expired(rt.ExpiresAt, now) {
			delete(s.refresh, k)
		}
	}
	s.writes = 0
	s.sweepAt = max(minSweep, len(s.access)+len(s.refresh))
}

// expired reports whether a record expiring at exp (zero: never) has expired
// at now.
func expired(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp)
}

func validKey(k store.Key) bool { return k.Signature != "" && k.Family != "" }

// checkPair validates the tokens of one write; family, when not empty, is
// the family they must be in.
func checkPair(at *store.AccessToken, rt *store.RefreshToken, family string) error {
	if at == nil || !validKey(at.Key) {
		return fmt.Errorf("%w: access token without a valid Key", ErrInvalid)
	}
	if at.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: access token without ExpiresAt", ErrInvalid)
	}
	if family == "" {
		family = at.Key.Family
	}
	if at.Key.Family != family {
		return fmt.Errorf("%w: access token is in family %q, not %q", ErrInvalid, at.Key.Family, family)
	}
	if rt == nil {
		return nil
	}
	if !validKey(rt.Key) {
		return fmt.Errorf("%w: refresh token without a valid Key", ErrInvalid)
	}
	if rt.Key.Family != family {
		return fmt.Errorf("%w: refresh token is in family %q, not %q", ErrInvalid, rt.Key.Family, family)
	}
	return nil
}

func cloneApp(a *store.Application) *store.Application {
	c := *a
	c.GrantTypes = slices.Clone(a.GrantTypes)
	c.RedirectURIs = slices.Clone(a.RedirectURIs)
	c.AllowedScopes = slices.Clone(a.AllowedScopes)
	return &c
}

func cloneAccess(a *store.AccessToken) *store.AccessToken {
	c := *a
	c.Scopes = slices.Clone(a.Scopes)
	return &c
}

func cloneRefresh(r *store.RefreshToken) *store.RefreshToken {
	if r == nil {
		return nil
	}
	c := *r
	c.Scopes = slices.Clone(r.Scopes)
	return &c
}
