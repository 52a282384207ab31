package ginoauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// newPAREnv is a codeEnv whose provider sees the store itself (not the
// counting wrapper, which hides store.PushedRequests), on the clock
// clock (time.Now when nil).
func newPAREnv(t *testing.T, kind string, clock *atomic.Pointer[time.Time], mod func(*ginoauth.Config)) *codeEnv {
	t.Helper()
	return newCodeEnv(t, kind, func(c *ginoauth.Config) {
		c.Store = c.Store.(*countingStore).Store
		if clock != nil {
			c.Now = func() time.Time { return *clock.Load() }
		}
		if mod != nil {
			mod(c)
		}
	})
}

// pushForm is a valid authorization request of the web client for the
// PAR endpoint, with the S256 challenge of verifier.
func (ce *codeEnv) pushForm(verifier string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"redirect_uri":          {testRedirect},
		"scope":                 {"read"},
		"state":                 {"par-state"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
}

// push posts form to the PAR endpoint; basic, if not nil, is {id, secret}
// sent with HTTP Basic.
func (ce *codeEnv) push(form url.Values, basic []string) resp {
	ce.t.Helper()
	req, _ := http.NewRequest("POST", ce.srv.URL+"/o/par/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	return ce.do(req)
}

// pushOK pushes form as the web client and returns the request_uri.
func (ce *codeEnv) pushOK(t *testing.T, form url.Values) string {
	t.Helper()
	r := ce.push(form, []string{ce.webID, ce.webSecret})
	if r.status != http.StatusCreated {
		t.Fatalf("push: status = %d, want 201 (body %v)", r.status, r.body)
	}
	uri := r.str("request_uri")
	if !strings.HasPrefix(uri, ginoauth.RequestURIPrefix) {
		t.Fatalf("push: request_uri = %q, want the prefix %s", uri, ginoauth.RequestURIPrefix)
	}
	return uri
}

// authorizeURL is the front-channel request of a pushed request.
func (ce *codeEnv) authorizeURL(clientID, requestURI string) string {
	return ce.srv.URL + "/o/authorize/?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI}}.Encode()
}

// wantErrorPage checks pg is an error page (never a redirect) with code in it.
func wantErrorPage(t *testing.T, what string, pg page, code string) {
	t.Helper()
	if pg.location != nil {
		t.Errorf("%s: redirected to %v, want an error page", what, pg.location)
		return
	}
	if pg.status != http.StatusBadRequest {
		t.Errorf("%s: status = %d, want 400", what, pg.status)
	}
	if !strings.Contains(pg.body, code) {
		t.Errorf("%s: page does not name %q (body %s)", what, code, pg.body)
	}
}

// TestPARCodeFlow: push, then authorize with the request_uri alone (other
// query parameters ignored), consent, and a code exchanged by
// golang.org/x/oauth2 with the PKCE verifier; the request_uri is single-use.
func TestPARCodeFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newPAREnv(t, kind, nil, nil)
		verifier := oauth2.GenerateVerifier()
		r := ce.push(ce.pushForm(verifier), []string{ce.webID, ce.webSecret})
		ok := wantStatus(t, "push", r, http.StatusCreated)
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("push: Cache-Control = %q, want no-store", got)
			ok = false
		}
		if got, _ := r.body["expires_in"].(float64); got != 60 {
			t.Errorf("push: expires_in = %v, want 60", r.body["expires_in"])
			ok = false
		}
		uri := r.str("request_uri")
		if rest, found := strings.CutPrefix(uri, ginoauth.RequestURIPrefix); !found || len(rest) < 43 {
			t.Errorf("push: request_uri = %q, want %s and a long random part", uri, ginoauth.RequestURIPrefix)
			ok = false
		}
		if !ok {
			t.FailNow()
		}
		b := ce.browser("u1.alice")
		// Parameters beside client_id and request_uri are ignored (RFC 9126
		// section 4): x/oauth2's AuthCodeURL, with the request_uri added,
		// sends its own, here another state, scope and redirect URI.
		conf := ce.oauthConfig()
		front := conf.AuthCodeURL("evil-state", oauth2.SetAuthURLParam("request_uri", uri),
			oauth2.SetAuthURLParam("scope", "admin"), oauth2.SetAuthURLParam("redirect_uri", "https://client.example.com/other"))
		pg := fetch(t, b, "GET", front, nil)
		if !wantPageStatus(t, "consent page", pg, 200) {
			t.FailNow()
		}
		if strings.Contains(pg.body, "<code>admin</code>") || !strings.Contains(pg.body, "<code>read</code>") {
			t.Fatalf("consent page: want the pushed scope read only (body %s)", pg.body)
		}
		f := consentForm(t, pg.body)
		if f.Has("request_uri") || f.Has("scope") || f.Get("client_id") != ce.webID || f.Get("ginoauth_pushed") == "" {
			t.Fatalf("consent form = %v, want client_id and ginoauth_pushed only beside the CSRF field", f)
		}
		f.Set("allow", "Authorize")
		pg = fetch(t, b, "POST", ce.srv.URL+"/o/authorize/", f)
		if !wantRedirect(t, "consent answer", pg) {
			t.FailNow()
		}
		if got := pg.location.Scheme + "://" + pg.location.Host + pg.location.Path; got != testRedirect {
			t.Fatalf("consent answer: redirect to %s, want %s", got, testRedirect)
		}
		if !wantParam(t, "consent answer", pg.location, "state", "par-state") {
			t.FailNow()
		}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client())
		tok, err := conf.Exchange(ctx, pg.location.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if got := tok.Extra("scope"); got != "read" {
			t.Fatalf("token: scope = %v, want read", got)
		}
		if !wantStatus(t, "whoami", ce.get("/api/whoami", tok.AccessToken), 200) {
			t.FailNow()
		}
		// The request_uri was used: once only.
		wantErrorPage(t, "request_uri reused", fetch(t, b, "GET", ce.authorizeURL(ce.webID, uri), nil), "invalid_request_uri")
		// The sealed request is bound to the browser it was given to.
		other := ce.browser("u1.alice")
		pg = fetch(t, other, "GET", ce.srv.URL+"/o/authorize/?"+url.Values{"client_id": {ce.webID}, "ginoauth_pushed": {f.Get("ginoauth_pushed")}}.Encode(), nil)
		wantErrorPage(t, "sealed request in another browser", pg, "invalid_request_uri")
	})
}

