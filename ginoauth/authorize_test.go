package ginoauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// codeEnv is an env whose provider knows who is logged in from a
// "test_user" cookie (standing in for an application's session), with a
// confidential and a public code-grant client.
type codeEnv struct {
	*env
	webID, webSecret string
	nativeID         string
	redirect         string
}

const testRedirect = "https://client.example.com/cb"

func newCodeEnv(t *testing.T, kind string, mod func(*ginoauth.Config)) *codeEnv {
	t.Helper()
	ce := &codeEnv{redirect: testRedirect}
	e := newEnv(t, kind, func(c *ginoauth.Config) {
		c.Sessions = ginoauth.SessionFunc(func(c *gin.Context) (*ginoauth.Owner, error) {
			v, err := c.Cookie("test_user")
			if err != nil || v == "" {
				return nil, nil
			}
			id, name, _ := strings.Cut(v, ".")
			return &ginoauth.Owner{ID: id, Username: name}, nil
		})
		if mod != nil {
			mod(c)
		}
	})
	ce.env = e
	ctx := context.Background()
	web, secret, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "Web <App>", ClientType: store.Confidential,
		GrantTypes:   []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{testRedirect, "https://client.example.com/other"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ce.webID, ce.webSecret = web.ClientID, secret
	native, _, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "Native", ClientType: store.Public,
		GrantTypes:   []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{"http://127.0.0.1/callback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ce.nativeID = native.ClientID
	return ce
}

// browser is a cookie-keeping client that does not follow redirects.
func (ce *codeEnv) browser(user string) *http.Client {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(ce.srv.URL)
	if user != "" {
		jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: user}})
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status   int
	location *url.URL
	body     string
	header   http.Header
}

func fetch(t *testing.T, b *http.Client, method, u string, form url.Values) page {
	t.Helper()
	var req *http.Request
	if method == "POST" {
		req, _ = http.NewRequest("POST", u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest("GET", u, nil)
	}
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := page{status: res.StatusCode, body: string(raw), header: res.Header}
	if loc := res.Header.Get("Location"); loc != "" {
		p.location, _ = url.Parse(loc)
	}
	return p
}

// wantPageStatus reports, as got/want, a page whose status is not want,
// and returns whether it was.
func wantPageStatus(t *testing.T, what string, pg page, want int) bool {
	t.Helper()
	if pg.status != want {
		t.Errorf("%s: status = %d, want %d (location %v)", what, pg.status, want, pg.location)
		return false
	}
	return true
}

// wantParam reports, as got/want, a redirect that is missing or whose query
// parameter key is not want, and returns whether it was.
func wantParam(t *testing.T, what string, loc *url.URL, key, want string) bool {
	t.Helper()
	if loc == nil {
		t.Errorf("%s: no redirect, want one with %s=%q", what, key, want)
		return false
	}
	if got := loc.Query().Get(key); got != want {
		t.Errorf("%s: %s = %q, want %q (location %v)", what, key, got, want, loc)
		return false
	}
	return true
}

// wantRedirect reports a page that is not a redirect, and returns whether
// it was.
func wantRedirect(t *testing.T, what string, pg page) bool {
	t.Helper()
	if pg.location == nil {
		t.Errorf("%s: no redirect (status %d), want one", what, pg.status)
		return false
	}
	return true
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consentForm reads the hidden fields of a consent page.
func consentForm(t *testing.T, body string) url.Values {
	t.Helper()
	f := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		f.Add(htmlUnescape(m[1]), htmlUnescape(m[2])) // resource may repeat
	}
	if f.Get(ginoauth.CSRFField) == "" {
		t.Fatalf("consent page: no %s hidden field, want one (body %s)", ginoauth.CSRFField, body)
	}
	return f
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&#43;", "+").Replace(s)
}

func (ce *codeEnv) oauthConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID: ce.webID, ClientSecret: ce.webSecret, RedirectURL: ce.redirect, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: ce.srv.URL + "/o/authorize/", TokenURL: ce.srv.URL + "/o/token/", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// authorize runs the browser part of the flow up to the redirect with a code.
func (ce *codeEnv) authorize(t *testing.T, b *http.Client, authURL string) *url.URL {
	t.Helper()
	pg := fetch(t, b, "GET", authURL, nil)
	ok := wantPageStatus(t, "consent page", pg, 200)
	if !strings.Contains(pg.body, "Web &lt;App&gt;") {
		t.Errorf("consent page: body does not name the application, want %q in it (body %s)", "Web &lt;App&gt;", pg.body)
		ok = false
	}
	if !ok {
		t.FailNow()
	}
	if got := pg.header.Get("X-Frame-Options"); got != "DENY" {
		t.Fatalf("consent page: X-Frame-Options = %q, want %q", got, "DENY")
	}
	f := consentForm(t, pg.body)
	f.Set("allow", "Authorize")
	pg = fetch(t, b, "POST", ce.srv.URL+"/o/authorize/", f)
	ok = wantPageStatus(t, "consent answer", pg, 302)
	if !wantRedirect(t, "consent answer", pg) || !ok {
		t.FailNow()
	}
	return pg.location
}

// TestCodeFlowWithXOAuth2 drives the whole code flow with PKCE as
// golang.org/x/oauth2 does it: AuthCodeURL with S256, Exchange, and a
// TokenSource that refreshes.
func TestCodeFlowWithXOAuth2(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		now := time.Now()
		var clock atomic.Pointer[time.Time]
		clock.Store(&now)
		ce := newCodeEnv(t, kind, func(c *ginoauth.Config) { c.Now = func() time.Time { return *clock.Load() } })
		conf := ce.oauthConfig()
		verifier := oauth2.GenerateVerifier()
		authURL := conf.AuthCodeURL("xyz-state", oauth2.S256ChallengeOption(verifier))
		loc := ce.authorize(t, ce.browser("u1.alice"), authURL)
		q := loc.Query()
		ok := true
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
			t.Errorf("redirect: URI = %s, want %s", got, testRedirect)
			ok = false
		}
		ok = wantParam(t, "redirect", loc, "state", "xyz-state") && ok
		ok = wantParam(t, "redirect", loc, "iss", ce.srv.URL) && ok
		if got := q.Get("code"); !strings.HasPrefix(got, "goac_") {
			t.Errorf("redirect: code = %q, want a goac_ prefix", got)
			ok = false
		}
		if !ok {
			t.FailNow()
		}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client())
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		ok = true
		if tok.RefreshToken == "" {
			t.Errorf("token: no refresh token, want one (token %+v)", tok)
			ok = false
		}
		if got := tok.Extra("scope"); got != "read" {
			t.Errorf("token: scope = %v, want %q", got, "read")
			ok = false
		}
		if !ok {
			t.FailNow()
		}
		r := ce.get("/api/whoami", tok.AccessToken)
		ok = wantStatus(t, "whoami", r, 200)
		if !wantField(t, "whoami", r, "user", "alice") || !ok {
			t.FailNow()
		}
		// The access token expires (by the provider's clock); the TokenSource refreshes.
		later := now.Add(ginoauth.DefaultAccessTokenExpire + time.Minute)
		clock.Store(&later)
		tok.Expiry = time.Now().Add(-time.Second)
		fresh, err := conf.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatal(err)
		}
		ok = true
		if fresh.AccessToken == tok.AccessToken {
			t.Errorf("TokenSource: access token unchanged, want a new one")
			ok = false
		}
		if fresh.RefreshToken == tok.RefreshToken {
			t.Errorf("TokenSource: refresh token unchanged, want a new one")
			ok = false
		}
		if !ok {
			t.FailNow()
		}
		if !wantStatus(t, "refreshed token", ce.get("/api/whoami", fresh.AccessToken), 200) {
			t.FailNow()
		}
	})
}

