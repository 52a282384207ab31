package ginoauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// BenchmarkGETCached is BenchmarkGET's protected GET with the validation
// cache on (Redis only: the cache needs the invalidation channel), against
// the same handler with no authentication.
func BenchmarkGETCached(b *testing.B) {
	p, err := ginoauth.New(ginoauth.Config{Store: newStore(b, "redis"), SecretKey: testKey, ValidationCache: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	for deadline := time.Now().Add(5 * time.Second); !p.ValidationCacheLive(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Skip("the validation cache did not go live (no real Redis?)")
		}
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	hello := func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"hello": "world"}) }
	r.GET("/open", hello)
	r.GET("/protected", p.Middleware(), func(c *gin.Context) {
		if _, ok := resource.TokenFromContext(c); !ok {
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		hello(c)
	})
	req := httptest.NewRequest("POST", "/o/token/", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(app.ClientID, secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	b.Run("open", func(b *testing.B) { benchGET(b, r, "/open", "") })
	b.Run("protected", func(b *testing.B) { benchGET(b, r, "/protected", tok.AccessToken) })
}
