package gooauth2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TokenStore is a go-oauth2 oauth2.TokenStore on go-redis v9 that never
// keeps a raw token. Create it with NewTokenStore and hand it to
// manage.Manager.MapTokenStorage in place of go-oauth2/redis.
//
// How it differs from go-oauth2/redis v4:
//
//   - Keys are the hex SHA-256 of the token: <prefix>at:<sha256(access)>,
//     <prefix>rt:<sha256(refresh)> and <prefix>code:<sha256(code)>. Values
//     are the token information as JSON with the token strings removed (the
//     pair's other token is recorded by its signature only), so a dump of
//     Redis holds nothing a client could present. go-oauth2/redis keys by
//     the raw token and stores the raw tokens in the value.
//   - Each record carries everything go-oauth2 reads, so GetByAccess (run on
//     every protected request) is one GET, not two sequential ones.
//   - TTLs come from the token information: the access key lives until the
//     access token expires (never past its refresh token), the refresh key
//     until the refresh token expires, a code until it expires. An expiry
//     of zero means no TTL, as in go-oauth2.
//   - A pair is written with MULTI/EXEC (both or neither). Refreshing is
//     atomic: Create of the new pair, with the TokenInfo that GetByRefresh
//     returned, is one Lua script that stores the new pair only if the old
//     refresh token is still stored, and removes the old pair in the same
//     step. Of concurrent refreshes of one token exactly one succeeds; the
//     others get oauth2/errors.ErrInvalidRefreshToken (invalid_grant) and
//     no token. Likewise RemoveByCode reports a code that a concurrent
//     request already removed, so a code is redeemed at most once.
//   - RemoveByRefresh removes the refresh token and the access token issued
//     with it, atomically (a logout revokes both; go-oauth2/redis leaves the
//     access token alive).
//
// Consequences for callers: a TokenInfo returned by GetByAccess carries
// only the access token that was presented, GetByRefresh only the refresh
// token, GetByCode only the code (the other token strings are empty: they
// are not stored). go-oauth2's Manager needs no more.
//
// The Lua scripts touch keys whose names they read from a record, so the
// TokenStore works on a single Redis node or Sentinel, not on Redis
// Cluster.
type TokenStore struct {
	rdb      redis.UniversalClient
	prefix   string
	legacyNS *string // go-oauth2/redis's namespace, with WithLegacyNamespace
	now      func() time.Time
}

var (
	_ oauth2.TokenStore       = (*TokenStore)(nil)
	_ resource.TokenValidator = (*TokenStore)(nil)
)

// NewTokenStore returns a TokenStore on client. Options: WithPrefix,
// WithLegacyNamespace (to keep the tokens go-oauth2/redis already stored),
// WithClock. It does not contact Redis.
func NewTokenStore(client redis.UniversalClient, opts ...Option) *TokenStore {
	if client == nil {
		panic("gooauth2: NewTokenStore needs a Redis client")
	}
	o := newOptions(opts)
	return &TokenStore{rdb: client, prefix: o.prefix, legacyNS: o.legacyNS, now: o.now}
}

// signature is the hex SHA-256 of a token, the only form in which the
// TokenStore keeps it.
func signature(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *TokenStore) accessKey(sig string) string  { return s.prefix + "at:" + sig }
func (s *TokenStore) refreshKey(sig string) string { return s.prefix + "rt:" + sig }
func (s *TokenStore) codeKey(sig string) string    { return s.prefix + "code:" + sig }

// record is what the TokenStore keeps: go-oauth2's token model with the
// token strings blanked, and the signatures of the pair.
type record struct {
	models.Token
	AccessSig  string `json:"as,omitempty"`
	RefreshSig string `json:"rs,omitempty"`
}

