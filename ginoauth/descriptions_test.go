package ginoauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// challengeDescription finds the error_description of a WWW-Authenticate
// challenge; the value ends at the first '"', which it may not contain.
var challengeDescription = regexp.MustCompile(`error_description="([^"]*)"`)

// checkDescription fails t unless the error answer r carries an
// error_description of RFC 6749 section 5.2's characters, at most 256
// bytes, and a WWW-Authenticate header (if any) of printable ASCII whose
// error_description is in the set too (RFC 6750 section 3).
func checkDescription(t *testing.T, name string, r resp) {
	t.Helper()
	d := r.str("error_description")
	if r.status < 400 || r.str("error") == "" || d == "" {
		t.Errorf("%s: %d %v; want an error with a description", name, r.status, r.body)
		return
	}
	if !inDescriptionSet(d) || len(d) > 256 {
		t.Errorf("%s: error_description %q (%d bytes) is not RFC 6749 5.2's", name, d, len(d))
	}
	h := r.header.Get("WWW-Authenticate")
	for i := 0; i < len(h); i++ {
		if h[i] < 0x20 || h[i] > 0x7e {
			t.Errorf("%s: WWW-Authenticate %q holds a byte that is not printable ASCII", name, h)
			break
		}
	}
	if m := challengeDescription.FindStringSubmatch(h); m != nil && (!inDescriptionSet(m[1]) || m[1] != d) {
		t.Errorf("%s: challenge error_description %q; body's %q", name, m[1], d)
	}
}

// TestErrorDescriptionCharset walks error answers whose descriptions
// repeat client input (quotes, backslashes, controls, non-ASCII, invalid
// UTF-8, great length) and checks each error_description.
func TestErrorDescriptionCharset(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) {
		c.Scopes["introspection"] = "Introspect tokens"
	})
	e := ce.env
	conf := []string{e.confID, e.secret}
	userToken := e.passwordToken("read").str("access_token")
	nasty := "x\"y\\z\x00\x7f\té\xff\xfe"
	long := strings.Repeat("a", 10<<10)
	raw := func(ct, body string) *http.Request {
		req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.SetBasicAuth(e.confID, e.secret)
		return req
	}
	for _, tc := range []struct {
		name string
		req  func() resp
	}{
		{"unsupported grant", func() resp { return e.token(url.Values{"grant_type": {"urn:" + nasty}}, conf) }},
		{"unsupported long grant", func() resp { return e.token(url.Values{"grant_type": {long}}, conf) }},
		{"unknown scope", func() resp {
			return e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"read nope"}}, conf)
		}},
		{"unknown long scope", func() resp {
			return e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {long}}, conf)
		}},
		{"public client_credentials", func() resp {
			return e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {e.pubID}}, nil)
		}},
		{"repeated form parameter", func() resp {
			k := url.QueryEscape(nasty)
			return e.do(raw("application/x-www-form-urlencoded", "grant_type=password&"+k+"=1&"+k+"=2"))
		}},
		{"long repeated form parameter", func() resp {
			return e.do(raw("application/x-www-form-urlencoded", "grant_type=password&"+long+"=1&"+long+"=2"))
		}},
		{"json member not a string", func() resp {
			return e.do(raw("application/json", `{"grant_type":"password","x\"y\\z\u0000é\ud800":1}`))
		}},
		{"json body with invalid UTF-8", func() resp {
			return e.do(raw("application/json", "{\"grant_type\":\"password\",\"\xff\xfe\":1}"))
		}},
		{"bad password", func() resp {
			return e.token(url.Values{"grant_type": {"password"}, "username": {nasty}, "password": {nasty}}, conf)
		}},
		{"wrong client", func() resp {
			return e.token(url.Values{"grant_type": {"client_credentials"}}, []string{nasty, nasty})
		}},
		{"two auth methods", func() resp {
			return e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {nasty}}, conf)
		}},
		{"introspection without the scope", func() resp {
			return e.post("/o/introspect/", url.Values{"token": {userToken}}, nil, userToken)
		}},
		{"introspection with a bad token", func() resp {
			return e.post("/o/introspect/", url.Values{"token": {userToken}}, nil, "nonsense")
		}},
		{"revocation without token", func() resp { return e.post("/o/revoke_token/", url.Values{}, conf, "") }},
		{"resource: bad token", func() resp { return e.get("/api/whoami", "goat_"+strings.Repeat("A", 76)) }},
		{"resource: malformed header", func() resp { return e.get("/api/whoami", "a b") }},
		{"method not allowed", func() resp {
			req, _ := http.NewRequest("GET", e.srv.URL+"/o/token/", nil)
			return e.do(req)
		}},
	} {
		checkDescription(t, tc.name, tc.req())
	}

	// The authorization endpoint redirects errors with the same parameter
	// (RFC 6749 section 4.1.2.1).
	b := ce.browser("u1.alice")
	challenge := "&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43)
	for name, scope := range map[string]string{"unknown scope": "read nope", "unknown long scope": long[:1000]} {
		pg := fetch(t, b, "GET", ce.srv.URL+"/o/authorize/?response_type=code&client_id="+ce.webID+
			"&redirect_uri="+url.QueryEscape(testRedirect)+"&scope="+url.QueryEscape(scope)+challenge, nil)
		if pg.location == nil {
			t.Fatalf("authorize, %s: %d, not redirected", name, pg.status)
		}
		q := pg.location.Query()
		if d := q.Get("error_description"); q.Get("error") != "invalid_scope" || d == "" || !inDescriptionSet(d) || len(d) > 256 {
			t.Errorf("authorize, %s: error_description %q (%d bytes)", name, d, len(d))
		}
	}
}

// TestCustomErrorDescription: a description a guard or grant writes with
// characters outside the set (or at great length) is sent with them
// replaced, in the body and in the challenge.
func TestCustomErrorDescription(t *testing.T) {
	t.Parallel()
	r := gin.New()
	r.GET("/", func(c *gin.Context) {
		resource.AbortWithError(c, oautherr.ErrInvalidToken.WithDescription("%s", c.Query("d")))
	})
	for _, tc := range []struct{ in, want string }{
		{`Plain 'text'.`, `Plain 'text'.`},
		{`Say "hi" \ bye.`, `Say 'hi' ? bye.`},
		{"Caf\u00e9 \U0001F600 tab\tnul\x00 del\x7f bad\xff.", "Caf? ? tab?nul? del? bad?."},
		{strings.Repeat("b", 300), strings.Repeat("b", 253) + "..."},
		{strings.Repeat("b", 256), strings.Repeat("b", 256)},
		{strings.Repeat("\u00e9", 256), strings.Repeat("?", 256)},
		{strings.Repeat("\u00e9", 257), strings.Repeat("?", 253) + "..."},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/?d="+url.QueryEscape(tc.in), nil))
		var body map[string]string
		if err := jsonDecode(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if body["error_description"] != tc.want {
			t.Errorf("description %q sent as %q; want %q", tc.in, body["error_description"], tc.want)
		}
		if h, want := w.Header().Get("WWW-Authenticate"), `error_description="`+tc.want+`"`; !strings.Contains(h, want) {
			t.Errorf("description %q: challenge %q; want it to hold %q", tc.in, h, want)
		}
	}
}

// inDescriptionSet reports whether s is made of RFC 6749 section 5.2's
// error_description characters (%x20-21 / %x23-5B / %x5D-7E).
func inDescriptionSet(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
