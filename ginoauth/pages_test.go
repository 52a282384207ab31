package ginoauth_test

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/pages"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// The management pages are tested on a codeEnv: "u1.alice" is the env's
// user alice (who can get tokens with the password grant), "u2.bob"
// another user.

const (
	appsPath   = "/o/applications/"
	tokensPath = "/o/authorized_tokens/"
)

// idText returns the text inside the element with that id, unescaped, or
// "" when there is none.
func idText(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return htmlUnescape(m[1])
}

// csrfOf returns the CSRF token of a page's form.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	return consentForm(t, body).Get(ginoauth.CSRFField)
}

// postForm GETs the registration form to learn the browser's CSRF token
// (and set its cookie), then posts form to action with it.
func (ce *codeEnv) postForm(t *testing.T, b *http.Client, action string, form url.Values) page {
	t.Helper()
	pg := fetch(t, b, "GET", ce.srv.URL+appsPath+"register/", nil)
	if pg.status != 200 {
		t.Fatalf("GET the registration form: status = %d, want 200 (body %s)", pg.status, pg.body)
	}
	f := url.Values{ginoauth.CSRFField: {csrfOf(t, pg.body)}}
	for k, v := range form {
		f[k] = v
	}
	return fetch(t, b, "POST", ce.srv.URL+action, f)
}

// appForm is a valid registration form: a confidential client with the
// code and password grants.
func appForm(mod func(url.Values)) url.Values {
	f := url.Values{
		"name":          {"My <App>"},
		"client_type":   {"confidential"},
		"grant_type":    {"authorization_code", "password"},
		"redirect_uris": {"https://app.example.com/cb\nhttp://127.0.0.1/cb"},
		"scope":         {"read", "write"},
	}
	if mod != nil {
		mod(f)
	}
	return f
}

// register registers an application through the page and returns the
// created page, its client id and secret.
func (ce *codeEnv) register(t *testing.T, b *http.Client, form url.Values) (page, string, string) {
	t.Helper()
	pg := ce.postForm(t, b, appsPath+"register/", form)
	if pg.status != 201 {
		t.Fatalf("register: status = %d, want 201 (body %s)", pg.status, pg.body)
	}
	return pg, idText(pg.body, "client_id"), idText(pg.body, "client_secret")
}

func (ce *codeEnv) app(t *testing.T, id string) *store.Application {
	t.Helper()
	app, err := ce.p.Store().GetApplication(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func (ce *codeEnv) passwordGrant(t *testing.T, clientID, secret string) resp {
	t.Helper()
	r := ce.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}}, []string{clientID, secret})
	if r.status != 200 {
		t.Fatalf("password grant: status = %d, want 200 (body %v)", r.status, r.body)
	}
	return r
}

// expect reports, with Errorf, a condition that does not hold, and
// returns whether it held.
func expect(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}

// wantBody reports a page body that does (has=false) or does not
// (has=true) contain s, and returns whether it was as wanted.
func wantBody(t *testing.T, what, body, s string, has bool) bool {
	t.Helper()
	if strings.Contains(body, s) != has {
		t.Errorf("%s: body contains %q = %v, want %v", what, s, !has, has)
		return false
	}
	return true
}

