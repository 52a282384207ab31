package redisstore

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// The records of tokens, codes and retired refresh tokens are kept in a
// compact binary encoding, not JSON (docs/redis-keys.md):
//
//	byte 0       version (recVersion)
//	byte 1       kind: 'a' access, 'r' refresh, 'c' code, 'x' retired
//	bytes 2..17  digest: the first 16 bytes of SHA-256(Key.Signature)
//	byte 18      flags: which optional fields follow
//	then         varints (times in Unix milliseconds: the issue time,
//	             then the expiry and the grant's creation as deltas from
//	             it; the generation), then strings, each a uvarint length and
//	             its bytes, in a fixed order (client, user, username,
//	             scopes, audience, extra: an access or refresh token's
//	             extra is its DPoP jkt, RFC 9449); an optional field is present
//	             only when its flag is set, and a present field is never
//	             empty or zero.
//
// The digest sits at a fixed offset so that the Lua scripts can compare it
// (string.sub(v, 3, 18)) without decoding the rest. Decoding is strict:
// unknown versions, kinds or flags, truncated or trailing bytes, empty
// present fields and overflowing numbers are errors, never panics.

const (
	// recVersion 2 is version 1 with the family's user index entry
	// rounded up to the day (indexExpiry); both decode alike.
	recVersion = 2
	digestLen  = 16
	headerLen  = 2 + digestLen + 1
)

const (
	kindAccess  = 'a'
	kindRefresh = 'r'
	kindCode    = 'c'
	kindRetired = 'x'
)

// Flags of optional fields.
const (
	fExpires  = 1 << iota // expiry (delta from issue); tokens and codes
	fCreated              // grant creation (delta before issue)
	fGen                  // application generation
	fUser                 // user ID
	fUsername             // username
	fScopes               // scopes, space separated
	fExtra                // code: redirect URI, challenge, method; retired: successor; access, refresh: DPoP jkt
	fAudience             // audience or resources (RFC 8707), space separated
	fAllFlags = 1<<iota - 1
)

// digest is what a record keeps of a token's Signature: 128 bits of its
// SHA-256. Lookups compare it in constant time; 128 bits are beyond any
// online guessing, and a reader of Redis would need a preimage.
func digest(sig string) string {
	sum := sha256.Sum256([]byte(sig))
	return string(sum[:digestLen])
}

// matches reports whether rec (already decoded, so at least headerLen long)
// is the record of the token with signature sig, in constant time.
func matches(rec []byte, sig string) bool {
	d := digest(sig)
	return subtle.ConstantTimeCompare(rec[2:2+digestLen], []byte(d)) == 1
}

// record is the common shape of every encoded record.
type record struct {
	kind      byte
	digest    string
	issued    int64 // Unix ms
	expires   int64 // Unix ms, 0: never (refresh tokens only)
	created   int64 // Unix ms of the grant's creation; 0: issued
	gen       int64
	client    string
	user      string
	username  string
	scopes    []string
	extra     []string // code: redirect URI, challenge, method; retired: successor
	audience  []string // access: Audience; refresh, code: Resources
	nExtra    int
	scopesRaw string
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// expMs is an expiry in Unix ms, rounded up so that a record never expires
// early.
func expMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	m := t.UnixMilli()
	if t.Sub(time.UnixMilli(m)) > 0 {
		m++
	}
	return m
}

func fromMs(m int64) time.Time {
	if m == 0 {
		return time.Time{}
	}
	return time.UnixMilli(m).UTC()
}

var errCorrupt = errors.New("malformed record")

func encode(r *record) ([]byte, error) {
	if r.issued <= 0 || r.expires < 0 || r.created < 0 || r.created > r.issued || r.gen < 0 {
		return nil, fmt.Errorf("%w: times or generation out of range", ErrInvalid)
	}
	if r.client == "" {
		return nil, fmt.Errorf("%w: record without ClientID", ErrInvalid)
	}
	scopes := strings.Join(r.scopes, " ")
	for _, s := range r.scopes {
		if s == "" || strings.Contains(s, " ") {
			return nil, fmt.Errorf("%w: scope %q", ErrInvalid, s)
		}
	}
	audience := strings.Join(r.audience, " ")
	for _, s := range r.audience {
		if s == "" || strings.Contains(s, " ") {
			return nil, fmt.Errorf("%w: resource %q", ErrInvalid, s)
		}
	}
	var flags byte
	if r.expires != 0 {
		flags |= fExpires
	}
	if r.created != 0 && r.created != r.issued {
		flags |= fCreated
	}
	if r.gen != 0 {
		flags |= fGen
	}
	if r.user != "" {
		flags |= fUser
	}
	if r.username != "" {
		flags |= fUsername
	}
	if scopes != "" {
		flags |= fScopes
	}
	if audience != "" {
		flags |= fAudience
	}
	hasExtra := false
	for _, e := range r.extra {
		if e != "" {
			hasExtra = true
		}
	}
	if hasExtra {
		flags |= fExtra
	}
	b := make([]byte, 0, headerLen+32+len(r.client)+len(r.user)+len(r.username)+len(scopes)+len(audience))
	b = append(b, recVersion, r.kind)
	b = append(b, r.digest...)
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(r.issued))
	if flags&fExpires != 0 {
		b = binary.AppendVarint(b, r.expires-r.issued) // a code may be saved expired
	}
	if flags&fCreated != 0 {
		b = binary.AppendUvarint(b, uint64(r.issued-r.created))
	}
	if flags&fGen != 0 {
		b = binary.AppendUvarint(b, uint64(r.gen))
	}
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	str(r.client)
	if flags&fUser != 0 {
		str(r.user)
	}
	if flags&fUsername != 0 {
		str(r.username)
	}
	if flags&fScopes != 0 {
		str(scopes)
	}
	if flags&fAudience != 0 {
		str(audience)
	}
	if flags&fExtra != 0 {
		for _, e := range r.extra {
			str(e) // may be empty inside the group
		}
	}
	return b, nil
}

// decode parses b, which must be a record of kind with nExtra extra
// strings (when its fExtra flag is set).
func decode(b []byte, kind byte, nExtra int) (*record, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes", errCorrupt, len(b))
	}
	if b[0] != recVersion && b[0] != 1 {
		return nil, fmt.Errorf("%w: version %d", errCorrupt, b[0])
	}
	if b[1] != kind {
		return nil, fmt.Errorf("%w: kind %q, want %q", errCorrupt, b[1], kind)
	}
	flags := b[headerLen-1]
	if flags&^fAllFlags != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", errCorrupt, flags)
	}
	r := &record{kind: kind, digest: string(b[2 : 2+digestLen])}
	p := b[headerLen:]
	num := func() (int64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > 1<<62 || n != len(binary.AppendUvarint(nil, v)) { // canonical only

			return 0, fmt.Errorf("%w: bad number", errCorrupt)
		}
		p = p[n:]
		return int64(v), nil
	}
	str := func(mayBeEmpty bool) (string, error) {
		l, err := num()
		if err != nil {
			return "", err
		}
		if l > int64(len(p)) || (l == 0 && !mayBeEmpty) {
			return "", fmt.Errorf("%w: bad string", errCorrupt)
		}
		s := string(p[:l])
		p = p[l:]
		return s, nil
	}
	var err error
	if r.issued, err = num(); err != nil {
		return nil, err
	}
	if r.issued == 0 {
		return nil, fmt.Errorf("%w: no issue time", errCorrupt)
	}
	if flags&fExpires != 0 {
		d, n := binary.Varint(p)
		if n <= 0 || d > 1<<62 || d < -(1<<62) || r.issued+d <= 0 || n != len(binary.AppendVarint(nil, d)) {
			return nil, fmt.Errorf("%w: bad expiry", errCorrupt)
		}
		p = p[n:]
		r.expires = r.issued + d
	}
	if flags&fCreated != 0 {
		d, err := num()
		if err != nil {
			return nil, err
		}
		if d == 0 || d >= r.issued {
			return nil, fmt.Errorf("%w: bad creation time", errCorrupt)
		}
		r.created = r.issued - d
	} else {
		r.created = r.issued
	}
	if flags&fGen != 0 {
		if r.gen, err = num(); err != nil {
			return nil, err
		}
		if r.gen == 0 {
			return nil, fmt.Errorf("%w: zero generation", errCorrupt)
		}
	}
	if r.client, err = str(false); err != nil {
		return nil, err
	}
	if flags&fUser != 0 {
		if r.user, err = str(false); err != nil {
			return nil, err
		}
	}
	if flags&fUsername != 0 {
		if r.username, err = str(false); err != nil {
			return nil, err
		}
	}
	if flags&fScopes != 0 {
		if r.scopesRaw, err = str(false); err != nil {
			return nil, err
		}
		r.scopes = strings.Split(r.scopesRaw, " ")
		for _, s := range r.scopes {
			if s == "" {
				return nil, fmt.Errorf("%w: empty scope", errCorrupt)
			}
		}
	}
	if flags&fAudience != 0 {
		raw, err := str(false)
		if err != nil {
			return nil, err
		}
		r.audience = strings.Split(raw, " ")
		for _, s := range r.audience {
			if s == "" {
				return nil, fmt.Errorf("%w: empty resource", errCorrupt)
			}
		}
	}
	if flags&fExtra != 0 {
		if nExtra == 0 {
			return nil, fmt.Errorf("%w: unexpected extra fields", errCorrupt)
		}
		r.extra = make([]string, nExtra)
		for i := range r.extra {
			if r.extra[i], err = str(true); err != nil {
				return nil, err
			}
		}
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(p))
	}
	return r, nil
}

