package resource

import (
	"errors"
	"testing"
)

// FuzzParseJWKS: whatever a JWKS endpoint sends, parseJWKS returns keys
// or an error, never a panic, and never an empty set without an error.
func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","kid":"1"}]}`)
	f.Add(`{"keys":[{"kty":"XYZ"},{"kty":"OKP","crv":"X448","x":"AA"}]}`)
	f.Add(`{"keys":[]}`)
	f.Add(`{"keys":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		keys, err := parseJWKS([]byte(body))
		if err == nil && len(keys) == 0 {
			t.Fatalf("%q: no key and no error", body)
		}
		if err != nil && !errors.Is(err, ErrUpstreamUnavailable) {
			t.Fatalf("%q: got %v, want ErrUpstreamUnavailable", body, err)
		}
	})
}
