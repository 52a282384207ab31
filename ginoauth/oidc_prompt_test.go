package ginoauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestOIDCPromptAndMaxAge: prompt=none answers login_required without a
// login and consent_required without an approval; prompt=login and a
// login older than max_age send the user to the login page; a fresh
// enough login gets a code. Errors of prompt=none go back to the client.
func TestOIDCPromptAndMaxAge(t *testing.T) {
	e := newOIDCEnv(t, "memory", "", nil)
	ctx := context.Background()
	r := e.rp(ctx)
	pkce := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	now := time.Now()
	for _, tc := range []struct {
		name      string
		opts      []oauth2.AuthCodeOption
		user      string
		authAt    time.Time
		wantError string // the redirect's error; "" with wantLogin false: a code
		wantLogin bool
	}{
		{"prompt=none, not logged in", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none")}, "", time.Time{}, "login_required", false},
		{"prompt=none, logged in", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none")}, "u-42", now, "", false},
		{"prompt=login", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login")}, "u-42", now, "", true},
		{"max_age passed", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "60")}, "u-42", now.Add(-2 * time.Minute), "", true},
		{"max_age passed, prompt=none", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "60"), oauth2.SetAuthURLParam("prompt", "none")}, "u-42", now.Add(-2 * time.Minute), "login_required", false},
		{"max_age met", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "600")}, "u-42", now.Add(-2 * time.Minute), "", false},
		{"max_age malformed", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "-1")}, "u-42", now, "invalid_request", false},
		{"not logged in", nil, "", time.Time{}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, res := e.authorize(r.conf.AuthCodeURL("s", append(tc.opts, pkce)...), tc.user, tc.authAt)
			switch {
			case tc.wantLogin:
				if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, ginoauth.DefaultLoginURL) {
					t.Errorf("got %d to %q, want a redirect to the login page", res.StatusCode, loc)
				}
			case q == nil:
				t.Errorf("got %d to %q, want a redirect to the client", res.StatusCode, res.Header.Get("Location"))
			case q.Get("error") != tc.wantError:
				t.Errorf("error: got %q, want %q", q.Get("error"), tc.wantError)
			case tc.wantError == "" && q.Get("code") == "":
				t.Errorf("got %v, want a code", q)
			}
		})
	}
}

