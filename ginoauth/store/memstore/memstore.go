// Package memstore is the in-process store.Store: the default when no Redis
// is configured, and handy in tests. Everything lives in maps guarded by one
// sync.RWMutex, so it is lost when the process exits and is not shared
// between processes; run redisstore for more than one server.
//
// Expired records (tokens, retired refresh tokens, authorization codes past
// their retention, grants whose tokens are all gone, tombstones of revoked
// families, limiter windows that ended) are invisible to reads at once and
// are swept from memory now and then by writes, so memory follows the
// number of live records. Records are copied on the way in and on the way
// out: callers never share memory with the store.
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
// refuses: a nil record, an empty ClientID, user ID or username, a token or
// code Key with an empty Signature or Family, an access token, code or
// retired refresh token without ExpiresAt, records of one write that do not
// share a Family, a zero GrantFilter, a limiter call with an empty key,
// a limit below 1 or a window that is not positive, or a social link with
// an empty provider, upstream ID or user ID or a provider holding ':'.
var ErrInvalid = errors.New("memstore: invalid record")

// minSweep is the least number of writes between two sweeps of expired
// records.
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
	usernames map[string]string    // username -> user ID
	social    map[socialKey]string // upstream account -> user ID
	access    map[store.Key]*store.AccessToken
	refresh   map[store.Key]*store.RefreshToken
	retired   map[store.Key]*store.RetiredRefreshToken
	codes     map[store.Key]*store.AuthorizationCode
	// families indexes every record of a family and holds its grant.
	families map[string]*family
	// revoked holds the tombstones RevokeFamily leaves: until when each
	// revoked family refuses writes.
	revoked map[string]time.Time
	windows map[windowKey]*limitWindow

	// Writes since the last sweep, and how many trigger the next one.
	writes, sweepAt int
}

// family is what the store knows of one family: the keys of its records
// (which may have expired, or be gone when the set is read) and its grant.
type family struct {
	access, refresh, retired, codes map[store.Key]struct{}
	// grant is the grant's client, user, scopes and creation time; its
	// ExpiresAt is computed from the live tokens when read, and it is dead
	// (invisible, replaced by the next save) while none is live. nil until
	// the family's first tokens are saved.
	grant *store.Grant
}

// empty reports whether f indexes no record; its grant, if any, is then
// dead too.
func (f *family) empty() bool {
	return len(f.access) == 0 && len(f.refresh) == 0 && len(f.retired) == 0 && len(f.codes) == 0
}

// windowKey names one limiter window: the key, the window length and the
// window's start, in nanoseconds since the Unix epoch.
type windowKey struct {
	key    string
	window time.Duration
	start  int64
}

type limitWindow struct {
	count int
	end   time.Time
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.SocialLinks = (*Store)(nil)
)

// socialKey names an upstream account.
type socialKey struct{ provider, upstreamID string }

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:       time.Now,
		apps:      make(map[string]*store.Application),
		users:     make(map[string]*store.User),
		usernames: make(map[string]string),
		social:    make(map[socialKey]string),
		access:    make(map[store.Key]*store.AccessToken),
		refresh:   make(map[store.Key]*store.RefreshToken),
		retired:   make(map[store.Key]*store.RetiredRefreshToken),
		codes:     make(map[store.Key]*store.AuthorizationCode),
		families:  make(map[string]*family),
		revoked:   make(map[string]time.Time),
		windows:   make(map[windowKey]*limitWindow),
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

// --- social links ---