func wantPageHeaders(t *testing.T, pg page) {
	t.Helper()
	for k, v := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Type": "text/html; charset=utf-8"} {
		if got := pg.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestPagesNeedLogin(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	anon := ce.browser("")
	for _, tc := range []struct{ method, path string }{
		{"GET", appsPath},
		{"GET", "/o/applications"},
		{"GET", appsPath + "register/"},
		{"POST", appsPath + "register/"},
		{"GET", appsPath + ce.webID + "/"},
		{"GET", appsPath + ce.webID + "/update/"},
		{"POST", appsPath + ce.webID + "/update/"},
		{"GET", appsPath + ce.webID + "/delete/"},
		{"POST", appsPath + ce.webID + "/delete/"},
		{"GET", tokensPath + "?x=1"},
		{"POST", tokensPath + "fam/delete/"},
	} {
		pg := fetch(t, anon, tc.method, ce.srv.URL+tc.path, url.Values{})
		what := tc.method + " " + tc.path + " anonymous"
		if got, want := pg.status, http.StatusFound; got != want {
			t.Errorf("%s: status = %d, want %d", what, got, want)
		}
		if pg.location == nil {
			t.Errorf("%s: no Location, want the login page", what)
			continue
		}
		if got, want := pg.location.Path, "/accounts/login/"; got != want {
			t.Errorf("%s: Location path = %q, want %q", what, got, want)
		}
		if got := pg.location.Query().Get("next"); got != tc.path {
			t.Errorf("%s: next = %q, want %q", what, got, tc.path)
		}
	}
	// The configured login URL is used.
	ce2 := newCodeEnv(t, "memory", func(c *ginoauth.Config) { c.LoginURL = "/login" })
	pg := fetch(t, ce2.browser(""), "GET", ce2.srv.URL+appsPath, nil)
	if pg.location == nil {
		t.Fatalf("LoginURL /login: no Location (status %d), want /login", pg.status)
	}
	if got, want := pg.location.Path, "/login"; got != want {
		t.Errorf("LoginURL /login: Location path = %q, want %q", got, want)
	}
}

// TestLoginURLKeepsQuery: a LoginURL with a query keeps it, with next=
// added beside it, from the pages as from the authorization endpoint
// (the pages used to append "?next=" to it, giving
// /login?theme=dark?next=...).
func TestLoginURLKeepsQuery(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) { c.LoginURL = "/login?theme=dark" })
	authorize := "/o/authorize/?response_type=code&client_id=" + ce.webID + "&redirect_uri=" + url.QueryEscape(testRedirect) +
		"&state=st&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43)
	for _, tc := range []struct{ name, path string }{
		{"pages", appsPath},
		{"pages with a query", tokensPath + "?x=1"},
		{"authorization endpoint", authorize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := fetch(t, ce.browser(""), "GET", ce.srv.URL+tc.path, nil)
			if pg.status != http.StatusFound {
				t.Fatalf("status = %d, want %d", pg.status, http.StatusFound)
			}
			if pg.location == nil {
				t.Fatal("no Location header")
			}
			if got, want := pg.location.Path, "/login"; got != want {
				t.Errorf("Location path = %q, want %q", got, want)
			}
			q, err := url.ParseQuery(pg.location.RawQuery)
			if err != nil {
				t.Fatalf("Location query %q: %v", pg.location.RawQuery, err)
			}
			if got, want := q["theme"], []string{"dark"}; !slices.Equal(got, want) {
				t.Errorf("theme = %q, want %q", got, want)
			}
			if got, want := q["next"], []string{tc.path}; !slices.Equal(got, want) {
				t.Errorf("next = %q, want %q", got, want)
			}
			if got, want := len(q), 2; got != want {
				t.Errorf("Location %q has %d query parameters, want %d", pg.location, got, want)
			}
		})
	}
}

