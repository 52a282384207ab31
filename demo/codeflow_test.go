package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// toConsent drives a browser from the demo client's page to the consent
// page, logging in on the way if it has no session, and returns the
// consent page.
func (s *webServer) toConsent(t *testing.T, b *browser, u userCreds) page {
	t.Helper()
	home := b.get(clientPath).wantStatus(t, http.StatusOK)
	if !strings.Contains(home.body, `id="signin"`) || !strings.Contains(home.body, s.url+clientStartPath) {
		t.Fatalf("the client page has no sign-in link:\n%s", home.body)
	}
	start := b.get(clientStartPath).wantRedirect(t, b, "/o/authorize/?")
	authz, _ := url.Parse(start.location)
	q := authz.Query()
	if q.Get("client_id") != s.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("redirect_uri") != s.url+clientCallbackPath {
		t.Fatalf("authorization request: %s", start.location)
	}
	if b.cookie(clientCookie, clientPath) == "" {
		t.Fatal("/client/start kept no state cookie")
	}
	p := b.get(start.location)
	if b.cookie(sessionCookie, "/") == "" {
		// Not logged in: the authorization endpoint sends us to the login
		// page with next=, and the login back.
		p.wantRedirect(t, b, loginPath+"?next=")
		next, _ := url.Parse(p.location)
		if got := s.url + next.Query().Get("next"); got != start.location {
			t.Fatalf("next = %q, want the authorization request %q", got, start.location)
		}
		login := b.get(p.location).wantStatus(t, http.StatusOK)
		form := login.hidden(t)
		if s.url+form.Get("next") != start.location {
			t.Fatalf("the login form's next = %q", form.Get("next"))
		}
		form.Set("username", u.username)
		form.Set("password", u.password)
		back := b.post(loginPath, form).wantStatus(t, http.StatusFound)
		if back.location != start.location {
			t.Fatalf("the login went to %q, want back to %q", back.location, start.location)
		}
		p = b.get(back.location)
	}
	p.wantStatus(t, http.StatusOK)
	if !strings.Contains(p.body, "Authorize "+demoClientName) || !strings.Contains(p.body, "<strong>"+u.username+"</strong>") {
		t.Fatalf("not the consent page:\n%s", p.body)
	}
	return p
}

// answerConsent posts the consent form, allowing or denying, and returns
// the redirect to the client's callback.
func (s *webServer) answerConsent(t *testing.T, b *browser, consent page, allow bool) string {
	t.Helper()
	form := consent.hidden(t)
	if form.Get(csrfFieldName) == "" {
		t.Fatalf("no CSRF field on the consent page:\n%s", consent.body)
	}
	if allow {
		form.Set("allow", "Authorize")
	} else {
		form.Set("deny", "Cancel")
	}
	return b.post("/o/authorize/", form).wantRedirect(t, b, clientCallbackPath+"?").location
}

var fullTokenRE = regexp.MustCompile(`go(at|rt)_[A-Za-z0-9_-]{9,}`)