// LinkSocialUser links the upstream account (provider, upstreamID) to
// userID; store.ErrDuplicate if it is linked to another user.
func (s *Store) LinkSocialUser(_ context.Context, provider, upstreamID, userID string) error {
	if provider == "" || upstreamID == "" || userID == "" || strings.Contains(provider, ":") {
		return fmt.Errorf("%w: social link without provider, upstream ID or user ID, or a provider with ':'", ErrInvalid)
	}
	k := socialKey{provider, upstreamID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.social[k]; ok {
		if cur == userID {
			return nil
		}
		return fmt.Errorf("%w: %s account %q is linked to another user", store.ErrDuplicate, provider, upstreamID)
	}
	s.social[k] = userID
	return nil
}

// GetSocialUser returns the ID of the user the upstream account is linked
// to, or store.ErrNotFound.
func (s *Store) GetSocialUser(_ context.Context, provider, upstreamID string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.social[socialKey{provider, upstreamID}]
	if !ok {
		return "", store.ErrNotFound
	}
	return id, nil
}

// --- tokens ---

// SaveTokens stores copies of at and, when rt is not nil, rt, and creates
// or updates their family's grant. Both must have a Key with a Signature and
// a Family, share the Family, and at must have an ExpiresAt. A record whose
// ExpiresAt has already passed is accepted and is, like any expired record,
// never returned. If the family was revoked (see RevokeFamily) it stores
// nothing and returns store.ErrRevoked.
func (s *Store) SaveTokens(_ context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	if err := checkPair(at, rt, ""); err != nil {
		return err
	}
	a, r := cloneAccess(at), cloneRefresh(rt)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revokedLocked(a.Key.Family, now) {
		return store.ErrRevoked
	}
	s.putLocked(a, r, time.Time{}, now)
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
// old.Key and the access token old.Access, stores a copy of retired (when
// not nil) under old.Key, and at and rt (rt may be nil), and updates the
// family's grant (client, user and scopes from the new tokens, CreatedAt
// kept). If old's family was revoked (see RevokeFamily) it changes nothing
// and returns store.ErrRevoked; if old.Key is not stored or has expired it
// changes nothing and returns store.ErrNotFound. at and rt must be in old's
// Family, and retired's Key, when not zero, must be old.Key.
func (s *Store) RotateRefreshToken(_ context.Context, old *store.RefreshToken, retired *store.RetiredRefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	if old == nil || !validKey(old.Key) {
		return fmt.Errorf("%w: old refresh token without a valid Key", ErrInvalid)
	}
	if !old.Access.IsZero() && old.Access.Family != old.Key.Family {
		return fmt.Errorf("%w: old access token is in family %q, not %q", ErrInvalid, old.Access.Family, old.Key.Family)
	}
	if err := checkPair(at, rt, old.Key.Family); err != nil {
		return err
	}
	if err := checkRetired(retired, old.Key); err != nil {
		return err
	}
	a, r, x := cloneAccess(at), cloneRefresh(rt), cloneRetired(retired)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revokedLocked(old.Key.Family, now) {
		return store.ErrRevoked
	}
	cur, ok := s.refresh[old.Key]
	if !ok {
		return store.ErrNotFound
	}
	var created time.Time // the grant's, kept; old was live, so was it
	if f := s.families[old.Key.Family]; f != nil && f.grant != nil {
		created = f.grant.CreatedAt
	}
	s.dropLocked(kindRefresh, old.Key)
	if expired(cur.ExpiresAt, now) {
		return store.ErrNotFound
	}
	s.dropLocked(kindAccess, old.Access)
	if x != nil {
		x.Key = old.Key
		s.retired[x.Key] = x
		s.familyLocked(x.Key.Family).retired[x.Key] = struct{}{}
		s.writes++
	}
	s.putLocked(a, r, created, now)
	return nil
}

// GetRetiredRefreshToken returns a copy of the retired record stored under
// k by a rotation, or store.ErrNotFound when there is none or it expired.
func (s *Store) GetRetiredRefreshToken(_ context.Context, k store.Key) (*store.RetiredRefreshToken, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	x, ok := s.retired[k]
	if !ok || expired(x.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	return cloneRetired(x), nil
}

// RevokeAccessToken deletes an access token; no error if absent.
func (s *Store) RevokeAccessToken(_ context.Context, k store.Key) error {
	s.mu.Lock()
	s.dropLocked(kindAccess, k)
	s.mu.Unlock()
	return nil
}

// RevokeRefreshToken deletes a refresh token; no error if absent.
func (s *Store) RevokeRefreshToken(_ context.Context, k store.Key) error {
	s.mu.Lock()
	s.dropLocked(kindRefresh, k)
	s.mu.Unlock()
	return nil
}

// RevokeFamily deletes, under the store's lock, every access, refresh and
// retired refresh token and every authorization code of family, and its
// grant; no error if there are none. It leaves a tombstone that makes
// SaveTokens, RotateRefreshToken and SaveAuthorizationCode into the family
// return store.ErrRevoked for store.RevokedFamilyRetention, or until the
// last of the deleted records would have expired if that is later (those
// that never expire aside); revoking again never shortens it.
func (s *Store) RevokeFamily(_ context.Context, familyID string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	until := now.Add(store.RevokedFamilyRetention)
	if f, ok := s.families[familyID]; ok {
		until = deleteAll(s.access, f.access, until, func(at *store.AccessToken) time.Time { return at.ExpiresAt })
		until = deleteAll(s.refresh, f.refresh, until, func(rt *store.RefreshToken) time.Time { return rt.ExpiresAt })
		until = deleteAll(s.retired, f.retired, until, func(x *store.RetiredRefreshToken) time.Time { return x.ExpiresAt })
		until = deleteAll(s.codes, f.codes, until, func(c *store.AuthorizationCode) time.Time {
			return c.ExpiresAt.Add(store.CodeRetention)
		})
		delete(s.families, familyID)
	}
	if cur, ok := s.revoked[familyID]; !ok || until.After(cur) {
		s.revoked[familyID] = until
	}
	s.wroteLocked(1, now)
	return nil
}

// deleteAll deletes the records of m named in keys and returns the later
// of until and the records' expiry times (a zero time, never, is ignored).
func deleteAll[V any](m map[store.Key]V, keys map[store.Key]struct{}, until time.Time, expiry func(V) time.Time) time.Time {
	for k := range keys {
		if v, ok := m[k]; ok {
			if exp := expiry(v); exp.After(until) {
				until = exp
			}
		}
		delete(m, k)
	}
	return until
}

// revokedLocked reports whether family is revoked at now.
func (s *Store) revokedLocked(family string, now time.Time) bool {
	until, ok := s.revoked[family]
	return ok && now.Before(until)
}

// ListGrants scans every family and returns copies of the live grants
// matching f, newest first (ties by Family). A grant lives while one of its
// access or refresh tokens does; its ExpiresAt is the latest ExpiresAt among
// them, zero if a live refresh token never expires. The zero filter is
// refused with ErrInvalid.
func (s *Store) ListGrants(_ context.Context, f store.GrantFilter) ([]*store.Grant, error) {
	if f.UserID == "" && f.ClientID == "" {
		return nil, fmt.Errorf("%w: empty grant filter", ErrInvalid)
	}
	now := s.now()
	s.mu.RLock()
	out := []*store.Grant{}
	for _, fam := range s.families {
		g := fam.grant
		if g == nil || (f.UserID != "" && g.UserID != f.UserID) || (f.ClientID != "" && g.ClientID != f.ClientID) {
			continue
		}
		exp, live := s.liveUntilLocked(fam, now)
		if !live {
			continue
		}
		c := cloneGrant(g)
		c.ExpiresAt = exp
		out = append(out, c)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *store.Grant) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Family, b.Family)
	})
	return out, nil
}