// tokenInfo is the oauth2.TokenInfo the TokenStore returns. For one loaded
// by GetByRefresh it remembers the pair it came from, so that Create of the
// rotated pair can replace it atomically.
type tokenInfo struct {
	*models.Token
	// oldRefreshKey is the key of the refresh token it was loaded by,
	// which must still exist for the rotation to happen; oldKeys are the
	// other keys of the old pair, deleted with it.
	oldRefreshKey string
	oldKeys       []string
}

// New returns an empty token model, as models.Token.New does.
func (t *tokenInfo) New() oauth2.TokenInfo { return models.NewToken() }

// toModel copies any oauth2.TokenInfo into go-oauth2's model.
func toModel(info oauth2.TokenInfo) models.Token {
	t := models.Token{
		ClientID:            info.GetClientID(),
		UserID:              info.GetUserID(),
		RedirectURI:         info.GetRedirectURI(),
		Scope:               info.GetScope(),
		Code:                info.GetCode(),
		CodeChallenge:       info.GetCodeChallenge(),
		CodeChallengeMethod: info.GetCodeChallengeMethod().String(),
		CodeCreateAt:        info.GetCodeCreateAt(),
		CodeExpiresIn:       info.GetCodeExpiresIn(),
		Access:              info.GetAccess(),
		AccessCreateAt:      info.GetAccessCreateAt(),
		AccessExpiresIn:     info.GetAccessExpiresIn(),
		Refresh:             info.GetRefresh(),
		RefreshCreateAt:     info.GetRefreshCreateAt(),
		RefreshExpiresIn:    info.GetRefreshExpiresIn(),
	}
	if e, ok := info.(oauth2.ExtendableTokenInfo); ok {
		t.Extension = e.GetExtension()
	}
	return t
}

// ttl is how long a key should live for a token created at createAt for
// exp: 0 means no expiry (exp is 0); a token already expired still gets a
// millisecond, so it is stored and gone at once, never kept forever.
func (s *TokenStore) ttl(createAt time.Time, exp time.Duration) time.Duration {
	if exp <= 0 {
		return 0
	}
	d := createAt.Add(exp).Sub(s.now())
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}

// Create stores new token information: an authorization code, or an access
// token with its refresh token. When info is the TokenInfo GetByRefresh
// returned (go-oauth2's refresh flow), the new pair replaces the old one
// atomically, and Create fails with oerrors.ErrInvalidRefreshToken if the
// old refresh token is no longer stored (used, removed or expired).
func (s *TokenStore) Create(ctx context.Context, info oauth2.TokenInfo) error {
	if info == nil {
		return errors.New("gooauth2: Create: nil token information")
	}
	m := toModel(info)
	if code := m.Code; code != "" {
		rec := record{Token: m}
		rec.Code, rec.Access, rec.Refresh = "", "", ""
		v, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("gooauth2: encoding token information: %w", err)
		}
		if err := s.rdb.Set(ctx, s.codeKey(signature(code)), v, s.ttl(m.CodeCreateAt, m.CodeExpiresIn)).Err(); err != nil {
			return unavailable("storing a code", err)
		}
		return nil
	}
	if m.Access == "" {
		return errors.New("gooauth2: Create: token information without a code or an access token")
	}
	rec := record{Token: m, AccessSig: signature(m.Access)}
	if m.Refresh != "" {
		rec.RefreshSig = signature(m.Refresh)
	}
	rec.Code, rec.Access, rec.Refresh = "", "", ""
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("gooauth2: encoding token information: %w", err)
	}

	accessTTL := s.ttl(m.AccessCreateAt, m.AccessExpiresIn)
	var refreshTTL time.Duration
	if rec.RefreshSig != "" {
		refreshTTL = s.ttl(m.RefreshCreateAt, m.RefreshExpiresIn)
		// An access token never outlives its refresh token, as with
		// go-oauth2/redis.
		if refreshTTL > 0 && (accessTTL == 0 || accessTTL > refreshTTL) {
			accessTTL = refreshTTL
		}
	}

	if old, ok := info.(*tokenInfo); ok && old.oldRefreshKey != "" {
		return s.rotate(ctx, old, rec, v, accessTTL, refreshTTL)
	}

	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.accessKey(rec.AccessSig), v, accessTTL)
		if rec.RefreshSig != "" {
			p.Set(ctx, s.refreshKey(rec.RefreshSig), v, refreshTTL)
		}
		return nil
	})
	if err != nil {
		return unavailable("storing tokens", err)
	}
	return nil
}