func TestRegisterApplicationPage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		alice := ce.browser("u1.alice")
		pg := fetch(t, alice, "GET", ce.srv.URL+appsPath+"register/", nil)
		wantPageHeaders(t, pg)
		for _, want := range []string{`id="application-form"`, `id="scope_admin"`, `id="grant_type_client_credentials"`, `id="client_type_public"`, `id="redirect_uris"`} {
			if !strings.Contains(pg.body, want) {
				t.Errorf("register form lacks %s", want)
			}
		}

		created, id, secret := ce.register(t, alice, appForm(nil))
		wantPageHeaders(t, created)
		ok := expect(t, id != "", "registration answer: client_id empty, want one")
		ok = expect(t, len(secret) >= 40, "registration answer: secret length = %d, want at least 40", len(secret)) && ok
		ok = wantBody(t, "registration answer", created.body, `id="secret-once"`, true) && ok
		ok = wantBody(t, "registration answer", created.body, "shown only this once", true) && ok
		if !ok {
			t.FailNow()
		}
		ok = wantBody(t, "registration answer (escaped name)", created.body, "My &lt;App&gt;", true)
		ok = wantBody(t, "registration answer (escaped name)", created.body, "My <App>", false) && ok
		if !ok {
			t.FailNow()
		}
		app := ce.app(t, id)
		ok = expect(t, app.UserID == "u1", "stored UserID = %q, want %q", app.UserID, "u1")
		ok = expect(t, app.Name == "My <App>", "stored Name = %q, want %q", app.Name, "My <App>") && ok
		ok = expect(t, app.ClientType == store.Confidential, "stored ClientType = %q, want %q", app.ClientType, store.Confidential) && ok
		for _, f := range []struct {
			name      string
			got, want []string
		}{
			{"GrantTypes", app.GrantTypes, []string{"authorization_code", "password"}},
			{"RedirectURIs", app.RedirectURIs, []string{"https://app.example.com/cb", "http://127.0.0.1/cb"}},
			{"AllowedScopes", app.AllowedScopes, []string{"read", "write"}},
		} {
			ok = expect(t, slices.Equal(f.got, f.want), "stored %s = %q, want %q", f.name, f.got, f.want) && ok
		}
		ok = expect(t, !app.SkipAuthorization, "stored SkipAuthorization = true, want false") && ok
		if !ok {
			t.FailNow()
		}
		if app.SecretHash == secret {
			t.Fatal("stored SecretHash: got the secret itself, want its hash")
		}
		if want := ginoauth.HashClientSecret(secret); app.SecretHash != want {
			t.Fatalf("stored SecretHash = %q, want %q", app.SecretHash, want)
		}
		// The secret works, and is never shown again.
		tok := ce.passwordGrant(t, id, secret)
		if r := ce.get("/api/whoami", tok.str("access_token")); !wantStatus(t, "token of the registered app", r, 200) || !wantField(t, "token of the registered app", r, "client", id) {
			t.FailNow()
		}
		for _, path := range []string{appsPath + id + "/", appsPath, appsPath + id + "/update/", appsPath + id + "/delete/"} {
			pg := fetch(t, alice, "GET", ce.srv.URL+path, nil)
			expect(t, pg.status == 200, "GET %s: status = %d, want 200", path, pg.status)
			expect(t, !strings.Contains(pg.body, secret), "GET %s: shows the secret, want it hidden", path)
			expect(t, !strings.Contains(pg.body, app.SecretHash), "GET %s: shows the secret's hash, want it hidden", path)
		}
		detail := fetch(t, alice, "GET", ce.srv.URL+appsPath+id+"/", nil)
		ok = expect(t, idText(detail.body, "client_id") == id, "detail page: client_id = %q, want %q", idText(detail.body, "client_id"), id)
		ok = expect(t, idText(detail.body, "client_secret") == "", "detail page: client_secret = %q, want none", idText(detail.body, "client_secret")) && ok
		ok = wantBody(t, "detail page", detail.body, "Hidden: only its hash is stored", true) && ok
		if !ok {
			t.FailNow()
		}
		// The list shows the user's applications only (not the env's unowned ones).
		list := fetch(t, alice, "GET", ce.srv.URL+appsPath, nil)
		ok = wantBody(t, "list", list.body, `href="`+appsPath+id+`/"`, true)
		ok = wantBody(t, "list", list.body, ce.webID, false) && ok
		ok = wantBody(t, "list", list.body, ce.nativeID, false) && ok
		if !ok {
			t.FailNow()
		}

		if strings.Contains(pg.body, `name="skip_authorization"`) {
			t.Error("register form: offers skip_authorization, want it absent")
		}

		// A public client has no secret; a posted skip_authorization is
		// ignored: an application that skips consent would get codes for
		// any logged-in user.
		pub, pubID, pubSecret := ce.register(t, alice, appForm(func(f url.Values) {
			f.Set("client_type", "public")
			f.Set("skip_authorization", "on")
			f.Del("scope")
		}))
		ok = expect(t, pubSecret == "", "public registration: secret = %q, want none", pubSecret)
		ok = wantBody(t, "public registration", pub.body, "a public client has no secret", true) && ok
		if !ok {
			t.FailNow()
		}
		a := ce.app(t, pubID)
		ok = expect(t, a.SecretHash == "", "stored public app: SecretHash = %q, want none", a.SecretHash)
		ok = expect(t, !a.SkipAuthorization, "stored public app: SkipAuthorization = true, want false") && ok
		ok = expect(t, len(a.AllowedScopes) == 0, "stored public app: AllowedScopes = %q, want none", a.AllowedScopes) && ok
		ok = expect(t, a.ClientType == store.Public, "stored public app: ClientType = %q, want %q", a.ClientType, store.Public) && ok
		if !ok {
			t.FailNow()
		}
	})
}

func TestRegisterApplicationValidation(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	alice := ce.browser("u1.alice")
	for _, tc := range []struct {
		name string
		mod  func(url.Values)
		want string
	}{
		{"no client type", func(f url.Values) { f.Del("client_type") }, "Choose a client type"},
		{"bad client type", func(f url.Values) { f.Set("client_type", "secret") }, "Choose a client type"},
		{"no grant type", func(f url.Values) { f.Del("grant_type") }, "at least one authorization grant type"},
		{"unknown grant type", func(f url.Values) { f["grant_type"] = []string{"password", "implicit"} }, `This server does not offer the grant type &#34;implicit&#34;.`},
		{"public client_credentials", func(f url.Values) {
			f.Set("client_type", "public")
			f["grant_type"] = []string{"client_credentials"}
		}, "public client cannot use the client_credentials grant"},
		{"code without redirect", func(f url.Values) { f.Set("redirect_uris", " \n ") }, "needs at least one redirect URI"},
		{"http redirect", func(f url.Values) { f.Set("redirect_uris", "http://evil.example/cb") }, "must use https"},
		{"fragment", func(f url.Values) { f.Set("redirect_uris", "https://a.example/cb#x") }, "may not have a fragment"},
		{"relative redirect", func(f url.Values) { f.Set("redirect_uris", "/cb") }, "not an absolute URI"},
		{"unknown scope", func(f url.Values) { f["scope"] = []string{"read", "root"} }, `Scope &#34;root&#34; is not one this server offers.`},
		{"long name", func(f url.Values) { f.Set("name", strings.Repeat("x", 256)) }, "The name is too long"},
		{"control character", func(f url.Values) { f.Set("name", "a\nb") }, "plain text on one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := ce.postForm(t, alice, appsPath+"register/", appForm(tc.mod))
			ok := expect(t, pg.status == 400, "status = %d, want 400", pg.status)
			ok = wantBody(t, "refused form", pg.body, `id="errors"`, true) && ok
			ok = wantBody(t, "refused form", pg.body, tc.want, true) && ok
			ok = wantBody(t, "refused form", pg.body, `id="application-form"`, true) && ok
			if !ok {
				t.FailNow()
			}
			wantPageHeaders(t, pg)
			// The form keeps what was typed, and a fresh CSRF token.
			expect(t, csrfOf(t, pg.body) != "", "refilled form: CSRF token empty, want a fresh one")
			if tc.name != "long name" && tc.name != "control character" {
				wantBody(t, "refilled form", pg.body, `value="My &lt;App&gt;"`, true)
			}
		})
	}
	apps, err := ce.p.ListApplications(context.Background(), "u1")
	if err != nil {
		t.Fatalf("ListApplications after refused forms: error %v, want nil", err)
	}
	if len(apps) != 0 {
		t.Fatalf("refused forms created %d applications, want 0", len(apps))
	}
	// A body too large is a 400 page, not a 500.
	big := appForm(func(f url.Values) { f.Set("name", strings.Repeat("x", 70<<10)) })
	if pg := ce.postForm(t, alice, appsPath+"register/", big); pg.status != 400 {
		t.Fatalf("huge form: status = %d, want 400", pg.status)
	}
}