// --- authorization codes ---

// SaveAuthorizationCode stores a copy of c, kept until c.ExpiresAt +
// store.CodeRetention. c must have a Key with a Signature and a Family and
// an ExpiresAt. A code already stored under c.Key is not replaced:
// store.ErrDuplicate (so that a save can never undo a consumption). If the
// family was revoked (see RevokeFamily) it stores nothing and returns
// store.ErrRevoked.
func (s *Store) SaveAuthorizationCode(_ context.Context, c *store.AuthorizationCode) error {
	if err := checkCode(c); err != nil {
		return err
	}
	cp := cloneCode(c)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revokedLocked(cp.Key.Family, now) {
		return store.ErrRevoked
	}
	if cur, ok := s.codes[cp.Key]; ok && !codeGone(cur, now) {
		return fmt.Errorf("%w: authorization code", store.ErrDuplicate)
	}
	s.codes[cp.Key] = cp
	s.familyLocked(cp.Key.Family).codes[cp.Key] = struct{}{}
	s.wroteLocked(1, now)
	return nil
}

// GetAuthorizationCode returns a copy of the code stored under k, consumed
// or not, or store.ErrNotFound once its retention has passed.
func (s *Store) GetAuthorizationCode(_ context.Context, k store.Key) (*store.AuthorizationCode, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.codes[k]
	if !ok || codeGone(c, now) {
		return nil, store.ErrNotFound
	}
	return cloneCode(c), nil
}

