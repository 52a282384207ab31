package ginoauth_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
)

func TestParseBearer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, want string
		err          error
	}{
		{"Bearer abc", "abc", nil},
		{"bearer abc", "abc", nil},
		{"BEARER  abc==", "abc==", nil},
		{"Bearer a-b.c_d~e+f/g", "a-b.c_d~e+f/g", nil},
		{"", "", ginoauth.ErrNoBearer},
		{"Basic Zm9vOmJhcg==", "", ginoauth.ErrNoBearer},
		{"Bearerabc", "", ginoauth.ErrNoBearer},
		{"Bearer", "", ginoauth.ErrInvalidRequest},
		{"Bearer ", "", ginoauth.ErrInvalidRequest},
		{"Bearer a b", "", ginoauth.ErrInvalidRequest},
		{"Bearer =abc", "", ginoauth.ErrInvalidRequest},
		{"Bearer ab=c", "", ginoauth.ErrInvalidRequest},
		{"Bearer abc\t", "", ginoauth.ErrInvalidRequest},
	} {
		got, err := ginoauth.ParseBearer(tc.header)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer x==", "Basic a", "Bearer", "Bearer a b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ginoauth.ParseBearer(h)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n\"\\,") || !strings.HasSuffix(h, tok) {
			t.Fatalf("ParseBearer(%q) accepted %q", h, tok)
		}
	})
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string
		bad  bool
	}{
		{"", "", false},
		{"read", "read", false},
		{"read write", "read write", false},
		{"  read   write read ", "read write", false},
		{"a:b !#[]~", "a:b !#[]~", false},
		{"read\twrite", "", true},
		{"read\nwrite", "", true},
		{`re"ad`, "", true},
		{`re\ad`, "", true},
		{"réad", "", true},
	} {
		got, err := ginoauth.ParseScope(tc.in)
		if (err != nil) != tc.bad || ginoauth.FormatScope(got) != tc.want {
			t.Errorf("ParseScope(%q) = %q, %v; want %q, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"read write", " a  b ", "x\ty", "é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, err := ginoauth.ParseScope(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, sc := range scopes {
			if sc == "" || seen[sc] || strings.ContainsAny(sc, " \"\\") {
				t.Fatalf("ParseScope(%q) gave %q", s, scopes)
			}
			seen[sc] = true
		}
		again, err := ginoauth.ParseScope(ginoauth.FormatScope(scopes))
		if err != nil || ginoauth.FormatScope(again) != ginoauth.FormatScope(scopes) {
			t.Fatalf("round trip of %q: %q, %v", s, again, err)
		}
	})
}

func FuzzParseParams(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=password&username=a&password=b")
	f.Add("application/x-www-form-urlencoded", "a=1&a=2")
	f.Add("application/json", `{"grant_type":"client_credentials","scope":"read"}`)
	f.Add("application/json", `{"a":1}`)
	f.Add("application/json", `[]`)
	f.Add("text/plain", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest("POST", "/o/token/", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		params, err := ginoauth.ParseParams(r)
		if err != nil {
			if !errors.Is(err, ginoauth.ErrInvalidRequest) {
				t.Fatalf("error %v is not invalid_request", err)
			}
			return
		}
		if params == nil {
			t.Fatal("nil params without error")
		}
	})
}

func FuzzParseClientCredentials(f *testing.F) {
	f.Add("Basic Y2xpZW50OnNlY3JldA==", "")
	f.Add("Basic Y2xpZW50JTNBaWQ6cyUyNQ==", "client_id=client%3Aid")
	f.Add("Basic !!!", "")
	f.Add("", "client_id=a&client_secret=b")
	f.Fuzz(func(t *testing.T, auth, form string) {
		r := httptest.NewRequest("POST", "/o/token/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		params, err := ginoauth.ParseParams(r)
		if err != nil {
			return
		}
		creds, found, err := ginoauth.ParseClientCredentials(r, params)
		if err != nil {
			if found || !(errors.Is(err, ginoauth.ErrInvalidClient) || errors.Is(err, ginoauth.ErrInvalidRequest)) {
				t.Fatalf("found=%v err=%v", found, err)
			}
			return
		}
		if found && creds.ID == "" {
			t.Fatal("found credentials with an empty client id")
		}
	})
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }
