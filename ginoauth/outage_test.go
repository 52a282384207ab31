package ginoauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
)

// TestRecoversWhenRedisReturns: while Redis is down a request with a token
// answers 503 (never 200, never 500), and once Redis is back the same
// provider serves it again without a restart. It stops and restarts an
// in-process Redis, so it does not touch the shared one.
func TestRecoversWhenRedisReturns(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	st, err := redisstore.New(client)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(t.Context(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	r.GET("/api", p.Middleware(), func(c *gin.Context) {
		if _, ok := resource.TokenFromContext(c); !ok {
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		c.String(200, "ok")
	})
	token := func() (int, string) {
		req := httptest.NewRequest("POST", "/o/token/", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ClientID, secret)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = jsonDecode(w.Body.Bytes(), &body)
		return w.Code, body.AccessToken
	}
	get := func(tok string) int {
		req := httptest.NewRequest("GET", "/api", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}
	code, tok := token()
	if code != 200 {
		t.Fatalf("token before the outage: status = %d, want 200", code)
	}
	if c := get(tok); c != 200 {
		t.Fatalf("protected GET before the outage: status = %d, want 200", c)
	}
	m.Close()
	if c := get(tok); c != http.StatusServiceUnavailable {
		t.Fatalf("protected GET during the outage: status = %d, want %d", c, http.StatusServiceUnavailable)
	}
	if c, _ := token(); c != http.StatusServiceUnavailable {
		t.Fatalf("token request during the outage: status = %d, want %d", c, http.StatusServiceUnavailable)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	// miniredis keeps its data across Restart, as a Redis with persistence would.
	if c := get(tok); c != 200 {
		t.Fatalf("protected GET after Redis returned: status = %d, want 200", c)
	}
	if c, _ := token(); c != 200 {
		t.Fatalf("token after Redis returned: status = %d, want 200", c)
	}
}