func TestAuthorizeNotRedirected(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	b := ce.browser("u1.alice")
	base := ce.srv.URL + "/o/authorize/?response_type=code&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43)
	for name, q := range map[string]string{
		"no client":              "&redirect_uri=" + url.QueryEscape(testRedirect),
		"unknown client":         "&client_id=nope&redirect_uri=" + url.QueryEscape(testRedirect),
		"look-alike host":        "&client_id=" + ce.webID + "&redirect_uri=" + url.QueryEscape("https://evilclient.example.com/cb"),
		"suffix host":            "&client_id=" + ce.webID + "&redirect_uri=" + url.QueryEscape("https://client.example.com.evil.net/cb"),
		"longer path":            "&client_id=" + ce.webID + "&redirect_uri=" + url.QueryEscape(testRedirect+"/../evil"),
		"extra query":            "&client_id=" + ce.webID + "&redirect_uri=" + url.QueryEscape(testRedirect+"?next=evil"),
		"missing, several known": "&client_id=" + ce.webID,
		"repeated redirect":      "&client_id=" + ce.webID + "&redirect_uri=" + url.QueryEscape(testRedirect) + "&redirect_uri=" + url.QueryEscape(testRedirect),
	} {
		pg := fetch(t, b, "GET", base+q, nil)
		wantPageStatus(t, name, pg, 400)
		if pg.location != nil {
			t.Errorf("%s: location = %v, want none", name, pg.location)
		}
		if !strings.Contains(pg.body, "Authorization error") {
			t.Errorf("%s: body does not contain %q", name, "Authorization error")
		}
	}
}

func TestAuthorizeRedirectedErrors(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	b := ce.browser("u1.alice")
	challenge := "&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43)
	for _, tc := range []struct{ name, query, code string }{
		{"implicit", "response_type=token" + challenge, "unsupported_response_type"},
		{"no response_type", challenge, "invalid_request"},
		{"no PKCE", "response_type=code", "invalid_request"},
		{"plain PKCE", "response_type=code&code_challenge_method=plain&code_challenge=" + strings.Repeat("a", 43), "invalid_request"},
		{"short challenge", "response_type=code&code_challenge_method=S256&code_challenge=abc", "invalid_request"},
		{"unknown scope", "response_type=code&scope=nope" + challenge, "invalid_scope"},
		{"bad prompt", "response_type=code&prompt=whatever" + challenge, "invalid_request"},
	} {
		pg := fetch(t, b, "GET", ce.srv.URL+"/o/authorize/?client_id="+ce.webID+"&redirect_uri="+url.QueryEscape(testRedirect)+"&state=s1&"+tc.query, nil)
		wantPageStatus(t, tc.name, pg, 302)
		if !wantRedirect(t, tc.name, pg) {
			continue
		}
		wantParam(t, tc.name, pg.location, "error", tc.code)
		wantParam(t, tc.name, pg.location, "state", "s1")
		if got := pg.location.String(); !strings.HasPrefix(got, testRedirect+"?") {
			t.Errorf("%s: location = %s, want it to start with %s?", tc.name, got, testRedirect)
		}
	}
	// The password-only client may not use the code grant.
	ctx := context.Background()
	pw, _, _ := ce.p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword}, RedirectURIs: []string{testRedirect}})
	pg := fetch(t, b, "GET", ce.srv.URL+"/o/authorize/?response_type=code&client_id="+pw.ClientID+challenge, nil)
	wantParam(t, "password client", pg.location, "error", "unauthorized_client")
}