// ConsumeAuthorizationCode marks the code under k consumed at the given
// time, under the store's lock: store.ErrConsumed if it already was,
// store.ErrNotFound if there is no such code.
func (s *Store) ConsumeAuthorizationCode(_ context.Context, k store.Key, at time.Time) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[k]
	if !ok || codeGone(c, now) {
		return store.ErrNotFound
	}
	if !c.ConsumedAt.IsZero() {
		return store.ErrConsumed
	}
	if at.IsZero() {
		at = now // the zero time would read as "not consumed"
	}
	c.ConsumedAt = at
	return nil
}

// --- limiter ---

// Allow counts one event under key in the current fixed window (windows are
// aligned on the Unix epoch) and reports whether the count is within limit;
// when it is not, retryAfter is the time left in the window.
func (s *Store) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if key == "" || limit < 1 || window <= 0 {
		return false, 0, fmt.Errorf("%w: limiter key %q, limit %d, window %v", ErrInvalid, key, limit, window)
	}
	now := s.now()
	ns := now.UnixNano()
	start := ns - ns%int64(window)
	wk := windowKey{key, window, start}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[wk]
	if !ok {
		w = &limitWindow{end: time.Unix(0, start).Add(window)}
		s.windows[wk] = w
		s.wroteLocked(1, now)
	}
	w.count++
	if w.count <= limit {
		return true, 0, nil
	}
	return false, max(w.end.Sub(now), time.Nanosecond), nil
}

// --- families and sweeping ---

type kind int

const (
	kindAccess kind = iota
	kindRefresh
)

// familyLocked returns the family record of id, creating it.
func (s *Store) familyLocked(id string) *family {
	f, ok := s.families[id]
	if !ok {
		f = &family{
			access:  make(map[store.Key]struct{}),
			refresh: make(map[store.Key]struct{}),
			retired: make(map[store.Key]struct{}),
			codes:   make(map[store.Key]struct{}),
		}
		s.families[id] = f
	}
	return f
}

// dropLocked deletes the access or refresh token k and its family index
// entry, and the family once it indexes nothing.
func (s *Store) dropLocked(kd kind, k store.Key) {
	f := s.families[k.Family]
	if kd == kindAccess {
		delete(s.access, k)
		if f != nil {
			delete(f.access, k)
		}
	} else {
		delete(s.refresh, k)
		if f != nil {
			delete(f.refresh, k)
		}
	}
	if f != nil && f.empty() {
		delete(s.families, k.Family)
	}
}

// hasLiveLocked reports whether f has a live access or refresh token at
// now. It stops at the first one, so that saving tokens into a family with
// many costs O(1) while they live.
func (s *Store) hasLiveLocked(f *family, now time.Time) bool {
	for k := range f.access {
		if at, ok := s.access[k]; ok && !expired(at.ExpiresAt, now) {
			return true
		}
	}
	for k := range f.refresh {
		if rt, ok := s.refresh[k]; ok && !expired(rt.ExpiresAt, now) {
			return true
		}
	}
	return false
}

// liveUntilLocked reports whether f has a live access or refresh token at
// now and, if so, when the last of them expires (zero: never).
func (s *Store) liveUntilLocked(f *family, now time.Time) (time.Time, bool) {
	var last time.Time
	live, never := false, false
	for k := range f.access {
		if at, ok := s.access[k]; ok && !expired(at.ExpiresAt, now) {
			live = true
			if at.ExpiresAt.After(last) {
				last = at.ExpiresAt
			}
		}
	}
	for k := range f.refresh {
		if rt, ok := s.refresh[k]; ok && !expired(rt.ExpiresAt, now) {
			live = true
			if rt.ExpiresAt.IsZero() {
				never = true
			} else if rt.ExpiresAt.After(last) {
				last = rt.ExpiresAt
			}
		}
	}
	if never {
		last = time.Time{}
	}
	return last, live
}

