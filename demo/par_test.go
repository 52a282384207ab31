package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestPushedAuthorizationRequest: a client that must push its requests
// (RFC 9126) pushes one to /o/par/, sends a browser that is not logged in
// to the authorization endpoint with the request_uri alone, the user logs
// in on the demo's login page and consents, and the code is exchanged
// with the PKCE verifier; the same request sent on the front channel is
// refused, and the request_uri works once.
func TestPushedAuthorizationRequest(t *testing.T) {
	t.Parallel()
	s := newWebServer(t)
	const cb = "https://rp.example/cb"
	app, secret, err := s.provider.CreateApplication(context.Background(), ginoauth.NewApplication{
		Name: "PAR client", ClientType: store.Confidential, GrantTypes: []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{cb}, RequirePushedAuthorizationRequests: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := basic(app.ClientID, secret)
	verifier := oauth2.GenerateVerifier()
	authz := url.Values{"response_type": {"code"}, "redirect_uri": {cb}, "scope": {"read"}, "state": {"st-1"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}

	// On the front channel, this client's request is refused.
	b := s.browser(t)
	front := b.get("/o/authorize/?"+url.Values{"client_id": {app.ClientID}}.Encode()+"&"+authz.Encode()).wantRedirect(t, b, cb+"?")
	if q, _ := url.Parse(front.location); q.Query().Get("error") != "invalid_request" || q.Query().Get("state") != "st-1" {
		t.Fatalf("front-channel request: redirected to %s, want error=invalid_request and the state", front.location)
	}

	// Pushed, it goes through the login page and consent.
	r := s.do(http.MethodPost, "/o/par/", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth}, authz.Encode())
	r.wantStatus(t, http.StatusCreated)
	requestURI := r.str(t, "request_uri")
	if !strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("request_uri = %q", requestURI)
	}
	start := "/o/authorize/?" + url.Values{"client_id": {app.ClientID}, "request_uri": {requestURI}}.Encode()
	toLogin := b.get(start).wantRedirect(t, b, loginPath+"?next=")
	next, _ := url.Parse(toLogin.location)
	back := b.login(s.alice, next.Query().Get("next")).wantStatus(t, http.StatusFound)
	if strings.Contains(back.location, "request_uri") || !strings.Contains(back.location, "/o/authorize/?") {
		t.Fatalf("the login sent the browser to %q, want the authorization endpoint with the sealed request", back.location)
	}
	consent := b.get(back.location).wantStatus(t, http.StatusOK)
	if !strings.Contains(consent.body, "Authorize PAR client") {
		t.Fatalf("not the consent page:\n%s", consent.body)
	}
	form := consent.hidden(t)
	form.Set("allow", "Authorize")
	answer := b.post("/o/authorize/", form).wantRedirect(t, b, cb+"?")
	q, _ := url.Parse(answer.location)
	if q.Query().Get("state") != "st-1" || !strings.HasPrefix(q.Query().Get("code"), "goac_") {
		t.Fatalf("consent answer: %s", answer.location)
	}
	tok := s.tokenForm(auth, url.Values{"grant_type": {"authorization_code"}, "code": {q.Query().Get("code")},
		"redirect_uri": {cb}, "code_verifier": {verifier}}).wantTokens(t)
	if tok.scope != "read" {
		t.Errorf("token scope = %q, want read", tok.scope)
	}
	s.api(http.MethodGet, "/snippets/", tok.access, "").wantStatus(t, http.StatusOK)

	// The request_uri was used.
	again := b.get(start).wantStatus(t, http.StatusBadRequest)
	if again.location != "" || !strings.Contains(again.body, "invalid_request_uri") {
		t.Fatalf("request_uri used again: Location %q, body:\n%s", again.location, again.body)
	}
}

// TestCreateApplicationRequirePAROnRedis: `demo createapplication
// --metadata` keeps require_pushed_authorization_requests, and
// listapplications --json shows it.
func TestCreateApplicationRequirePAROnRedis(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	doc := `{"client_name":"PAR","redirect_uris":["https://rp.example/cb"],"require_pushed_authorization_requests":true}`
	if r := runCmd(t, env, "createapplication", "--redis", testRedisURL, "--json", "--metadata", doc); r.code != 0 {
		t.Fatalf("createapplication: code %d, stderr %q", r.code, r.stderr)
	}
	bad := `{"redirect_uris":["https://rp.example/cb"],"require_pushed_authorization_requests":"yes"}`
	if r := runCmd(t, env, "createapplication", "--redis", testRedisURL, "--json", "--metadata", bad); r.code != 1 || !strings.Contains(r.stderr, "require_pushed_authorization_requests") {
		t.Errorf("a string for the flag: code %d, stderr %q; want 1 and the member named", r.code, r.stderr)
	}
	r := runCmd(t, env, "listapplications", "--redis", testRedisURL, "--json")
	var apps []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &apps) != nil || len(apps) != 1 {
		t.Fatalf("listapplications: code %d, stdout %q; want one application", r.code, r.stdout)
	}
	if got := apps[0]["require_pushed_authorization_requests"]; got != true {
		t.Errorf("require_pushed_authorization_requests = %v, want true", got)
	}
}
