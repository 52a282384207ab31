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
			if r := e.post("/o/revoke_token/", url.Values{"token": {tc.token}}, []string{other.ClientID, otherSecret}, ""); !wantStatus(t, "other client's revoke of the "+tc.name, r, 200) {
				t.FailNow()
			}
			if r := e.get("/api/whoami", at); !wantStatus(t, "access token after another client's revoke of the "+tc.name, r, 200) {
				t.FailNow()
			}
		}
		// Unknown and malformed tokens: 200.
		for _, bogus := range []string{"goat_nope", "gort_nope", "whatever"} {
			if r := e.post("/o/revoke_token", url.Values{"token": {bogus}, "token_type_hint": {"weird"}}, conf, ""); !wantStatus(t, fmt.Sprintf("revoke %q", bogus), r, 200) {
				t.FailNow()
			}
		}
		// Errors: no token parameter, no client.
		if r := e.post("/o/revoke_token/", url.Values{}, conf, ""); !wantError(t, "revoke without token", r, 400, "invalid_request") {
			t.FailNow()
		}
		if r := e.post("/o/revoke_token/", url.Values{"token": {at}}, nil, ""); !wantError(t, "revoke without client", r, 401, "invalid_client") {
			t.FailNow()
		}
		// The owner revokes the access token: it stops working, the refresh token does not (option off).
		if r := e.post("/o/revoke_token/", url.Values{"token": {at}, "token_type_hint": {"access_token"}}, conf, ""); !wantStatus(t, "revoke access token", r, 200) {
			t.FailNow()
		}
		if r := e.get("/api/whoami", at); !wantStatus(t, "revoked access token", r, 401) {
			t.FailNow()
		}
		// Revoking the refresh token revokes its (new) access token too.
		nt := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, conf)
		if !wantStatus(t, "refresh after access revocation", nt, 200) {
			t.FailNow()
		}
		if r := e.post("/o/revoke_token/", url.Values{"token": {nt.str("refresh_token")}}, conf, ""); !wantStatus(t, "revoke refresh token", r, 200) {
			t.FailNow()
		}
		if r := e.get("/api/whoami", nt.str("access_token")); !wantStatus(t, "access token of a revoked refresh token", r, 401) {
			t.FailNow()
		}
		if r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {nt.str("refresh_token")}}, conf); !wantField(t, "refresh with a revoked refresh token", r, "error", "invalid_grant") {
			t.FailNow()
		}
	})
}

func TestRevokeRefreshWithAccessToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.RevokeRefreshWithAccessToken = true })
	conf := []string{e.confID, e.secret}
	tok := e.passwordToken("")
	e.post("/o/revoke_token/", url.Values{"token": {tok.str("access_token")}}, conf, "")
	if r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, conf); !wantField(t, "refresh after its access token's revocation", r, "error", "invalid_grant") {
		t.FailNow()
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
		ok := wantStatus(t, "introspect access token", r, 200)
		if r.body["active"] != true {
			t.Errorf("introspect access token: active = %v, want true", r.body["active"])
			ok = false
		}
		ok = wantField(t, "introspect access token", r, "scope", "read") && ok
		ok = wantField(t, "introspect access token", r, "client_id", e.confID) && ok
		ok = wantField(t, "introspect access token", r, "username", "alice") && ok
		ok = wantField(t, "introspect access token", r, "token_type", "Bearer") && ok
		for _, key := range []string{"exp", "iat"} {
			if r.body[key] == nil {
				t.Errorf("introspect access token: %s missing, want present (body %v)", key, r.body)
				ok = false
			}
		}
		if !ok {
			t.FailNow()
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("introspect access token: Cache-Control = %q, want %q", got, "no-store")
		}
		r = e.post("/o/introspect", url.Values{"token": {tok.str("refresh_token")}}, conf, "")
		if r.body["active"] != true {
			t.Fatalf("introspect refresh token: active = %v, want true (status %d, body %v)", r.body["active"], r.status, r.body)
		}
		if !wantField(t, "introspect refresh token", r, "token_type", "refresh_token") {
			t.FailNow()
		}
		for _, bogus := range []string{"goat_x", "nonsense", tok.str("access_token") + "x"} {
			r = e.post("/o/introspect/", url.Values{"token": {bogus}}, conf, "")
			what := fmt.Sprintf("introspect %q", bogus)
			ok := wantStatus(t, what, r, 200)
			if len(r.body) != 1 {
				t.Errorf("%s: %d members, want 1 (body %v)", what, len(r.body), r.body)
				ok = false
			}
			if r.body["active"] != false {
				t.Errorf("%s: active = %v, want false", what, r.body["active"])
				ok = false
			}
			if !ok {
				t.FailNow()
			}
		}
		// A bearer token with the introspection scope may introspect; one without may not.
		cc := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"introspection"}}, conf)
		if r = e.post("/o/introspect/", url.Values{"token": {tok.str("access_token")}}, nil, cc.str("access_token")); r.body["active"] != true {
			t.Fatalf("bearer introspection: active = %v, want true (status %d, body %v)", r.body["active"], r.status, r.body)
		}
		if r = e.post("/o/introspect/", url.Values{"token": {tok.str("access_token")}}, nil, tok.str("access_token")); !wantError(t, "introspection with a token lacking the scope", r, 403, "insufficient_scope") {
			t.FailNow()
		}
		// A public client may not introspect.
		if r = e.post("/o/introspect/", url.Values{"token": {tok.str("access_token")}, "client_id": {e.pubID}}, nil, ""); !wantStatus(t, "public client introspection", r, 401) {
			t.FailNow()
		}
		if r = e.post("/o/introspect/", url.Values{}, conf, ""); !wantField(t, "introspection without token", r, "error", "invalid_request") {
			t.FailNow()
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
	ok := true
	if res.StatusCode/100 != 2 {
		t.Errorf("preflight: status = %d, want 2xx", res.StatusCode)
		ok = false
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("preflight: Access-Control-Allow-Origin = %q, want %q", got, "http://localhost:3000")
		ok = false
	}
	if got := res.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(strings.ToLower(got), "authorization") {
		t.Errorf("preflight: Access-Control-Allow-Headers = %q, want it to include authorization", got)
		ok = false
	}
	if !ok {
		t.FailNow()
	}
	req.Header.Set("Origin", "http://evil.example")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("preflight from another origin: Access-Control-Allow-Origin = %q, want none", got)
	}
	if _, err := ginoauth.New(ginoauth.Config{CORSAllowedOrigins: []string{"not an origin"}}); err == nil {
		t.Fatal("New accepted a bad CORS origin")
	}
}