func TestApplicationPagesOwnership(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	alice, bob := ce.browser("u1.alice"), ce.browser("u2.bob")
	_, id, _ := ce.register(t, alice, appForm(nil))
	before := ce.app(t, id)

	// Another user's application, an unowned one and a missing one are all
	// "not found", for every page and method.
	for _, who := range []struct {
		name string
		b    *http.Client
		id   string
	}{
		{"bob on alice's", bob, id},
		{"alice on an unowned app", alice, ce.webID},
		{"alice on a missing app", alice, "nope"},
	} {
		for _, path := range []string{"/", "/update/", "/delete/"} {
			pg := fetch(t, who.b, "GET", ce.srv.URL+appsPath+who.id+path, nil)
			expect(t, pg.status == 404, "%s: GET %s: status = %d, want 404", who.name, path, pg.status)
			wantBody(t, who.name+": GET "+path, pg.body, `id="error-title"`, true)
		}
		for _, path := range []string{"/update/", "/delete/"} {
			pg := ce.postForm(t, who.b, appsPath+who.id+path, appForm(func(f url.Values) { f.Set("name", "hijacked") }))
			if pg.status != 404 {
				t.Errorf("%s: POST %s: status = %d, want 404", who.name, path, pg.status)
			}
		}
	}
	if after := ce.app(t, id); after.Name != before.Name {
		t.Fatalf("alice's application after bob's POSTs: Name = %q, want %q", after.Name, before.Name)
	}
	if after := ce.app(t, ce.webID); after.Name != "Web <App>" {
		t.Fatalf("unowned application after alice's POSTs: Name = %q, want %q", after.Name, "Web <App>")
	}
	list := fetch(t, bob, "GET", ce.srv.URL+appsPath, nil)
	ok := wantBody(t, "bob's list", list.body, id, false)
	ok = wantBody(t, "bob's list", list.body, `id="no-applications"`, true) && ok
	if !ok {
		t.FailNow()
	}
}

