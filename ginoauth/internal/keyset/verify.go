package keyset

import (
	"context"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Verify checks a compact JWS signed by the set: RS256 or ES256 only (so
// "none" and HMAC are refused before any key is looked up), a kid of a
// published key whose algorithm matches the header's, and the signature.
// An unknown kid reloads the set once. It returns the payload, unparsed;
// the caller checks the claims. A JWT access token (typ at+jwt) is refused:
// it must never pass for an ID token.
func (s *Set) Verify(ctx context.Context, token string) ([]byte, error) {
	return s.verify(ctx, token, false)
}

// VerifyAccessToken is Verify for a JWT access token: its typ header must
// be "at+jwt" (RFC 9068 section 4; "application/at+jwt" too), so an ID
// token or any other JWT the set signed never passes for one.
func (s *Set) VerifyAccessToken(ctx context.Context, token string) ([]byte, error) {
	return s.verify(ctx, token, true)
}

// AccessTokenType is the typ header of JWT access tokens (RFC 9068
// section 2.1).
const AccessTokenType = "at+jwt"

// isAccessTokenType reports whether typ names RFC 9068's media type: "at+jwt"
// or "application/at+jwt", case-insensitively (RFC 7515 section 4.1.9).
func isAccessTokenType(typ any) bool {
	t, ok := typ.(string)
	if !ok {
		return false
	}
	t = strings.ToLower(t)
	return t == AccessTokenType || t == "application/"+AccessTokenType
}

func (s *Set) verify(ctx context.Context, token string, access bool) ([]byte, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrMalformed
	}
	h := jws.Signatures[0].Header
	if isAccessTokenType(h.ExtraHeaders[jose.HeaderType]) != access {
		return nil, ErrMalformed
	}
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