// TestPARLoginRoundTrip: a visitor who is not logged in goes through the
// login page and back with the request sealed, not with the used
// request_uri; prompt=login too.
func TestPARLoginRoundTrip(t *testing.T) {
	t.Parallel()
	ce := newPAREnv(t, "memory", nil, nil)
	for _, prompt := range []string{"", "login"} {
		form := ce.pushForm(oauth2.GenerateVerifier())
		b := ce.browser("")
		if prompt != "" {
			form.Set("prompt", prompt)
			b = ce.browser("u1.alice")
		}
		uri := ce.pushOK(t, form)
		pg := fetch(t, b, "GET", ce.authorizeURL(ce.webID, uri), nil)
		if !wantRedirect(t, "to login (prompt "+prompt+")", pg) {
			t.FailNow()
		}
		if pg.location.Path != "/accounts/login/" {
			t.Fatalf("prompt %q: redirect to %v, want the login page", prompt, pg.location)
		}
		next, err := url.Parse(pg.location.Query().Get("next"))
		if err != nil || next.Path != "/o/authorize/" {
			t.Fatalf("prompt %q: next = %q, want the authorization endpoint", prompt, pg.location.Query().Get("next"))
		}
		if q := next.Query(); q.Has("request_uri") || q.Has("prompt") || q.Get("client_id") != ce.webID || q.Get("ginoauth_pushed") == "" {
			t.Fatalf("prompt %q: next = %v, want client_id and ginoauth_pushed only", prompt, q)
		}
		// Logged in, the browser comes back and gets the consent page.
		u, _ := url.Parse(ce.srv.URL)
		b.Jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: "u1.alice"}})
		pg = fetch(t, b, "GET", ce.srv.URL+next.String(), nil)
		if !wantPageStatus(t, "back from login (prompt "+prompt+")", pg, 200) {
			t.FailNow()
		}
		f := consentForm(t, pg.body)
		f.Set("allow", "Authorize")
		pg = fetch(t, b, "POST", ce.srv.URL+"/o/authorize/", f)
		if !wantParam(t, "consent answer (prompt "+prompt+")", pg.location, "state", "par-state") {
			t.FailNow()
		}
		if pg.location.Query().Get("code") == "" {
			t.Fatalf("prompt %q: no code in %v", prompt, pg.location)
		}
	}
}