func TestPagesCSRF(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", nil)
	alice, bob := ce.browser("u1.alice"), ce.browser("u2.bob")
	_, id, _ := ce.register(t, alice, appForm(nil))
	tok := ce.passwordToken("")
	family := grantFamilies(t, fetch(t, alice, "GET", ce.srv.URL+tokensPath, nil).body)
	if len(family) != 1 {
		t.Fatalf("grants: got %v, want 1", family)
	}
	aliceToken := csrfOf(t, fetch(t, alice, "GET", ce.srv.URL+appsPath+"register/", nil).body)
	bobToken := csrfOf(t, fetch(t, bob, "GET", ce.srv.URL+appsPath+"register/", nil).body)
	for _, tc := range []struct {
		name   string
		token  string
		origin string
	}{
		{"missing", "", ""},
		{"wrong", strings.Repeat("A", len(aliceToken)), ""},
		{"another user's", bobToken, ""},
		{"cross-origin", aliceToken, "https://evil.example"},
	} {
		for _, action := range []string{
			appsPath + "register/",
			appsPath + id + "/update/",
			appsPath + id + "/delete/",
			tokensPath + family[0] + "/delete/",
		} {
			f := appForm(func(f url.Values) { f.Set("name", "changed") })
			if tc.token != "" {
				f.Set(ginoauth.CSRFField, tc.token)
			}
			req, _ := http.NewRequest("POST", ce.srv.URL+action, strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			res, err := alice.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 403 {
				t.Errorf("%s token, POST %s: status = %d, want 403", tc.name, action, res.StatusCode)
			}
		}
	}
	apps, _ := ce.p.ListApplications(context.Background(), "u1")
	if len(apps) != 1 {
		t.Fatalf("after forged POSTs: %d applications, want 1", len(apps))
	}
	if apps[0].Name != "My <App>" {
		t.Fatalf("after forged POSTs: Name = %q, want %q", apps[0].Name, "My <App>")
	}
	if r := ce.get("/api/whoami", tok.str("access_token")); !wantStatus(t, "grant's token after forged POSTs", r, 200) {
		t.FailNow()
	}
}

func TestUpdateApplicationPage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		alice := ce.browser("u1.alice")
		_, id, secret := ce.register(t, alice, appForm(nil))
		edit := appsPath + id + "/update/"

		form := fetch(t, alice, "GET", ce.srv.URL+edit, nil)
		wantPageHeaders(t, form)
		for _, want := range []string{`value="My &lt;App&gt;"`, `id="client_type_confidential" name="client_type" value="confidential" checked`,
			`id="grant_type_password" name="grant_type" value="password" checked`, `id="scope_read" name="scope" value="read" checked`,
			"https://app.example.com/cb\nhttp://127.0.0.1/cb</textarea>"} {
			if !strings.Contains(form.body, want) {
				t.Errorf("update form lacks %q", want)
			}
		}
		wantBody(t, "update form", form.body, `id="scope_admin" name="scope" value="admin" checked`, false)
		wantBody(t, "update form", form.body, `value="client_credentials" checked`, false)

		// Refused changes: 400 with the reason, nothing stored.
		for _, tc := range []struct {
			name string
			mod  func(url.Values)
			want string
		}{
			{"bad redirect", func(f url.Values) { f.Set("redirect_uris", "ftp://x") }, "has a custom scheme that is not reverse-DNS"},
			{"public client_credentials", func(f url.Values) {
				f.Set("client_type", "public")
				f["grant_type"] = []string{"client_credentials"}
			}, "public client cannot use"},
			{"no grant", func(f url.Values) { f.Del("grant_type") }, "at least one authorization grant type"},
			{"unknown scope", func(f url.Values) { f["scope"] = []string{"nope"} }, "is not one this server offers"},
		} {
			pg := ce.postForm(t, alice, edit, appForm(tc.mod))
			expect(t, pg.status == 400, "%s: status = %d, want 400", tc.name, pg.status)
			wantBody(t, tc.name, pg.body, tc.want, true)
			wantBody(t, tc.name, pg.body, `id="errors"`, true)
			expect(t, idText(pg.body, "client_id") == id, "%s: client_id = %q, want %q", tc.name, idText(pg.body, "client_id"), id)
		}
		if a := ce.app(t, id); a.Name != "My <App>" {
			t.Fatalf("after refused updates: Name = %q, want %q", a.Name, "My <App>")
		} else if len(a.GrantTypes) != 2 {
			t.Fatalf("after refused updates: GrantTypes = %q, want 2 of them", a.GrantTypes)
		}

		// A valid change: 303 to the detail page; the secret is unchanged.
		pg := ce.postForm(t, alice, edit, appForm(func(f url.Values) {
			f.Set("name", "Renamed")
			f["grant_type"] = []string{"client_credentials"}
			f.Set("redirect_uris", "")
			f["scope"] = []string{"admin"}
			f.Set("skip_authorization", "on")
		}))
		if pg.status != 303 {
			t.Fatalf("update: status = %d, want 303 (body %s)", pg.status, pg.body)
		}
		if pg.location == nil {
			t.Fatal("update: no Location, want the detail page")
		}
		if got, want := pg.location.Path, appsPath+id+"/"; got != want {
			t.Fatalf("update: Location path = %q, want %q", got, want)
		}
		a := ce.app(t, id)
		ok := expect(t, a.Name == "Renamed", "updated Name = %q, want %q", a.Name, "Renamed")
		ok = expect(t, slices.Equal(a.GrantTypes, []string{"client_credentials"}), "updated GrantTypes = %q, want [client_credentials]", a.GrantTypes) && ok
		ok = expect(t, len(a.RedirectURIs) == 0, "updated RedirectURIs = %q, want none", a.RedirectURIs) && ok
		ok = expect(t, slices.Equal(a.AllowedScopes, []string{"admin"}), "updated AllowedScopes = %q, want [admin]", a.AllowedScopes) && ok
		ok = expect(t, !a.SkipAuthorization, "updated SkipAuthorization = true, want false (a posted skip_authorization must be ignored)") && ok
		ok = expect(t, a.UserID == "u1", "updated UserID = %q, want %q", a.UserID, "u1") && ok
		ok = expect(t, a.SecretHash == ginoauth.HashClientSecret(secret), "updated SecretHash = %q, want the unchanged secret's hash", a.SecretHash) && ok
		if !ok {
			t.FailNow()
		}
		// An operator's skip_authorization is shown and survives a form update.
		if _, err := ce.p.UpdateApplication(context.Background(), id, func(a *store.Application) error {
			a.SkipAuthorization = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		form = fetch(t, alice, "GET", ce.srv.URL+edit, nil)
		wantBody(t, "update form of a skip_authorization app", form.body, `id="skip_authorization"`, true)
		wantBody(t, "update form of a skip_authorization app", form.body, `name="skip_authorization"`, false)
		if pg := ce.postForm(t, alice, edit, appForm(func(f url.Values) {
			f.Set("name", "Renamed")
			f["grant_type"] = []string{"client_credentials"}
			f.Set("redirect_uris", "")
			f["scope"] = []string{"admin"}
		})); pg.status != 303 {
			t.Fatalf("form update of a skip_authorization app: status = %d, want 303", pg.status)
		}
		if !ce.app(t, id).SkipAuthorization {
			t.Fatal("after a form update: SkipAuthorization = false, want the operator's true kept")
		}
		r := ce.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, []string{id, secret})
		if ok := wantStatus(t, "the updated client", r, 200); !wantField(t, "the updated client", r, "scope", "admin") || !ok {
			t.FailNow()
		}

		// Confidential to public drops the secret; back to confidential
		// shows a new one, once.
		pg = ce.postForm(t, alice, edit, appForm(func(f url.Values) {
			f.Set("client_type", "public")
			f["grant_type"] = []string{"password"}
		}))
		if pg.status != 303 {
			t.Fatalf("to public: status = %d, want 303", pg.status)
		}
		if got := ce.app(t, id).SecretHash; got != "" {
			t.Fatalf("to public: SecretHash = %q, want none", got)
		}
		pg = ce.postForm(t, alice, edit, appForm(func(f url.Values) { f["grant_type"] = []string{"password"} }))
		newSecret := idText(pg.body, "client_secret")
		if pg.status != 200 {
			t.Fatalf("to confidential: status = %d, want 200 (body %s)", pg.status, pg.body)
		}
		if newSecret == "" {
			t.Fatal("to confidential: no new secret shown, want one")
		}
		if newSecret == secret {
			t.Fatal("to confidential: new secret = the old one, want a fresh one")
		}
		if got, want := ce.app(t, id).SecretHash, ginoauth.HashClientSecret(newSecret); got != want {
			t.Fatalf("to confidential: SecretHash = %q, want %q", got, want)
		}
		if d := fetch(t, alice, "GET", ce.srv.URL+appsPath+id+"/", nil); strings.Contains(d.body, newSecret) {
			t.Fatal("detail page after to confidential: shows the new secret, want it hidden")
		}
		ce.passwordGrant(t, id, newSecret)
	})
}