// TestCodeFlow drives the authorization code flow with PKCE over HTTP, as
// a browser does: the demo client's page, /client/start, the authorization
// endpoint, the login page, back to the authorization endpoint, the
// consent page, the callback, the token exchange and /user_details/.
func TestCodeFlow(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	s := newWebServer(t, func(o *options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})

	t.Run("allow", func(t *testing.T) {
		t.Parallel()
		b := s.browser(t)
		callback := s.answerConsent(t, b, s.toConsent(t, b, s.alice), true)
		cb, _ := url.Parse(callback)
		if q := cb.Query(); !strings.HasPrefix(q.Get("code"), "goac_") || q.Get("iss") != s.url {
			t.Fatalf("callback %s", callback)
		}
		res := b.get(callback).wantStatus(t, http.StatusOK)
		if got := res.byID("result"); got != "Token exchange succeeded" {
			t.Fatalf("#result = %q; page:\n%s", got, res.body)
		}
		if got := res.byID("scope"); got != "read write" {
			t.Errorf("#scope = %q, want read write", got)
		}
		if got := res.byID("token-prefix"); !strings.HasPrefix(got, "goat_") || len([]rune(got)) != 9 { // 8 and "…"
			t.Errorf("#token-prefix = %q, want the first 8 characters", got)
		}
		if m := fullTokenRE.FindString(res.body); m != "" {
			t.Errorf("the result page shows a whole token: %s", m)
		}
		if cc := res.header.Get("Cache-Control"); cc != "no-store" || res.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("result page headers: %v", res.header)
		}
		me := b.get(res.byIDHref(t, "me")).wantStatus(t, http.StatusOK)
		if got := me.byID("username"); got != "alice" {
			t.Errorf("/client/me: #username = %q; page:\n%s", got, me.body)
		}
		// The client's page now shows the signed-in state.
		if home := b.get(clientPath); home.byID("signed-in") == "" {
			t.Errorf("the client page does not show the sign-in:\n%s", home.body)
		}
		// The callback works once: the state was consumed.
		again := b.get(callback).wantStatus(t, http.StatusBadRequest)
		if again.byID("error") != "no_sign_in_in_progress" {
			t.Errorf("replayed callback:\n%s", again.body)
		}
		// The code cannot be exchanged again either (here by hand).
		r := s.tokenForm("", url.Values{"grant_type": {"authorization_code"}, "client_id": {s.clientID},
			"code": {cb.Query().Get("code")}, "redirect_uri": {s.url + clientCallbackPath}, "code_verifier": {strings.Repeat("a", 43)}})
		r.wantError(t, http.StatusBadRequest, "invalid_grant")
	})

	t.Run("deny", func(t *testing.T) {
		t.Parallel()
		b := s.browser(t)
		callback := s.answerConsent(t, b, s.toConsent(t, b, s.alice), false)
		if q, _ := url.Parse(callback); q.Query().Get("error") != "access_denied" {
			t.Fatalf("callback %s", callback)
		}
		p := b.get(callback).wantStatus(t, http.StatusBadRequest)
		if p.byID("error") != "access_denied" || p.byID("result") != "" {
			t.Errorf("callback page after deny:\n%s", p.body)
		}
		b.get(clientMePath).wantStatus(t, http.StatusUnauthorized)
	})

	t.Run("logged in already: straight to consent", func(t *testing.T) {
		t.Parallel()
		b := s.browser(t)
		b.login(s.alice, "").wantStatus(t, http.StatusFound)
		res := b.get(s.answerConsent(t, b, s.toConsent(t, b, s.alice), true)).wantStatus(t, http.StatusOK)
		if res.byID("result") != "Token exchange succeeded" {
			t.Errorf("page:\n%s", res.body)
		}
	})

	t.Run("consent without the CSRF token", func(t *testing.T) {
		t.Parallel()
		b := s.browser(t)
		form := s.toConsent(t, b, s.alice).hidden(t)
		form.Del(csrfFieldName)
		form.Set("allow", "Authorize")
		b.post("/o/authorize/", form).wantStatus(t, http.StatusForbidden)
	})

	t.Run("callback errors", func(t *testing.T) {
		t.Parallel()
		iss := "iss=" + url.QueryEscape(s.url)
		tests := []struct {
			name  string
			start bool // go through /client/start first
			query func(state string) string
			code  string
		}{
			{"no sign-in in progress", false, func(string) string { return "code=goac_x&state=abc" }, "no_sign_in_in_progress"},
			{"state mismatch", true, func(string) string { return "code=goac_x&state=forged" }, "state_mismatch"},
			{"no state", true, func(string) string { return "code=goac_x" }, "state_mismatch"},
			{"issuer mismatch", true, func(st string) string { return "code=goac_x&iss=https%3A%2F%2Fevil.example&state=" + st }, "issuer_mismatch"},
			{"no issuer (RFC 9207)", true, func(st string) string { return "code=goac_x&state=" + st }, "issuer_missing"},
			{"empty issuer", true, func(st string) string { return "code=goac_x&iss=&state=" + st }, "issuer_missing"},
			{"error without issuer", true, func(st string) string { return "error=access_denied&state=" + st }, "issuer_missing"},
			{"error from the provider", true, func(st string) string { return "error=invalid_scope&error_description=nope&" + iss + "&state=" + st }, "invalid_scope"},
			{"neither code nor error", true, func(st string) string { return iss + "&state=" + st }, "invalid_request"},
			{"bad code", true, func(st string) string { return "code=goac_bad&" + iss + "&state=" + st }, "invalid_grant"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b := s.browser(t)
				state := ""
				if tt.start {
					u, _ := url.Parse(b.get(clientStartPath).wantStatus(t, http.StatusFound).location)
					state = u.Query().Get("state")
				}
				p := b.get(clientCallbackPath + "?" + tt.query(state))
				if p.status < 400 || p.byID("error") != tt.code {
					t.Errorf("status %d, #error %q, want %s; page:\n%s", p.status, p.byID("error"), tt.code, p.body)
				}
			})
		}
	})

	t.Cleanup(func() {
		out := logs.String()
		if !strings.Contains(out, "demo client: token exchange succeeded") {
			t.Errorf("the exchange was not logged:\n%s", out)
		}
		if m := fullTokenRE.FindString(out); m != "" {
			t.Errorf("the log holds a token: %s", m)
		}
		for _, secret := range []string{s.alice.password, "goac_", "csrfmiddlewaretoken", sessionCookie + "="} {
			if strings.Contains(out, secret) {
				t.Errorf("the log holds %q", secret)
			}
		}
	})
}

