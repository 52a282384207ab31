package opaque

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

func testCodec(t testing.TB, key byte) *Codec {
	c, err := New(bytes.Repeat([]byte{key}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMintParse(t *testing.T) {
	t.Parallel()
	c := testCodec(t, 1)
	fam, err := NewFamily()
	if err != nil {
		t.Fatal(err)
	}
	if len(fam) != FamilyLen {
		t.Fatalf("family length %d, want %d", len(fam), FamilyLen)
	}
	tok, err := c.Mint(AccessPrefix, fam)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, AccessPrefix) || len(tok) != len(AccessPrefix)+EncodedLen {
		t.Fatalf("token %q has wrong shape", tok)
	}
	got, err := c.Parse(AccessPrefix, tok)
	if err != nil || got != fam {
		t.Fatalf("Parse = %q, %v; want %q", got, err, fam)
	}
	tok2, _ := c.Mint(AccessPrefix, fam)
	if tok2 == tok {
		t.Fatal("two mints gave the same token")
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	c := testCodec(t, 1)
	other := testCodec(t, 2)
	fam, _ := NewFamily()
	good, _ := c.Mint(AccessPrefix, fam)
	forged, _ := other.Mint(AccessPrefix, fam)
	refresh, _ := c.Mint(RefreshPrefix, fam)
	body := good[len(AccessPrefix):]
	flipped := []byte(good)
	flipped[len(flipped)-30] ^= 1
	cases := map[string]string{
		"empty":              "",
		"prefix only":        AccessPrefix,
		"other key":          forged,
		"refresh as access":  AccessPrefix + refresh[len(RefreshPrefix):],
		"no prefix":          body,
		"truncated":          good[:len(good)-1],
		"extended":           good + "A",
		"bad base64":         AccessPrefix + strings.Repeat("*", EncodedLen),
		"flipped secret bit": string(flipped),
	}
	for name, tok := range cases {
		if _, err := c.Parse(AccessPrefix, tok); err != ErrMalformed {
			t.Errorf("%s: Parse err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestNewRefusesShortKey(t *testing.T) {
	t.Parallel()
	if _, err := New(make([]byte, 31)); err == nil {
		t.Fatal("New accepted a 31-byte key")
	}
}

func TestSignature(t *testing.T) {
	t.Parallel()
	s := Signature("abc")
	if s != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Signature(abc) = %s", s)
	}
}

func FuzzParse(f *testing.F) {
	c := testCodec(f, 1)
	fam, _ := NewFamily()
	good, _ := c.Mint(AccessPrefix, fam)
	f.Add(good)
	f.Add("")
	f.Add(AccessPrefix + strings.Repeat("A", EncodedLen))
	f.Fuzz(func(t *testing.T, s string) {
		fam, err := c.Parse(AccessPrefix, s)
		if err != nil {
			return
		}
		// Only a token this key minted passes (the fuzzer cannot forge a
		// tag), so it has the shape, and any change to it is refused.
		if len(fam) != FamilyLen || !strings.HasPrefix(s[len(AccessPrefix):], fam) || len(s) != len(AccessPrefix)+EncodedLen {
			t.Fatalf("accepted %q with family %q", s, fam)
		}
		for i := len(AccessPrefix); i < len(s); i++ {
			b := []byte(s)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			if _, err := c.Parse(AccessPrefix, string(b)); err == nil {
				t.Fatalf("accepted %q, a change at %d of a valid token", b, i)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	c := testCodec(b, 1)
	fam, _ := NewFamily()
	tok, _ := c.Mint(AccessPrefix, fam)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Parse(AccessPrefix, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFamily(t *testing.T) {
	t.Parallel()
	c := testCodec(t, 1)
	fam, _ := NewFamily()
	tok, err := c.Mint(AccessPrefix, fam)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, prefix, token string
		ok                  bool
	}{
		{"minted", AccessPrefix, tok, true},
		{"other kind", RefreshPrefix, tok, false},
		{"short", AccessPrefix, tok[:len(tok)-1], false},
		{"long", AccessPrefix, tok + "A", false},
		{"empty", AccessPrefix, "", false},
	} {
		got, ok := Family(tc.prefix, tc.token)
		if ok != tc.ok || (ok && got != fam) {
			t.Errorf("%s: Family = %q, %v; want %q, %v", tc.name, got, ok, fam, tc.ok)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	c := testCodec(b, 1)
	fam, _ := NewFamily()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Mint(AccessPrefix, fam); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignature(b *testing.B) {
	c := testCodec(b, 1)
	fam, _ := NewFamily()
	tok, _ := c.Mint(AccessPrefix, fam)
	b.ReportAllocs()
	for b.Loop() {
		_ = Signature(tok)
	}
}

// TestSum: Sum is the SHA-256 of the token's bytes at every length, and
// allocates nothing, a JWT-sized token included.
func TestSum(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 129, 1500} {
		token := strings.Repeat("x", n)
		if got, want := Sum(token), Digest(sha256.Sum256([]byte(token))); got != want {
			t.Errorf("Sum of %d bytes = %x, want %x", n, got, want)
		}
	}
	long := strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", 50)
	if n := testing.AllocsPerRun(100, func() { _ = Sum(long) }); n != 0 {
		t.Errorf("Sum of %d bytes: %v allocations, want 0", len(long), n)
	}
}