func TestDeleteApplicationPage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		alice := ce.browser("u1.alice")
		_, id, secret := ce.register(t, alice, appForm(nil))
		tok := ce.passwordGrant(t, id, secret)
		other := ce.passwordToken("") // another application's token
		del := appsPath + id + "/delete/"

		confirm := fetch(t, alice, "GET", ce.srv.URL+del, nil)
		wantPageHeaders(t, confirm)
		ok := expect(t, confirm.status == 200, "confirm page: status = %d, want 200", confirm.status)
		ok = wantBody(t, "confirm page", confirm.body, `id="confirm-delete"`, true) && ok
		ok = wantBody(t, "confirm page", confirm.body, "revokes every token", true) && ok
		if !ok {
			t.FailNow()
		}
		if _, err := ce.p.Store().GetApplication(context.Background(), id); err != nil {
			t.Fatalf("GetApplication after GET of the confirm page: error %v, want nil", err)
		}
		pg := ce.postForm(t, alice, del, nil)
		if pg.status != 303 {
			t.Fatalf("delete: status = %d, want 303", pg.status)
		}
		if pg.location == nil {
			t.Fatal("delete: no Location, want the list")
		}
		if pg.location.Path != appsPath {
			t.Fatalf("delete: Location path = %q, want %q", pg.location.Path, appsPath)
		}
		if _, err := ce.p.Store().GetApplication(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetApplication after delete: error %v, want ErrNotFound", err)
		}
		if r := ce.get("/api/whoami", tok.str("access_token")); r.status != 401 {
			t.Fatalf("token of the deleted application: status = %d, want 401", r.status)
		}
		if g, _ := ce.p.Store().ListGrants(context.Background(), store.GrantFilter{ClientID: id}); len(g) != 0 {
			t.Fatalf("grants of the deleted application: got %v, want none", g)
		}
		if r := ce.get("/api/whoami", other.str("access_token")); r.status != 200 {
			t.Fatalf("another application's token: status = %d, want 200", r.status)
		}
		if pg := fetch(t, alice, "GET", ce.srv.URL+appsPath+id+"/", nil); pg.status != 404 {
			t.Fatalf("detail of a deleted application: status = %d, want 404", pg.status)
		}
		if pg := ce.postForm(t, alice, del, nil); pg.status != 404 {
			t.Fatalf("deleting twice: status = %d, want 404", pg.status)
		}
	})
}

