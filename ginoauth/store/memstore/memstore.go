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
	"crypto/subtle"
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
// share a Family, a GrantFilter without UserID, a limiter call with an empty key,
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
	// Tokens and codes by family: a family holds one of each (see
	// store.Key); retired refresh tokens by family and signature.
	access  map[string]*store.AccessToken
	refresh map[string]*store.RefreshToken
	retired map[string]map[string]*store.RetiredRefreshToken
	codes   map[string]*store.AuthorizationCode
	// gen is the last application generation given out.
	gen int64
	// revoked holds the tombstones RevokeFamily leaves: until when each
	// revoked family refuses writes.
	revoked map[string]time.Time
	windows map[windowKey]*limitWindow
	// used holds the keys of Replays.FirstUse, until when each is kept.
	used map[string]time.Time
	// device keeps device authorizations (devicecodes.go), its own lock.
	device deviceTable
	// pushed keeps pushed authorization requests (par.go), its own lock.
	pushed pushedTable
	// keys is the signing key set (store.SigningKeys), by KID.
	keys map[string]*store.SigningKey

	// Writes since the last sweep, and how many trigger the next one.
	writes, sweepAt int
}

// windowKey names one limiter log: the key and the window length.
type windowKey struct {
	key    string
	window time.Duration
}

// limitWindow is the times of the events allowed under a windowKey,
// oldest first: at most the limit of the last Allow.
type limitWindow struct {
	times []time.Time
}

// prune drops the events not after now - window.
func (w *limitWindow) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(w.times) && !w.times[i].After(now.Add(-window)) {
		i++
	}
	w.times = w.times[i:]
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
		access:    make(map[string]*store.AccessToken),
		refresh:   make(map[string]*store.RefreshToken),
		retired:   make(map[string]map[string]*store.RetiredRefreshToken),
		codes:     make(map[string]*store.AuthorizationCode),
		revoked:   make(map[string]time.Time),
		windows:   make(map[windowKey]*limitWindow),
		used:      make(map[string]time.Time),
		keys:      make(map[string]*store.SigningKey),
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

// CreateApplication stores a copy of app with a new Generation, which it
// also sets on app; store.ErrDuplicate if its ClientID is taken.
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
	s.gen++
	c.Generation, app.Generation = s.gen, s.gen
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
	cur, ok := s.apps[c.ClientID]
	if !ok {
		return store.ErrNotFound
	}
	c.Generation = cur.Generation
	s.apps[c.ClientID] = c
	return nil
}

// RevokeApplicationTokens gives the application a new Generation and
// returns it; store.ErrNotFound if absent.
func (s *Store) RevokeApplicationTokens(_ context.Context, clientID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.apps[clientID]
	if !ok {
		return 0, store.ErrNotFound
	}
	s.gen++
	app.Generation = s.gen
	return s.gen, nil
}

// DeleteApplication removes an application; store.ErrNotFound if absent.
// Tokens issued to it are left to expire (the provider refuses them).
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