// byIDHref returns the href of the element with that id.
func (p page) byIDHref(t *testing.T, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `" href="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no link #%s on the page:\n%s", id, p.body)
	}
	return m[1]
}

// TestDemoClientNotSetUp: a server whose demo client was not set up
// answers its pages with 503.
func TestDemoClientNotSetUp(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	b := s.browser(t)
	for _, path := range []string{clientPath, clientStartPath, clientCallbackPath, clientMePath} {
		b.get(path).wantStatus(t, http.StatusServiceUnavailable)
	}
}

// TestDemoClientOnRedis: with Redis, the demo client is created once,
// its client_id kept under the prefix; a later start reuses it, adding
// its own redirect URI.
func TestDemoClientOnRedis(t *testing.T) {
	t.Parallel()
	env, kv := redisEnv(t)
	ctx := context.Background()
	var ids []string
	for _, base := range []string{"http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8001"} {
		b, err := env.openBackend(ctx, redisTarget{url: testRedisURL})
		if err != nil {
			t.Fatal(err)
		}
		a, err := newApp(options{Store: b.store, Snippets: b.snippets, SecretKey: b.secretKey, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		app, err := a.setupDemoClient(ctx, base, b.redis, env.prefix)
		if err != nil {
			t.Fatalf("setupDemoClient(%s): %v", base, err)
		}
		ids = append(ids, app.ClientID)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("client_ids %v: want one, reused", ids)
	}
	if got, err := kv.Get(ctx, env.prefix+clientIDKey).Result(); err != nil || got != ids[0] {
		t.Errorf("%s%s = %q, %v; want %s", env.prefix, clientIDKey, got, err, ids[0])
	}
	b, _ := env.openBackend(ctx, redisTarget{url: testRedisURL})
	app, err := b.store.GetApplication(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://127.0.0.1:8001/client/callback", "http://127.0.0.1:8002/client/callback"}
	if strings.Join(app.RedirectURIs, " ") != strings.Join(want, " ") || app.ClientType != store.Public || app.SkipAuthorization {
		t.Errorf("demo client: %+v", app)
	}
}

// TestCORS: with --cors-origin, browser apps on that origin may call the
// token endpoint and the API (preflight with Authorization allowed);
// other origins may not.
func TestCORS(t *testing.T) {
	t.Parallel()
	const origin = "http://localhost:3000"
	f := newFixture(t, func(o *options) { o.CORSOrigins = []string{origin} })
	plain := newTestServer(t)
	tk := f.clientToken(f.conf, "read").access

	preflight := func(s *testServer, path, method, from, headers string) result {
		return s.do(http.MethodOptions, path, map[string]string{
			"Origin": from, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
		}, "")
	}
	tests := []struct {
		name    string
		call    func() result
		status  int
		allowed bool // Access-Control-Allow-Origin: origin
	}{
		{"preflight /o/token/", func() result { return preflight(f.testServer, tokenPath, "POST", origin, "authorization,content-type") }, 204, true},
		{"preflight /o/revoke_token/", func() result { return preflight(f.testServer, "/o/revoke_token/", "POST", origin, "content-type") }, 204, true},
		{"preflight /snippets/ GET with Authorization", func() result { return preflight(f.testServer, snippetsPath, "GET", origin, "authorization") }, 204, true},
		{"preflight /snippets/ POST", func() result {
			return preflight(f.testServer, snippetsPath, "POST", origin, "authorization,content-type")
		}, 204, true},
		{"preflight /snippets/1/ DELETE", func() result { return preflight(f.testServer, "/snippets/1/", "DELETE", origin, "authorization") }, 204, true},
		{"preflight /user_details/", func() result { return preflight(f.testServer, userDetailsPath, "GET", origin, "authorization") }, 204, true},
		{"preflight from another origin", func() result {
			return preflight(f.testServer, snippetsPath, "GET", "http://evil.example", "authorization")
		}, 403, false},
		{"preflight /o/token/ from another origin", func() result {
			return preflight(f.testServer, tokenPath, "POST", "http://evil.example", "authorization")
		}, 403, false},
		{"GET /snippets/ from the origin", func() result {
			return f.do("GET", snippetsPath, map[string]string{"Origin": origin, "Authorization": "Bearer " + tk}, "")
		}, 200, true},
		{"401 from the origin carries CORS headers", func() result { return f.do("GET", snippetsPath, map[string]string{"Origin": origin}, "") }, 401, true},
		{"token request from the origin", func() result {
			return f.do("POST", tokenPath, map[string]string{"Origin": origin, "Authorization": basic(f.conf.id, f.conf.secret),
				"Content-Type": "application/x-www-form-urlencoded"}, "grant_type=client_credentials")
		}, 200, true},
		{"OPTIONS without CORS is not a preflight", func() result { return f.do(http.MethodOptions, snippetsPath, nil, "") }, 204, false},
		{"no --cors-origin: no preflight on the API", func() result { return preflight(plain, snippetsPath, "GET", origin, "authorization") }, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.call().wantStatus(t, tt.status)
			acao := r.header.Get("Access-Control-Allow-Origin")
			if tt.allowed != (acao == origin) {
				t.Errorf("Access-Control-Allow-Origin = %q, allowed %v", acao, tt.allowed)
			}
			if tt.allowed && tt.status == http.StatusNoContent {
				if h := strings.ToLower(r.header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") {
					t.Errorf("Access-Control-Allow-Headers = %q, want Authorization", h)
				}
			}
			if acc := r.header.Get("Access-Control-Allow-Credentials"); acc != "" {
				t.Errorf("Access-Control-Allow-Credentials = %q: cookies must not be allowed cross-origin", acc)
			}
		})
	}
}