func TestAuthorizeLoginAndPrompt(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	conf := ce.oauthConfig()
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	// Not logged in: to the login page with next.
	pg := fetch(t, ce.browser(""), "GET", authURL, nil)
	ok := wantPageStatus(t, "anonymous", pg, 302)
	if !wantRedirect(t, "anonymous", pg) {
		t.FailNow()
	}
	if pg.location.Path != "/accounts/login/" {
		t.Errorf("anonymous: redirect path = %q, want %q", pg.location.Path, "/accounts/login/")
		ok = false
	}
	if got := pg.location.Query().Get("next"); !strings.HasPrefix(got, "/o/authorize/?") {
		t.Errorf("anonymous: next = %q, want it to start with /o/authorize/?", got)
		ok = false
	}
	if !ok {
		t.FailNow()
	}
	// prompt=none: errors to the client, never a page.
	pg = fetch(t, ce.browser(""), "GET", authURL+"&prompt=none", nil)
	if !wantParam(t, "prompt=none anonymous", pg.location, "error", "login_required") {
		t.FailNow()
	}
	pg = fetch(t, ce.browser("u1.alice"), "GET", authURL+"&prompt=none", nil)
	if !wantParam(t, "prompt=none without consent", pg.location, "error", "consent_required") {
		t.FailNow()
	}
	// prompt=login: through the login page again, then back without it.
	pg = fetch(t, ce.browser("u1.alice"), "GET", authURL+"&prompt=login", nil)
	ok = wantPageStatus(t, "prompt=login", pg, 302)
	if !wantRedirect(t, "prompt=login", pg) {
		t.FailNow()
	}
	if pg.location.Path != "/accounts/login/" {
		t.Errorf("prompt=login: redirect path = %q, want %q", pg.location.Path, "/accounts/login/")
		ok = false
	}
	if !ok {
		t.FailNow()
	}
	next, _ := url.Parse(pg.location.Query().Get("next"))
	if next.Path != "/o/authorize/" {
		t.Errorf("prompt=login: next path = %q, want %q", next.Path, "/o/authorize/")
		ok = false
	}
	if next.Query().Has("prompt") {
		t.Errorf("prompt=login: next = %q, want it without prompt", next)
		ok = false
	}
	if got := next.Query().Get("client_id"); got != ce.webID {
		t.Errorf("prompt=login: next client_id = %q, want %q", got, ce.webID)
		ok = false
	}
	if !ok {
		t.FailNow()
	}
	// A login URL with a query of its own keeps it.
	ce2 := newCodeEnv(t, "memory", func(c *ginoauth.Config) { c.LoginURL = "/login?theme=dark" })
	pg = fetch(t, ce2.browser(""), "GET", ce2.oauthConfig().AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil)
	if !wantRedirect(t, "login URL with a query", pg) {
		t.FailNow()
	}
	if pg.location.Path != "/login" {
		t.Errorf("login URL with a query: redirect path = %q, want %q", pg.location.Path, "/login")
		ok = false
	}
	ok = wantParam(t, "login URL with a query", pg.location, "theme", "dark") && ok
	if pg.location.Query().Get("next") == "" {
		t.Errorf("login URL with a query: next is empty, want it set (location %v)", pg.location)
		ok = false
	}
	if !ok {
		t.FailNow()
	}
}

