package ginoauth_test

import (
	"encoding/json"
	"errors"
	"maps"
	"mime"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

func TestParseParams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ct, body string
		want           map[string]string // nil: invalid_request
	}{
		{"form", "application/x-www-form-urlencoded", "grant_type=password&scope=a+b", map[string]string{"grant_type": "password", "scope": "a b"}},
		{"form repeated", "application/x-www-form-urlencoded", "a=1&a=2", nil},
		{"json", "application/json", `{"grant_type":"client_credentials","scope":"read"}`, map[string]string{"grant_type": "client_credentials", "scope": "read"}},
		{"json with charset and white space", "application/json; charset=utf-8", " {\"a\" : \"1\" }\r\n\t ", map[string]string{"a": "1"}},
		{"json empty object", "application/json", `{}`, map[string]string{}},
		{"json null member is absent", "application/json", `{"a":null,"b":"2"}`, map[string]string{"b": "2"}},
		{"json escaped key", "application/json", `{"grant\u005ftype":"password"}`, map[string]string{"grant_type": "password"}},
		{"json repeated", "application/json", `{"grant_type":"password","grant_type":"client_credentials"}`, nil},
		{"json repeated, same value", "application/json", `{"client_id":"a","client_id":"a"}`, nil},
		{"json repeated null", "application/json", `{"a":null,"a":null}`, nil},
		{"json repeated, escaped", "application/json", `{"a":"1","\u0061":"2"}`, nil},
		{"json same key in another case", "application/json", `{"a":"1","A":"2"}`, map[string]string{"a": "1", "A": "2"}},
		{"json trailing brace", "application/json", `{"a":"1"}}`, nil},
		{"json trailing bracket", "application/json", `{"a":"1"}]`, nil},
		{"json trailing value", "application/json", `{"a":"1"} "x"`, nil},
		{"json two objects", "application/json", `{"a":"1"}{"b":"2"}`, nil},
		{"json unterminated", "application/json", `{"a":"1"`, nil},
		{"json trailing comma", "application/json", `{"a":"1",}`, nil},
		{"json number", "application/json", `{"a":1}`, nil},
		{"json bool", "application/json", `{"a":true}`, nil},
		{"json nested object", "application/json", `{"a":{"b":"c"}}`, nil},
		{"json array value", "application/json", `{"a":["b"]}`, nil},
		{"json array", "application/json", `[]`, nil},
		{"json null", "application/json", `null`, nil},
		{"json string", "application/json", `"a"`, nil},
		{"json empty body", "application/json", ``, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/o/token/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ct)
			got, err := ginoauth.ParseParams(r)
			if tc.want == nil {
				if !errors.Is(err, oautherr.ErrInvalidRequest) {
					t.Fatalf("ParseParams(%q) = %q, %v; want invalid_request", tc.body, got, err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("ParseParams(%q) = %q, %v; want %q", tc.body, got, err, tc.want)
			}
		})
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=password&username=a&password=b")
	f.Add("application/x-www-form-urlencoded", "a=1&a=2")
	f.Add("application/json", `{"grant_type":"client_credentials","scope":"read"}`)
	f.Add("application/json", `{"a":1}`)
	f.Add("application/json", `[]`)
	f.Add("application/json", `{"grant_type":"password","grant_type":"client_credentials"}`)
	f.Add("application/json", `{"a":null,"\u0061":"x"}`)
	f.Add("application/json", `{"grant_type":"client_credentials"}}`)
	f.Add("application/json", `{"grant_type":"client_credentials"}]`)
	f.Add("application/json", `{"a":"\u00e9\ud800","b":{"c":[1]}} `)
	f.Add("text/plain", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest("POST", "/o/token/", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		params, err := ginoauth.ParseParams(r)
		if err != nil {
			var e *oautherr.Error
			if !errors.As(err, &e) || e.Code != "invalid_request" {
				t.Fatalf("error %v is not invalid_request", err)
			}
			if !inDescriptionSet(e.Description) {
				t.Fatalf("description %q has characters RFC 6749 5.2 does not allow", e.Description)
			}
			return
		}
		if params == nil {
			t.Fatal("nil params without error")
		}
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case "application/json":
			// What is accepted is one JSON object of strings (and nulls),
			// as the standard decoder reads it, and no member is repeated.
			var all map[string]any
			if err := json.Unmarshal([]byte(body), &all); err != nil || all == nil {
				t.Fatalf("accepted %q, which is not one JSON object: %v", body, err)
			}
			strs := 0
			for k, v := range all {
				switch v := v.(type) {
				case string:
					strs++
					if params[k] != v {
						t.Fatalf("%q: %s = %q; the decoder reads %q", body, k, params[k], v)
					}
				case nil:
				default:
					t.Fatalf("accepted %q, whose %s is not a string", body, k)
				}
			}
			if strs != len(params) {
				t.Fatalf("%q: %d parameters; the decoder reads %d strings", body, len(params), strs)
			}
			if countMembers(body) != len(all) {
				t.Fatalf("accepted %q, which repeats a member", body)
			}
		default:
			vals, err := url.ParseQuery(body)
			if err != nil {
				t.Fatalf("accepted %q, which is not form encoding", body)
			}
			for k, v := range vals {
				if len(v) != 1 || params[k] != v[0] {
					t.Fatalf("%q: %s = %q; the form has %q", body, k, params[k], v)
				}
			}
		}
	})
}

// countMembers counts the members of body, an object whose values are all
// strings or null, repeated members included: the tokens inside its
// braces alternate key and value.
func countMembers(body string) int {
	dec := json.NewDecoder(strings.NewReader(body))
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n / 2
		}
		if _, delim := tok.(json.Delim); !delim {
			n++
		}
	}
}

func FuzzParseClientCredentials(f *testing.F) {
	f.Add("Basic Y2xpZW50OnNlY3JldA==", "", false)
	f.Add("Basic Y2xpZW50JTNBaWQ6cyUyNQ==", "client_id=client%3Aid", false)
	f.Add("Basic !!!", "", false)
	f.Add("", "client_id=a&client_secret=b", false)
	f.Add("Basic Y2xpZW50OnNlY3JldA==", "", true)
	f.Fuzz(func(t *testing.T, auth, form string, twice bool) {
		r := httptest.NewRequest("POST", "/o/token/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		if twice {
			r.Header.Add("Authorization", auth)
		}
		params, err := ginoauth.ParseParams(r)
		if err != nil {
			return
		}
		creds, found, err := ginoauth.ParseClientCredentials(r, params)
		if twice && !errors.Is(err, oautherr.ErrInvalidRequest) {
			t.Fatalf("two Authorization headers: found=%v err=%v", found, err)
		}
		if err != nil {
			if found || !(errors.Is(err, oautherr.ErrInvalidClient) || errors.Is(err, oautherr.ErrInvalidRequest)) {
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