func encodeAccess(at *store.AccessToken, created int64) ([]byte, error) {
	return encode(&record{
		kind: kindAccess, digest: digest(at.Key.Signature), issued: ms(at.IssuedAt), expires: expMs(at.ExpiresAt),
		created: created, gen: at.Generation, client: at.ClientID, user: at.UserID, username: at.Username, scopes: at.Scopes,
		audience: at.Audience, extra: []string{at.JKT},
	})
}

func encodeRefresh(rt *store.RefreshToken, created int64) ([]byte, error) {
	return encode(&record{
		kind: kindRefresh, digest: digest(rt.Key.Signature), issued: ms(rt.IssuedAt), expires: expMs(rt.ExpiresAt),
		created: created, gen: rt.Generation, client: rt.ClientID, user: rt.UserID, username: rt.Username, scopes: rt.Scopes,
		audience: rt.Resources, extra: []string{rt.JKT},
	})
}

func decodeAccess(b []byte, k store.Key) (*store.AccessToken, error) {
	r, err := decode(b, kindAccess, 1)
	if err != nil {
		return nil, err
	}
	if r.expires == 0 {
		return nil, fmt.Errorf("%w: access token without expiry", errCorrupt)
	}
	if r.extra != nil && r.extra[0] == "" {
		return nil, fmt.Errorf("%w: empty jkt", errCorrupt)
	}
	return &store.AccessToken{
		Key: k, ClientID: r.client, UserID: r.user, Username: r.username, Scopes: r.scopes, Audience: r.audience, Generation: r.gen,
		IssuedAt: fromMs(r.issued), ExpiresAt: fromMs(r.expires), GrantCreatedAt: fromMs(r.created), JKT: jkt(r),
	}, nil
}

func decodeRefresh(b []byte, k store.Key) (*store.RefreshToken, error) {
	r, err := decode(b, kindRefresh, 1)
	if err != nil {
		return nil, err
	}
	if r.extra != nil && r.extra[0] == "" {
		return nil, fmt.Errorf("%w: empty jkt", errCorrupt)
	}
	return &store.RefreshToken{
		Key: k, ClientID: r.client, UserID: r.user, Username: r.username, Scopes: r.scopes, Resources: r.audience, Generation: r.gen,
		IssuedAt: fromMs(r.issued), ExpiresAt: fromMs(r.expires), GrantCreatedAt: fromMs(r.created), JKT: jkt(r),
	}, nil
}