var grantRE = regexp.MustCompile(`<li id="grant-([^"]+)"`)

func grantFamilies(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, m := range grantRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestAuthorizedTokensPage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		alice, bob := ce.browser("u1.alice"), ce.browser("u2.bob")
		first := ce.passwordToken("read")
		second := ce.passwordToken("read write")
		// A client_credentials token has no user: nobody's authorized token.
		cc := ce.token(url.Values{"grant_type": {"client_credentials"}}, []string{ce.confID, ce.secret})

		pg := fetch(t, alice, "GET", ce.srv.URL+tokensPath, nil)
		wantPageHeaders(t, pg)
		fams := grantFamilies(t, pg.body)
		ok := expect(t, pg.status == 200, "alice's authorized tokens: status = %d, want 200", pg.status)
		ok = expect(t, len(fams) == 2, "alice's authorized tokens: %d grants (%v), want 2", len(fams), fams) && ok
		ok = wantBody(t, "alice's authorized tokens", pg.body, `<strong class="application">conf</strong>`, true) && ok
		ok = wantBody(t, "alice's authorized tokens", pg.body, "<code>write</code> Write", true) && ok
		if len(fams) == 2 {
			ok = wantBody(t, "alice's authorized tokens", pg.body, `id="revoke-`+fams[0]+`"`, true) && ok
		}
		if !ok {
			t.FailNow()
		}
		b := fetch(t, bob, "GET", ce.srv.URL+tokensPath, nil)
		ok = expect(t, len(grantFamilies(t, b.body)) == 0, "bob's authorized tokens: %d grants, want 0", len(grantFamilies(t, b.body)))
		ok = wantBody(t, "bob's authorized tokens", b.body, `id="no-authorized-tokens"`, true) && ok
		if !ok {
			t.FailNow()
		}
		// Newest first: the second grant (read write) is fams[0].
		newest := fams[0]
		items := strings.Split(pg.body, `<li id="grant-`)
		if len(items) != 3 {
			t.Fatalf("alice's authorized tokens: %d grant items, want 2", len(items)-1)
		}
		ok = wantBody(t, "newest grant (first)", items[1], "<code>write</code>", true)
		ok = wantBody(t, "older grant (second)", items[2], "<code>write</code>", false) && ok
		if !ok {
			t.FailNow()
		}

		// Bob cannot revoke alice's grant, nor anybody a made-up one.
		if r := ce.postForm(t, bob, tokensPath+newest+"/delete/", nil); r.status != 404 {
			t.Fatalf("bob revoking alice's grant: status = %d, want 404", r.status)
		}
		if r := ce.postForm(t, alice, tokensPath+"AAAAAAAAAAAAAAAAAAAAAA/delete/", nil); r.status != 404 {
			t.Fatalf("revoking an unknown grant: status = %d, want 404", r.status)
		}
		if r := ce.get("/api/whoami", second.str("access_token")); r.status != 200 {
			t.Fatalf("token after refused revocations: status = %d, want 200", r.status)
		}

		r := ce.postForm(t, alice, tokensPath+newest+"/delete/", nil)
		if r.status != 303 {
			t.Fatalf("revoke: status = %d, want 303", r.status)
		}
		if r.location == nil {
			t.Fatal("revoke: no Location, want the authorized tokens page")
		}
		if r.location.Path != tokensPath {
			t.Fatalf("revoke: Location path = %q, want %q", r.location.Path, tokensPath)
		}
		if w := ce.get("/api/whoami", second.str("access_token")); w.status != 401 {
			t.Fatalf("revoked access token: status = %d, want 401", w.status)
		}
		refresh := ce.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.str("refresh_token")}}, []string{ce.confID, ce.secret})
		if !wantError(t, "refresh with the revoked refresh token", refresh, 400, "invalid_grant") {
			t.FailNow()
		}
		for _, tok := range []string{first.str("access_token"), cc.str("access_token")} {
			if w := ce.get("/api/whoami", tok); w.status != 200 {
				t.Fatalf("another grant's token: status = %d, want 200", w.status)
			}
		}
		if pg := fetch(t, alice, "GET", ce.srv.URL+tokensPath, nil); !slices.Equal(grantFamilies(t, pg.body), fams[1:]) {
			t.Fatalf("after revoking: grants = %v, want %v", grantFamilies(t, pg.body), fams[1:])
		}
	})
}

