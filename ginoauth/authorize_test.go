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

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consentForm reads the hidden fields of a consent page.
func consentForm(t *testing.T, body string) url.Values {
	t.Helper()
	f := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		f.Set(htmlUnescape(m[1]), htmlUnescape(m[2]))
	}
	if f.Get(ginoauth.CSRFField) == "" {
		t.Fatalf("no CSRF field in consent page: %s", body)
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
	if pg.status != 200 || !strings.Contains(pg.body, "Web &lt;App&gt;") {
		t.Fatalf("consent page: %d %s", pg.status, pg.body)
	}
	if pg.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("consent page can be framed: %v", pg.header)
	}
	f := consentForm(t, pg.body)
	f.Set("allow", "Authorize")
	pg = fetch(t, b, "POST", ce.srv.URL+"/o/authorize/", f)
	if pg.status != 302 || pg.location == nil {
		t.Fatalf("consent answer: %d %s", pg.status, pg.body)
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
		if loc.Scheme+"://"+loc.Host+loc.Path != testRedirect || q.Get("state") != "xyz-state" || q.Get("iss") != ce.srv.URL || !strings.HasPrefix(q.Get("code"), "goac_") {
			t.Fatalf("redirect %s", loc)
		}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client())
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" || tok.Extra("scope") != "read" {
			t.Fatalf("token %+v", tok)
		}
		if r := ce.get("/api/whoami", tok.AccessToken); r.status != 200 || r.str("user") != "alice" {
			t.Fatalf("whoami: %d %v", r.status, r.body)
		}
		// The access token expires (by the provider's clock); the TokenSource refreshes.
		later := now.Add(ginoauth.DefaultAccessTokenExpire + time.Minute)
		clock.Store(&later)
		tok.Expiry = time.Now().Add(-time.Second)
		fresh, err := conf.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatal(err)
		}
		if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
			t.Fatal("TokenSource did not refresh")
		}
		if r := ce.get("/api/whoami", fresh.AccessToken); r.status != 200 {
			t.Fatalf("refreshed token: %d %v", r.status, r.body)
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
		if pg.status != 400 || pg.location != nil || !strings.Contains(pg.body, "Authorization error") {
			t.Errorf("%s: %d location=%v", name, pg.status, pg.location)
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
		if pg.status != 302 || pg.location == nil || pg.location.Query().Get("error") != tc.code || pg.location.Query().Get("state") != "s1" ||
			!strings.HasPrefix(pg.location.String(), testRedirect+"?") {
			t.Errorf("%s: %d %v", tc.name, pg.status, pg.location)
		}
	}
	// The password-only client may not use the code grant.
	ctx := context.Background()
	pw, _, _ := ce.p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword}, RedirectURIs: []string{testRedirect}})
	pg := fetch(t, b, "GET", ce.srv.URL+"/o/authorize/?response_type=code&client_id="+pw.ClientID+challenge, nil)
	if pg.location == nil || pg.location.Query().Get("error") != "unauthorized_client" {
		t.Errorf("password client: %d %v", pg.status, pg.location)
	}
}

