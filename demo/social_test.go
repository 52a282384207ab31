package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/exchange"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestSocialLogin runs both sites of docs/social-login.md: the fake social
// site (--site social) and the API trusting it (--social-url), and trades
// a social-site token for an API token end to end.
func TestSocialLogin(t *testing.T) {
	t.Parallel()
	social := newTestServer(t)
	// At the social site: a user, the application the API trusts and
	// another one (a third party alice authorized there too).
	alice := social.newUser("alice")
	sc := social.newClient("", store.Confidential, store.GrantPassword)
	third := social.newClient("", store.Confidential, store.GrantPassword)
	api := newTestServer(t, func(o *options) { o.SocialURL, o.SocialClientIDs = social.url, []string{sc.id} })

	// alice's token (password grant).
	socialTok := social.tokenForm(basic(sc.id, sc.secret), url.Values{
		"grant_type": {"password"}, "username": {alice.username}, "password": {alice.password},
	}).wantTokens(t)

	// The social site's user lookups: the token's own user only.
	bob := social.newUser("bob")
	if d := social.api("GET", "/user_details_by_username/alice/", socialTok.access, "").wantStatus(t, http.StatusOK); d.str(t, "username") != "alice" {
		t.Fatalf("lookup of alice: %s", d.body)
	}
	social.api("GET", "/user_details_by_username/nobody/", socialTok.access, "").wantError(t, http.StatusNotFound, "not_found")
	social.api("GET", "/user_details_by_username/bob/", socialTok.access, "").wantError(t, http.StatusNotFound, "not_found")
	social.api("GET", "/user_details_by_username/alice/", "", "").wantStatus(t, http.StatusUnauthorized)
	// The API has the lookup too, for its own tokens only.
	api.api("GET", "/user_details_by_username/alice/", socialTok.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")

	// At the API: convert it.
	ac := api.newClient("", store.Confidential, socialGrantTypes...)
	converted := api.tokenForm(basic(ac.id, ac.secret), url.Values{
		"grant_type": {exchange.GrantConvertToken}, "backend": {backendSocial}, "token": {socialTok.access},
	}).wantTokens(t)
	if converted.refresh == "" {
		t.Fatal("no refresh token")
	}
	api.api("POST", snippetsPath, converted.access, `{"title":"from social","code":"print(1)"}`).wantStatus(t, http.StatusCreated)
	list := api.api("GET", snippetsPath, converted.access, "").wantStatus(t, http.StatusOK)
	if !strings.Contains(string(list.body), `"owner":"alice"`) {
		t.Fatalf("snippets: %s", list.body)
	}
	// The social site's token is not the API's.
	api.api("POST", snippetsPath, socialTok.access, `{"code":"x"}`).wantStatus(t, http.StatusUnauthorized)

	// RFC 8693, the default backend; the demo revokes the earlier token.
	x := api.tokenForm(basic(ac.id, ac.secret), url.Values{
		"grant_type": {exchange.GrantTokenExchange}, "subject_token": {socialTok.access},
		"subject_token_type": {exchange.TokenTypeAccessToken},
	}).wantStatus(t, http.StatusOK)
	if x.str(t, "issued_token_type") != exchange.TokenTypeAccessToken {
		t.Fatalf("RFC 8693 answer: %s", x.body)
	}
	api.api("GET", userDetailsPath, x.str(t, "access_token"), "").wantStatus(t, http.StatusOK)
	api.api("GET", snippetsPath, converted.access, "").wantStatus(t, http.StatusUnauthorized)

	// The with-params backend: the token's own user, named by username
	// (another backend, so another link and a new local user, alice_xxxx).
	withParams := func(token, username string) result {
		return api.tokenForm(basic(ac.id, ac.secret), url.Values{
			"grant_type": {exchange.GrantConvertToken}, "backend": {backendSocialWithParams},
			"token": {token}, "username": {username},
		})
	}
	wp := withParams(socialTok.access, "alice").wantTokens(t)
	d := api.api("GET", userDetailsPath, wp.access, "").wantStatus(t, http.StatusOK)
	if !strings.HasPrefix(d.str(t, "username"), "alice") {
		t.Fatalf("with params: %s", d.body)
	}
	// Alice's token naming bob gets nothing of bob's: the social site
	// answers 404, so does not vouch for bob.
	withParams(socialTok.access, "bob").wantError(t, http.StatusBadRequest, "invalid_grant")
	withParams(socialTok.access, "nobody").wantError(t, http.StatusBadRequest, "invalid_grant")
	// Bob's own token does.
	bobTok := social.tokenForm(basic(sc.id, sc.secret), url.Values{
		"grant_type": {"password"}, "username": {bob.username}, "password": {bob.password},
	}).wantTokens(t)
	wb := withParams(bobTok.access, "bob").wantTokens(t)
	if d := api.api("GET", userDetailsPath, wb.access, "").wantStatus(t, http.StatusOK); d.str(t, "username") != "bob" {
		t.Fatalf("with params, bob: %s", d.body)
	}

	// A token the social site does not know.
	api.tokenForm(basic(ac.id, ac.secret), url.Values{
		"grant_type": {exchange.GrantConvertToken}, "backend": {backendSocial}, "token": {"goat_forged"},
	}).wantError(t, http.StatusBadRequest, "invalid_grant")

	// alice's token held by the third-party application signs nobody in.
	thirdTok := social.tokenForm(basic(third.id, third.secret), url.Values{
		"grant_type": {"password"}, "username": {alice.username}, "password": {alice.password},
	}).wantTokens(t)
	for _, backend := range []string{backendSocial, backendSocialWithParams} {
		api.tokenForm(basic(ac.id, ac.secret), url.Values{
			"grant_type": {exchange.GrantConvertToken}, "backend": {backend}, "token": {thirdTok.access}, "username": {alice.username},
		}).wantError(t, http.StatusBadRequest, "invalid_grant")
	}
}

// TestServeSocialFlags: the two modes through `demo serve`.
func TestServeSocialFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--site", "nope"},
		{"serve", "--site", "social", "--social-url", "http://localhost:1"},
		{"serve", "--social-url", "ftp://x", "--social-client-id", "c", "--addr", "127.0.0.1:0"},
		{"serve", "--social-client-id", "c", "--addr", "127.0.0.1:0"},
		{"serve", "--social-url", "http://localhost:8001", "--social-client-id=", "--addr", "127.0.0.1:0"},
	} {
		var out, errOut syncBuffer
		env := &runEnv{stdout: &out, stderr: &errOut, getenv: noEnv, prefix: defaultPrefix, logger: testLogger(t)}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code := run(ctx, args, env)
		cancel()
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}

	// The API mode prints how to convert a token, or, without
	// --social-client-id, that it converts none.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--social-client-id", "app-1", "--social-client-id", "app-2"}, []string{"grant_type=convert_token", exchange.GrantConvertToken, "app-1, app-2"}},
		{nil, []string{"Social login is off", "--social-client-id"}},
	} {
		out := serveOutput(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--social-url", "http://localhost:8001"}, tc.args...))
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("serve --social-url %v: the output lacks %q:\n%s", tc.args, w, out)
			}
		}
		if tc.args == nil && strings.Contains(out, exchange.GrantConvertToken) {
			t.Errorf("serve --social-url without --social-client-id: the demo application may still convert tokens:\n%s", out)
		}
	}
}

