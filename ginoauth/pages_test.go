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
		t.Fatalf("GET the registration form: %d %s", pg.status, pg.body)
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
		t.Fatalf("register: %d %s", pg.status, pg.body)
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
		t.Fatalf("password grant: %d %v", r.status, r.body)
	}
	return r
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
		if id == "" || len(secret) < 40 || !strings.Contains(created.body, `id="secret-once"`) || !strings.Contains(created.body, "shown only this once") {
			t.Fatalf("registration answer: id %q secret %q\n%s", id, secret, created.body)
		}
		if !strings.Contains(created.body, "My &lt;App&gt;") || strings.Contains(created.body, "My <App>") {
			t.Fatal("the name is not escaped")
		}
		app := ce.app(t, id)
		if app.UserID != "u1" || app.Name != "My <App>" || app.ClientType != store.Confidential ||
			!slices.Equal(app.GrantTypes, []string{"authorization_code", "password"}) ||
			!slices.Equal(app.RedirectURIs, []string{"https://app.example.com/cb", "http://127.0.0.1/cb"}) ||
			!slices.Equal(app.AllowedScopes, []string{"read", "write"}) || app.SkipAuthorization {
			t.Fatalf("stored %+v", app)
		}
		if app.SecretHash == secret || app.SecretHash != ginoauth.HashClientSecret(secret) {
			t.Fatal("the stored SecretHash is not the secret's hash")
		}
		// The secret works, and is never shown again.
		tok := ce.passwordGrant(t, id, secret)
		if r := ce.get("/api/whoami", tok.str("access_token")); r.status != 200 || r.str("client") != id {
			t.Fatalf("token of the registered app: %d %v", r.status, r.body)
		}
		for _, path := range []string{appsPath + id + "/", appsPath, appsPath + id + "/update/", appsPath + id + "/delete/"} {
			pg := fetch(t, alice, "GET", ce.srv.URL+path, nil)
			if pg.status != 200 || strings.Contains(pg.body, secret) || strings.Contains(pg.body, app.SecretHash) {
				t.Errorf("GET %s: %d, shows the secret or its hash: %v", path, pg.status, strings.Contains(pg.body, secret))
			}
		}
		detail := fetch(t, alice, "GET", ce.srv.URL+appsPath+id+"/", nil)
		if idText(detail.body, "client_id") != id || idText(detail.body, "client_secret") != "" || !strings.Contains(detail.body, "Hidden: only its hash is stored") {
			t.Fatalf("detail page: %s", detail.body)
		}
		// The list shows the user's applications only (not the env's unowned ones).
		list := fetch(t, alice, "GET", ce.srv.URL+appsPath, nil)
		if !strings.Contains(list.body, `href="`+appsPath+id+`/"`) || strings.Contains(list.body, ce.webID) || strings.Contains(list.body, ce.nativeID) {
			t.Fatalf("list: %s", list.body)
		}

		if strings.Contains(pg.body, `name="skip_authorization"`) {
			t.Error("the register form offers skip_authorization")
		}

		// A public client has no secret; a posted skip_authorization is
		// ignored: an application that skips consent would get codes for
		// any logged-in user.
		pub, pubID, pubSecret := ce.register(t, alice, appForm(func(f url.Values) {
			f.Set("client_type", "public")
			f.Set("skip_authorization", "on")
			f.Del("scope")
		}))
		if pubSecret != "" || !strings.Contains(pub.body, "a public client has no secret") {
			t.Fatalf("public registration: %s", pub.body)
		}
		if a := ce.app(t, pubID); a.SecretHash != "" || a.SkipAuthorization || len(a.AllowedScopes) != 0 || a.ClientType != store.Public {
			t.Fatalf("stored public app %+v", a)
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
			if pg.status != 400 || !strings.Contains(pg.body, `id="errors"`) || !strings.Contains(pg.body, tc.want) || !strings.Contains(pg.body, `id="application-form"`) {
				t.Fatalf("%d, want 400 with %q:\n%s", pg.status, tc.want, pg.body)
			}
			wantPageHeaders(t, pg)
			// The form keeps what was typed, and a fresh CSRF token.
			if csrfOf(t, pg.body) == "" || !strings.Contains(pg.body, `value="My &lt;App&gt;"`) && tc.name != "long name" && tc.name != "control character" {
				t.Errorf("the form was not refilled:\n%s", pg.body)
			}
		})
	}
	if apps, err := ce.p.ListApplications(context.Background(), "u1"); err != nil || len(apps) != 0 {
		t.Fatalf("refused forms created %d applications (%v)", len(apps), err)
	}
	// A body too large is a 400 page, not a 500.
	big := appForm(func(f url.Values) { f.Set("name", strings.Repeat("x", 70<<10)) })
	if pg := ce.postForm(t, alice, appsPath+"register/", big); pg.status != 400 {
		t.Fatalf("huge form: %d", pg.status)
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
			if pg := fetch(t, who.b, "GET", ce.srv.URL+appsPath+who.id+path, nil); pg.status != 404 || !strings.Contains(pg.body, `id="error-title"`) {
				t.Errorf("%s: GET %s: %d", who.name, path, pg.status)
			}
		}
		for _, path := range []string{"/update/", "/delete/"} {
			pg := ce.postForm(t, who.b, appsPath+who.id+path, appForm(func(f url.Values) { f.Set("name", "hijacked") }))
			if pg.status != 404 {
				t.Errorf("%s: POST %s: %d", who.name, path, pg.status)
			}
		}
	}
	if after := ce.app(t, id); after.Name != before.Name {
		t.Fatalf("bob changed alice's application: %+v", after)
	}
	if after := ce.app(t, ce.webID); after.Name != "Web <App>" {
		t.Fatalf("alice changed an unowned application: %+v", after)
	}
	if list := fetch(t, bob, "GET", ce.srv.URL+appsPath, nil); strings.Contains(list.body, id) || !strings.Contains(list.body, `id="no-applications"`) {
		t.Fatalf("bob's list: %s", list.body)
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
		t.Fatalf("grants: %v", family)
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
				t.Errorf("%s token, POST %s: %d", tc.name, action, res.StatusCode)
			}
		}
	}
	if apps, _ := ce.p.ListApplications(context.Background(), "u1"); len(apps) != 1 || apps[0].Name != "My <App>" {
		t.Fatalf("a forged POST changed the applications: %+v", apps)
	}
	if r := ce.get("/api/whoami", tok.str("access_token")); r.status != 200 {
		t.Fatalf("a forged POST revoked the grant: %d", r.status)
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
		if strings.Contains(form.body, `id="scope_admin" name="scope" value="admin" checked`) || strings.Contains(form.body, `value="client_credentials" checked`) {
			t.Errorf("update form checks what the app does not have:\n%s", form.body)
		}

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
			if pg.status != 400 || !strings.Contains(pg.body, tc.want) || !strings.Contains(pg.body, `id="errors"`) || idText(pg.body, "client_id") != id {
				t.Errorf("%s: %d\n%s", tc.name, pg.status, pg.body)
			}
		}
		if a := ce.app(t, id); a.Name != "My <App>" || len(a.GrantTypes) != 2 {
			t.Fatalf("a refused update was stored: %+v", a)
		}

		// A valid change: 303 to the detail page; the secret is unchanged.
		pg := ce.postForm(t, alice, edit, appForm(func(f url.Values) {
			f.Set("name", "Renamed")
			f["grant_type"] = []string{"client_credentials"}
			f.Set("redirect_uris", "")
			f["scope"] = []string{"admin"}
			f.Set("skip_authorization", "on")
		}))
		if pg.status != 303 || pg.location == nil || pg.location.Path != appsPath+id+"/" {
			t.Fatalf("update: %d %v %s", pg.status, pg.location, pg.body)
		}
		a := ce.app(t, id)
		if a.Name != "Renamed" || !slices.Equal(a.GrantTypes, []string{"client_credentials"}) || len(a.RedirectURIs) != 0 ||
			!slices.Equal(a.AllowedScopes, []string{"admin"}) || a.SkipAuthorization || a.UserID != "u1" || a.SecretHash != ginoauth.HashClientSecret(secret) {
			t.Fatalf("updated %+v (a posted skip_authorization must be ignored)", a)
		}
		// An operator's skip_authorization is shown and survives a form update.
		if _, err := ce.p.UpdateApplication(context.Background(), id, func(a *store.Application) error {
			a.SkipAuthorization = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if form := fetch(t, alice, "GET", ce.srv.URL+edit, nil); !strings.Contains(form.body, `id="skip_authorization"`) || strings.Contains(form.body, `name="skip_authorization"`) {
			t.Errorf("update form of a skip_authorization app:\n%s", form.body)
		}
		if pg := ce.postForm(t, alice, edit, appForm(func(f url.Values) {
			f.Set("name", "Renamed")
			f["grant_type"] = []string{"client_credentials"}
			f.Set("redirect_uris", "")
			f["scope"] = []string{"admin"}
		})); pg.status != 303 || !ce.app(t, id).SkipAuthorization {
			t.Fatalf("a form update dropped the operator's skip_authorization: %d", pg.status)
		}
		if r := ce.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, []string{id, secret}); r.status != 200 || r.str("scope") != "admin" {
			t.Fatalf("the updated client: %d %v", r.status, r.body)
		}

		// Confidential to public drops the secret; back to confidential
		// shows a new one, once.
		pg = ce.postForm(t, alice, edit, appForm(func(f url.Values) {
			f.Set("client_type", "public")
			f["grant_type"] = []string{"password"}
		}))
		if pg.status != 303 || ce.app(t, id).SecretHash != "" {
			t.Fatalf("to public: %d %+v", pg.status, ce.app(t, id))
		}
		pg = ce.postForm(t, alice, edit, appForm(func(f url.Values) { f["grant_type"] = []string{"password"} }))
		newSecret := idText(pg.body, "client_secret")
		if pg.status != 200 || newSecret == "" || newSecret == secret || ce.app(t, id).SecretHash != ginoauth.HashClientSecret(newSecret) {
			t.Fatalf("to confidential: %d %s", pg.status, pg.body)
		}
		if d := fetch(t, alice, "GET", ce.srv.URL+appsPath+id+"/", nil); strings.Contains(d.body, newSecret) {
			t.Fatal("the new secret is shown again")
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
		if confirm.status != 200 || !strings.Contains(confirm.body, `id="confirm-delete"`) || !strings.Contains(confirm.body, "revokes every token") {
			t.Fatalf("confirm page: %d %s", confirm.status, confirm.body)
		}
		if _, err := ce.p.Store().GetApplication(context.Background(), id); err != nil {
			t.Fatal("GET deleted the application")
		}
		pg := ce.postForm(t, alice, del, nil)
		if pg.status != 303 || pg.location == nil || pg.location.Path != appsPath {
			t.Fatalf("delete: %d %v", pg.status, pg.location)
		}
		if _, err := ce.p.Store().GetApplication(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the application is still stored: %v", err)
		}
		if r := ce.get("/api/whoami", tok.str("access_token")); r.status != 401 {
			t.Fatalf("a token of the deleted application still works: %d", r.status)
		}
		if g, _ := ce.p.Store().ListGrants(context.Background(), store.GrantFilter{ClientID: id}); len(g) != 0 {
			t.Fatalf("grants of the deleted application remain: %v", g)
		}
		if r := ce.get("/api/whoami", other.str("access_token")); r.status != 200 {
			t.Fatalf("another application's token was revoked: %d", r.status)
		}
		if pg := fetch(t, alice, "GET", ce.srv.URL+appsPath+id+"/", nil); pg.status != 404 {
			t.Fatalf("detail of a deleted application: %d", pg.status)
		}
		if pg := ce.postForm(t, alice, del, nil); pg.status != 404 {
			t.Fatalf("deleting twice: %d", pg.status)
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
		if pg.status != 200 || len(fams) != 2 || !strings.Contains(pg.body, `<strong class="application">conf</strong>`) ||
			!strings.Contains(pg.body, "<code>write</code> Write") || !strings.Contains(pg.body, `id="revoke-`+fams[0]+`"`) {
			t.Fatalf("alice's authorized tokens: %d %v\n%s", pg.status, fams, pg.body)
		}
		if b := fetch(t, bob, "GET", ce.srv.URL+tokensPath, nil); len(grantFamilies(t, b.body)) != 0 || !strings.Contains(b.body, `id="no-authorized-tokens"`) {
			t.Fatalf("bob's authorized tokens: %s", b.body)
		}
		// Newest first: the second grant (read write) is fams[0].
		newest := fams[0]
		if items := strings.Split(pg.body, `<li id="grant-`); len(items) != 3 || !strings.Contains(items[1], "<code>write</code>") || strings.Contains(items[2], "<code>write</code>") {
			t.Fatal("grants are not newest first")
		}

		// Bob cannot revoke alice's grant, nor anybody a made-up one.
		if r := ce.postForm(t, bob, tokensPath+newest+"/delete/", nil); r.status != 404 {
			t.Fatalf("bob revoking alice's grant: %d", r.status)
		}
		if r := ce.postForm(t, alice, tokensPath+"AAAAAAAAAAAAAAAAAAAAAA/delete/", nil); r.status != 404 {
			t.Fatalf("revoking an unknown grant: %d", r.status)
		}
		if r := ce.get("/api/whoami", second.str("access_token")); r.status != 200 {
			t.Fatalf("a refused revocation revoked: %d", r.status)
		}

		r := ce.postForm(t, alice, tokensPath+newest+"/delete/", nil)
		if r.status != 303 || r.location == nil || r.location.Path != tokensPath {
			t.Fatalf("revoke: %d %v", r.status, r.location)
		}
		if w := ce.get("/api/whoami", second.str("access_token")); w.status != 401 {
			t.Fatalf("the revoked access token still works: %d", w.status)
		}
		refresh := ce.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.str("refresh_token")}}, []string{ce.confID, ce.secret})
		if refresh.status != 400 || refresh.str("error") != "invalid_grant" {
			t.Fatalf("the revoked refresh token still works: %d %v", refresh.status, refresh.body)
		}
		for _, tok := range []string{first.str("access_token"), cc.str("access_token")} {
			if w := ce.get("/api/whoami", tok); w.status != 200 {
				t.Fatalf("another grant was revoked: %d", w.status)
			}
		}
		if pg := fetch(t, alice, "GET", ce.srv.URL+tokensPath, nil); !slices.Equal(grantFamilies(t, pg.body), fams[1:]) {
			t.Fatalf("after revoking: %v", grantFamilies(t, pg.body))
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
		t.Fatalf("register form: %d", form.status)
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
		if pg.status != 503 || pg.header.Get("Retry-After") == "" || !strings.Contains(pg.body, "unavailable") {
			t.Errorf("%s %s during an outage: %d", tc.method, tc.path, pg.status)
		}
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
		t.Fatalf("session source error: %d", w.Code)
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
		if w.Code != 200 || !strings.Contains(w.Body.String(), `id="nav-applications" href="/auth/o/applications/"`) {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Body.String())
		}
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
	if w.Code != 403 || strings.Contains(w.Body.String(), "unowned") {
		t.Fatalf("%d %s", w.Code, w.Body.String())
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
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, `<p id="custom">0 apps for &lt;alice&gt;</p>`) || !strings.Contains(body, `id="nav"`) {
		t.Fatalf("%d %s", w.Code, body)
	}
}
