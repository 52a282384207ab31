package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// grantValue is the part of a grant record that the token writes set from
// the tokens: the field "v" of <prefix>grant:{<family>}, in JSON. The
// record's other fields are "i", the creation time (RFC 3339, set once),
// and "e", the expiry in Unix microseconds ("0": never), kept by the
// scripts.
type grantValue struct {
	ClientID string   `json:"c"`
	UserID   string   `json:"u,omitempty"`
	Username string   `json:"n,omitempty"`
	Scopes   []string `json:"sc,omitempty"`

	raw []byte // the encoding
}

// grantOf returns the grant value of tokens about to be saved, taken from
// the refresh token when there is one (it carries what the grant can still
// obtain) and from the access token otherwise, and the creation time of a
// grant they would start: at.IssuedAt, or now.
func (s *Store) grantOf(at *store.AccessToken, rt *store.RefreshToken) (grantValue, time.Time, error) {
	g := grantValue{ClientID: at.ClientID, UserID: at.UserID, Username: at.Username, Scopes: at.Scopes}
	if rt != nil {
		g = grantValue{ClientID: rt.ClientID, UserID: rt.UserID, Username: rt.Username, Scopes: rt.Scopes}
	}
	raw, err := json.Marshal(g)
	if err != nil {
		return g, time.Time{}, fmt.Errorf("redisstore: encoding grant: %w", err)
	}
	g.raw = raw
	created := at.IssuedAt
	if created.IsZero() {
		created = s.now()
	}
	return g, created, nil
}

// indexGrant adds family to the grant indexes of its user (when it has
// one) and client: one pipeline, split by slot on Cluster. It is best
// effort (a grant missing from an index is only missing from ListGrants),
// and it runs even if ctx was cancelled once the tokens were stored.
func (s *Store) indexGrant(ctx context.Context, family string, g grantValue, score float64) {
	ctx, cancel := undoCtx(ctx)
	defer cancel()
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.addGrantIndexes(ctx, p, family, g, score)
		return nil
	})
}

// addGrantIndexes queues on p the index writes of a grant whose tokens
// live until score (Unix microseconds; +Inf: a refresh token that never
// expires). The indexes are sorted sets scored by that expiry, only ever
// raised (ZADD GT), so every write can also drop the entries of grants
// that have certainly expired: an index never grows past the live grants
// plus the revoked ones not yet cleaned (see ListGrants), however many
// short-lived client_credentials tokens a client gets.
func (s *Store) addGrantIndexes(ctx context.Context, p redis.Pipeliner, family string, g grantValue, score float64) {
	z := redis.ZAddArgs{GT: true, Members: []redis.Z{{Score: score, Member: family}}}
	expired := "(" + strconv.FormatInt(s.now().UnixMicro(), 10)
	for _, key := range s.grantIndexKeys(g) {
		p.ZAddArgs(ctx, key, z)
		p.ZRemRangeByScore(ctx, key, "-inf", expired)
	}
}

// grantIndexKeys are the indexes a grant belongs to.
func (s *Store) grantIndexKeys(g grantValue) []string {
	keys := make([]string, 0, 2)
	if g.UserID != "" {
		keys = append(keys, s.userGrantsKey(g.UserID))
	}
	if g.ClientID != "" {
		keys = append(keys, s.clientGrantsKey(g.ClientID))
	}
	return keys
}

// grantScore is the index score of a grant after storing at and rt: when
// its last token expires, in Unix microseconds, or +Inf.
func grantScore(at *store.AccessToken, rt *store.RefreshToken) float64 {
	exp := at.ExpiresAt
	if rt != nil {
		if rt.ExpiresAt.IsZero() {
			return math.Inf(1)
		}
		if rt.ExpiresAt.After(exp) {
			exp = rt.ExpiresAt
		}
	}
	return float64(exp.UnixMicro())
}

