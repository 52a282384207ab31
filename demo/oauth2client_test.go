package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestOAuth2Client drives the demo with golang.org/x/oauth2, a client
// written against the RFC rather than against this server.
func TestOAuth2Client(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	get := func(c *http.Client, method, path, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, f.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}

	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"auto-detected auth", oauth2.AuthStyleAutoDetect}, {"Basic auth", oauth2.AuthStyleInHeader}, {"auth in the body", oauth2.AuthStyleInParams}} {
		t.Run("password grant and refresh, "+style.name, func(t *testing.T) {
			t.Parallel()
			conf := &oauth2.Config{
				ClientID:     f.conf.id,
				ClientSecret: f.conf.secret,
				Endpoint:     oauth2.Endpoint{TokenURL: f.url + tokenPath, AuthStyle: style.style},
				Scopes:       []string{"read", "write"},
			}
			tok, err := conf.PasswordCredentialsToken(ctx, f.alice.username, f.alice.password)
			if err != nil {
				t.Fatalf("PasswordCredentialsToken: %v", err)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
				t.Fatalf("token = %+v", tok)
			}
			if until := time.Until(tok.Expiry); until < 9*time.Hour || until > 10*time.Hour+time.Minute {
				t.Errorf("token expires in %v, want about 10h", until)
			}
			if scope, _ := tok.Extra("scope").(string); scope != "read write" {
				t.Errorf("scope = %q", scope)
			}
			client := oauth2.NewClient(ctx, conf.TokenSource(ctx, tok))
			if code := get(client, "GET", snippetsPath, ""); code != http.StatusOK {
				t.Errorf("GET /snippets/ = %d", code)
			}
			if code := get(client, "POST", snippetsPath, `{"code":"print(42)"}`); code != http.StatusCreated {
				t.Errorf("POST /snippets/ = %d", code)
			}

			// An expired token makes the TokenSource refresh.
			stale := *tok
			stale.Expiry = time.Now().Add(-time.Minute)
			ts := conf.TokenSource(ctx, &stale)
			fresh, err := ts.Token()
			if err != nil {
				t.Fatalf("refresh through TokenSource: %v", err)
			}
			if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
				t.Fatalf("TokenSource did not rotate the tokens")
			}
			if code := get(oauth2.NewClient(ctx, ts), "GET", snippetsPath, ""); code != http.StatusOK {
				t.Errorf("GET /snippets/ after refresh = %d", code)
			}
			// The rotation killed the old access and refresh tokens.
			if code := get(oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)), "GET", snippetsPath, ""); code != http.StatusUnauthorized {
				t.Errorf("old access token: GET /snippets/ = %d, want 401", code)
			}
			_, err = conf.TokenSource(ctx, &stale).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Errorf("reusing the old refresh token: err = %v, want invalid_grant", err)
			}
		})
	}

	t.Run("client credentials", func(t *testing.T) {
		t.Parallel()
		cc := &clientcredentials.Config{
			ClientID: f.conf.id, ClientSecret: f.conf.secret,
			TokenURL: f.url + tokenPath, Scopes: []string{"read"},
		}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("clientcredentials Token: %v", err)
		}
		if tok.RefreshToken != "" {
			t.Error("client_credentials gave a refresh token")
		}
		client := cc.Client(ctx)
		if code := get(client, "GET", snippetsPath, ""); code != http.StatusOK {
			t.Errorf("GET /snippets/ = %d", code)
		}
		if code := get(client, "POST", snippetsPath, `{"code":"x"}`); code != http.StatusForbidden {
			t.Errorf("POST /snippets/ with a read token = %d, want 403", code)
		}
	})

	t.Run("client id that needs percent-encoding", func(t *testing.T) {
		t.Parallel()
		odd := f.newClient("client:with spaces+ünïcode/%", store.Confidential, store.GrantClientCredentials)
		cc := &clientcredentials.Config{
			ClientID: odd.id, ClientSecret: odd.secret, TokenURL: f.url + tokenPath,
			AuthStyle: oauth2.AuthStyleInHeader,
		}
		if _, err := cc.Token(ctx); err != nil {
			t.Fatalf("Basic auth with an encoded client id: %v", err)
		}
	})

	t.Run("bad credentials are RetrieveErrors with RFC codes", func(t *testing.T) {
		t.Parallel()
		conf := &oauth2.Config{ClientID: f.conf.id, ClientSecret: f.conf.secret,
			Endpoint: oauth2.Endpoint{TokenURL: f.url + tokenPath, AuthStyle: oauth2.AuthStyleInHeader}}
		_, err := conf.PasswordCredentialsToken(ctx, f.alice.username, "wrong")
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
			t.Errorf("bad password: err = %v, want 400 invalid_grant", err)
		}
		conf.ClientSecret = "wrong"
		_, err = conf.PasswordCredentialsToken(ctx, f.alice.username, f.alice.password)
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
			t.Errorf("bad client secret: err = %v, want 401 invalid_client", err)
		}
	})
}
