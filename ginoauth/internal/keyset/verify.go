package keyset

import (
	"context"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Verify checks a compact JWS signed by the set: RS256 or ES256 only (so
// "none" and HMAC are refused before any key is looked up), a kid of a
// published key whose algorithm matches the header's, and the signature.
// An unknown kid reloads the set once. It returns the payload, unparsed;
// the caller checks the claims.
func (s *Set) Verify(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrMalformed
	}
	h := jws.Signatures[0].Header
	for _, force := range []bool{false, true} {
		keys, err := s.load(ctx, force)
		if err != nil {
			return nil, err
		}
		now := s.o.Now()
		for _, k := range keys {
			if k.KID != h.KeyID || !s.published(k, now) {
				continue
			}
			if k.Alg != h.Algorithm {
				return nil, ErrSignature
			}
			priv, err := s.unseal(k)
			if err != nil {
				return nil, err
			}
			payload, err := jws.Verify(priv.Public())
			if err != nil {
				return nil, ErrSignature
			}
			return payload, nil
		}
		if !s.reloadAllowed(now) {
			break
		}
	}
	return nil, ErrUnknownKey
}

// reloadAllowed rate-limits the reloads an unknown kid causes to one a
// second, so a flood of forged kids cannot make each request a store read.
func (s *Set) reloadAllowed(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Sub(s.loadedAt) >= time.Second
}
