package redisstore

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

func TestEncodingRoundTrip(t *testing.T) {
	t.Parallel()
	n := time.UnixMilli(1_900_000_000_123).UTC()
	at := &store.AccessToken{
		Key: store.Key{Family: "f", Signature: "sig"}, ClientID: "client", UserID: "u", Username: "alice",
		Scopes: []string{"read", "write"}, Generation: 42, IssuedAt: n, ExpiresAt: n.Add(time.Hour),
	}
	b, err := encodeAccess(at, n.Add(-time.Minute).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAccess(b, at.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "client" || got.UserID != "u" || got.Username != "alice" || len(got.Scopes) != 2 ||
		got.Generation != 42 || !got.IssuedAt.Equal(n) || !got.ExpiresAt.Equal(n.Add(time.Hour)) ||
		!got.GrantCreatedAt.Equal(n.Add(-time.Minute)) {
		t.Fatalf("decoded %+v", got)
	}
	if !matches(b, "sig") || matches(b, "sig2") {
		t.Fatal("digest comparison wrong")
	}
	// A client_credentials token: no user, no creation delta, small.
	cc := &store.AccessToken{Key: at.Key, ClientID: "client", Scopes: []string{"read"}, Generation: 3, IssuedAt: n, ExpiresAt: n.Add(10 * time.Hour)}
	b, err = encodeAccess(cc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > headerLen+6+4+1+7+5 {
		t.Fatalf("client_credentials record is %d bytes", len(b))
	}
	for _, bad := range [][]byte{nil, b[:headerLen], append(bytes.Clone(b), 0), append([]byte{3}, b[1:]...), append([]byte{0}, b[1:]...), append([]byte{1, 'r'}, b[2:]...)} {
		if _, err := decodeAccess(bad, at.Key); err == nil {
			t.Fatalf("decoded corrupt record %x", bad)
		}
	}
	// An audience (RFC 8707) round-trips on every kind that has one, and
	// costs nothing when empty (the default resource).
	withAud := *at
	withAud.Audience = []string{"https://api.example.com/", "urn:example:other"}
	b, err = encodeAccess(&withAud, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeAccess(b, at.Key); err != nil || !slices.Equal(got.Audience, withAud.Audience) {
		t.Fatalf("access audience: got %+v, %v; want %q", got, err, withAud.Audience)
	}
	rt := &store.RefreshToken{Key: at.Key, ClientID: "c", IssuedAt: n, Resources: []string{"https://a/"}}
	b, err = encodeRefresh(rt, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeRefresh(b, at.Key); err != nil || !slices.Equal(got.Resources, rt.Resources) {
		t.Fatalf("refresh resources: got %+v, %v; want %q", got, err, rt.Resources)
	}
	cd := &store.AuthorizationCode{Key: at.Key, ClientID: "c", UserID: "u", RedirectURI: "https://x/cb", Nonce: "n",
		AuthTime: n, IssuedAt: n, ExpiresAt: n.Add(time.Minute), Resources: []string{"https://a/", "https://b/"}}
	b, err = encodeCode(cd)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeCode(b, at.Key); err != nil || !slices.Equal(got.Resources, cd.Resources) || got.Nonce != "n" || got.RedirectURI != cd.RedirectURI {
		t.Fatalf("code resources: got %+v, %v; want %q", got, err, cd.Resources)
	}
	// A code's dpop_jkt (RFC 9449 section 10) is a sixth extra string,
	// present only when set.
	without := len(b)
	boundCode := *cd
	boundCode.DPoPJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	if b, err = encodeCode(&boundCode); err != nil {
		t.Fatal(err)
	}
	if got, err := decodeCode(b, at.Key); err != nil || got.DPoPJKT != boundCode.DPoPJKT || got.Nonce != "n" || !got.AuthTime.Equal(n) {
		t.Fatalf("code dpop_jkt: got %+v, %v; want %q with its nonce and auth time", got, err, boundCode.DPoPJKT)
	}
	if len(b) != without+1+len(boundCode.DPoPJKT) {
		t.Fatalf("code with dpop_jkt: %d bytes, want %d", len(b), without+1+len(boundCode.DPoPJKT))
	}
	for _, bad := range [][]string{{""}, {"https://a/ b"}} {
		if _, err := encodeAccess(&store.AccessToken{Key: at.Key, ClientID: "c", Audience: bad, IssuedAt: n, ExpiresAt: n.Add(time.Hour)}, 0); err == nil {
			t.Fatalf("encoded audience %q", bad)
		}
	}
	// A DPoP key thumbprint (RFC 9449) round-trips on access and refresh
	// tokens; a record with an empty one is corrupt.
	bound := *at
	bound.JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	if b, err = encodeAccess(&bound, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := decodeAccess(b, at.Key); err != nil || got.JKT != bound.JKT {
		t.Fatalf("access jkt: got %+v, %v; want %q", got, err, bound.JKT)
	}
	if b, err = encodeRefresh(&store.RefreshToken{Key: at.Key, ClientID: "c", IssuedAt: n, JKT: bound.JKT}, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := decodeRefresh(b, at.Key); err != nil || got.JKT != bound.JKT {
		t.Fatalf("refresh jkt: got %+v, %v; want %q", got, err, bound.JKT)
	}
	if b, err = encodeAccess(at, 0); err != nil {
		t.Fatal(err)
	}
	empty := append(bytes.Clone(b), 0) // an empty extra string
	empty[headerLen-1] |= fExtra
	if _, err := decodeAccess(empty, at.Key); err == nil {
		t.Fatal("decoded an access record with an empty jkt")
	}
	// Scopes with a space cannot be encoded (they could not be split back).
	if _, err := encodeAccess(&store.AccessToken{Key: at.Key, ClientID: "c", Scopes: []string{"a b"}, IssuedAt: n, ExpiresAt: n.Add(time.Hour)}, 0); err == nil {
		t.Fatal("encoded a scope holding a space")
	}
}

// FuzzDecode: the decoders never panic, and what they accept encodes back
// to the same bytes.
func FuzzDecode(f *testing.F) {
	n := time.UnixMilli(1_900_000_000_123)
	k := store.Key{Family: "f", Signature: "s"}
	seeds := []func() ([]byte, error){
		func() ([]byte, error) {
			return encodeAccess(&store.AccessToken{Key: k, ClientID: "c", UserID: "u", Username: "n", Scopes: []string{"a", "b"}, Generation: 9, IssuedAt: n, ExpiresAt: n.Add(time.Hour)}, n.Add(-time.Second).UnixMilli())
		},
		func() ([]byte, error) {
			return encodeRefresh(&store.RefreshToken{Key: k, ClientID: "c", IssuedAt: n}, 0)
		},
		func() ([]byte, error) {
			return encodeAccess(&store.AccessToken{Key: k, ClientID: "c", Audience: []string{"https://a/", "https://b/"}, IssuedAt: n, ExpiresAt: n.Add(time.Hour)}, 0)
		},
		func() ([]byte, error) {
			return encodeRefresh(&store.RefreshToken{Key: k, ClientID: "c", Resources: []string{"https://a/"}, IssuedAt: n}, 0)
		},
		func() ([]byte, error) {
			return encodeAccess(&store.AccessToken{Key: k, ClientID: "c", JKT: "jkt", IssuedAt: n, ExpiresAt: n.Add(time.Hour)}, 0)
		},
		func() ([]byte, error) {
			return encodeRefresh(&store.RefreshToken{Key: k, ClientID: "c", JKT: "jkt", IssuedAt: n}, 0)
		},
		func() ([]byte, error) {
			return encodeCode(&store.AuthorizationCode{Key: k, ClientID: "c", UserID: "u", RedirectURI: "https://x/cb", CodeChallengeMethod: "S256", IssuedAt: n, ExpiresAt: n.Add(-time.Minute)})
		},
		func() ([]byte, error) {
			return encodeRetired(&store.RetiredRefreshToken{ClientID: "c", RotatedAt: n, Successor: []byte{0, 0xff}, ExpiresAt: n.Add(time.Hour)}, "s")
		},
	}
	for _, seed := range seeds {
		b, err := seed()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if at, err := decodeAccess(b, k); err == nil {
			out, err := encodeAccess(at, ms(at.GrantCreatedAt))
			if err == nil {
				copy(out[2:2+digestLen], b[2:2+digestLen]) // the digest comes from the Key
				out[0] = b[0]                              // version 1 reads as 2
			}
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("access record %x decodes to %+v, which encodes to %x, %v", b, at, out, err)
			}
		}
		if rt, err := decodeRefresh(b, k); err == nil {
			out, err := encodeRefresh(rt, ms(rt.GrantCreatedAt))
			if err == nil {
				copy(out[2:2+digestLen], b[2:2+digestLen])
				out[0] = b[0]
			}
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("refresh record %x decodes to %+v, which encodes to %x, %v", b, rt, out, err)
			}
		}
		_, _ = decodeCode(b, k)
		_, _ = decodeRetired(b, k)
	})
}