// jkt is a token record's DPoP key thumbprint (its one extra string), ""
// for a bearer token. Records written before DPoP have no extra and decode
// as bearer tokens.
func jkt(r *record) string {
	if len(r.extra) == 1 {
		return r.extra[0]
	}
	return ""
}

func encodeCode(c *store.AuthorizationCode) ([]byte, error) {
	extra := []string{c.RedirectURI, c.CodeChallenge, c.CodeChallengeMethod, c.Nonce, authTime(c.AuthTime)}
	if c.DPoPJKT != "" {
		// A sixth string only when there is one, so that a code without
		// it reads as before (and by an instance from before DPoP).
		extra = append(extra, c.DPoPJKT)
	}
	return encode(&record{
		kind: kindCode, digest: digest(c.Key.Signature), issued: ms(c.IssuedAt), expires: expMs(c.ExpiresAt),
		gen: c.Generation, client: c.ClientID, user: c.UserID, username: c.Username, scopes: c.Scopes,
		audience: c.Resources, extra: extra,
	})
}

// authTime is a code's AuthTime as decimal Unix milliseconds, "" if zero.
func authTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func decodeCode(b []byte, k store.Key) (*store.AuthorizationCode, error) {
	r, err := decode(b, kindCode, 5)
	if err != nil {
		// A code with a DPoP key (RFC 9449 section 10); or one written
		// before OpenID Connect's two fields.
		if r, err = decode(b, kindCode, 6); err != nil {
			if r, err = decode(b, kindCode, 3); err != nil {
				return nil, err
			}
		}
	}
	if r.expires == 0 {
		return nil, fmt.Errorf("%w: code without expiry", errCorrupt)
	}
	c := &store.AuthorizationCode{
		Key: k, ClientID: r.client, UserID: r.user, Username: r.username, Scopes: r.scopes, Resources: r.audience,
		Generation: r.gen, IssuedAt: fromMs(r.issued), ExpiresAt: fromMs(r.expires),
	}
	if r.extra != nil {
		c.RedirectURI, c.CodeChallenge, c.CodeChallengeMethod = r.extra[0], r.extra[1], r.extra[2]
		if len(r.extra) >= 5 && r.extra[4] != "" {
			ms, err := strconv.ParseInt(r.extra[4], 10, 64)
			if err != nil || ms <= 0 {
				return nil, fmt.Errorf("%w: bad auth time", errCorrupt)
			}
			c.Nonce, c.AuthTime = r.extra[3], fromMs(ms)
		} else if len(r.extra) >= 5 {
			c.Nonce = r.extra[3]
		}
		if len(r.extra) == 6 {
			if r.extra[5] == "" {
				return nil, fmt.Errorf("%w: empty dpop_jkt", errCorrupt)
			}
			c.DPoPJKT = r.extra[5]
		}
	}
	return c, nil
}

// A retired record's "issued" is its RotatedAt.
func encodeRetired(x *store.RetiredRefreshToken, sig string) ([]byte, error) {
	return encode(&record{
		kind: kindRetired, digest: digest(sig), issued: ms(x.RotatedAt), expires: expMs(x.ExpiresAt),
		client: x.ClientID, extra: []string{string(x.Successor)},
	})
}

func decodeRetired(b []byte, k store.Key) (*store.RetiredRefreshToken, error) {
	r, err := decode(b, kindRetired, 1)
	if err != nil {
		return nil, err
	}
	if r.expires == 0 {
		return nil, fmt.Errorf("%w: retired record without expiry", errCorrupt)
	}
	x := &store.RetiredRefreshToken{Key: k, ClientID: r.client, RotatedAt: fromMs(r.issued), ExpiresAt: fromMs(r.expires)}
	if r.extra != nil {
		x.Successor = []byte(r.extra[0])
	}
	return x, nil
}