// TestPAREndpointErrors: the PAR endpoint validates the whole request and
// answers errors as JSON (RFC 9126 section 2.3), storing nothing.
func TestPAREndpointErrors(t *testing.T) {
	t.Parallel()
	ce := newPAREnv(t, "memory", nil, nil)
	web := []string{ce.webID, ce.webSecret}
	with := func(k, v string) url.Values {
		f := ce.pushForm(oauth2.GenerateVerifier())
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  []string
		status int
		code   string
	}{
		{"no client authentication", with("client_id", ce.webID), nil, 401, "invalid_client"},
		{"wrong secret", with("scope", "read"), []string{ce.webID, "nope"}, 401, "invalid_client"},
		{"unknown client", with("scope", "read"), []string{"nope", "nope"}, 401, "invalid_client"},
		{"unregistered redirect_uri", with("redirect_uri", "https://evil.example/cb"), web, 400, "invalid_request"},
		{"request_uri pushed", with("request_uri", ginoauth.RequestURIPrefix+"x"), web, 400, "invalid_request"},
		{"other client_id", with("client_id", ce.nativeID), web, 400, "invalid_request"},
		{"implicit", with("response_type", "token"), web, 400, "unsupported_response_type"},
		{"no response_type", with("response_type", ""), web, 400, "invalid_request"},
		{"scope above the ceiling", with("scope", "nope"), web, 400, "invalid_scope"},
		{"no PKCE", with("code_challenge", ""), web, 400, "invalid_request"},
		{"plain PKCE", with("code_challenge_method", "plain"), web, 400, "invalid_request"},
		{"bad prompt", with("prompt", "whatever"), web, 400, "invalid_request"},
		{"bad max_age", with("max_age", "-1"), web, 400, "invalid_request"},
		{"long nonce", with("nonce", strings.Repeat("n", 513)), web, 400, "invalid_request"},
		{"public client without PKCE", url.Values{"client_id": {ce.nativeID}, "response_type": {"code"}}, nil, 400, "invalid_request"},
	} {
		r := ce.push(tc.form, tc.basic)
		if !wantStatus(t, tc.name, r, tc.status) {
			continue
		}
		wantField(t, tc.name, r, "error", tc.code)
		if r.str("request_uri") != "" {
			t.Errorf("%s: a request_uri was given", tc.name)
		}
		if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate challenge", tc.name)
		}
	}
	req, _ := http.NewRequest("GET", ce.srv.URL+"/o/par/", nil)
	if r := ce.do(req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /o/par/: status = %d, want 405", r.status)
	}
	// A public client pushes with its client_id alone.
	pub := url.Values{"client_id": {ce.nativeID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:5000/callback"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	wantStatus(t, "public client", ce.push(pub, nil), http.StatusCreated)
}

// TestPARAuthorizeErrors: an unknown, expired, foreign or malformed
// request_uri is an error page, never a redirect.
func TestPARAuthorizeErrors(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		now := time.Now()
		var clock atomic.Pointer[time.Time]
		clock.Store(&now)
		ce := newPAREnv(t, kind, &clock, nil)
		b := ce.browser("u1.alice")
		form := ce.pushForm(oauth2.GenerateVerifier())

		wantErrorPage(t, "unknown request_uri", fetch(t, b, "GET", ce.authorizeURL(ce.webID, ginoauth.RequestURIPrefix+"gopr_"+strings.Repeat("A", 76)), nil), "invalid_request_uri")
		wantErrorPage(t, "request object URL", fetch(t, b, "GET", ce.authorizeURL(ce.webID, "https://client.example.com/request.jwt"), nil), "request_uri_not_supported")
		uri := ce.pushOK(t, form)
		wantErrorPage(t, "no client_id", fetch(t, b, "GET", ce.srv.URL+"/o/authorize/?request_uri="+url.QueryEscape(uri), nil), "invalid_request")
		// Another client_id: refused, and the request_uri is burnt.
		wantErrorPage(t, "other client_id", fetch(t, b, "GET", ce.authorizeURL(ce.nativeID, uri), nil), "invalid_request_uri")
		wantErrorPage(t, "after another client_id", fetch(t, b, "GET", ce.authorizeURL(ce.webID, uri), nil), "invalid_request_uri")
		// Expired after 60 s, by the provider's clock.
		uri = ce.pushOK(t, form)
		later := now.Add(ginoauth.PushedRequestExpire + time.Second)
		clock.Store(&later)
		wantErrorPage(t, "expired request_uri", fetch(t, b, "GET", ce.authorizeURL(ce.webID, uri), nil), "invalid_request_uri")
		clock.Store(&now)
		// Just within 60 s it works.
		uri = ce.pushOK(t, form)
		within := now.Add(ginoauth.PushedRequestExpire - time.Second)
		clock.Store(&within)
		wantPageStatus(t, "request_uri at 59 s", fetch(t, b, "GET", ce.authorizeURL(ce.webID, uri), nil), 200)
	})
}

