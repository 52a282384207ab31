package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestOIDCSignInWithGoOIDC signs a relying party in to the demo as
// docs/oidc.md does: go-oidc discovers the demo, alice logs in and
// consents, the id_token verifies with her user ID as sub, her login time
// as auth_time and the request's nonce, and userinfo gives her username.
func TestOIDCSignInWithGoOIDC(t *testing.T) {
	t.Parallel()
	s := newWebServer(t)
	ctx := context.Background()
	const redirect = "http://127.0.0.1/callback"
	app, secret, err := s.provider.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "go-oidc RP", ClientType: store.Confidential,
		GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{redirect},
	})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := oidc.NewProvider(ctx, s.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg := oauth2.Config{ClientID: app.ClientID, ClientSecret: secret, Endpoint: prov.Endpoint(),
		RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile"}}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1"))
	b := s.browser(t)
	toLogin := b.get(authURL).wantRedirect(t, b, loginPath+"?next=")
	next, _ := url.Parse(toLogin.location)
	loggedIn := time.Now().Truncate(time.Second)
	back := b.login(s.alice, next.Query().Get("next")).wantStatus(t, http.StatusFound)
	form := b.get(back.location).wantStatus(t, http.StatusOK).hidden(t)
	form.Set("allow", "Authorize")
	cb := b.post("/o/authorize/", form).wantRedirect(t, b, redirect+"?")
	u, _ := url.Parse(cb.location)
	tok, err := cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: app.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var claims struct {
		AuthTime int64  `json:"auth_time"`
		Username string `json:"preferred_username"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	alice, err := s.provider.Store().GetUserByUsername(ctx, s.alice.username)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Subject != alice.ID || idt.Nonce != "n-1" || claims.Username != s.alice.username ||
		claims.AuthTime < loggedIn.Unix() || claims.AuthTime > time.Now().Unix() {
		t.Errorf("id_token: sub %q nonce %q username %q auth_time %d; want %q, n-1, %q, the login time %d",
			idt.Subject, idt.Nonce, claims.Username, claims.AuthTime, alice.ID, s.alice.username, loggedIn.Unix())
	}
	ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != alice.ID {
		t.Fatalf("UserInfo: %+v, %v; want sub %q", ui, err, alice.ID)
	}

	// RP-initiated logout: back to the registered URI with state, and the
	// next authorization request finds nobody logged in.
	const bye = "http://127.0.0.1/bye"
	if _, err := s.provider.UpdateApplication(ctx, app.ClientID, func(a *store.Application) error {
		a.PostLogoutRedirectURIs = []string{bye}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {bye}, "state": {"x"}}
	b.get("/o/logout/?"+q.Encode()).wantRedirect(t, b, bye+"?state=x")
	b.get(authURL).wantRedirect(t, b, loginPath+"?next=")
}

// TestRotateKeysCommand: rotatekeys on Redis prints the new keys, which
// the store then holds; without Redis it is a usage error.
func TestRotateKeysCommand(t *testing.T) {
	t.Parallel()
	env, client := redisEnv(t)
	r := runCmd(t, env, "rotatekeys", "--redis", testRedisURL)
	if r.code != 0 || !strings.Contains(r.stdout, "New signing keys") {
		t.Fatalf("rotatekeys: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n, err := client.HLen(context.Background(), env.prefix+"oidc:keys").Result(); err != nil || n != 2 {
		t.Errorf("keys in Redis after one rotation: got %d (%v), want 2", n, err)
	}
	r = runCmd(t, env, "rotatekeys", "--redis", testRedisURL)
	if n, _ := client.HLen(context.Background(), env.prefix+"oidc:keys").Result(); r.code != 0 || n != 4 {
		t.Errorf("second rotation: code %d, %d keys; want 0 and 4 (the retired ones stay published)", r.code, n)
	}
	if r := runCmd(t, nil, "rotatekeys"); r.code != exitUsage || !strings.Contains(r.stderr, "needs Redis") {
		t.Errorf("rotatekeys without Redis: code %d, stderr %q; want %d and 'needs Redis'", r.code, r.stderr, exitUsage)
	}
}
