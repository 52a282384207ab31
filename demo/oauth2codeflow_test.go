package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestOAuth2ClientCodeFlow drives the authorization code flow with PKCE
// with golang.org/x/oauth2 against the demo: AuthCodeURL with an S256
// challenge, the demo's login page and consent page as a browser sees
// them, Exchange with the verifier, the snippets API with the token, then
// a refresh forced through a TokenSource. It ends with what rotation and
// reuse protection promise: the old access token is refused, and replaying
// the rotated refresh token revokes the grant, new pair included.
func TestOAuth2ClientCodeFlow(t *testing.T) {
	t.Parallel()
	s := newWebServer(t)
	ctx := context.Background()

	// A confidential web app on a loopback redirect URI, and a public
	// native app on a private-use scheme (RFC 8252 7.1). The code is taken
	// from the redirect, which the browser does not follow.
	tests := []struct {
		name     string
		ct       store.ClientType
		redirect string
		style    oauth2.AuthStyle
	}{
		{"confidential client, Basic auth", store.Confidential, "http://127.0.0.1/callback", oauth2.AuthStyleInHeader},
		{"public client, client_id in the body", store.Public, "com.example.app:/callback", oauth2.AuthStyleInParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, secret, err := s.provider.CreateApplication(ctx, ginoauth.NewApplication{
				Name: "x/oauth2 " + tt.name, ClientType: tt.ct,
				GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{tt.redirect},
			})
			if err != nil {
				t.Fatal(err)
			}
			cfg := &oauth2.Config{
				ClientID:     app.ClientID,
				ClientSecret: secret, // empty for the public client
				Endpoint: oauth2.Endpoint{
					AuthURL:   s.url + "/o/authorize/",
					TokenURL:  s.url + tokenPath,
					AuthStyle: tt.style,
				},
				RedirectURL: tt.redirect,
				Scopes:      []string{"read", "write"},
			}

			// The authorization request, as the client builds it.
			verifier := oauth2.GenerateVerifier()
			state := randomString(t)
			authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

			// The browser: not logged in, so to the login page and back.
			b := s.browser(t)
			toLogin := b.get(authURL).wantRedirect(t, b, loginPath+"?next=")
			next, err := url.Parse(toLogin.location)
			if err != nil {
				t.Fatal(err)
			}
			back := b.login(s.alice, next.Query().Get("next")).wantStatus(t, http.StatusFound)
			if back.location != authURL {
				t.Fatalf("the login went to %q, want back to %q", back.location, authURL)
			}
			consent := b.get(back.location).wantStatus(t, http.StatusOK)
			if !strings.Contains(consent.body, "Authorize "+app.Name) {
				t.Fatalf("not the consent page:\n%s", consent.body)
			}
			form := consent.hidden(t)
			if form.Get(csrfFieldName) == "" {
				t.Fatalf("no CSRF field on the consent page:\n%s", consent.body)
			}
			form.Set("allow", "Authorize")
			cb := b.post("/o/authorize/", form).wantRedirect(t, b, tt.redirect+"?")
			u, err := url.Parse(cb.location)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if q.Get("state") != state || q.Get("iss") != s.url || !strings.HasPrefix(q.Get("code"), "goac_") {
				t.Fatalf("redirect to the client: %s", cb.location)
			}

			// The exchange, proving possession of the verifier.
			tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if tok.TokenType != "Bearer" || !strings.HasPrefix(tok.AccessToken, "goat_") || !strings.HasPrefix(tok.RefreshToken, "gort_") {
				t.Fatalf("token: type %q, access %.5s..., refresh %.5s...", tok.TokenType, tok.AccessToken, tok.RefreshToken)
			}
			if scope, _ := tok.Extra("scope").(string); scope != "read write" {
				t.Errorf("scope = %q, want read write", scope)
			}

			// The API with that token: a snippet owned by alice.
			call := func(tok *oauth2.Token, method, path, body string) result {
				t.Helper()
				req, err := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)).Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return result{status: resp.StatusCode, header: resp.Header, body: raw}
			}
			created := call(tok, http.MethodPost, snippetsPath, `{"title":"via x/oauth2","code":"print(1)"}`).wantStatus(t, http.StatusCreated)
			if owner := created.str(t, "owner"); owner != s.alice.username {
				t.Errorf("owner = %q, want %s", owner, s.alice.username)
			}
			snippet := snippetsPath + jsonNumber(t, created, "id") + "/"
			call(tok, http.MethodGet, snippet, "").wantStatus(t, http.StatusOK)

			// Force a refresh: the TokenSource sees an expired token.
			stale := *tok
			stale.Expiry = time.Now().Add(-time.Minute)
			fresh, err := cfg.TokenSource(ctx, &stale).Token()
			if err != nil {
				t.Fatalf("refresh through TokenSource: %v", err)
			}
			if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
				t.Fatal("the refresh did not rotate both tokens")
			}
			if !fresh.Expiry.After(time.Now()) {
				t.Errorf("new token expires at %v", fresh.Expiry)
			}
			call(fresh, http.MethodGet, snippet, "").wantStatus(t, http.StatusOK)
			call(fresh, http.MethodPatch, snippet, `{"title":"refreshed"}`).wantStatus(t, http.StatusOK)

			// The old access token died with the rotation.
			old := call(tok, http.MethodGet, snippet, "").wantError(t, http.StatusUnauthorized, "invalid_token")
			if h := old.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
				t.Errorf("old access token: WWW-Authenticate = %q", h)
			}

			// Replaying the rotated refresh token is refused, and reuse
			// protection revokes the grant: the new pair stops working.
			_, err = cfg.TokenSource(ctx, &stale).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("replayed refresh token: err = %v, want invalid_grant", err)
			}
			call(fresh, http.MethodGet, snippet, "").wantError(t, http.StatusUnauthorized, "invalid_token")
			fresher := *fresh
			fresher.Expiry = time.Now().Add(-time.Minute)
			if _, err := cfg.TokenSource(ctx, &fresher).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Errorf("refresh token of the revoked grant: err = %v, want invalid_grant", err)
			}
		})
	}
}

// jsonNumber is a number member of the JSON object body, as written.
func jsonNumber(t *testing.T, r result, name string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	n := string(m[name])
	if n == "" || strings.Trim(n, "0123456789") != "" {
		t.Fatalf("%s = %q, want a number; body: %s", name, n, r.body)
	}
	return n
}
