package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
)

// TestLogin: the login form, its CSRF check, wrong credentials and the
// next parameter (no open redirect).
func TestLogin(t *testing.T) {
	t.Parallel()
	s := newWebServer(t)
	other := s.browser(t) // a CSRF token from another browser must not pass
	otherToken := other.get(loginPath).wantStatus(t, http.StatusOK).hidden(t).Get(csrfFieldName)

	tests := []struct {
		name     string
		user     string
		password string
		next     string
		csrf     string // "page": the login page's token; "none"; "other": another browser's
		origin   string // Origin header, if any
		status   int
		location string // for 302
		message  string // on the page, for 400/403
	}{
		{name: "good credentials, next", user: "alice", password: s.alice.password, next: "/secret", csrf: "page", status: 302, location: "/secret"},
		{name: "good credentials, next with a query", user: "alice", password: s.alice.password, next: "/o/authorize/?a=1&b=%2F", csrf: "page", status: 302, location: "/o/authorize/?a=1&b=%2F"},
		{name: "good credentials, no next", user: "alice", password: s.alice.password, csrf: "page", status: 302, location: "/"},
		{name: "same-origin Origin header", user: "alice", password: s.alice.password, csrf: "page", origin: s.url, status: 302, location: "/"},
		{name: "bad password", user: "alice", password: "not-" + s.alice.password, next: "/secret", csrf: "page", status: 400, message: "Please enter a correct username and password"},
		{name: "unknown user", user: "mallory", password: s.alice.password, csrf: "page", status: 400, message: "Please enter a correct username and password"},
		{name: "empty password", user: "alice", password: "", csrf: "page", status: 400, message: "Enter a username and a password"},
		{name: "CSRF token missing", user: "alice", password: s.alice.password, csrf: "none", status: 403, message: "CSRF verification failed"},
		{name: "CSRF token of another browser", user: "alice", password: s.alice.password, csrf: "other", status: 403, message: "CSRF verification failed"},
		{name: "cross-origin post", user: "alice", password: s.alice.password, csrf: "page", origin: "http://evil.example", status: 403, message: "CSRF verification failed"},
		{name: "open redirect: protocol-relative", user: "alice", password: s.alice.password, next: "//evil.example", csrf: "page", status: 302, location: "/"},
		{name: "open redirect: absolute URL", user: "alice", password: s.alice.password, next: "https://evil.example", csrf: "page", status: 302, location: "/"},
		{name: "open redirect: backslash", user: "alice", password: s.alice.password, next: `/\evil.example`, csrf: "page", status: 302, location: "/"},
		{name: "open redirect: tab", user: "alice", password: s.alice.password, next: "/\t/evil.example", csrf: "page", status: 302, location: "/"},
		{name: "open redirect: javascript", user: "alice", password: s.alice.password, next: "javascript:alert(1)", csrf: "page", status: 302, location: "/"},
		{name: "open redirect: triple slash", user: "alice", password: s.alice.password, next: "///evil.example", csrf: "page", status: 302, location: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := s.browser(t)
			form := b.get(loginPath).wantStatus(t, http.StatusOK).hidden(t)
			switch tt.csrf {
			case "none":
				form.Del(csrfFieldName)
			case "other":
				form.Set(csrfFieldName, otherToken)
			}
			form.Set("username", tt.user)
			form.Set("password", tt.password)
			form.Set("next", tt.next)
			hdr := map[string]string{}
			if tt.origin != "" {
				hdr["Origin"] = tt.origin
			}
			p := b.do(http.MethodPost, loginPath, form, hdr).wantStatus(t, tt.status)
			loggedIn := b.cookie(sessionCookie, "/") != ""
			if tt.status == http.StatusFound {
				if p.location != s.url+tt.location {
					t.Errorf("Location = %q, want %q", p.location, s.url+tt.location)
				}
				if !loggedIn {
					t.Fatal("no session cookie after a good login")
				}
				if r := b.api("GET", secretPath, "", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "Hello, alice") {
					t.Errorf("GET /secret with the session: %d %s", r.status, r.body)
				}
				return
			}
			if !strings.Contains(p.body, tt.message) {
				t.Errorf("page lacks %q:\n%s", tt.message, p.body)
			}
			if loggedIn {
				t.Error("a refused login set a session cookie")
			}
			if tt.status == http.StatusBadRequest {
				again := p.hidden(t)
				if again.Get(csrfFieldName) == "" || again.Get("next") != tt.next {
					t.Errorf("the form shown again lost its fields: %v", again)
				}
				if !strings.Contains(p.body, `value="`+tt.user+`"`) {
					t.Errorf("the form shown again does not keep the username")
				}
			}
			b.api("GET", secretPath, "", nil).wantError(t, http.StatusUnauthorized, "not_authenticated")
		})
	}

	t.Run("login page keeps a local next only", func(t *testing.T) {
		t.Parallel()
		b := s.browser(t)
		for next, want := range map[string]string{"/o/authorize/?x=1": "/o/authorize/?x=1", "//evil.example": "", "https://evil.example/": ""} {
			if got := b.get(loginPath + "?next=" + url.QueryEscape(next)).hidden(t).Get("next"); got != want {
				t.Errorf("next=%q: the form carries %q, want %q", next, got, want)
			}
		}
	})
}

// TestSessionCookie: the session cookie's attributes, and a tampered
// cookie is no session.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		t.Run("secure="+strconv.FormatBool(secure), func(t *testing.T) {
			t.Parallel()
			s := newWebServer(t, func(o *options) { o.SecureCookies = secure })
			b := s.browser(t)
			p := b.login(s.alice, "").wantStatus(t, http.StatusFound)
			var sc *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				if c.Name == sessionCookie {
					sc = c
				}
			}
			if sc == nil {
				t.Fatalf("no %s cookie set: %v", sessionCookie, p.header["Set-Cookie"])
			}
			if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.MaxAge != 14*24*3600 || sc.Secure != secure {
				t.Errorf("cookie %s: HttpOnly %v SameSite %v Path %q MaxAge %d Secure %v; want HttpOnly, Lax, /, 1209600, Secure %v",
					sc.Name, sc.HttpOnly, sc.SameSite, sc.Path, sc.MaxAge, sc.Secure, secure)
			}
			if strings.Contains(sc.Value, s.alice.username) {
				t.Error("the session cookie shows the username: it should be encrypted")
			}
			if secure {
				return // the jar does not send a Secure cookie over http
			}
			b.api("GET", secretPath, "", nil).wantStatus(t, http.StatusOK)
			// Flip one character of the cookie: no longer a session.
			forged := s.browser(t)
			v := []byte(sc.Value)
			v[len(v)/2] ^= 1
			u, _ := url.Parse(s.url)
			forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: string(v), Path: "/"}})
			forged.api("GET", secretPath, "", nil).wantError(t, http.StatusUnauthorized, "not_authenticated")
		})
	}
}

// TestLoginThrottle: the login form counts attempts per address (a
// sliding window: no minute lets more through), and the provider's
// password attempts per username and address
// (ginoauth.Config.PasswordAttempts, 10 by default) hold there as at the
// token endpoint: the right password after ten failures is refused too.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	bad := userCreds{"alice", "wrong"}
	s := newWebServer(t, func(o *options) { o.LoginLimit = 2 })
	b := s.browser(t)
	b.login(bad, "").wantStatus(t, http.StatusBadRequest)
	b.login(bad, "").wantStatus(t, http.StatusBadRequest)
	p := b.login(s.alice, "").wantStatus(t, http.StatusTooManyRequests)
	if p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many sign-in attempts") {
		t.Errorf("throttled login: Retry-After %q, body:\n%s", p.header.Get("Retry-After"), p.body)
	}

	s = newWebServer(t, func(o *options) { o.LoginLimit = 100 })
	b = s.browser(t)
	for range ginoauth.DefaultPasswordAttemptLimit {
		b.login(bad, "").wantStatus(t, http.StatusBadRequest)
	}
	p = b.login(s.alice, "").wantStatus(t, http.StatusTooManyRequests)
	if p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many failed sign-in attempts for this user") {
		t.Errorf("login after %d failures: Retry-After %q, body:\n%s", ginoauth.DefaultPasswordAttemptLimit, p.header.Get("Retry-After"), p.body)
	}
}

// TestLogout: POST with the CSRF token ends the session; without it, 403.
func TestLogout(t *testing.T) {
	t.Parallel()
	s := newWebServer(t)
	tests := []struct {
		name     string
		csrf     bool
		next     string
		status   int
		location string
		loggedIn bool // after
	}{
		{name: "with the CSRF token", csrf: true, status: 200},
		{name: "with the CSRF token and next", csrf: true, next: "/client/", status: 302, location: "/client/"},
		{name: "with the CSRF token and a foreign next", csrf: true, next: "//evil.example/", status: 200},
		{name: "without the CSRF token", csrf: false, status: 403, loggedIn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := s.browser(t)
			b.login(s.alice, "").wantStatus(t, http.StatusFound)
			pg := b.get(logoutPath).wantStatus(t, http.StatusOK)
			if !strings.Contains(pg.body, "Signed in as <strong>alice</strong>") {
				t.Errorf("logout page:\n%s", pg.body)
			}
			form := pg.hidden(t)
			if !tt.csrf {
				form.Del(csrfFieldName)
			}
			if tt.next != "" {
				form.Set("next", tt.next)
			}
			p := b.post(logoutPath, form).wantStatus(t, tt.status)
			if tt.location != "" && p.location != s.url+tt.location {
				t.Errorf("Location = %q, want %s", p.location, tt.location)
			}
			if tt.status == http.StatusOK && p.byID("signed-out") == "" {
				t.Errorf("no signed-out message:\n%s", p.body)
			}
			r := b.api("GET", secretPath, "", nil)
			if tt.loggedIn {
				r.wantStatus(t, http.StatusOK)
			} else {
				r.wantError(t, http.StatusUnauthorized, "not_authenticated")
				if b.cookie(sessionCookie, "/") != "" {
					t.Error("the session cookie was not deleted")
				}
			}
		})
	}
}

