package ginoauth_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

func TestMatchRedirectURI(t *testing.T) {
	t.Parallel()
	reg := []string{"https://example.com/cb", "http://127.0.0.1/callback", "http://[::1]:8080/cb", "com.example.app:/oauth"}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"https://example.com/cb", true},
		{"https://evilexample.com/cb", false}, // go-oauth2 matches hosts by suffix
		{"https://example.com.evil.com/cb", false},
		{"https://example.com/cb/../evil", false},
		{"https://example.com/cb/evil", false},
		{"https://example.com/c", false},
		{"https://example.com/cb?x=1", false},
		{"https://example.com/cb#frag", false},
		{"https://EXAMPLE.com/cb", false},
		{"http://example.com/cb", false},
		{"https://example.com:443/cb", false},
		{"https://user@example.com/cb", false},
		{"http://127.0.0.1:51234/callback", true}, // RFC 8252 7.3
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:1/other", false},
		{"http://127.0.0.1:1/callback?x", false},
		{"http://[::1]:9999/cb", true},
		{"http://127.0.0.1:1/callback", true}, // ports 1 to 65535 only
		{"http://127.0.0.1:65535/callback", true},
		{"http://127.0.0.1:65536/callback", false},
		{"http://127.0.0.1:99999/callback", false},
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:00080/callback", false}, // not as a client would write it
		{"http://127.0.0.1:/callback", false},
		{"http://[::1]:99999/cb", false},
		{"http://[::1]:/cb", false},
		{"http://user@127.0.0.1:1234/callback", false}, // no userinfo on the loopback exception
		{"http://user:pw@127.0.0.1/callback", false},
		{"http://@127.0.0.1:1234/callback", false},
		{"http://user@[::1]:1234/cb", false},
		{"http://localhost:8080/cb", false},
		{"https://127.0.0.1:5/callback", false},
		{"com.example.app:/oauth", true},
		{"com.example.app:/oauth2", false},
		{"", false},
	} {
		if got := ginoauth.MatchRedirectURI(reg, tc.uri); got != tc.want {
			t.Errorf("MatchRedirectURI(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
	// A registered loopback URI with userinfo matches only itself.
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"http://user@127.0.0.1/cb", true},
		{"http://127.0.0.1:1234/cb", false},
		{"http://user@127.0.0.1:1234/cb", false},
	} {
		if got := ginoauth.MatchRedirectURI([]string{"http://user@127.0.0.1/cb"}, tc.uri); got != tc.want {
			t.Errorf("MatchRedirectURI(registered with userinfo, %q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
}

func FuzzMatchRedirectURI(f *testing.F) {
	reg := []string{"https://example.com/cb", "http://127.0.0.1/callback"}
	for _, s := range []string{
		"https://example.com/cb", "https://evilexample.com/cb", "http://127.0.0.1:9/callback", "http://127.0.0.1:9/callback/..", "%",
		"http://127.0.0.1:65535/callback", "http://127.0.0.1:65536/callback", "http://127.0.0.1:99999/callback", "http://127.0.0.1:0/callback",
		"http://127.0.0.1:/callback", "http://127.0.0.1:0080/callback",
		"http://user@127.0.0.1:1234/callback", "http://user:pw@127.0.0.1/callback", "http://@127.0.0.1:1234/callback",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ginoauth.MatchRedirectURI(reg, s) || s == reg[0] {
			return
		}
		// Anything else that matches must be the loopback URI with another
		// port (none, or one from 1 to 65535 as a client writes it) and no
		// userinfo.
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" || u.User != nil || u.Hostname() != "127.0.0.1" || u.EscapedPath() != "/callback" || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("%q matched", s)
		}
		if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
				t.Fatalf("%q matched with port %q", s, port)
			}
		}
	})
}

func TestValidateRedirectURI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://example.com/cb", true},
		{"http://127.0.0.1:8000/cb", true},
		{"http://localhost:8000/cb", true},
		{"com.example.app:/oauth", true},
		{"http://example.com/cb", false},
		{"https://example.com/cb#x", false},
		{"/relative", false},
		{"javascript:alert(1)", false},
		{"https:///nohost", false},
		{"https://user@example.com/cb", false},
		{"http://user:pw@127.0.0.1:8000/cb", false},
		{"http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1:080/cb", false},
		{"http://127.0.0.1:/cb", false},
		{"https://example.com:443/cb", true},
		{"http://[::1]:65535/cb", true},
	} {
		if err := ginoauth.ValidateRedirectURI(tc.uri); (err == nil) != tc.ok {
			t.Errorf("ValidateRedirectURI(%q) = %v, want ok=%v", tc.uri, err, tc.ok)
		}
	}
}

// TestLoopbackRule: registration (ValidateRedirectURI, CheckApplication)
// and matching (MatchRedirectURI) agree on what a loopback redirect URI
// is: any 127.0.0.0/8 address, ::1 and localhost register over http and
// match with another port; a name that merely starts like an address does
// neither.
func TestLoopbackRule(t *testing.T) {
	t.Parallel()
	p, err := ginoauth.New(ginoauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		registered, otherPort string
		loopback              bool
	}{
		{"http://127.0.0.2/cb", "http://127.0.0.2:49152/cb", true},
		{"http://[::1]/cb", "http://[::1]:49152/cb", true},
		{"http://localhost/cb", "http://localhost:49152/cb", true},
		{"http://127.0.0.2.example.com/cb", "http://127.0.0.2.example.com:49152/cb", false},
	} {
		t.Run(tc.registered, func(t *testing.T) {
			if err := ginoauth.ValidateRedirectURI(tc.registered); (err == nil) != tc.loopback {
				t.Errorf("ValidateRedirectURI(%q) = %v, want ok=%v", tc.registered, err, tc.loopback)
			}
			app := &store.Application{ClientType: store.Public, GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{tc.registered}}
			if err := p.CheckApplication(app); (err == nil) != tc.loopback {
				t.Errorf("CheckApplication(redirect URI %q) = %v, want ok=%v", tc.registered, err, tc.loopback)
			}
			if got := ginoauth.MatchRedirectURI([]string{tc.registered}, tc.otherPort); got != tc.loopback {
				t.Errorf("MatchRedirectURI([%q], %q) = %v, want %v", tc.registered, tc.otherPort, got, tc.loopback)
			}
		})
	}
}
