package resource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// oneToken is a TokenValidator that knows a single token.
type oneToken struct{}

func (oneToken) Validate(_ context.Context, token string) (*resource.TokenInfo, error) {
	if token != "s3cret" {
		return nil, oautherr.ErrInvalidToken.WithDescription("The access token is invalid.")
	}
	return &resource.TokenInfo{ClientID: "app", UserID: "42", Username: "alice", Scopes: []string{"read"}}, nil
}

// The middleware records what it learned and calls the next handler; the
// handler (or a guard of package permissions) decides what to answer.
func ExampleAuthenticate() {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(resource.Authenticate(oneToken{}, resource.Options{}))
	r.GET("/me", func(c *gin.Context) {
		if t, ok := resource.TokenFromContext(c); ok {
			c.String(http.StatusOK, "%s via %s, scopes %v", t.Username, t.ClientID, t.Scopes)
			return
		}
		if err := resource.AuthErrorFromContext(c); err != nil {
			resource.AbortWithError(c, err) // 401, RFC 6750 section 3.1
			return
		}
		c.String(http.StatusOK, "anonymous")
	})

	for _, authorization := range []string{"Bearer s3cret", "Bearer wrong", ""} {
		req := httptest.NewRequest(http.MethodGet, "/me", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Body.String())
		if h := w.Header().Get("WWW-Authenticate"); h != "" {
			fmt.Println(h)
		}
	}
	// Output:
	// 200 alice via app, scopes [read]
	// 401 {"error":"invalid_token","error_description":"The access token is invalid."}
	// Bearer realm="api", error="invalid_token", error_description="The access token is invalid."
	// 200 anonymous
}

// An API that does not share the authorization server's store asks its
// introspection endpoint (RFC 7662) about each token. Here an httptest
// server stands in for the authorization server.
func ExampleNewIntrospector() {
	gin.SetMode(gin.TestMode)
	authServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 7662 section 2.1: the resource server authenticates, here
		// with HTTP Basic, and posts the token.
		if id, secret, ok := r.BasicAuth(); !ok || id != "api" || secret != "api-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		answer := map[string]any{"active": false} // section 2.2
		if r.PostForm.Get("token") == "s3cret" {
			answer = map[string]any{"active": true, "client_id": "app", "username": "alice", "sub": "42", "scope": "read write"}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	defer authServer.Close()

	introspector, err := resource.NewIntrospector(resource.IntrospectionConfig{
		URL:          authServer.URL + "/o/introspect/",
		ClientID:     "api",
		ClientSecret: "api-secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := gin.New()
	r.GET("/me", resource.Authenticate(introspector, resource.Options{
		TokenFinders: []resource.TokenFinder{resource.TokenFromHeader, resource.TokenFromQuery},
	}), func(c *gin.Context) {
		t, ok := resource.TokenFromContext(c)
		if !ok {
			c.String(http.StatusUnauthorized, "no valid token")
			return
		}
		c.String(http.StatusOK, "user %s (%s), scopes %v", t.Username, t.UserID, t.Scopes)
	})

	for _, token := range []string{"s3cret", "revoked"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/me?access_token="+url.QueryEscape(token), nil))
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 user alice (42), scopes [read write]
	// 401 no valid token
}