// TestPagesStoreOutage: with the store unreachable every page answers a
// 503 page, never a 500 or a login loop.
func TestPagesStoreOutage(t *testing.T) {
	t.Parallel()
	down, err := redisstore.New(redistest.Unreachable(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{
		Store: down, SecretKey: testKey,
		Sessions: ginoauth.SessionFunc(func(*gin.Context) (*ginoauth.Owner, error) {
			return &ginoauth.Owner{ID: "u1", Username: "alice"}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	pages.Mount(r, p, pages.Config{})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	ce := &codeEnv{env: &env{t: t, srv: srv}}
	b := ce.browser("")
	form := fetch(t, b, "GET", srv.URL+appsPath+"register/", nil) // needs no store
	if form.status != 200 {
		t.Fatalf("register form: status = %d, want 200", form.status)
	}
	f := appForm(func(f url.Values) { f.Set(ginoauth.CSRFField, csrfOf(t, form.body)) })
	for _, tc := range []struct{ method, path string }{
		{"GET", appsPath},
		{"GET", appsPath + "x/"},
		{"GET", appsPath + "x/update/"},
		{"GET", appsPath + "x/delete/"},
		{"GET", tokensPath},
		{"POST", appsPath + "register/"},
		{"POST", appsPath + "x/update/"},
		{"POST", appsPath + "x/delete/"},
		{"POST", tokensPath + "x/delete/"},
	} {
		pg := fetch(t, b, tc.method, srv.URL+tc.path, f)
		what := tc.method + " " + tc.path + " during an outage"
		expect(t, pg.status == 503, "%s: status = %d, want 503", what, pg.status)
		expect(t, pg.header.Get("Retry-After") != "", "%s: no Retry-After, want one", what)
		wantBody(t, what, pg.body, "unavailable", true)
	}
	// A failing session source is an outage too.
	p2, _ := ginoauth.New(ginoauth.Config{Sessions: ginoauth.SessionFunc(func(*gin.Context) (*ginoauth.Owner, error) {
		return nil, errors.New("session store down")
	})})
	r2 := gin.New()
	p2.Mount(r2)
	pages.Mount(r2, p2, pages.Config{})
	w := httptest.NewRecorder()
	r2.ServeHTTP(w, httptest.NewRequest("GET", appsPath, nil))
	if w.Code != 503 {
		t.Fatalf("session source error: status = %d, want 503", w.Code)
	}
}

// TestPagesMountedOnGroup: links follow the group the provider is mounted
// on.
func TestPagesMountedOnGroup(t *testing.T) {
	t.Parallel()
	p, err := ginoauth.New(ginoauth.Config{Sessions: ginoauth.SessionFunc(func(*gin.Context) (*ginoauth.Owner, error) {
		return &ginoauth.Owner{ID: "u1", Username: "alice"}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r.Group("/auth"))
	pages.Mount(r.Group("/auth"), p, pages.Config{})
	for _, path := range []string{"/auth/o/applications/", "/auth/o/applications", "/auth/o/authorized_tokens"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		expect(t, w.Code == 200, "GET %s: status = %d, want 200", path, w.Code)
		wantBody(t, "GET "+path, w.Body.String(), `id="nav-applications" href="/auth/o/applications/"`, true)
	}
}

// TestOwnerWithoutID: a session owner without an ID must not see the
// applications that have no owner.
func TestOwnerWithoutID(t *testing.T) {
	t.Parallel()
	p, err := ginoauth.New(ginoauth.Config{Sessions: ginoauth.SessionFunc(func(*gin.Context) (*ginoauth.Owner, error) {
		return &ginoauth.Owner{Username: "ghost"}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{Name: "unowned", ClientType: store.Public, GrantTypes: []string{"password"}}); err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	pages.Mount(r, p, pages.Config{})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", appsPath, nil))
	ok := expect(t, w.Code == 403, "GET %s: status = %d, want 403", appsPath, w.Code)
	ok = wantBody(t, "GET "+appsPath, w.Body.String(), "unowned", false) && ok
	if !ok {
		t.FailNow()
	}
}

// TestReplacePageTemplate: pages.Config.Templates replaces a page, keeping
// the default's layout blocks it does not redefine.
func TestReplacePageTemplate(t *testing.T) {
	t.Parallel()
	custom := template.Must(pages.DefaultTemplates().List.Parse(
		`{{define "content"}}<p id="custom">{{len .Applications}} apps for {{.User.Username}}</p>{{end}}`))
	p, err := ginoauth.New(ginoauth.Config{
		Sessions: ginoauth.SessionFunc(func(*gin.Context) (*ginoauth.Owner, error) {
			return &ginoauth.Owner{ID: "u1", Username: "<alice>"}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	pages.Mount(r, p, pages.Config{Templates: pages.Templates{List: custom}})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", appsPath, nil))
	body := w.Body.String()
	ok := expect(t, w.Code == 200, "GET %s: status = %d, want 200", appsPath, w.Code)
	ok = wantBody(t, "GET "+appsPath, body, `<p id="custom">0 apps for &lt;alice&gt;</p>`, true) && ok
	ok = wantBody(t, "GET "+appsPath, body, `id="nav"`, true) && ok
	if !ok {
		t.FailNow()
	}
}
