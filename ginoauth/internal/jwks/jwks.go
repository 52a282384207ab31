// Package jwks reads JWK Sets (RFC 7517 section 5) that come from
// elsewhere: a provider's published keys, a client's jwks_uri.
package jwks

import (
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
)

// Parse reads a JWK Set, skipping every key it cannot read (a kty or curve
// go-jose does not know, a member missing or malformed), as RFC 7517
// section 5 says a reader should: one key a reader does not understand
// must not cost it the others. n is how many keys the set held. The error
// is for a body that is not a JWK Set at all; a set of unreadable keys
// only gives no keys and no error.
func Parse(body []byte) (keys []jose.JSONWebKey, n int, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, err
	}
	keys = make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) == nil {
			keys = append(keys, k)
		}
	}
	return keys, len(set.Keys), nil
}