// TestOIDCPromptNoneConsentRequired: without an approval to skip, a
// prompt=none request answers consent_required.
func TestOIDCPromptNoneConsentRequired(t *testing.T) {
	e := newOIDCEnv(t, "memory", "", nil)
	ctx := context.Background()
	if _, err := e.p.UpdateApplication(ctx, e.clientID, func(a *store.Application) error { a.SkipAuthorization = false; return nil }); err != nil {
		t.Fatal(err)
	}
	r := e.rp(ctx)
	q, res := e.authorize(r.conf.AuthCodeURL("s", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "u-42", time.Now())
	if q == nil || q.Get("error") != "consent_required" {
		t.Errorf("got %d to %q, want error=consent_required", res.StatusCode, res.Header.Get("Location"))
	}
}

// fakeClock is a settable clock for the provider and the verifier.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestOIDCKeyRotation: after RotateKeys, the new key is published before
// it signs; an id_token signed by the retired key still verifies with
// go-oidc until it expires, and the retired key leaves the JWKS once
// every token it signed has expired.
func TestOIDCKeyRotation(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	e := newOIDCEnv(t, "redis", "", func(c *ginoauth.Config) {
		c.Now = clk.Now
		c.OIDC.IDTokenExpire = time.Hour
		c.AccessTokenExpire = time.Hour // keys are kept for the longest token they signed
	})
	ctx := context.Background()
	r := e.rp(ctx)
	oldTok := e.codeFlowIDToken(t, r)
	newKids, err := e.p.RotateKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jwks := e.jwksKids(t); len(jwks) != 3 || !contains(jwks, newKids[0]) || !contains(jwks, newKids[1]) {
		t.Fatalf("JWKS right after rotation: got %v, want the old key and the two new ones", jwks)
	}
	clk.Add(3 * time.Minute) // past the publication delay and every cache
	newTok := e.codeFlowIDToken(t, r)
	if kid := jwsHeader(t, newTok)["kid"]; kid != newKids[0] {
		t.Errorf("after the delay: signed by %v, want the new key %s", kid, newKids[0])
	}
	verify := func(tok string, at time.Time) error {
		v := r.provider.Verifier(&oidc.Config{ClientID: e.clientID, Now: func() time.Time { return at }})
		_, err := v.Verify(ctx, tok)
		return err
	}
	if err := verify(oldTok, clk.Now()); err != nil {
		t.Errorf("token of the retired key, before it expires: %v, want valid", err)
	}
	clk.Add(time.Hour)
	if _, err := e.p.RotateKeys(ctx); err != nil { // drops keys retired over an id_token's life ago
		t.Fatal(err)
	}
	clk.Add(3 * time.Minute)
	if jwks := e.jwksKids(t); contains(jwks, jwsHeader(t, oldTok)["kid"].(string)) {
		t.Errorf("JWKS after the retired key's tokens expired: got %v, want it gone", jwks)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// codeFlowIDToken runs a code flow with the openid scope and returns the
// id_token.
func (e *oidcEnv) codeFlowIDToken(t *testing.T, r *rp) string {
	t.Helper()
	v := oauth2.GenerateVerifier()
	q, res := e.authorize(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), "u-42", time.Time{})
	if q == nil {
		t.Fatalf("authorize: got %d", res.StatusCode)
	}
	tok, err := r.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := tok.Extra("id_token").(string)
	return s
}

func (e *oidcEnv) jwksKids(t *testing.T) []string {
	t.Helper()
	res, err := http.Get(e.issuer + "/o/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// TestOIDCForgedIDTokenRefused: go-oidc, with the provider's JWKS, refuses
// an id_token with alg none, a changed payload, or a header naming
// another kid.
func TestOIDCForgedIDTokenRefused(t *testing.T) {
	e := newOIDCEnv(t, "memory", "", nil)
	ctx := context.Background()
	r := e.rp(ctx)
	good := e.codeFlowIDToken(t, r)
	p := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	for _, tc := range []struct{ name, tok string }{
		{"alg none", enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + p[1] + "."},
		{"HS256 with the public key's kid", enc([]byte(`{"alg":"HS256","kid":"`+jwsHeader(t, good)["kid"].(string)+`"}`)) + "." + p[1] + "." + p[2]},
		{"changed payload", p[0] + "." + enc([]byte(`{"iss":"`+e.issuer+`","sub":"admin","aud":"`+e.clientID+`","exp":9999999999,"iat":1}`)) + "." + p[2]},
		{"unknown kid", enc([]byte(`{"alg":"RS256","kid":"nope"}`)) + "." + p[1] + "." + p[2]},
	} {
		if _, err := r.verifier.Verify(ctx, tc.tok); err == nil {
			t.Errorf("%s: Verify succeeded, want an error", tc.name)
		}
	}
	if _, err := r.verifier.Verify(ctx, good); err != nil {
		t.Errorf("the real token: %v", err)
	}
}

// TestOIDCUserinfoErrors: userinfo answers 401 with a Bearer challenge
// without a token or with a bad one, and 405 to other methods; never 500.
func TestOIDCUserinfoErrors(t *testing.T) {
	e := newOIDCEnv(t, "memory", "", nil)
	for _, tc := range []struct {
		name, method, auth string
		want               int
	}{
		{"no token", "GET", "", 401},
		{"garbage token", "GET", "Bearer abc", 401},
		{"malformed header", "POST", "Bearer a b", 400},
		{"basic", "GET", "Basic eDp5", 401},
	} {
		req, _ := http.NewRequest(tc.method, e.issuer+"/o/userinfo/", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want || (tc.want == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer")) {
			t.Errorf("%s: got %d %q, want %d with a Bearer challenge", tc.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), tc.want)
		}
	}
}

// TestOIDCPromptLoginNeedsNewLogin: prompt=login sends the user to log in
// with a signed time in the URL back; that URL grants a code only after a
// login at least as recent, and a forged time is refused.
func TestOIDCPromptLoginNeedsNewLogin(t *testing.T) {
	e := newOIDCEnv(t, "memory", "", nil)
	ctx := context.Background()
	r := e.rp(ctx)
	old := time.Now().Add(-time.Hour)
	_, res := e.authorize(r.conf.AuthCodeURL("s", oauth2.SetAuthURLParam("prompt", "login"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "u-42", old)
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.Path, ginoauth.DefaultLoginURL) {
		t.Fatalf("prompt=login: got %d to %q, want the login page", res.StatusCode, res.Header.Get("Location"))
	}
	next := e.issuer + loc.Query().Get("next")
	if strings.Contains(next, "prompt=") || !strings.Contains(next, "ginoauth_login_after=") {
		t.Fatalf("next = %q, want it without prompt and with ginoauth_login_after", next)
	}
	if _, res := e.authorize(next, "u-42", old); !strings.HasPrefix(res.Header.Get("Location"), ginoauth.DefaultLoginURL) {
		t.Errorf("back with the old login: got %d to %q, want the login page again", res.StatusCode, res.Header.Get("Location"))
	}
	if q, res := e.authorize(next, "u-42", time.Now().Add(time.Second)); q == nil || q.Get("code") == "" {
		t.Errorf("back after a new login: got %d to %q, want a code", res.StatusCode, res.Header.Get("Location"))
	}
	u, _ := url.Parse(next)
	v := u.Query()
	v.Set("ginoauth_login_after", "1.AAAA")
	u.RawQuery = v.Encode()
	if q, res := e.authorize(u.String(), "u-42", time.Now()); q == nil || q.Get("error") != "invalid_request" {
		t.Errorf("forged login time: got %d to %q, want error=invalid_request", res.StatusCode, res.Header.Get("Location"))
	}
}