// rotateScript replaces a pair in one step. KEYS: the old refresh key
// (which must exist), the new access key, the new refresh key (may equal
// the old one, when the refresh token is kept), then the other keys of the
// old pair, to delete. ARGV: record, access TTL ms, refresh TTL ms (0 for
// none), "1" when there is a refresh token to store. Returns 0, changing
// nothing, when the old refresh token is gone.
var rotateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
local function put(key, ttl)
  if tonumber(ttl) > 0 then
    redis.call('SET', key, ARGV[1], 'PX', ttl)
  else
    redis.call('SET', key, ARGV[1])
  end
end
put(KEYS[2], ARGV[2])
if ARGV[4] == '1' then put(KEYS[3], ARGV[3]) end
return 1
`)

func (s *TokenStore) rotate(ctx context.Context, old *tokenInfo, rec record, v []byte, accessTTL, refreshTTL time.Duration) error {
	newRefresh, hasRefresh := old.oldRefreshKey, "0"
	if rec.RefreshSig != "" {
		newRefresh, hasRefresh = s.refreshKey(rec.RefreshSig), "1"
	}
	keys := append([]string{old.oldRefreshKey, s.accessKey(rec.AccessSig), newRefresh}, old.oldKeys...)
	n, err := rotateScript.Run(ctx, s.rdb, keys, v, accessTTL.Milliseconds(), refreshTTL.Milliseconds(), hasRefresh).Int()
	if err != nil {
		return unavailable("rotating tokens", err)
	}
	if n == 0 {
		return oerrors.ErrInvalidRefreshToken
	}
	// The TokenInfo now describes the new pair only.
	old.oldRefreshKey, old.oldKeys = "", nil
	return nil
}

// lookupScript reads a token's record in one round trip: KEYS[1] is the
// TokenStore's key; when it is absent and KEYS[2] (the go-oauth2/redis
// key, ns + token) is given, the legacy layout: for a code the record
// itself, for an access or refresh token a basic id pointing to it (ARGV[1]
// is ns; ARGV[2] is "1" to follow the pointer). Returns {kind, value,
// basic id} with kind "n" (ours), "l" (legacy) or false.
var lookupScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {'n', v, ''} end
if #KEYS < 2 then return false end
v = redis.call('GET', KEYS[2])
if not v then return false end
if ARGV[2] ~= '1' then return {'l', v, ''} end
local rec = redis.call('GET', ARGV[1] .. v)
if not rec then return false end
return {'l', rec, v}
`)

// found is one record found by lookup.
type found struct {
	tok     models.Token
	rec     record // ours only
	legacy  bool
	basicID string // legacy access and refresh tokens only
}

// lookup finds the record of token under key, in the TokenStore's layout
// and, with WithLegacyNamespace, in go-oauth2/redis's; nil when there is
// none, as go-oauth2's TokenStore contract has it. Without a legacy
// namespace it is a plain GET.
func (s *TokenStore) lookup(ctx context.Context, key, token string, pointer bool) (*found, error) {
	var kind, val, basicID string
	if s.legacyNS == nil {
		v, err := s.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, unavailable("reading a token", err)
		}
		kind, val = "n", v
	} else {
		follow := "0"
		if pointer {
			follow = "1"
		}
		res, err := lookupScript.Run(ctx, s.rdb, []string{key, *s.legacyNS + token}, *s.legacyNS, follow).StringSlice()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, unavailable("reading a token", err)
		}
		if len(res) != 3 {
			return nil, fmt.Errorf("gooauth2: unexpected lookup reply of %d elements", len(res))
		}
		kind, val, basicID = res[0], res[1], res[2]
	}
	f := &found{legacy: kind == "l", basicID: basicID}
	if f.legacy {
		if err := json.Unmarshal([]byte(val), &f.tok); err != nil {
			// The key holds something else, such as the basic id of an
			// access token presented as a code.
			return nil, nil
		}
		return f, nil
	}
	if err := json.Unmarshal([]byte(val), &f.rec); err != nil {
		return nil, fmt.Errorf("gooauth2: decoding token information: %w", err)
	}
	f.tok = f.rec.Token
	return f, nil
}