// TestPARRequired: with Config.RequirePushedAuthorizationRequests, or the
// client's require_pushed_authorization_requests, a front-channel request
// without request_uri is refused with invalid_request at the redirect
// URI (RFC 9126 sections 5 and 6); a pushed one works.
func TestPARRequired(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		server := newPAREnv(t, kind, nil, func(c *ginoauth.Config) { c.RequirePushedAuthorizationRequests = true })
		perClient := newPAREnv(t, kind, nil, nil)
		strict, _, err := perClient.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			Name: "strict", ClientType: store.Public, GrantTypes: []string{store.GrantAuthorizationCode},
			RedirectURIs: []string{testRedirect}, RequirePushedAuthorizationRequests: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
		front := func(ce *codeEnv, clientID string) string {
			return ce.srv.URL + "/o/authorize/?" + url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {testRedirect},
				"state": {"s1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
		}
		for _, tc := range []struct {
			name     string
			ce       *codeEnv
			clientID string
		}{{"server-wide", server, server.webID}, {"per client", perClient, strict.ClientID}} {
			pg := fetch(t, tc.ce.browser("u1.alice"), "GET", front(tc.ce, tc.clientID), nil)
			if !wantParam(t, tc.name, pg.location, "error", "invalid_request") || !wantParam(t, tc.name, pg.location, "state", "s1") {
				continue
			}
			if !strings.HasPrefix(pg.location.String(), testRedirect+"?") {
				t.Errorf("%s: redirected to %v, want %s", tc.name, pg.location, testRedirect)
			}
		}
		// Another client of the per-client server is not affected.
		pg := fetch(t, perClient.browser("u1.alice"), "GET", front(perClient, perClient.webID), nil)
		wantPageStatus(t, "client not requiring PAR", pg, 200)
		// Pushed, the request goes through.
		uri := server.pushOK(t, server.pushForm(oauth2.GenerateVerifier()))
		b := server.browser("u1.alice")
		loc := server.authorize(t, b, server.authorizeURL(server.webID, uri))
		wantParam(t, "pushed request, PAR required", loc, "state", "par-state")
		pub := url.Values{"client_id": {strict.ClientID}, "response_type": {"code"}, "redirect_uri": {testRedirect},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		r := perClient.push(pub, nil)
		if wantStatus(t, "push by the client requiring PAR", r, 201) {
			pg = fetch(t, perClient.browser("u1.alice"), "GET", perClient.authorizeURL(strict.ClientID, r.str("request_uri")), nil)
			wantPageStatus(t, "pushed request of the client requiring PAR", pg, 200)
		}
	})
}