// unindexGrant removes family from the grant indexes of its user and
// client, best effort (ListGrants removes stale entries too).
func (s *Store) unindexGrant(ctx context.Context, family string, g grantValue) {
	ctx, cancel := undoCtx(ctx)
	defer cancel()
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if g.UserID != "" {
			p.ZRem(ctx, s.userGrantsKey(g.UserID), family)
		}
		if g.ClientID != "" {
			p.ZRem(ctx, s.clientGrantsKey(g.ClientID), family)
		}
		return nil
	})
}

// ListGrants reads the grant index of f's user (or, without a user, of its
// client; both are scored by expiry, see addGrantIndexes), then every grant record in one pipeline (split by slot on
// Cluster), keeping the live ones that match f, newest first (ties by
// Family). Index entries whose grant record is gone (expired or revoked)
// are removed from that index, best effort. That cannot race with the
// creation of a grant: a family's record is written before its index
// entries, and family ids are never reused. The zero filter is refused with
// ErrInvalid.
func (s *Store) ListGrants(ctx context.Context, f store.GrantFilter) ([]*store.Grant, error) {
	if f.UserID == "" && f.ClientID == "" {
		return nil, fmt.Errorf("%w: empty grant filter", ErrInvalid)
	}
	index := s.clientGrantsKey(f.ClientID)
	if f.UserID != "" {
		index = s.userGrantsKey(f.UserID) // a user has fewer grants than a client
	}
	fams, err := s.rdb.ZRevRange(ctx, index, 0, -1).Result()
	if err != nil {
		return nil, unavailable("list grants", err)
	}
	fams = slices.DeleteFunc(fams, func(f string) bool { return !validFamily(f) })
	out := []*store.Grant{}
	if len(fams) == 0 {
		return out, nil
	}
	cmds := make([]*redis.SliceCmd, len(fams))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, fam := range fams {
			cmds[i] = p.HMGet(ctx, s.grantKey(fam), "v", "i", "e")
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("list grants", err)
	}
	nowUs := s.now().UnixMicro()
	var stale []any
	for i, cmd := range cmds {
		vals, err := cmd.Result()
		if err != nil {
			return nil, unavailable("list grants", err)
		}
		if vals[0] == nil {
			stale = append(stale, fams[i])
			continue
		}
		g, expUs, err := decodeGrant(fams[i], vals)
		if err != nil {
			return nil, corrupt("list grants", s.grantKey(fams[i]), err)
		}
		if expUs != 0 && expUs <= nowUs {
			continue // its TTL, rounded up to the millisecond, runs out now
		}
		if (f.UserID != "" && g.UserID != f.UserID) || (f.ClientID != "" && g.ClientID != f.ClientID) {
			continue
		}
		out = append(out, g)
	}
	if len(stale) > 0 {
		cctx, cancel := undoCtx(ctx)
		_ = s.rdb.ZRem(cctx, index, stale...).Err()
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

// decodeGrant decodes the fields v, i and e of a grant record, returning
// the grant and its expiry in Unix microseconds (0: never).
func decodeGrant(family string, vals []any) (*store.Grant, int64, error) {
	v, ok1 := vals[0].(string)
	i, ok2 := vals[1].(string)
	e, ok3 := vals[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, 0, errors.New("grant record lacks a field")
	}
	var gv grantValue
	if err := json.Unmarshal([]byte(v), &gv); err != nil {
		return nil, 0, err
	}
	created, err := time.Parse(time.RFC3339Nano, i)
	if err != nil {
		return nil, 0, err
	}
	expUs, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return nil, 0, err
	}
	g := &store.Grant{
		Family: family, ClientID: gv.ClientID, UserID: gv.UserID, Username: gv.Username,
		Scopes: gv.Scopes, CreatedAt: created,
	}
	if expUs != 0 {
		g.ExpiresAt = time.UnixMicro(expUs).UTC()
	}
	return g, expUs, nil
}