// putLocked stores a (and r when not nil) in their family, whose grant it
// updates from them. The grant's CreatedAt is created when not zero (a
// rotation passes the grant's); otherwise it is kept when the grant was
// live, and else taken from a.IssuedAt (or now). It sweeps expired records
// when enough writes have happened since the last sweep.
func (s *Store) putLocked(a *store.AccessToken, r *store.RefreshToken, created, now time.Time) {
	f := s.familyLocked(a.Key.Family)
	live := false
	if created.IsZero() {
		live = s.hasLiveLocked(f, now)
	}
	s.access[a.Key] = a
	f.access[a.Key] = struct{}{}
	n := 1
	if r != nil {
		s.refresh[r.Key] = r
		f.refresh[r.Key] = struct{}{}
		n++
	}
	g := &store.Grant{Family: a.Key.Family, ClientID: a.ClientID, UserID: a.UserID, Username: a.Username, Scopes: slices.Clone(a.Scopes)}
	if r != nil {
		g.ClientID, g.UserID, g.Username, g.Scopes = r.ClientID, r.UserID, r.Username, slices.Clone(r.Scopes)
	}
	switch {
	case !created.IsZero():
		g.CreatedAt = created
	case live && f.grant != nil:
		g.CreatedAt = f.grant.CreatedAt
	case !a.IssuedAt.IsZero():
		g.CreatedAt = a.IssuedAt
	default:
		g.CreatedAt = now
	}
	f.grant = g
	s.wroteLocked(n, now)
}

// wroteLocked counts n writes and sweeps expired records when enough writes
// have happened since the last sweep. The sweep threshold grows with the
// number of records, so sweeping costs O(1) per write amortised, and expired
// records never outnumber the writes since the last sweep.
func (s *Store) wroteLocked(n int, now time.Time) {
	s.writes += n
	if s.writes >= s.sweepAt {
		s.sweepLocked(now)
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
	for k, x := range s.retired {
		if expired(x.ExpiresAt, now) {
			delete(s.retired, k)
		}
	}
	for k, c := range s.codes {
		if codeGone(c, now) {
			delete(s.codes, k)
		}
	}
	for k, w := range s.windows {
		if !now.Before(w.end) {
			delete(s.windows, k)
		}
	}
	for id, until := range s.revoked {
		if !now.Before(until) {
			delete(s.revoked, id)
		}
	}
	for id, f := range s.families {
		pruneIndex(f.access, s.access)
		pruneIndex(f.refresh, s.refresh)
		pruneIndex(f.retired, s.retired)
		pruneIndex(f.codes, s.codes)
		if f.empty() {
			delete(s.families, id)
		}
	}
	s.writes = 0
	s.sweepAt = max(minSweep, len(s.access)+len(s.refresh)+len(s.retired)+len(s.codes)+len(s.windows)+len(s.revoked))
}

// pruneIndex removes from a family index the keys no longer in records.
func pruneIndex[V any](index map[store.Key]struct{}, records map[store.Key]V) {
	for k := range index {
		if _, ok := records[k]; !ok {
			delete(index, k)
		}
	}
}

// codeGone reports whether c's retention has passed at now.
func codeGone(c *store.AuthorizationCode, now time.Time) bool {
	return !now.Before(c.ExpiresAt.Add(store.CodeRetention))
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

// checkRetired validates the retired record of a rotation of the refresh
// token old; nil is valid.
func checkRetired(x *store.RetiredRefreshToken, old store.Key) error {
	if x == nil {
		return nil
	}
	if !x.Key.IsZero() && x.Key != old {
		return fmt.Errorf("%w: retired refresh token keyed %v, not the rotated token's %v", ErrInvalid, x.Key, old)
	}
	if x.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: retired refresh token without ExpiresAt", ErrInvalid)
	}
	return nil
}

func checkCode(c *store.AuthorizationCode) error {
	if c == nil || !validKey(c.Key) {
		return fmt.Errorf("%w: authorization code without a valid Key", ErrInvalid)
	}
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: authorization code without ExpiresAt", ErrInvalid)
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

func cloneRetired(x *store.RetiredRefreshToken) *store.RetiredRefreshToken {
	if x == nil {
		return nil
	}
	c := *x
	c.Successor = slices.Clone(x.Successor)
	return &c
}

func cloneCode(x *store.AuthorizationCode) *store.AuthorizationCode {
	c := *x
	c.Scopes = slices.Clone(x.Scopes)
	return &c
}

func cloneGrant(g *store.Grant) *store.Grant {
	c := *g
	c.Scopes = slices.Clone(g.Scopes)
	return &c
}