// serveOutput runs `demo` with args until it serves, and returns what it
// printed on stdout.
func serveOutput(t *testing.T, args []string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	ready := make(chan string, 1)
	env := &runEnv{stdout: &out, stderr: &errOut, getenv: noEnv, prefix: defaultPrefix,
		logger: testLogger(t), serving: func(u string) { ready <- u }}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, env) }()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("%v exited with %d: %s", args, code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("%v did not start", args)
	}
	cancel()
	<-done
	return out.String()
}

// TestSocialOnRedis: the Redis walkthrough of docs/social-login.md. The
// commands with --site social make the social site's user and application,
// those without make the API's application allowed to convert tokens, and
// both sites share one Redis under their own keys.
func TestSocialOnRedis(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	cmd := func(args ...string) cmdResult {
		t.Helper()
		return runCmd(t, env, append(args, "--redis", testRedisURL)...)
	}
	jsonCreds := func(r cmdResult) map[string]string {
		t.Helper()
		var creds map[string]string
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &creds) != nil || creds["client_id"] == "" {
			t.Fatalf("createapplication: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		return creds
	}
	if r := cmd("createuser", "--site", "social", "--username", "alice", "--password", "alice-pw"); r.code != 0 {
		t.Fatalf("createuser --site social: code %d, stderr %q", r.code, r.stderr)
	}
	sc := jsonCreds(cmd("createapplication", "--site", "social", "--json", "confidential", "password"))
	// The social site converts no tokens.
	if r := cmd("createapplication", "--site", "social", "confidential", "convert-token"); r.code != 1 || !strings.Contains(r.stderr, "not enabled") {
		t.Errorf("createapplication --site social convert-token: code %d, stderr %q", r.code, r.stderr)
	}
	if r := cmd("createuser", "--site", "elsewhere", "--username", "x", "--password", "y"); r.code != 2 {
		t.Errorf("--site elsewhere: code %d, stderr %q", r.code, r.stderr)
	}
	ac := jsonCreds(cmd("createapplication", "--json", "confidential", "convert-token,token-exchange"))
	if r := cmd("createuser", "--username", "carol", "--password", "carol-pw"); r.code != 0 {
		t.Fatalf("createuser: code %d, stderr %q", r.code, r.stderr)
	}
	if r := cmd("listapplications", "--site", "social", "--json"); r.code != 0 || !strings.Contains(r.stdout, sc["client_id"]) || strings.Contains(r.stdout, ac["client_id"]) {
		t.Errorf("listapplications --site social: code %d, stdout %q", r.code, r.stdout)
	}

	open := func(e *runEnv, mod func(*options)) *testServer {
		t.Helper()
		b, err := e.openBackend(context.Background(), redisTarget{url: testRedisURL})
		if err != nil {
			t.Fatal(err)
		}
		o := options{Store: b.store, Snippets: b.snippets, SecretKey: b.secretKey, Logger: testLogger(t)}
		mod(&o)
		return startApp(t, o)
	}
	social := open(env.socialSite(), func(*options) {})
	api := open(env, func(o *options) { o.SocialURL, o.SocialClientIDs = social.url, []string{sc["client_id"]} })

	password := func(s *testServer, user, pw string) result {
		return s.tokenForm(basic(sc["client_id"], sc["client_secret"]), url.Values{
			"grant_type": {"password"}, "username": {user}, "password": {pw},
		})
	}
	tok := password(social, "alice", "alice-pw").wantTokens(t)
	// Carol is the API's, not the social site's.
	password(social, "carol", "carol-pw").wantError(t, http.StatusBadRequest, "invalid_grant")

	for _, f := range []url.Values{
		{"grant_type": {exchange.GrantConvertToken}, "backend": {backendSocial}, "token": {tok.access}},
		{"grant_type": {exchange.GrantTokenExchange}, "subject_token": {tok.access}, "subject_token_type": {exchange.TokenTypeAccessToken}},
	} {
		conv := api.tokenForm(basic(ac["client_id"], ac["client_secret"]), f).wantTokens(t)
		if d := api.api("GET", userDetailsPath, conv.access, "").wantStatus(t, http.StatusOK); d.str(t, "username") != "alice" {
			t.Fatalf("%s: %s", f.Get("grant_type"), d.body)
		}
	}
}
