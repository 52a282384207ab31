package store

import (
	"context"
	"time"
)

// PushedRequest is a pushed authorization request (RFC 9126 section 2),
// kept from the push until its request_uri is used once or expires. Key
// is that of the request_uri (family and signature; the store keeps a
// digest of the signature only).
type PushedRequest struct {
	Key Key `json:"-"`
	// ClientID is the authenticated client that pushed the request.
	ClientID string `json:"c"`
	// Params are the authorization request's parameters, all of them, as
	// sent (client credentials aside): the provider validates them again
	// when the request_uri is used.
	Params map[string][]string `json:"p"`
	// ExpiresAt is when the request_uri stops working; the store keeps the
	// record no longer.
	ExpiresAt time.Time `json:"e"`
}

// PushedRequests keeps RFC 9126 pushed authorization requests. It is
// optional: a Store that also implements it backs the pushed
// authorization request endpoint, which the provider type-asserts.
type PushedRequests interface {
	// SavePushedRequest stores r until r.ExpiresAt (nothing is stored if
	// that has passed). ErrDuplicate if its family already holds one:
	// nothing changes then.
	SavePushedRequest(ctx context.Context, r *PushedRequest) error
	// TakePushedRequest removes the request of k's family and returns it
	// when its signature is k's: one atomic step, so of concurrent calls
	// at most one gets it. Otherwise ErrNotFound (unknown, expired, taken
	// already, or another signature, which burns the request as well: a
	// request_uri is single-use, RFC 9126 section 4).
	TakePushedRequest(ctx context.Context, k Key) (*PushedRequest, error)
}
