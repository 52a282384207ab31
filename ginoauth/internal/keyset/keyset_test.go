package keyset_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/internal/keyset"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newSet(t *testing.T, st *memstore.Store, clk *clock, secret string) *keyset.Set {
	t.Helper()
	s, err := keyset.New(keyset.Options{Store: st, Secret: []byte(secret), Now: clk.now,
		CacheTTL: time.Minute, PublishDelay: 2 * time.Minute, Retain: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kids(t *testing.T, s *keyset.Set) []string {
	t.Helper()
	set, err := s.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// TestRotation: a new key is published before it signs; a retired key
// verifies until Retain has passed, then is unpublished and refused; two
// instances on one store sign with the same key.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, b := newSet(t, st, clk, "secret-one-secret-one-secret-one"), newSet(t, st, clk, "secret-one-secret-one-secret-one")
	old, err := a.Sign(ctx, keyset.RS256, "JWT", []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Verify(ctx, old); err != nil || string(got) != `{"n":1}` {
		t.Fatalf("other instance Verify: got %s, %v; want the payload", got, err)
	}
	newKids, err := b.Rotate(ctx, keyset.RS256)
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute + time.Second) // a's cache expires; the new key is published, not active
	if got := kids(t, a); len(got) != 2 || got[0] != newKids[0] {
		t.Fatalf("JWKS after rotation: got %v, want the new key %s first and the old one", got, newKids[0])
	}
	tok, _ := a.Sign(ctx, keyset.RS256, "JWT", []byte(`{}`))
	if kid := headerKID(t, tok); kid == newKids[0] {
		t.Errorf("signed with the new key before its ActiveAt")
	}
	clk.add(2 * time.Minute)
	tok, _ = a.Sign(ctx, keyset.RS256, "JWT", []byte(`{}`))
	if kid := headerKID(t, tok); kid != newKids[0] {
		t.Errorf("after ActiveAt: signed with %s, want %s", kid, newKids[0])
	}
	clk.add(30 * time.Minute)
	if _, err := b.Verify(ctx, old); err != nil {
		t.Errorf("retired key within Retain: Verify: %v, want success", err)
	}
	clk.add(time.Hour)
	if _, err := b.Verify(ctx, old); !errors.Is(err, keyset.ErrUnknownKey) {
		t.Errorf("retired key after Retain: Verify: %v, want ErrUnknownKey", err)
	}
	if got := kids(t, b); len(got) != 1 {
		t.Errorf("JWKS after Retain: got %v, want one key", got)
	}
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	s := string(h)
	i := strings.Index(s, `"kid":"`)
	if i < 0 {
		t.Fatalf("no kid in %s", s)
	}
	s = s[i+7:]
	return s[:strings.IndexByte(s, '"')]
}

// TestVerifyRefuses: alg none, an HMAC token, a changed payload, an
// unknown kid and a token of another secret's set are refused.
func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	s := newSet(t, memstore.New(), clk, "secret-one-secret-one-secret-one")
	other := newSet(t, memstore.New(), clk, "secret-two-secret-two-secret-two")
	good, err := s.Sign(ctx, keyset.ES256, "JWT", []byte(`{"sub":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	foreign, _ := other.Sign(ctx, keyset.ES256, "JWT", []byte(`{"sub":"1"}`))
	for _, tc := range []struct{ name, tok string }{
		{"alg none", enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."},
		{"HS256", enc([]byte(`{"alg":"HS256","kid":"x"}`)) + "." + parts[1] + "." + parts[2]},
		{"changed payload", parts[0] + "." + enc([]byte(`{"sub":"2"}`)) + "." + parts[2]},
		{"another set's key", foreign},
		{"garbage", "a.b.c"},
		{"empty", ""},
	} {
		if _, err := s.Verify(ctx, tc.tok); err == nil {
			t.Errorf("%s: Verify succeeded, want an error", tc.name)
		}
	}
	if _, err := s.Verify(ctx, good); err != nil {
		t.Errorf("good token: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	s, err := keyset.New(keyset.Options{Store: memstore.New(), Secret: []byte("k"), Retain: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := s.Verify(context.Background(), tok); err == nil {
			t.Errorf("Verify(%q) succeeded on an empty set", tok)
		}
	})
}

// TestVerifyTypes: an access token (typ at+jwt) passes VerifyAccessToken
// only, and any other JWT of the set (an ID token) Verify only, so neither
// can stand for the other.
func TestVerifyTypes(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	s := newSet(t, memstore.New(), clk, "secret-one-secret-one-secret-one")
	for _, tc := range []struct {
		typ            string
		verify, access bool
	}{
		{"JWT", true, false},
		{"", true, false},
		{"at+jwt", false, true},
		{"AT+JWT", false, true},
		{"application/at+jwt", false, true},
		{"at+jwt2", true, false},
	} {
		tok, err := s.Sign(ctx, keyset.RS256, tc.typ, []byte(`{"sub":"1"}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, tok); (err == nil) != tc.verify {
			t.Errorf("typ %q: Verify error %v, want success %v", tc.typ, err, tc.verify)
		}
		if _, err := s.VerifyAccessToken(ctx, tok); (err == nil) != tc.access {
			t.Errorf("typ %q: VerifyAccessToken error %v, want success %v", tc.typ, err, tc.access)
		}
	}
}

// BenchmarkVerifyAccessToken is the signature check of a JWT access token
// the validation cache has not seen, by algorithm.
func BenchmarkVerifyAccessToken(b *testing.B) {
	ctx := context.Background()
	for _, alg := range []string{keyset.RS256, keyset.ES256} {
		b.Run(alg, func(b *testing.B) {
			clk := &clock{t: time.Now()}
			s, err := keyset.New(keyset.Options{Store: memstore.New(), Secret: []byte("secret-one-secret-one-secret-one"), Now: clk.now, Retain: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			tok, err := s.Sign(ctx, alg, keyset.AccessTokenType, []byte(`{"sub":"u1","client_id":"c","scope":"read write","exp":2000000000,"iat":1700000000,"jti":"AAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB"}`))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.VerifyAccessToken(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
