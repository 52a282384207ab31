package redisstore

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Pushed authorization requests (RFC 9126) live at <prefix>{<family>}p, a
// string holding the JSON of pushedRecord (the digest of the request_uri's
// signature, the client, the parameters, the expiry), with a TTL until
// ExpiresAt; the hash tag is the request_uri's family, as for the other
// records named by a family. TakePushedRequest is one GETDEL (Redis 6.2).
const kindPushed = 'p'

var _ store.PushedRequests = (*Store)(nil)

// pushedRecord is the stored form of a store.PushedRequest: the signature
// only as its digest.
type pushedRecord struct {
	Digest []byte `json:"dg"`
	store.PushedRequest
}

// SavePushedRequest implements store.PushedRequests with one SET NX PX.
func (s *Store) SavePushedRequest(ctx context.Context, r *store.PushedRequest) error {
	if r == nil || !validKey(r.Key) || r.ClientID == "" || r.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: pushed request without Key, ClientID or ExpiresAt", ErrInvalid)
	}
	ttl := s.ttl(r.ExpiresAt)
	if ttl <= 0 {
		return nil
	}
	val, err := json.Marshal(pushedRecord{Digest: []byte(digest(r.Key.Signature)), PushedRequest: *r})
	if err != nil {
		return err
	}
	ok, err := s.rdb.SetNX(ctx, s.familyKey(r.Key.Family, kindPushed), val, ttl).Result()
	if err != nil {
		return unavailable("save pushed request", err)
	}
	if !ok {
		return fmt.Errorf("%w: pushed request family", store.ErrDuplicate)
	}
	return nil
}

// TakePushedRequest implements store.PushedRequests with one GETDEL: the
// record is gone whether or not the signature matches.
func (s *Store) TakePushedRequest(ctx context.Context, k store.Key) (*store.PushedRequest, error) {
	if !validKey(k) {
		return nil, store.ErrNotFound
	}
	key := s.familyKey(k.Family, kindPushed)
	v, err := s.rdb.GetDel(ctx, key).Bytes()
	if err != nil {
		return nil, mapErr("take pushed request", err)
	}
	var rec pushedRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, corrupt("take pushed request", key, err)
	}
	if subtle.ConstantTimeCompare(rec.Digest, []byte(digest(k.Signature))) != 1 || !s.now().Before(rec.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	r := rec.PushedRequest
	r.Key = k
	return &r, nil
}
