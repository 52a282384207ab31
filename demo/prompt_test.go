package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestPromptLogin: prompt=login (OpenID Connect Core 3.1.2.1) asks the
// provider to authenticate the user again even with a live session; DOT's
// AuthorizationView.handle_prompt_login logs the user out and sends them to
// the login page, next= being the request without prompt=login.
func TestPromptLogin(t *testing.T) {
	t.Parallel()
	s := newWebServer(t)
	b := s.browser(t)
	b.login(s.alice, "").wantStatus(t, http.StatusFound)
	u := s.client.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("prompt", "login"))
	p := b.get(u)
	if p.status != http.StatusFound || !strings.HasPrefix(p.location, s.url+loginPath+"?next=") {
		t.Fatalf("GET /o/authorize/?...&prompt=login with a logged-in session answered %d (Location %q); "+
			"want 302 to %s?next=<the request without prompt=login>", p.status, p.location, loginPath)
	}
	next, _ := url.Parse(p.location)
	if strings.Contains(next.Query().Get("next"), "prompt=login") {
		t.Errorf("next keeps prompt=login, which would loop: %s", p.location)
	}
}
