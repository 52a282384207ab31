package ginoauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Mount the token endpoint, protect a route group with the middleware, and
// get a token with the client_credentials grant.
func Example() {
	p, err := ginoauth.New(ginoauth.Config{}) // in-process store, DOT's defaults
	if err != nil {
		panic(err)
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		Name:       "backend",
		ClientType: store.Confidential,
		GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		panic(err)
	}

	r := gin.New()
	p.Mount(r) // POST /o/token/
	api := r.Group("/api", p.Middleware())
	api.GET("/hello", func(c *gin.Context) {
		tok, ok := resource.TokenFromContext(c)
		if !ok {
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		c.String(http.StatusOK, "hello, client with scopes %v", tok.Scopes)
	})

	// The client asks for a token ...
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	req := httptest.NewRequest("POST", "/o/token/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(secret))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = jsonDecode(w.Body.Bytes(), &tok)

	// ... and uses it.
	req = httptest.NewRequest("GET", "/api/hello", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Body.String())

	// Without it, the handler answers RFC 6750's challenge.
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/api/hello", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// 200 hello, client with scopes [read]
	// 401 Bearer realm="api"
}
