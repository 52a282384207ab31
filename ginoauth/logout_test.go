package ginoauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// enderSession is testSession that can end the session: EndSession
// records the call and clears the cookie.
type enderSession struct{ ended *int }

func (s enderSession) SessionOwner(c *gin.Context) (*ginoauth.Owner, error) { return testSession(c) }
func (s enderSession) EndSession(c *gin.Context) error {
	*s.ended++
	c.SetCookie("test_user", "", -1, "/", "", false, true)
	return nil
}

// TestOIDCLogout: RP-initiated logout ends the session and redirects, with
// state, only to a registered post_logout_redirect_uri of the hint's
// client; a bad hint, another client_id or an unregistered URI is an error
// page (never a redirect) and ends nothing.
func TestOIDCLogout(t *testing.T) {
	ended := 0
	e := newOIDCEnv(t, "memory", "", func(c *ginoauth.Config) { c.Sessions = enderSession{&ended} })
	ctx := context.Background()
	const back = "https://rp.example.com/bye"
	if _, err := e.p.UpdateApplication(ctx, e.clientID, func(a *store.Application) error {
		a.PostLogoutRedirectURIs = []string{back}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	hint := e.codeFlowIDToken(t, e.rp(ctx))
	parts := strings.Split(hint, ".")
	for _, tc := range []struct {
		name     string
		params   url.Values
		wantCode int
		wantLoc  string
		wantEnd  bool
		post     string // POST this form body (with params as the query) instead of a GET
	}{
		{"no hint", url.Values{"post_logout_redirect_uri": {back}}, 400, "", false, ""},
		{"garbage hint", url.Values{"id_token_hint": {"x.y.z"}, "post_logout_redirect_uri": {back}}, 400, "", false, ""},
		{"alg none hint", url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0." + parts[1] + "."}, "post_logout_redirect_uri": {back}}, 400, "", false, ""},
		{"another client_id", url.Values{"id_token_hint": {hint}, "client_id": {"other"}, "post_logout_redirect_uri": {back}}, 400, "", false, ""},
		{"unregistered uri", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example.com/"}}, 400, "", false, ""},
		{"uri with a suffix", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {back + "/x"}}, 400, "", false, ""},
		{"repeated parameter", url.Values{"id_token_hint": {hint, hint}}, 400, "", false, ""},
		{"no redirect", url.Values{"id_token_hint": {hint}}, 200, "", true, ""},
		{"registered uri with state", url.Values{"id_token_hint": {hint}, "client_id": {e.clientID}, "post_logout_redirect_uri": {back}, "state": {"s 1"}}, 302, back + "?state=s+1", true, ""},
		{"POST", nil, 200, "", true, url.Values{"id_token_hint": {hint}}.Encode()},
		// The body is read through a 64 KiB bound (issue 8, finding 3).
		{"POST past 64 KiB", nil, 413, "", false, url.Values{"id_token_hint": {hint}, "pad": {strings.Repeat("a", 1<<20)}}.Encode()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ended
			req, _ := http.NewRequest("GET", e.issuer+"/o/logout/?"+tc.params.Encode(), nil)
			if tc.post != "" {
				req, _ = http.NewRequest("POST", e.issuer+"/o/logout/", strings.NewReader(tc.post))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.AddCookie(&http.Cookie{Name: "test_user", Value: "u-42"})
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.wantCode || res.Header.Get("Location") != tc.wantLoc {
				t.Errorf("got %d to %q, want %d to %q", res.StatusCode, res.Header.Get("Location"), tc.wantCode, tc.wantLoc)
			}
			if got := ended > before; got != tc.wantEnd {
				t.Errorf("session ended: got %v, want %v", got, tc.wantEnd)
			}
		})
	}
}

// FuzzLogoutHint: whatever the id_token_hint, the logout endpoint answers
// an error page (400), never a redirect and never a 5xx.
func FuzzLogoutHint(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.AAAA")
	ended := 0
	p, err := ginoauth.New(ginoauth.Config{SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		OIDC: ginoauth.OIDCConfig{Enabled: true}, Sessions: enderSession{&ended}})
	if err != nil {
		f.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	f.Fuzz(func(t *testing.T, hint string) {
		w := httptest.NewRecorder()
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://rp.example.com/"}}
		r.ServeHTTP(w, httptest.NewRequest("GET", "/o/logout/?"+q.Encode(), nil))
		if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" || ended != 0 {
			t.Errorf("hint %q: got %d to %q (sessions ended: %d), want 400 and no redirect", hint, w.Code, w.Header().Get("Location"), ended)
		}
	})
}
