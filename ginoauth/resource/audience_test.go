package resource_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

const (
	ownAPI   = "https://api.example.com/"
	otherAPI = "https://other.example.com/"
	audDesc  = `error_description="The access token's audience does not include this resource."`
)

// TestAuthenticateAudience: Options.Audience refuses a token whose
// audience does not name it (401 invalid_token, RFC 6750 3.1), a token
// with no audience included; without it no audience is checked.
func TestAuthenticateAudience(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name     string
		audience []string // the token's
		option   string   // Options.Audience
		status   int
	}{
		{"own", []string{ownAPI}, ownAPI, 200},
		{"own among several", []string{otherAPI, ownAPI}, ownAPI, 200},
		{"other", []string{otherAPI}, ownAPI, 401},
		{"none, checked", nil, ownAPI, 401},
		{"prefix of own", []string{"https://api.example.com"}, ownAPI, 401},
		{"none, unchecked", nil, "", 200},
		{"other, unchecked", []string{otherAPI}, "", 200},
	} {
		info := &resource.TokenInfo{ClientID: "c", Scopes: []string{"read"}, Audience: tc.audience, ExpiresAt: exp}
		s := newRS(t, stubValidator{info: info}, resource.Options{Audience: tc.option})
		r := s.get("/api/whoami", "sometoken")
		if r.status != tc.status {
			t.Errorf("%s: status = %d, want %d (body %s)", tc.name, r.status, tc.status, r.raw)
			continue
		}
		if tc.status == 401 {
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) || !strings.Contains(got, audDesc) {
				t.Errorf("%s: WWW-Authenticate = %q, want invalid_token with %s", tc.name, got, audDesc)
			}
		}
	}
}

// TestIntrospectorAudience: the Introspector reads aud from the answer (a
// string or an array) and the middleware checks it as for any validator,
// on a cache hit too; an aud that is neither is a failure of the
// endpoint (503), not a refusal.
func TestIntrospectorAudience(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name   string
		aud    string // JSON, "" for absent
		status int
	}{
		{"string, own", `"` + ownAPI + `"`, 200},
		{"array with own", `["` + otherAPI + `","` + ownAPI + `"]`, 200},
		{"string, other", `"` + otherAPI + `"`, 401},
		{"array without own", `["` + otherAPI + `","urn:x"]`, 401},
		{"absent", "", 401},
		{"null", "null", 401},
		{"number", "7", 503},
		{"array with a number", `["` + ownAPI + `",7]`, 503},
		{"empty string", `""`, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", "application/json")
				body := fmt.Sprintf(`{"active":true,"client_id":"c","scope":"read","exp":%d`, exp)
				if tc.aud != "" {
					body += `,"aud":` + tc.aud
				}
				fmt.Fprint(w, body+"}")
			}))
			t.Cleanup(up.Close)
			in := newIntrospector(t, resource.IntrospectionConfig{URL: up.URL, ClientID: "rs", ClientSecret: "s", CacheTTL: time.Minute,
				Logger: slog.New(slog.DiscardHandler)})
			s := newRS(t, in, resource.Options{Audience: ownAPI, Logger: slog.New(slog.DiscardHandler)})
			for i := range 2 { // the second from the cache
				r := s.get("/api/whoami", "tok")
				if r.status != tc.status {
					t.Fatalf("request %d: status = %d, want %d (body %s)", i+1, r.status, tc.status, r.raw)
				}
				if tc.status == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), audDesc) {
					t.Fatalf("request %d: WWW-Authenticate = %q, want %s", i+1, r.header.Get("WWW-Authenticate"), audDesc)
				}
			}
			if tc.status != 503 && calls.Load() != 1 {
				t.Errorf("calls to the endpoint = %d, want 1 (the second answer from the cache)", calls.Load())
			}
		})
	}
}

// TestIntrospectorAudienceFromProvider: end to end with a ginoauth
// provider serving two resources: a resource server configured with its
// identifier accepts the tokens for it and refuses the others.
func TestIntrospectorAudienceFromProvider(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, func(c *ginoauth.Config) {
		c.Resource = ownAPI
		c.Resources = []string{otherAPI}
	})
	in := newIntrospector(t, resource.IntrospectionConfig{URL: as.introspectURL(), ClientID: as.clientID, ClientSecret: as.secret, CacheTTL: time.Minute})
	own := newRS(t, in, resource.Options{Audience: ownAPI})
	other := newRS(t, in, resource.Options{Audience: otherAPI})
	token := func(resources ...string) string {
		b := as.post("/o/token/", url.Values{"grant_type": {"client_credentials"}, "resource": resources})
		s, _ := b["access_token"].(string)
		return s
	}
	for _, tc := range []struct {
		name              string
		token             string
		ownWant, otherWnt int
	}{
		{"default", token(), 200, 401},
		{"own named", token(ownAPI), 200, 401},
		{"other", token(otherAPI), 401, 200},
		{"both", token(ownAPI, otherAPI), 200, 200},
	} {
		for i := range 2 {
			if r := own.get("/api/whoami", tc.token); r.status != tc.ownWant {
				t.Errorf("%s, request %d at the own API: status = %d, want %d (%s)", tc.name, i+1, r.status, tc.ownWant, r.raw)
			}
			if r := other.get("/api/whoami", tc.token); r.status != tc.otherWnt {
				t.Errorf("%s, request %d at the other API: status = %d, want %d (%s)", tc.name, i+1, r.status, tc.otherWnt, r.raw)
			}
		}
	}
}
