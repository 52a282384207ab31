package ginoauth

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestValidResourceURI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"https://api.example.com/", true},
		{"https://api.example.com", true},
		{"http://localhost:8000/api/?v=1", true},
		{"urn:example:api", true},
		{"", false},
		{"/api/", false},
		{"api", false},
		{"//api.example.com/", false},
		{"https://api.example.com/#", false},
		{"https://api.example.com/#frag", false},
		{"https:", false},
		{"https://api.example.com/ x", false},
		{"https://api.example.com/\x00", false},
		{"https://api.example.com/\t", false},
		{"https://[::1", false},
		{"https://a/" + strings.Repeat("x", 2048), false},
	} {
		if got := validResourceURI(tc.s); got != tc.want {
			t.Errorf("validResourceURI(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// FuzzValidResourceURI: what is accepted is an absolute URI, as net/url
// parses it, with a scheme, no fragment and nothing a record could not
// keep (space separates resources in redisstore's encoding).
func FuzzValidResourceURI(f *testing.F) {
	for _, s := range []string{"https://api.example.com/", "urn:x", "/rel", "https://a/#f", "a b", "https:", "mailto:a@b", "HTTP://A/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validResourceURI(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Fragment != "" || strings.ContainsAny(s, " #\x00\n\r\t") || s == "" {
			t.Fatalf("validResourceURI(%q) accepted a value that is not an absolute URI without a fragment (%+v, %v)", s, u, err)
		}
	})
}

// TestParseBodyRepeat: the repeatable parameter (resource) may repeat in
// a form and be a string or an array of strings in JSON, and comes back
// apart; any other parameter still may not repeat.
func TestParseBodyRepeat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ct, body string
		want           []string
		ok             bool
	}{
		{"form, none", formType, "grant_type=x", nil, true},
		{"form, repeated", formType, "resource=a&grant_type=x&resource=b", []string{"a", "b"}, true},
		{"form, another repeated", formType, "resource=a&scope=x&scope=y", nil, false},
		{"json string", "application/json", `{"resource":"a"}`, []string{"a"}, true},
		{"json array", "application/json", `{"resource":["a","b"]}`, []string{"a", "b"}, true},
		{"json repeated member", "application/json", `{"resource":"a","resource":["b"]}`, []string{"a", "b"}, true},
		{"json null", "application/json", `{"resource":null}`, nil, true},
		{"json number", "application/json", `{"resource":1}`, nil, false},
		{"json array of numbers", "application/json", `{"resource":[1]}`, nil, false},
		{"json object", "application/json", `{"resource":{}}`, nil, false},
		{"json unterminated array", "application/json", `{"resource":["a"`, nil, false},
	} {
		params, got, err := parseBodyRepeat(tc.ct, []byte(tc.body), "resource")
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q, ok %v", tc.name, got, err, tc.want, tc.ok)
		}
		if _, in := params["resource"]; in {
			t.Errorf("%s: resource is in the map too", tc.name)
		}
	}
}

// FuzzParseBodyRepeat: never panics; an error is invalid_request; the
// repeatable parameter never lands in the map.
func FuzzParseBodyRepeat(f *testing.F) {
	f.Add(formType, "resource=a&resource=b&grant_type=x")
	f.Add("application/json", `{"resource":["a","b"],"grant_type":"x"}`)
	f.Add("application/json", `{"resource":"a","resource":[]}`)
	f.Add("application/json", `{"resource":[[]]}`)
	f.Fuzz(func(t *testing.T, ct, body string) {
		params, _, err := parseBodyRepeat(ct, []byte(body), "resource")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid_request") {
				t.Fatalf("error %v is not invalid_request", err)
			}
			return
		}
		if _, in := params["resource"]; in {
			t.Fatal("resource is in the map")
		}
	})
}
