package ginoauth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzPeekAccessJWT: any string is either refused or gives claims whose
// jti names the family returned, with the fields validation relies on.
func FuzzPeekAccessJWT(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	good := `{"iss":"https://a","sub":"u1","aud":"https://api/","exp":2000000000,"iat":1700000000,` +
		`"jti":"AAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB","client_id":"c","scope":"read"}`
	f.Add("eyJhbGciOiJSUzI1NiJ9." + enc([]byte(good)) + ".sig")
	f.Add("eyJ." + enc([]byte(`{"aud":["a","b"],"cnf":{"jkt":"x"}}`)) + ".")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("eyJ." + enc([]byte(`{"jti":1}`)) + ".x")
	f.Fuzz(func(t *testing.T, tok string) {
		c, family, ok := peekAccessJWT(tok)
		if !ok {
			return
		}
		if !strings.HasPrefix(c.Jti, family+".") || c.ClientID == "" || c.Sub == "" || c.Exp == 0 || c.Iat == 0 {
			t.Fatalf("accepted %q: claims %+v, family %q", tok, c, family)
		}
		info := c.tokenInfo()
		if info.ClientID != c.ClientID || (info.UserID != "" && info.UserID != c.Sub) {
			t.Fatalf("tokenInfo of %+v: %+v", c, info)
		}
	})
}

// TestJTI: a jti names its family, and nothing else passes for one.
func TestJTI(t *testing.T) {
	jti, err := newJTI("AAAAAAAAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	if fam, ok := jtiFamily(jti); !ok || fam != "AAAAAAAAAAAA" {
		t.Errorf("jtiFamily(%q): got %q, %v; want the family", jti, fam, ok)
	}
	for _, bad := range []string{"", "AAAAAAAAAAAA", jti + "x", "AAAAAAAAAAAAx" + jti[13:]} {
		if _, ok := jtiFamily(bad); ok {
			t.Errorf("jtiFamily(%q): accepted, want refused", bad)
		}
	}
}

// TestQuickJTIFamily: the quick scan finds the family peekAccessJWT finds
// in every token the provider mints.
func TestQuickJTIFamily(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, iss := range []string{"", "https://a", "https://auth.example.com/with/a/longer/path"} {
		for range 50 {
			jti, err := newJTI("AbCdEfGh-_12")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(accessClaims{Jti: jti, Iss: iss, Sub: "u", ClientID: "c", Exp: 2, Iat: 1})
			tok := "eyJhbGciOiJSUzI1NiJ9." + enc(b) + ".sig"
			_, want, ok := peekAccessJWT(tok)
			got, qok := quickJTIFamily(tok)
			if !ok || !qok || got != want {
				t.Fatalf("%s: quick %q %v, peek %q %v", b, got, qok, want, ok)
			}
		}
	}
	for _, bad := range []string{"", "a.b.c", "eyJ." + enc([]byte(`{"sub":"x","jti":"AbCdEfGh-_12.x"}`)) + ".s"} {
		if f, ok := quickJTIFamily(bad); ok {
			t.Errorf("quickJTIFamily(%q): got %q, want nothing", bad, f)
		}
	}
}
