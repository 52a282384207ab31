package ginoauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

func (e *env) post(path string, form url.Values, basic []string, bearer string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.do(req)
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		conf := []string{e.confID, e.secret}
		other, otherSecret, err := e.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword},
		})
		if err != nil {
			t.Fatal(err)
		}
		tok := e.passwordToken("")
		at, rt := tok.str("access_token"), tok.str("refresh_token")

		// Another client can revoke neither token, and is not told they
		// exist. (Revoking the refresh token would revoke the whole grant,
		// the access token with it; the refresh token is used below.)
		for _, tc := range []struct{ name, token string }{{"access token", at}, {"refresh token", rt}} {
			if r := e.post("/o/revoke_token/", url.Values{"token": {tc.token}}, []string{other.ClientID, otherSecret}, ""); r.status != 200 {
				t.Fatalf("other client's revoke of the %s: %d %v", tc.name, r.status, r.body)
			}
			if r := e.get("/api/whoami", at); r.status != 200 {
				t.Fatalf("another client's revoke of the %s revoked the grant: %d", tc.name, r.status)
			}
		}
		// Unknown and malformed tokens: 200.
		for _, bogus := range []string{"goat_nope", "gort_nope", "whatever"} {
			if r := e.post("/o/revoke_token", url.Values{"token": {bogus}, "token_type_hint": {"weird"}}, conf, ""); r.status != 200 {
				t.Fatalf("revoke %q: %d %v", bogus, r.status, r.body)
			}
		}
		// Errors: no token parameter, no client.
		if r := e.post("/o/revoke_token/", url.Values{}, conf, ""); r.status != 400 || r.str("error") != "invalid_request" {
			t.Fatalf("missing token: %d %v", r.status, r.body)
		}
		if r := e.post("/o/revoke_token/", url.Values{"token": {at}}, nil, ""); r.status != 401 || r.str("error") != "invalid_client" {
			t.Fatalf("no client: %d %v", r.status, r.body)
		}
		// The owner revokes the access token: it stops working, the refresh token does not (option off).
		if r := e.post("/o/revoke_token/", url.Values{"token": {at}, "token_type_hint": {"access_token"}}, conf, ""); r.status != 200 {
			t.Fatalf("revoke: %d %v", r.status, r.body)
		}
		if r := e.get("/api/whoami", at); r.status != 401 {
			t.Fatalf("revoked access token still works: %d", r.status)
		}
		// Revoking the refresh token revokes its (new) access token too.
		nt := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, conf)
		if nt.status != 200 {
			t.Fatalf("refresh after access revocation: %d %v", nt.status, nt.body)
		}
		if r := e.post("/o/revoke_token/", url.Values{"token": {nt.str("refresh_token")}}, conf, ""); r.status != 200 {
			t.Fatalf("revoke refresh: %d", r.status)
		}
		if r := e.get("/api/whoami", nt.str("access_token")); r.status != 401 {
			t.Fatalf("access token of a revoked refresh token still works: %d", r.status)
		}
		if r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {nt.str("refresh_token")}}, conf); r.str("error") != "invalid_grant" {
			t.Fatalf("revoked refresh token still refreshes: %d %v", r.status, r.body)
		}
	})
}

func TestRevokeRefreshWithAccessToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.RevokeRefreshWithAccessToken = true })
	conf := []string{e.confID, e.secret}
	tok := e.passwordToken("")
	e.post("/o/revoke_token/", url.Values{"token": {tok.str("access_token")}}, conf, "")
	if r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, conf); r.str("error") != "invalid_grant" {
		t.Fatalf("refresh token survived its access token's revocation: %d %v", r.status, r.body)
	}
}