// SaveTokens stores copies of at and, when rt is not nil, rt, replacing
// the access token (and refresh token) their family held. Both must have
// a Key with a Signature and a Family, share the Family, and at must have
// an ExpiresAt. A record whose ExpiresAt has already passed is accepted
// and is, like any expired record, never returned. If the family was
// revoked (see RevokeFamily) it stores nothing and returns
// store.ErrRevoked.
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
// store.ErrNotFound when it does not exist, expired, was revoked or
// replaced.
func (s *Store) GetAccessToken(_ context.Context, k store.Key) (*store.AccessToken, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	at, ok := s.access[k.Family]
	if !ok || !sameSig(at.Key, k) || expired(at.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	return cloneAccess(at), nil
}

// GetRefreshToken returns a copy of the refresh token stored under k, or
// store.ErrNotFound when it does not exist, expired, was revoked or
// replaced.
func (s *Store) GetRefreshToken(_ context.Context, k store.Key) (*store.RefreshToken, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	rt, ok := s.refresh[k.Family]
	if !ok || !sameSig(rt.Key, k) || expired(rt.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	return cloneRefresh(rt), nil
}

// RotateRefreshToken, under the store's lock, deletes the family's access
// token and its refresh token old.Key, stores a copy of retired (when not
// nil) under old.Key, and at and rt (rt may be nil), which keep the
// grant's creation time. If old's family was revoked (see RevokeFamily) it
// changes nothing and returns store.ErrRevoked; if old.Key is not the
// family's refresh token or has expired it changes nothing and returns
// store.ErrNotFound. at and rt must be in old's Family, and retired's Key,
// when not zero, must be old.Key.
func (s *Store) RotateRefreshToken(_ context.Context, old *store.RefreshToken, retired *store.RetiredRefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	if old == nil || !validKey(old.Key) {
		return fmt.Errorf("%w: old refresh token without a valid Key", ErrInvalid)
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
	fam := old.Key.Family
	if s.revokedLocked(fam, now) {
		return store.ErrRevoked
	}
	cur, ok := s.refresh[fam]
	if !ok || !sameSig(cur.Key, old.Key) || expired(cur.ExpiresAt, now) {
		return store.ErrNotFound
	}
	created := cur.GrantCreatedAt
	delete(s.access, fam)
	delete(s.refresh, fam)
	if x != nil {
		x.Key = old.Key
		m := s.retired[fam]
		if m == nil {
			m = make(map[string]*store.RetiredRefreshToken)
			s.retired[fam] = m
		}
		m[old.Key.Signature] = x
		s.writes++
	}
	s.putLocked(a, r, created, now)
	return nil
}

// GetRetiredRefreshToken returns a copy of the retired record stored under
// k by a rotation, else one inferred from k's family's live refresh token
// when that is another token (store.Tokens.GetRetiredRefreshToken), else
// store.ErrNotFound.
func (s *Store) GetRetiredRefreshToken(_ context.Context, k store.Key) (*store.RetiredRefreshToken, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if x, ok := s.retired[k.Family][k.Signature]; ok && !expired(x.ExpiresAt, now) {
		return cloneRetired(x), nil
	}
	cur, ok := s.refresh[k.Family]
	if !ok || sameSig(cur.Key, k) || expired(cur.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	return &store.RetiredRefreshToken{Key: k, ClientID: cur.ClientID, ExpiresAt: cur.ExpiresAt}, nil
}

// RevokeAccessToken deletes the family's access token if it is k's; no
// error if absent.
func (s *Store) RevokeAccessToken(_ context.Context, k store.Key) error {
	s.mu.Lock()
	if at, ok := s.access[k.Family]; ok && sameSig(at.Key, k) {
		delete(s.access, k.Family)
	}
	s.mu.Unlock()
	return nil
}

// RevokeRefreshToken deletes the family's refresh token if it is k's; no
// error if absent.
func (s *Store) RevokeRefreshToken(_ context.Context, k store.Key) error {
	s.mu.Lock()
	if rt, ok := s.refresh[k.Family]; ok && sameSig(rt.Key, k) {
		delete(s.refresh, k.Family)
	}
	s.mu.Unlock()
	return nil
}

// RevokeFamily deletes, under the store's lock, the family's access,
// refresh and retired refresh tokens and its authorization code; no error
// if there are none. It leaves a tombstone that makes SaveTokens,
// RotateRefreshToken and SaveAuthorizationCode into the family return
// store.ErrRevoked for store.RevokedFamilyRetention, or until the last of
// the deleted records would have expired if that is later (those that
// never expire aside); revoking again never shortens it.
func (s *Store) RevokeFamily(_ context.Context, fam string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	until := now.Add(store.RevokedFamilyRetention)
	later := func(t time.Time) {
		if t.After(until) {
			until = t
		}
	}
	if at, ok := s.access[fam]; ok {
		later(at.ExpiresAt)
	}
	if rt, ok := s.refresh[fam]; ok {
		later(rt.ExpiresAt)
	}
	if c, ok := s.codes[fam]; ok {
		later(c.ExpiresAt.Add(store.CodeRetention))
	}
	for _, x := range s.retired[fam] {
		later(x.ExpiresAt)
	}
	delete(s.access, fam)
	delete(s.refresh, fam)
	delete(s.codes, fam)
	delete(s.retired, fam)
	if cur, ok := s.revoked[fam]; !ok || until.After(cur) {
		s.revoked[fam] = until
	}
	s.wroteLocked(1, now)
	return nil
}

// revokedLocked reports whether family is revoked at now.
func (s *Store) revokedLocked(family string, now time.Time) bool {
	until, ok := s.revoked[family]
	return ok && now.Before(until)
}

// ListGrants scans the families and returns the live grants of f's user
// (and client, when set), newest first (ties by Family). A grant lives
// while its access or refresh token does; its client, user and scopes are
// the refresh token's when there is one; its ExpiresAt is the later of
// theirs, zero if a live refresh token never expires. A filter without
// UserID is refused with ErrInvalid.
func (s *Store) ListGrants(_ context.Context, f store.GrantFilter) ([]*store.Grant, error) {
	if f.UserID == "" {
		return nil, fmt.Errorf("%w: grant filter without a user", ErrInvalid)
	}
	now := s.now()
	s.mu.RLock()
	out := []*store.Grant{}
	seen := map[string]bool{}
	add := func(fam string) {
		if seen[fam] {
			return
		}
		seen[fam] = true
		var g *store.Grant
		at, rt := s.access[fam], s.refresh[fam]
		if at != nil && expired(at.ExpiresAt, now) {
			at = nil
		}
		if rt != nil && expired(rt.ExpiresAt, now) {
			rt = nil
		}
		switch {
		case rt != nil:
			g = &store.Grant{Family: fam, ClientID: rt.ClientID, UserID: rt.UserID, Username: rt.Username, Scopes: slices.Clone(rt.Scopes), Generation: rt.Generation, CreatedAt: rt.GrantCreatedAt, ExpiresAt: rt.ExpiresAt}
			if at != nil && !g.ExpiresAt.IsZero() && at.ExpiresAt.After(g.ExpiresAt) {
				g.ExpiresAt = at.ExpiresAt
			}
		case at != nil:
			g = &store.Grant{Family: fam, ClientID: at.ClientID, UserID: at.UserID, Username: at.Username, Scopes: slices.Clone(at.Scopes), Generation: at.Generation, CreatedAt: at.GrantCreatedAt, ExpiresAt: at.ExpiresAt}
		default:
			return
		}
		if g.UserID != f.UserID || (f.ClientID != "" && g.ClientID != f.ClientID) {
			return
		}
		out = append(out, g)
	}
	for fam := range s.refresh {
		add(fam)
	}
	for fam := range s.access {
		add(fam)
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
// an ExpiresAt. If the family holds a code it is not replaced:
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
	if cur, ok := s.codes[cp.Key.Family]; ok && !codeGone(cur, now) {
		return fmt.Errorf("%w: authorization code", store.ErrDuplicate)
	}
	s.codes[cp.Key.Family] = cp
	s.wroteLocked(1, now)
	return nil
}

// GetAuthorizationCode returns a copy of the code stored under k, consumed
// or not, or store.ErrNotFound once its retention has passed.
func (s *Store) GetAuthorizationCode(_ context.Context, k store.Key) (*store.AuthorizationCode, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.codes[k.Family]
	if !ok || !sameSig(c.Key, k) || codeGone(c, now) {
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
	c, ok := s.codes[k.Family]
	if !ok || !sameSig(c.Key, k) || codeGone(c, now) {
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

// Allow implements store.Limiter with a sliding window log.
func (s *Store) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if key == "" || limit < 1 || window <= 0 {
		return false, 0, fmt.Errorf("%w: limiter key %q, limit %d, window %v", ErrInvalid, key, limit, window)
	}
	now := s.now()
	wk := windowKey{key, window}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[wk]
	if !ok {
		w = &limitWindow{}
		s.windows[wk] = w
		s.wroteLocked(1, now)
	}
	w.prune(now, window)
	if len(w.times) < limit {
		w.times = append(w.times, now)
		return true, 0, nil
	}
	return false, max(w.times[0].Add(window).Sub(now), time.Nanosecond), nil
}

// Forget implements store.Limiter.
func (s *Store) Forget(_ context.Context, key string, window time.Duration) error {
	if key == "" || window <= 0 {
		return fmt.Errorf("%w: limiter key %q, window %v", ErrInvalid, key, window)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.windows, windowKey{key, window})
	return nil
}

// FirstUse implements store.Replays.
func (s *Store) FirstUse(_ context.Context, key string, expiresAt time.Time) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("%w: empty replay key", ErrInvalid)
	}
	now := s.now()
	if !now.Before(expiresAt) {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.used[key]; ok && now.Before(until) {
		return false, nil
	}
	s.used[key] = expiresAt
	s.wroteLocked(1, now)
	return true, nil
}

// --- sweeping ---

// sameSig reports, in constant time, whether a record keyed stored is the
// token k names.
func sameSig(stored, k store.Key) bool {
	return subtle.ConstantTimeCompare([]byte(stored.Signature), []byte(k.Signature)) == 1
}

// putLocked stores a (and r when not nil) in their family, replacing what
// it held. Their GrantCreatedAt is created when not zero (a rotation
// passes the grant's), else their IssuedAt (or now). It sweeps expired
// records when enough writes have happened since the last sweep.
func (s *Store) putLocked(a *store.AccessToken, r *store.RefreshToken, created, now time.Time) {
	if created.IsZero() {
		created = a.IssuedAt
		if created.IsZero() {
			created = now
		}
	}
	a.GrantCreatedAt = created
	s.access[a.Key.Family] = a
	n := 1
	if r != nil {
		r.GrantCreatedAt = created
		s.refresh[r.Key.Family] = r
		n++
	}
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
	nRetired := 0
	for fam, m := range s.retired {
		for k, x := range m {
			if expired(x.ExpiresAt, now) {
				delete(m, k)
			}
		}
		if len(m) == 0 {
			delete(s.retired, fam)
		}
		nRetired += len(m)
	}
	for k, c := range s.codes {
		if codeGone(c, now) {
			delete(s.codes, k)
		}
	}
	for k, until := range s.used {
		if !now.Before(until) {
			delete(s.used, k)
		}
	}
	for k, w := range s.windows {
		if w.prune(now, k.window); len(w.times) == 0 {
			delete(s.windows, k)
		}
	}
	for id, until := range s.revoked {
		if !now.Before(until) {
			delete(s.revoked, id)
		}
	}
	s.writes = 0
	s.sweepAt = max(minSweep, len(s.access)+len(s.refresh)+nRetired+len(s.codes)+len(s.windows)+len(s.revoked)+len(s.used))
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
	c.PostLogoutRedirectURIs = slices.Clone(a.PostLogoutRedirectURIs)
	c.JWKS = slices.Clone(a.JWKS)
	c.SealedSecret = slices.Clone(a.SealedSecret)
	return &c
}

func cloneAccess(a *store.AccessToken) *store.AccessToken {
	c := *a
	c.Scopes = slices.Clone(a.Scopes)
	c.Audience = slices.Clone(a.Audience)
	return &c
}

func cloneRefresh(r *store.RefreshToken) *store.RefreshToken {
	if r == nil {
		return nil
	}
	c := *r
	c.Scopes = slices.Clone(r.Scopes)
	c.Resources = slices.Clone(r.Resources)
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
	c.Resources = slices.Clone(x.Resources)
	return &c
}