// GetByCode returns the information stored for an authorization code, or
// (nil, nil) when there is none. Its Code is the code given.
func (s *TokenStore) GetByCode(ctx context.Context, code string) (oauth2.TokenInfo, error) {
	if code == "" {
		return nil, nil
	}
	f, err := s.lookup(ctx, s.codeKey(signature(code)), code, false)
	if f == nil {
		return nil, err
	}
	if f.legacy && f.tok.Code != code {
		return nil, nil // the legacy key held something else
	}
	t := f.tok
	t.Code, t.Access, t.Refresh = code, "", ""
	return &tokenInfo{Token: &t}, nil
}

// GetByAccess returns the information stored for an access token with one
// round trip, or (nil, nil) when there is none. Its Access is the token
// given; its Refresh is empty.
func (s *TokenStore) GetByAccess(ctx context.Context, access string) (oauth2.TokenInfo, error) {
	if access == "" {
		return nil, nil
	}
	f, err := s.lookup(ctx, s.accessKey(signature(access)), access, true)
	if f == nil {
		return nil, err
	}
	if f.legacy && f.tok.Access != access {
		return nil, nil // a legacy refresh token presented as an access token
	}
	t := f.tok
	t.Code, t.Access, t.Refresh = "", access, ""
	return &tokenInfo{Token: &t}, nil
}

// GetByRefresh returns the information stored for a refresh token, or (nil,
// nil) when there is none. Its Refresh is the token given; its Access is
// empty. Passed back to Create with a new pair set on it, it makes Create
// replace the old pair atomically (a go-oauth2/redis pair included: the new
// pair is stored in the TokenStore's layout).
func (s *TokenStore) GetByRefresh(ctx context.Context, refresh string) (oauth2.TokenInfo, error) {
	if refresh == "" {
		return nil, nil
	}
	sig := signature(refresh)
	f, err := s.lookup(ctx, s.refreshKey(sig), refresh, true)
	if f == nil {
		return nil, err
	}
	t := f.tok
	ti := &tokenInfo{Token: &t}
	if f.legacy {
		if t.Refresh != refresh {
			return nil, nil // a legacy access token presented as a refresh token
		}
		ns := *s.legacyNS
		ti.oldRefreshKey = ns + refresh
		ti.oldKeys = []string{ns + f.basicID}
		if t.Access != "" {
			ti.oldKeys = append(ti.oldKeys, ns+t.Access)
		}
	} else {
		ti.oldRefreshKey = s.refreshKey(sig)
		if f.rec.AccessSig != "" {
			ti.oldKeys = []string{s.accessKey(f.rec.AccessSig)}
		}
	}
	t.Code, t.Access, t.Refresh = "", "", refresh
	return ti, nil
}

// RemoveByCode deletes an authorization code. go-oauth2's Manager removes
// a code after reading it, before issuing tokens; when the code is already
// gone (a concurrent redemption removed it first) RemoveByCode returns
// oerrors.ErrInvalidAuthorizeCode, so the second redemption fails with
// invalid_grant instead of getting tokens.
func (s *TokenStore) RemoveByCode(ctx context.Context, code string) error {
	keys := []string{s.codeKey(signature(code))}
	if s.legacyNS != nil {
		keys = append(keys, *s.legacyNS+code)
	}
	n, err := s.rdb.Del(ctx, keys...).Result()
	if err != nil {
		return unavailable("removing a code", err)
	}
	if n == 0 {
		return oerrors.ErrInvalidAuthorizeCode
	}
	return nil
}