// TestPARMetadata: RFC 9126 section 5's metadata, in RFC 8414's document
// and OpenID Connect discovery; a store without store.PushedRequests
// gives no endpoint and cannot require PAR.
func TestPARMetadata(t *testing.T) {
	t.Parallel()
	ce := newPAREnv(t, "memory", nil, func(c *ginoauth.Config) {
		c.RequirePushedAuthorizationRequests = true
		c.OIDC.Enabled = true
	})
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		r := ce.get(path, "")
		if !wantStatus(t, path, r, 200) {
			continue
		}
		wantField(t, path, r, "pushed_authorization_request_endpoint", ce.srv.URL+"/o/par/")
		if got := r.body["require_pushed_authorization_requests"]; got != true {
			t.Errorf("%s: require_pushed_authorization_requests = %v, want true", path, got)
		}
	}
	plain := newEnv(t, "memory", nil) // its store is wrapped: no PushedRequests
	r := plain.get("/.well-known/oauth-authorization-server", "")
	if got, ok := r.body["pushed_authorization_request_endpoint"]; ok {
		t.Errorf("without a PAR store: pushed_authorization_request_endpoint = %v, want none", got)
	}
	req, _ := http.NewRequest("POST", plain.srv.URL+"/o/par/", strings.NewReader("client_id=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := plain.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("without a PAR store: POST /o/par/ = %d, want 404", res.StatusCode)
	}
	_, err = ginoauth.New(ginoauth.Config{Store: &countingStore{Store: newStore(t, "memory")}, RequirePushedAuthorizationRequests: true})
	if err == nil {
		t.Error("New: RequirePushedAuthorizationRequests without a PAR store: nil error, want one")
	}
	_, _, err = plain.p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{testRedirect}, RequirePushedAuthorizationRequests: true,
	})
	var inv *ginoauth.InvalidApplicationError
	if !errors.As(err, &inv) {
		t.Errorf("CreateApplication requiring PAR without a PAR store: %v, want an *InvalidApplicationError", err)
	}
}

// FuzzPushedRequestReference feeds the authorization endpoint arbitrary
// request_uri and sealed-request (ginoauth_pushed) values, as a logged-in
// user: the answer is a page, never a 5xx and never a redirect (the
// redirect URI is not known until the reference resolves).
func FuzzPushedRequestReference(f *testing.F) {
	p, err := ginoauth.New(ginoauth.Config{
		SecretKey: testKey,
		Sessions: ginoauth.SessionFunc(func(*gin.Context) (*ginoauth.Owner, error) {
			return &ginoauth.Owner{ID: "u1", Username: "alice"}, nil
		}),
	})
	if err != nil {
		f.Fatal(err)
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect},
	})
	if err != nil {
		f.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	form := url.Values{"response_type": {"code"}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}}
	push := httptest.NewRequest("POST", "/o/par/", strings.NewReader(form.Encode()))
	push.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	push.SetBasicAuth(app.ClientID, secret)
	w := serve(push)
	var pushed ginoauth.PushedAuthorizationResponse
	if err := json.Unmarshal(w.Body.Bytes(), &pushed); err != nil || w.Code != http.StatusCreated {
		f.Fatalf("push: %d %s", w.Code, w.Body)
	}
	for _, s := range []string{pushed.RequestURI, ginoauth.RequestURIPrefix, ginoauth.RequestURIPrefix + "gopr_", "https://x/r.jwt", "", "%%", strings.Repeat("A", 2000)} {
		f.Add(s, "")
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, ref, sealed string) {
		q := url.Values{"client_id": {app.ClientID}}
		if ref != "" {
			q.Set("request_uri", ref)
		}
		q.Set("ginoauth_pushed", sealed)
		req := httptest.NewRequest("GET", "/o/authorize/?"+q.Encode(), nil)
		req.AddCookie(&http.Cookie{Name: "ginoauth_csrf", Value: strings.Repeat("c", 43)})
		w := serve(req)
		if w.Code >= 500 || w.Header().Get("Location") != "" {
			t.Fatalf("request_uri %q, ginoauth_pushed %q: status %d, Location %q; want a page", ref, sealed, w.Code, w.Header().Get("Location"))
		}
	})
}