func TestAuthorizeLoginAndPrompt(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	conf := ce.oauthConfig()
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	// Not logged in: to the login page with next.
	pg := fetch(t, ce.browser(""), "GET", authURL, nil)
	if pg.status != 302 || pg.location.Path != "/accounts/login/" || !strings.HasPrefix(pg.location.Query().Get("next"), "/o/authorize/?") {
		t.Fatalf("anonymous: %d %v", pg.status, pg.location)
	}
	// prompt=none: errors to the client, never a page.
	pg = fetch(t, ce.browser(""), "GET", authURL+"&prompt=none", nil)
	if pg.location == nil || pg.location.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none anonymous: %d %v", pg.status, pg.location)
	}
	pg = fetch(t, ce.browser("u1.alice"), "GET", authURL+"&prompt=none", nil)
	if pg.location == nil || pg.location.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %d %v", pg.status, pg.location)
	}
	// prompt=login: through the login page again, then back without it.
	pg = fetch(t, ce.browser("u1.alice"), "GET", authURL+"&prompt=login", nil)
	if pg.status != 302 || pg.location.Path != "/accounts/login/" {
		t.Fatalf("prompt=login: %d %v", pg.status, pg.location)
	}
	next, _ := url.Parse(pg.location.Query().Get("next"))
	if next.Path != "/o/authorize/" || next.Query().Has("prompt") || next.Query().Get("client_id") != ce.webID {
		t.Fatalf("prompt=login next=%q", next)
	}
	// A login URL with a query of its own keeps it.
	ce2 := newCodeEnv(t, "memory", func(c *ginoauth.Config) { c.LoginURL = "/login?theme=dark" })
	pg = fetch(t, ce2.browser(""), "GET", ce2.oauthConfig().AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil)
	if pg.location == nil || pg.location.Path != "/login" || pg.location.Query().Get("theme") != "dark" || pg.location.Query().Get("next") == "" {
		t.Fatalf("login URL with a query: %v", pg.location)
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
	if pg := fetch(t, alice, "POST", ce.srv.URL+"/o/authorize/", forged); pg.status != 403 || pg.location != nil {
		t.Fatalf("POST without CSRF token: %d %v", pg.status, pg.location)
	}
	forged.Set(ginoauth.CSRFField, f.Get(ginoauth.CSRFField))
	// Another browser (no CSRF cookie) or another user cannot replay the form.
	if pg := fetch(t, ce.browser("u1.alice"), "POST", ce.srv.URL+"/o/authorize/", forged); pg.status != 403 {
		t.Fatalf("POST from another browser: %d", pg.status)
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
		if res.StatusCode != 403 || res.Header.Get("Location") != "" {
			t.Fatalf("POST from origin %q: %d %q", origin, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// Deny: access_denied to the client.
	f.Set("deny", "Cancel")
	pg := fetch(t, alice, "POST", ce.srv.URL+"/o/authorize/", f)
	if pg.location == nil || pg.location.Query().Get("error") != "access_denied" || pg.location.Query().Get("state") != "st" {
		t.Fatalf("deny: %d %v", pg.status, pg.location)
	}
}

func TestSkipAuthorizationAndApprovalPromptAuto(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	ctx := context.Background()
	trusted, _, _ := ce.p.CreateApplication(ctx, ginoauth.NewApplication{
		ClientType: store.Public, GrantTypes: []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{testRedirect}, SkipAuthorization: true,
	})
	v := oauth2.GenerateVerifier()
	ch := oauth2.S256ChallengeOption(v)
	c := oauth2.Config{ClientID: trusted.ClientID, RedirectURL: testRedirect, Endpoint: oauth2.Endpoint{AuthURL: ce.srv.URL + "/o/authorize/"}}
	pg := fetch(t, ce.browser("u1.alice"), "GET", c.AuthCodeURL("s", ch), nil)
	if pg.location == nil || pg.location.Query().Get("code") == "" {
		t.Fatalf("skip_authorization: %d %v", pg.status, pg.location)
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
	if pg.location == nil || pg.location.Query().Get("code") == "" {
		t.Fatalf("approval_prompt=auto after approval: %d %v", pg.status, pg.location)
	}
	// A wider scope needs consent again.
	conf.Scopes = []string{"read", "write"}
	pg = fetch(t, alice, "GET", conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("approval_prompt", "auto")), nil)
	if pg.status != 200 {
		t.Fatalf("approval_prompt=auto with a wider scope: %d %v", pg.status, pg.location)
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
			if r := exchange(code, tc.extra, web); r.status != 400 || r.str("error") != "invalid_grant" {
				t.Errorf("%s: %d %v", tc.name, r.status, r.body)
			}
		}
		// Another client cannot redeem it.
		other, otherSecret, _ := ce.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			ClientType: store.Confidential, GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect},
		})
		if r := exchange(code, url.Values{"code_verifier": {v}}, []string{other.ClientID, otherSecret}); r.str("error") != "invalid_grant" {
			t.Errorf("cross-client code: %d %v", r.status, r.body)
		}
		// The right one works once; the replay fails and revokes what it gave.
		first := exchange(code, url.Values{"code_verifier": {v}}, web)
		if first.status != 200 {
			t.Fatalf("exchange: %d %v", first.status, first.body)
		}
		if r := exchange(code, url.Values{"code_verifier": {v}}, web); r.status != 400 || r.str("error") != "invalid_grant" {
			t.Fatalf("replay: %d %v", r.status, r.body)
		}
		if r := ce.get("/api/whoami", first.str("access_token")); r.status != 401 {
			t.Fatalf("token of a replayed code still works: %d", r.status)
		}
		if r := ce.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}, web); r.str("error") != "invalid_grant" {
			t.Fatalf("refresh token of a replayed code still works: %d %v", r.status, r.body)
		}

		// PKCE downgrade (RFC 9700 2.1.1): with InsecureAllowNoPKCE, a code
		// issued without a code_challenge is refused when the token request
		// sends a code_verifier anyway, and is still good without one.
		lax := newCodeEnv(t, kind, func(c *ginoauth.Config) { c.InsecureAllowNoPKCE = true })
		laxConf, laxWeb := lax.oauthConfig(), []string{lax.webID, lax.webSecret}
		noPKCE := lax.authorize(t, lax.browser("u1.alice"), laxConf.AuthCodeURL("s")).Query().Get("code")
		f := url.Values{"grant_type": {"authorization_code"}, "code": {noPKCE}, "redirect_uri": {testRedirect}, "code_verifier": {oauth2.GenerateVerifier()}}
		if r := lax.token(f, laxWeb); r.status != 400 || r.str("error") != "invalid_grant" {
			t.Fatalf("code_verifier for a code issued without code_challenge: %d %v", r.status, r.body)
		}
		f.Del("code_verifier")
		if r := lax.token(f, laxWeb); r.status != 200 {
			t.Fatalf("code issued without code_challenge, redeemed without code_verifier: %d %v", r.status, r.body)
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
				} else if r.str("error") != "invalid_grant" {
					t.Errorf("concurrent redemption: %d %v", r.status, r.body)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() > 1 {
			t.Fatalf("%d of 20 concurrent redemptions got a token", ok.Load())
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
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("expired code: %v", err)
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
	if pg.location == nil || pg.location.Host != "127.0.0.1:53682" {
		t.Fatalf("loopback redirect: %d %v", pg.status, pg.location)
	}
	tok, err := conf.Exchange(context.WithValue(context.Background(), oauth2.HTTPClient, ce.srv.Client()), pg.location.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("public exchange: %v", err)
	}
}