func TestConsentCSRFAndDeny(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	conf := ce.oauthConfig()
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	alice := ce.browser("u1.alice")
	f := consentForm(t, fetch(t, alice, "GET", authURL, nil).body)

	forged := url.Values{}
	for k, v := range f {
		forged[k] = v
	}
	forged.Set("allow", "Authorize")
	forged.Del(ginoauth.CSRFField)
	pg := fetch(t, alice, "POST", ce.srv.URL+"/o/authorize/", forged)
	ok := wantPageStatus(t, "POST without CSRF token", pg, 403)
	if pg.location != nil {
		t.Errorf("POST without CSRF token: location = %v, want none", pg.location)
		ok = false
	}
	if !ok {
		t.FailNow()
	}
	forged.Set(ginoauth.CSRFField, f.Get(ginoauth.CSRFField))
	// Another browser (no CSRF cookie) or another user cannot replay the form.
	if !wantPageStatus(t, "POST from another browser", fetch(t, ce.browser("u1.alice"), "POST", ce.srv.URL+"/o/authorize/", forged), 403) {
		t.FailNow()
	}
	// The right token posted from another origin (a cross-site form).
	for _, origin := range []string{"https://evil.example", "http://" + strings.TrimPrefix(ce.srv.URL, "http://") + ".evil.example", "http://[::1"} {
		req, _ := http.NewRequest("POST", ce.srv.URL+"/o/authorize/", strings.NewReader(forged.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		res, err := alice.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		ok := true
		if res.StatusCode != 403 {
			t.Errorf("POST from origin %q: status = %d, want 403", origin, res.StatusCode)
			ok = false
		}
		if got := res.Header.Get("Location"); got != "" {
			t.Errorf("POST from origin %q: Location = %q, want none", origin, got)
			ok = false
		}
		if !ok {
			t.FailNow()
		}
	}
	// Deny: access_denied to the client.
	f.Set("deny", "Cancel")
	pg = fetch(t, alice, "POST", ce.srv.URL+"/o/authorize/", f)
	if !wantRedirect(t, "deny", pg) {
		t.FailNow()
	}
	ok = wantParam(t, "deny", pg.location, "error", "access_denied")
	if !wantParam(t, "deny", pg.location, "state", "st") || !ok {
		t.FailNow()
	}
}

func TestSkipAuthorizationAndApprovalPromptAuto(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) {
		c.AllowApprovalPromptParameter = true
		c.Resource, c.Resources = resA, []string{resB}
	})
	ctx := context.Background()
	trusted, _, _ := ce.p.CreateApplication(ctx, ginoauth.NewApplication{
		ClientType: store.Public, GrantTypes: []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{testRedirect}, SkipAuthorization: true,
	})
	v := oauth2.GenerateVerifier()
	ch := oauth2.S256ChallengeOption(v)
	c := oauth2.Config{ClientID: trusted.ClientID, RedirectURL: testRedirect, Endpoint: oauth2.Endpoint{AuthURL: ce.srv.URL + "/o/authorize/"}}
	pg := fetch(t, ce.browser("u1.alice"), "GET", c.AuthCodeURL("s", ch), nil)
	if !wantRedirect(t, "skip_authorization", pg) {
		t.FailNow()
	}
	if pg.location.Query().Get("code") == "" {
		t.Fatalf("skip_authorization: no code in %v, want one", pg.location)
	}

	// approval_prompt=auto: after one approval with tokens issued, no second consent.
	conf := ce.oauthConfig()
	alice := ce.browser("u1.alice")
	loc := ce.authorize(t, alice, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
	hc := context.WithValue(ctx, oauth2.HTTPClient, ce.srv.Client())
	if _, err := conf.Exchange(hc, loc.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
		t.Fatal(err)
	}
	pg = fetch(t, alice, "GET", conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("approval_prompt", "auto")), nil)
	if !wantRedirect(t, "approval_prompt=auto after approval", pg) {
		t.FailNow()
	}
	if pg.location.Query().Get("code") == "" {
		t.Fatalf("approval_prompt=auto after approval: no code in %v, want one", pg.location)
	}
	// The default resource named is still the grant the user saw; another
	// resource (RFC 8707), which grants do not record, needs consent again.
	auto := oauth2.SetAuthURLParam("approval_prompt", "auto")
	pg = fetch(t, alice, "GET", conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), auto, oauth2.SetAuthURLParam("resource", resA)), nil)
	if !wantRedirect(t, "approval_prompt=auto naming the default resource", pg) {
		t.FailNow()
	}
	pg = fetch(t, alice, "GET", conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), auto, oauth2.SetAuthURLParam("resource", resB)), nil)
	if !wantPageStatus(t, "approval_prompt=auto for another resource", pg, 200) {
		t.FailNow()
	}
	// A wider scope needs consent again.
	conf.Scopes = []string{"read", "write"}
	pg = fetch(t, alice, "GET", conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), auto), nil)
	if !wantPageStatus(t, "approval_prompt=auto with a wider scope", pg, 200) {
		t.FailNow()
	}
}