// TestPARClientMetadata: require_pushed_authorization_requests (RFC 9126
// section 6) is read from a client metadata document, as a boolean only.
func TestPARClientMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc     string
		want    bool
		wantErr bool
	}{
		{`{"redirect_uris":["https://a.example/cb"]}`, false, false},
		{`{"redirect_uris":["https://a.example/cb"],"require_pushed_authorization_requests":true}`, true, false},
		{`{"redirect_uris":["https://a.example/cb"],"require_pushed_authorization_requests":false}`, false, false},
		{`{"redirect_uris":["https://a.example/cb"],"require_pushed_authorization_requests":"true"}`, false, true},
		{`{"redirect_uris":["https://a.example/cb"],"require_pushed_authorization_requests":1}`, false, true},
	} {
		m, err := ginoauth.ParseClientMetadata([]byte(tc.doc))
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseClientMetadata(%s): error %v, want an error %v", tc.doc, err, tc.wantErr)
			continue
		}
		if err == nil && m.NewApplication().RequirePushedAuthorizationRequests != tc.want {
			t.Errorf("ParseClientMetadata(%s): RequirePushedAuthorizationRequests = %v, want %v", tc.doc, !tc.want, tc.want)
		}
	}
}

// TestPAROutage: while Redis is down, a push answers 503 JSON and a
// request_uri an error page with 503 (never a redirect, never a 500);
// the request_uri that could not be read is still good once Redis is
// back. It stops an in-process Redis, not the shared one.
func TestPAROutage(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	st, err := redisstore.New(client)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: testKey, ApplicationCacheTTL: -1,
		Sessions: ginoauth.SessionFunc(func(*gin.Context) (*ginoauth.Owner, error) {
			return &ginoauth.Owner{ID: "u1", Username: "alice"}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(t.Context(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	push := func() (int, string) {
		form := url.Values{"response_type": {"code"}, "code_challenge_method": {"S256"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}}
		req := httptest.NewRequest("POST", "/o/par/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ClientID, secret)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		var body ginoauth.PushedAuthorizationResponse
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body.RequestURI
	}
	authorize := func(uri string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/o/authorize/?"+url.Values{"client_id": {app.ClientID}, "request_uri": {uri}}.Encode(), nil)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	code, uri := push()
	if code != http.StatusCreated {
		t.Fatalf("push before the outage: status = %d, want 201", code)
	}
	m.Close()
	if code, _ := push(); code != http.StatusServiceUnavailable {
		t.Errorf("push during the outage: status = %d, want 503", code)
	}
	if w := authorize(uri); w.Code != http.StatusServiceUnavailable || w.Header().Get("Location") != "" {
		t.Errorf("request_uri during the outage: status = %d, Location %q; want 503 and no redirect", w.Code, w.Header().Get("Location"))
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if w := authorize(uri); w.Code != http.StatusOK {
		t.Errorf("request_uri after the outage: status = %d, want 200 (the consent page)", w.Code)
	}
}