// RemoveByAccess deletes an access token; no error when it is absent. Its
// refresh token stays valid, as with go-oauth2/redis.
func (s *TokenStore) RemoveByAccess(ctx context.Context, access string) error {
	if access == "" {
		return nil
	}
	keys := []string{s.accessKey(signature(access))}
	if s.legacyNS != nil {
		keys = append(keys, *s.legacyNS+access)
	}
	if err := s.rdb.Del(ctx, keys...).Err(); err != nil {
		return unavailable("removing an access token", err)
	}
	return nil
}

// removePairScript deletes a refresh token and the access token of its
// pair. KEYS[1]: the TokenStore's refresh key; KEYS[2], when given: the
// go-oauth2/redis key (ns + refresh token). ARGV[1]: the key prefix;
// ARGV[2]: ns.
var removePairScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('DEL', KEYS[1])
  local ok, rec = pcall(cjson.decode, v)
  if ok and type(rec) == 'table' and type(rec['as']) == 'string' and rec['as'] ~= '' then
    redis.call('DEL', ARGV[1] .. 'at:' .. rec['as'])
  end
end
if #KEYS < 2 then return 1 end
local id = redis.call('GET', KEYS[2])
if not id then return 1 end
redis.call('DEL', KEYS[2])
local r = redis.call('GET', ARGV[2] .. id)
if r then
  redis.call('DEL', ARGV[2] .. id)
  local ok, rec = pcall(cjson.decode, r)
  if ok and type(rec) == 'table' and type(rec['Access']) == 'string' and rec['Access'] ~= '' then
    redis.call('DEL', ARGV[2] .. rec['Access'])
  end
end
return 1
`)

// RemoveByRefresh deletes a refresh token and the access token issued with
// it, atomically; no error when it is absent.
func (s *TokenStore) RemoveByRefresh(ctx context.Context, refresh string) error {
	if refresh == "" {
		return nil
	}
	keys, ns := []string{s.refreshKey(signature(refresh))}, ""
	if s.legacyNS != nil {
		ns = *s.legacyNS
		keys = append(keys, ns+refresh)
	}
	if err := removePairScript.Run(ctx, s.rdb, keys, s.prefix, ns).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return unavailable("removing a refresh token", err)
	}
	return nil
}

// Validate checks an access token the go-oauth2 server issued through this
// TokenStore (and, with WithLegacyNamespace, one go-oauth2/redis stored),
// with one round trip, and returns what it grants; it implements
// resource.TokenValidator, so that during step 2 of the migration
// resource.Authenticate(Chain(provider, tokenStore), opts) accepts the
// tokens of both servers. Expiries are checked as go-oauth2's Manager
// checks them; an unknown, removed or expired token is
// oautherr.ErrInvalidToken, a Redis failure an error wrapping
// store.ErrUnavailable. Tokens with ginoauth's prefixes are refused without
// a lookup.
func (s *TokenStore) Validate(ctx context.Context, token string) (*resource.TokenInfo, error) {
	if token == "" || isOurs(token) {
		return nil, errLegacyInvalid
	}
	ti, err := s.GetByAccess(ctx, token)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return nil, err
		}
		return nil, unavailable("reading a token", err)
	}
	if ti == nil {
		return nil, errLegacyInvalid
	}
	t := ti.(*tokenInfo).Token
	lt := legacyToken{
		ClientID: t.ClientID, UserID: t.UserID, Scope: t.Scope,
		Access: token, AccessCreateAt: t.AccessCreateAt, AccessExpiresIn: t.AccessExpiresIn,
		RefreshCreateAt: t.RefreshCreateAt, RefreshExpiresIn: t.RefreshExpiresIn,
	}
	return lt.info(s.now())
}