func TestCodeExchangeRules(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		conf := ce.oauthConfig()
		newCode := func(opts ...oauth2.AuthCodeOption) (string, string) {
			v := oauth2.GenerateVerifier()
			loc := ce.authorize(t, ce.browser("u1.alice"), conf.AuthCodeURL("s", append(opts, oauth2.S256ChallengeOption(v))...))
			return loc.Query().Get("code"), v
		}
		web := []string{ce.webID, ce.webSecret}
		exchange := func(code string, extra url.Values, creds []string) resp {
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}
			for k, v := range extra {
				f[k] = v
			}
			return ce.token(f, creds)
		}
		code, v := newCode()
		for _, tc := range []struct {
			name  string
			extra url.Values
		}{
			{"missing verifier", url.Values{}},
			{"wrong verifier", url.Values{"code_verifier": {oauth2.GenerateVerifier()}}},
			{"short verifier", url.Values{"code_verifier": {"abc"}}},
			{"other redirect_uri", url.Values{"code_verifier": {v}, "redirect_uri": {"https://client.example.com/other"}}},
		} {
			wantError(t, tc.name, exchange(code, tc.extra, web), 400, "invalid_grant")
		}
		// Another client cannot redeem it.
		other, otherSecret, _ := ce.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			ClientType: store.Confidential, GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect},
		})
		wantField(t, "cross-client code", exchange(code, url.Values{"code_verifier": {v}}, []string{other.ClientID, otherSecret}), "error", "invalid_grant")
		// The right one works once; the replay fails and revokes what it gave.
		first := exchange(code, url.Values{"code_verifier": {v}}, web)
		if !wantStatus(t, "exchange", first, 200) {
			t.FailNow()
		}
		if !wantError(t, "replay", exchange(code, url.Values{"code_verifier": {v}}, web), 400, "invalid_grant") {
			t.FailNow()
		}
		if !wantStatus(t, "access token of a replayed code", ce.get("/api/whoami", first.str("access_token")), 401) {
			t.FailNow()
		}
		if !wantField(t, "refresh token of a replayed code", ce.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}, web), "error", "invalid_grant") {
			t.FailNow()
		}

		// PKCE downgrade (RFC 9700 2.1.1): with InsecureAllowNoPKCE, a code
		// issued without a code_challenge is refused when the token request
		// sends a code_verifier anyway, and is still good without one.
		lax := newCodeEnv(t, kind, func(c *ginoauth.Config) { c.InsecureAllowNoPKCE = true })
		laxConf, laxWeb := lax.oauthConfig(), []string{lax.webID, lax.webSecret}
		noPKCE := lax.authorize(t, lax.browser("u1.alice"), laxConf.AuthCodeURL("s")).Query().Get("code")
		f := url.Values{"grant_type": {"authorization_code"}, "code": {noPKCE}, "redirect_uri": {testRedirect}, "code_verifier": {oauth2.GenerateVerifier()}}
		if !wantError(t, "code_verifier for a code issued without code_challenge", lax.token(f, laxWeb), 400, "invalid_grant") {
			t.FailNow()
		}
		f.Del("code_verifier")
		if !wantStatus(t, "code issued without code_challenge, redeemed without code_verifier", lax.token(f, laxWeb), 200) {
			t.FailNow()
		}

		// 20 concurrent redemptions: at most one token (none when a replay
		// revokes the family before the winner stores its tokens; see
		// TestConcurrentCodeReplayRevokes).
		code, v = newCode()
		var wg sync.WaitGroup
		var ok atomic.Int64
		start := make(chan struct{})
		for range 20 {
			wg.Go(func() {
				<-start
				if r := exchange(code, url.Values{"code_verifier": {v}}, web); r.status == 200 {
					ok.Add(1)
				} else {
					wantField(t, "concurrent redemption", r, "error", "invalid_grant")
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() > 1 {
			t.Fatalf("concurrent redemptions that got a token = %d of 20, want at most 1", ok.Load())
		}
	})
}

func TestCodeExpires(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) { c.Now = func() time.Time { return *clock.Load() } })
	conf := ce.oauthConfig()
	v := oauth2.GenerateVerifier()
	loc := ce.authorize(t, ce.browser("u1.alice"), conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
	later := now.Add(61 * time.Second)
	clock.Store(&later)
	_, err := conf.Exchange(context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client()), loc.Query().Get("code"), oauth2.VerifierOption(v))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("expired code: error = %v, want an *oauth2.RetrieveError", err)
	}
	if re.ErrorCode != "invalid_grant" {
		t.Fatalf("expired code: error code = %q, want %q", re.ErrorCode, "invalid_grant")
	}
}

// TestPublicClientLoopback: a native app (public, no secret) with RFC 8252's
// loopback redirect on any port.
func TestPublicClientLoopback(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	v := oauth2.GenerateVerifier()
	conf := &oauth2.Config{ClientID: ce.nativeID, RedirectURL: "http://127.0.0.1:53682/callback",
		Endpoint: oauth2.Endpoint{AuthURL: ce.srv.URL + "/o/authorize/", TokenURL: ce.srv.URL + "/o/token/", AuthStyle: oauth2.AuthStyleInParams}}
	b := ce.browser("u1.alice")
	pg := fetch(t, b, "GET", conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), nil)
	f := consentForm(t, pg.body)
	f.Set("allow", "1")
	pg = fetch(t, b, "POST", ce.srv.URL+"/o/authorize/", f)
	if !wantRedirect(t, "loopback redirect", pg) {
		t.FailNow()
	}
	if pg.location.Host != "127.0.0.1:53682" {
		t.Fatalf("loopback redirect: host = %q, want %q", pg.location.Host, "127.0.0.1:53682")
	}
	tok, err := conf.Exchange(context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client()), pg.location.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("public exchange: %v", err)
	}
	if tok.AccessToken == "" {
		t.Fatal("public exchange: no access token, want one")
	}
}