func TestIntrospect(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *ginoauth.Config) {
			c.Scopes = map[string]string{"read": "", "write": "", "introspection": "Introspect tokens"}
			c.DefaultScopes = []string{"read", "write"}
		})
		conf := []string{e.confID, e.secret}
		tok := e.passwordToken("read")
		r := e.post("/o/introspect/", url.Values{"token": {tok.str("access_token")}}, conf, "")
		if r.status != 200 || r.body["active"] != true || r.str("scope") != "read" || r.str("client_id") != e.confID ||
			r.str("username") != "alice" || r.str("token_type") != "Bearer" || r.body["exp"] == nil || r.body["iat"] == nil {
			t.Fatalf("introspect access token: %d %v", r.status, r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		r = e.post("/o/introspect", url.Values{"token": {tok.str("refresh_token")}}, conf, "")
		if r.body["active"] != true || r.str("token_type") != "refresh_token" {
			t.Fatalf("introspect refresh token: %d %v", r.status, r.body)
		}
		for _, bogus := range []string{"goat_x", "nonsense", tok.str("access_token") + "x"} {
			r = e.post("/o/introspect/", url.Values{"token": {bogus}}, conf, "")
			if r.status != 200 || len(r.body) != 1 || r.body["active"] != false {
				t.Fatalf("introspect %q: %d %v", bogus, r.status, r.body)
			}
		}
		// A bearer token with the introspection scope may introspect; one without may not.
		cc := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"introspection"}}, conf)
		if r = e.post("/o/introspect/", url.Values{"token": {tok.str("access_token")}}, nil, cc.str("access_token")); r.body["active"] != true {
			t.Fatalf("bearer introspection: %d %v", r.status, r.body)
		}
		if r = e.post("/o/introspect/", url.Values{"token": {tok.str("access_token")}}, nil, tok.str("access_token")); r.status != 403 || r.str("error") != "insufficient_scope" {
			t.Fatalf("introspection with a token lacking the scope: %d %v", r.status, r.body)
		}
		// A public client may not introspect.
		if r = e.post("/o/introspect/", url.Values{"token": {tok.str("access_token")}, "client_id": {e.pubID}}, nil, ""); r.status != 401 {
			t.Fatalf("public client introspection: %d %v", r.status, r.body)
		}
		if r = e.post("/o/introspect/", url.Values{}, conf, ""); r.str("error") != "invalid_request" {
			t.Fatalf("introspection without token: %d %v", r.status, r.body)
		}
	})
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.Issuer = "https://auth.example.com" })
	r := e.get("/.well-known/oauth-authorization-server", "")
	wantStatus(t, "RFC 8414 metadata", r, 200)
	for key, want := range map[string]string{
		"issuer":                 "https://auth.example.com",
		"token_endpoint":         "https://auth.example.com/o/token/",
		"revocation_endpoint":    "https://auth.example.com/o/revoke_token/",
		"introspection_endpoint": "https://auth.example.com/o/introspect/",
		"authorization_endpoint": "https://auth.example.com/o/authorize/",
	} {
		wantField(t, "RFC 8414 metadata", r, key, want)
	}
	for key, want := range map[string]string{"code_challenge_methods_supported": "[S256]", "response_types_supported": "[code]"} {
		if got := fmt.Sprint(r.body[key]); got != want {
			t.Errorf("RFC 8414 metadata: %s = %s, want %s", key, got, want)
		}
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("RFC 8414 metadata: Access-Control-Allow-Origin %q, want * (public, for browser discovery)", got)
	}
	r = e.get("/.well-known/oauth-protected-resource", "")
	wantStatus(t, "RFC 9728 metadata", r, 200)
	wantField(t, "RFC 9728 metadata", r, "resource", "https://auth.example.com")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("RFC 9728 metadata: Access-Control-Allow-Origin %q, want *", got)
	}
	// Without Issuer, the request's host.
	e2 := newEnv(t, "memory", nil)
	wantField(t, "metadata without Issuer", e2.get("/.well-known/oauth-authorization-server", ""), "issuer", e2.srv.URL)
}

// TestMetadataReturnsCopies: a caller that changes the slices Metadata
// returns changes neither the next answer, nor the resource metadata, nor
// the default scopes (which, with DefaultScopes unset, are all scopes).
func TestMetadataReturnsCopies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.DefaultScopes = nil })
	all := []string{"admin", "read", "write"}
	m := e.p.Metadata("https://auth.example.com")
	if got := m.ScopesSupported; !slices.Equal(got, all) {
		t.Fatalf("ScopesSupported = %q, want %q", got, all)
	}
	for i := range m.ScopesSupported {
		m.ScopesSupported[i] = "changed"
	}
	if got := e.p.Metadata("https://auth.example.com").ScopesSupported; !slices.Equal(got, all) {
		t.Errorf("after changing the returned slice, ScopesSupported = %q, want %q", got, all)
	}
	r := e.get("/.well-known/oauth-protected-resource", "")
	if got, want := fmt.Sprint(r.body["scopes_supported"]), fmt.Sprint(all); got != want {
		t.Errorf("resource metadata scopes_supported = %s, want %s", got, want)
	}
	tok := e.token(url.Values{"grant_type": {"client_credentials"}}, []string{e.confID, e.secret})
	if tok.status != 200 {
		t.Fatalf("client_credentials without scope: status = %d, want 200 (body %v)", tok.status, tok.body)
	}
	if got, want := tok.str("scope"), "admin read write"; got != want {
		t.Errorf("scope without a requested scope = %q, want %q (the defaults)", got, want)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.CORSAllowedOrigins = []string{"http://localhost:3000"} })
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/o/token/", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
	req.Header.Set("Origin", "http://evil.example")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin allowed: %v", res.Header)
	}
	if _, err := ginoauth.New(ginoauth.Config{CORSAllowedOrigins: []string{"not an origin"}}); err == nil {
		t.Fatal("New accepted a bad CORS origin")
	}
}