// csrfFor returns the browser's CSRF token for API calls.
func (b *browser) csrfFor(t *testing.T) string {
	t.Helper()
	r := b.api("GET", csrfPath, "", nil).wantStatus(t, http.StatusOK)
	var v struct {
		Token  string `json:"csrf_token"`
		Header string `json:"header_name"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Token == "" || v.Header != csrfHeader {
		t.Fatalf("GET %s: %s", csrfPath, r.body)
	}
	return v.Token
}

// TestSessionAuthentication: a logged-in browser uses the API with its
// session, as DRF's SessionAuthentication: IsAuthenticated and
// IsAuthenticatedOrTokenHasScope pass; unsafe methods need the CSRF token;
// a bearer token, when sent, is what counts.
func TestSessionAuthentication(t *testing.T) {
	t.Parallel()
	f := newWebServer(t)
	conf := f.newClient("", "confidential", "password")
	readToken := f.passwordToken(conf, f.alice, "read").access

	b := f.browser(t)
	anonToken := b.csrfFor(t) // issued before login: bound to no user
	b.login(f.alice, "").wantStatus(t, http.StatusFound)
	token := b.csrfFor(t)
	if token == anonToken {
		t.Fatal("the CSRF token did not change with the login")
	}
	created := b.api("POST", snippetsPath, `{"code":"mine"}`, map[string]string{csrfHeader: token}).wantStatus(t, http.StatusCreated)
	if created.str(t, "owner") != "alice" {
		t.Errorf("snippet owner = %q, want alice", created.str(t, "owner"))
	}
	mine := created.header.Get("Location")

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    map[string]string
		status int
		code   string // JSON error code, for errors
		want   string // substring of a 2xx body
	}{
		{name: "IsAuthenticated: /secret", method: "GET", path: secretPath, status: 200, want: "Hello, alice"},
		{name: "IsAuthenticatedOrTokenHasScope: /user_details/", method: "GET", path: userDetailsPath, status: 200, want: `"username":"alice"`},
		{name: "safe method needs no CSRF token", method: "GET", path: snippetsPath, status: 200, want: "mine"},
		{name: "POST without a CSRF token", method: "POST", path: snippetsPath, body: `{"code":"x"}`, status: 403, code: "permission_denied"},
		{name: "POST with a wrong CSRF token", method: "POST", path: snippetsPath, body: `{"code":"x"}`, hdr: map[string]string{csrfHeader: "nope"}, status: 403, code: "permission_denied"},
		{name: "POST with the anonymous CSRF token", method: "POST", path: snippetsPath, body: `{"code":"x"}`, hdr: map[string]string{csrfHeader: anonToken}, status: 403, code: "permission_denied"},
		{name: "POST with the CSRF token from another origin", method: "POST", path: snippetsPath, body: `{"code":"x"}`, hdr: map[string]string{csrfHeader: token, "Origin": "http://evil.example"}, status: 403, code: "permission_denied"},
		{name: "POST with the CSRF token", method: "POST", path: snippetsPath, body: `{"code":"x"}`, hdr: map[string]string{csrfHeader: token}, status: 201, want: `"owner":"alice"`},
		{name: "PATCH without a CSRF token", method: "PATCH", path: mine, body: `{"title":"t"}`, status: 403, code: "permission_denied"},
		{name: "PATCH with the CSRF token", method: "PATCH", path: mine, body: `{"title":"t"}`, hdr: map[string]string{csrfHeader: token}, status: 200, want: `"title":"t"`},
		{name: "a bearer token wins: read token, POST", method: "POST", path: snippetsPath, body: `{"code":"x"}`, hdr: map[string]string{"Authorization": "Bearer " + readToken}, status: 403, code: "insufficient_scope"},
		{name: "a bearer token wins: bad token", method: "GET", path: secretPath, hdr: map[string]string{"Authorization": "Bearer nonsense"}, status: 401, code: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := b.api(tt.method, tt.path, tt.body, tt.hdr)
			if tt.code != "" {
				r.wantError(t, tt.status, tt.code)
				if tt.code == "permission_denied" && !strings.Contains(string(r.body), "CSRF Failed") {
					t.Errorf("body = %s, want a CSRF failure", r.body)
				}
				return
			}
			r.wantStatus(t, tt.status)
			if !strings.Contains(string(r.body), tt.want) {
				t.Errorf("body lacks %q: %s", tt.want, r.body)
			}
		})
	}
	t.Run("DELETE with the CSRF token", func(t *testing.T) {
		t.Parallel()
		own := b.api("POST", snippetsPath, `{"code":"gone"}`, map[string]string{csrfHeader: token}).wantStatus(t, http.StatusCreated)
		path := own.header.Get("Location")
		b.api("DELETE", path, "", nil).wantError(t, http.StatusForbidden, "permission_denied")
		b.api("DELETE", path, "", map[string]string{csrfHeader: token}).wantStatus(t, http.StatusNoContent)
	})
	t.Run("another user's snippet", func(t *testing.T) {
		t.Parallel()
		bob := f.newUser("bob")
		bb := f.browser(t)
		bb.login(bob, "").wantStatus(t, http.StatusFound)
		bb.api("PATCH", mine, `{"title":"bob's"}`, map[string]string{csrfHeader: bb.csrfFor(t)}).
			wantError(t, http.StatusForbidden, "permission_denied")
	})
	t.Run("anonymous browser", func(t *testing.T) {
		t.Parallel()
		anon := f.browser(t)
		anon.api("GET", secretPath, "", nil).wantError(t, http.StatusUnauthorized, "not_authenticated")
		anon.api("GET", userDetailsPath, "", nil).wantError(t, http.StatusUnauthorized, "not_authenticated")
		anon.api("POST", snippetsPath, `{"code":"x"}`, map[string]string{csrfHeader: anon.csrfFor(t)}).
			wantError(t, http.StatusUnauthorized, "not_authenticated")
	})
}
