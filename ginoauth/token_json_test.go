package ginoauth

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestTokenResponseJSON: the hand-written encoding of the token answer is
// byte for byte encoding/json's, which gin's c.JSON used before.
func TestTokenResponseJSON(t *testing.T) {
	t.Parallel()
	odd := []string{"", "read write", "a<b>&c", `q"uote\back`, "tab\tnl\n\x00\x7f", "é ü 日本", "\u2028\u2029", "bad\xffutf8"}
	for _, s := range odd {
		for _, r := range []TokenResponse{
			{AccessToken: "goat_x-_Y", TokenType: "Bearer", ExpiresIn: 36000, Scope: s},
			{AccessToken: s, TokenType: s, ExpiresIn: -1, RefreshToken: s, Scope: "read", IssuedTokenType: s},
			{AccessToken: "a", TokenType: "Bearer", RefreshToken: "gort_r", Scope: s, IssuedTokenType: "urn:ietf:params:oauth:token-type:access_token"},
			{AccessToken: "a", TokenType: "Bearer", Scope: "openid", IDToken: s},
			everyField(s),
		} {
			want, err := json.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.appendJSON(nil); !bytes.Equal(got, want) {
				t.Errorf("appendJSON(%+v) =\n%s\nwant\n%s", r, got, want)
			}
		}
	}
}

// everyField is a TokenResponse with every string field set to s and
// ExpiresIn to 1, through reflection, so that a field added to the type
// and not to appendJSON fails TestTokenResponseJSON.
func everyField(s string) TokenResponse {
	var r TokenResponse
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(s + "x") // never empty: omitempty fields appear
		case reflect.Int64:
			f.SetInt(1)
		default:
			panic("TokenResponse has a field of kind " + f.Kind().String() + ": teach appendJSON and this test")
		}
	}
	return r
}

func FuzzTokenResponseJSON(f *testing.F) {
	f.Add("goat_abc", "read write", "gort_def", int64(36000))
	f.Fuzz(func(t *testing.T, access, scope, refresh string, exp int64) {
		r := TokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: exp, RefreshToken: refresh, Scope: scope, IssuedTokenType: scope}
		want, _ := json.Marshal(&r)
		if got := r.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON =\n%s\nwant\n%s", got, want)
		}
	})
}

// BenchmarkTokenResponseJSON: the answer's encoding, by hand and by
// encoding/json (what c.JSON cost before).
func BenchmarkTokenResponseJSON(b *testing.B) {
	r := &TokenResponse{AccessToken: "goat_" + string(bytes.Repeat([]byte("x"), 76)), TokenType: "Bearer", ExpiresIn: 36000, Scope: "read write"}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.appendJSON(make([]byte, 0, 384))
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(r)
		}
	})
}
