package snippets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Redis is a Store on Redis, through a redis.UniversalClient (single node,
// Sentinel or Cluster). Its keys, under the prefix given to NewRedis:
//
//	<prefix>snippets:seq         INCR counter: the last ID given out
//	<prefix>snippet:<id>         one JSON value per snippet
//	<prefix>snippets:by_created  sorted set of IDs (zero-padded to 19
//	                             digits; bare in stores written before),
//	                             scored by the creation time in Unix
//	                             microseconds: the list order, and the
//	                             index List reads one page of
//
// The keys carry no hash tag, so a Cluster spreads them over slots and no
// command or transaction spans two of them: Create takes an ID with INCR and
// then writes the value and the index entry in one pipeline, which the
// client splits by slot. If that pipeline fails half way, Create removes the
// value again (best effort); List skips index entries whose value is gone.
//
// Every Redis or connection failure is returned wrapped so that
// errors.Is(err, store.ErrUnavailable) holds.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Redis store on rdb whose keys all start with prefix
// (the demo's is "demo:"). It does not contact Redis.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

func (r *Redis) seqKey() string      { return r.prefix + "snippets:seq" }
func (r *Redis) indexKey() string    { return r.prefix + "snippets:by_created" }
func (r *Redis) key(id int64) string { return r.prefix + "snippet:" + strconv.FormatInt(id, 10) }

// member is id as an index member: zero-padded to 19 digits, so that
// snippets created in the same microsecond, which Redis orders by member,
// come in ID order.
func member(id int64) string { return fmt.Sprintf("%019d", id) }

// record is the stored JSON of a snippet.
type record struct {
	ID       int64     `json:"id"`
	Title    string    `json:"title"`
	Code     string    `json:"code"`
	Linenos  bool      `json:"linenos"`
	Language string    `json:"language"`
	Style    string    `json:"style"`
	Owner    string    `json:"owner"`
	OwnerID  string    `json:"owner_id"`
	Created  time.Time `json:"created"`
}

func encode(s *Snippet) ([]byte, error) {
	return json.Marshal(record(*s))
}

func decode(key string, val string) (*Snippet, error) {
	var rec record
	if err := json.Unmarshal([]byte(val), &rec); err != nil {
		return nil, fmt.Errorf("%w: snippets: undecodable value at %q: %w", store.ErrUnavailable, key, err)
	}
	s := Snippet(rec)
	return &s, nil
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: snippets: %s: %w", store.ErrUnavailable, op, err)
}

// Create implements Store.
func (r *Redis) Create(ctx context.Context, s *Snippet) error {
	id, err := r.rdb.Incr(ctx, r.seqKey()).Result()
	if err != nil {
		return unavailable("create: next id", err)
	}
	c := *s
	c.ID = id
	val, err := encode(&c)
	if err != nil {
		return err
	}
	key := r.key(id)
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, val, 0)
		p.ZAdd(ctx, r.indexKey(), redis.Z{Score: float64(c.Created.UnixMicro()), Member: member(id)})
		return nil
	})
	if err != nil {
		// The value may be written without its index entry: remove it, so
		// that a failed create leaves nothing behind, even if ctx is done.
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		r.rdb.Del(undo, key)
		r.rdb.ZRem(undo, r.indexKey(), member(id))
		return unavailable("create", err)
	}
	s.ID = id
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, id int64) (*Snippet, error) {
	key := r.key(id)
	val, err := r.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, unavailable("get", err)
	}
	return decode(key, val)
}

// List implements Store: the page of the index and its size (ZRANGE and
// ZCARD in one transaction), then the page's values in one pipeline.
// Index entries whose value is gone (deleted since, or a create that
// failed half way) are skipped, so a page may fall short of limit.
func (r *Redis) List(ctx context.Context, offset, limit int) ([]*Snippet, int, error) {
	offset, limit = max(offset, 0), max(limit, 0)
	var members *redis.StringSliceCmd
	var count *redis.IntCmd
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		count = p.ZCard(ctx, r.indexKey())
		if limit > 0 { // ZRANGE 0 -1 would be the whole index
			members = p.ZRange(ctx, r.indexKey(), int64(offset), int64(offset)+int64(limit)-1)
		}
		return nil
	})
	if err != nil {
		return nil, 0, unavailable("list", err)
	}
	out := make([]*Snippet, 0, min(limit, 100))
	if members == nil || len(members.Val()) == 0 {
		return out, int(count.Val()), nil
	}
	out, err = r.values(ctx, members.Val(), out)
	if err != nil {
		return nil, 0, err
	}
	sortByCreated(out)
	return out, int(count.Val()), nil
}

// values appends to out the snippets of the index members ids, read in
// one pipeline, skipping those whose value is gone.
func (r *Redis) values(ctx context.Context, ids []string, out []*Snippet) ([]*Snippet, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	keys := make([]string, len(ids))
	for i, m := range ids {
		id, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return nil, unavailable("list", fmt.Errorf("index member %q is not an id", m))
		}
		keys[i] = r.key(id)
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("list", err)
	}
	for i, cmd := range cmds {
		val, err := cmd.Result()
		if errors.Is(err, redis.Nil) {
			continue // deleted since ZRANGE, or a create that failed half way
		}
		if err != nil {
			return nil, unavailable("list", err)
		}
		s, err := decode(keys[i], val)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Update implements Store with SET XX, which never recreates a snippet
// deleted meanwhile.
func (r *Redis) Update(ctx context.Context, s *Snippet) error {
	val, err := encode(s)
	if err != nil {
		return err
	}
	ok, err := r.rdb.SetXX(ctx, r.key(s.ID), val, 0).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return unavailable("update", err)
	}
	if !ok {
		return store.ErrNotFound
	}
	return nil
}

// Delete implements Store: the value and its index entry, in one pipeline.
func (r *Redis) Delete(ctx context.Context, id int64) error {
	var del *redis.IntCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, r.key(id))
		// Both forms: before the padding, members were the bare ID.
		p.ZRem(ctx, r.indexKey(), member(id), strconv.FormatInt(id, 10))
		return nil
	})
	if err != nil {
		return unavailable("delete", err)
	}
	if del.Val() == 0 {
		return store.ErrNotFound
	}
	return nil
}
