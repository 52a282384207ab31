package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"

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

// With JWKSURL, an API checks JWT access tokens (RFC 9068) itself, with
// the authorization server's published keys, and asks its introspection
// endpoint only about other tokens (here there is none: JWTs only). Here
// an httptest server publishes the keys, and the token is signed as the
// authorization server would.
func ExampleNewIntrospector_jwt() {
	gin.SetMode(gin.TestMode)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
		}})
	}))
	defer keys.Close()

	introspector, err := resource.NewIntrospector(resource.IntrospectionConfig{
		JWKSURL: keys.URL + "/o/.well-known/jwks.json", // loopback: http is allowed
		Issuer:  "https://auth.example.com",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := gin.New()
	r.GET("/me", resource.Authenticate(introspector, resource.Options{Audience: "https://api.example.com/"}), func(c *gin.Context) {
		t, ok := resource.TokenFromContext(c)
		if !ok {
			c.String(http.StatusUnauthorized, "no valid token")
			return
		}
		c.String(http.StatusOK, "user %s (%s) via %s, scopes %v", t.Username, t.UserID, t.ClientID, t.Scopes)
	})

	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": "https://auth.example.com", "sub": "42", "aud": "https://api.example.com/", "client_id": "app",
		"scope": "read write", "jti": "j1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "preferred_username": "alice",
	})
	jws, _ := signer.Sign(claims)
	token, _ := jws.CompactSerialize()

	for _, tok := range []string{token, token + "x"} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 user alice (42) via app, scopes [read write]
	// 401 no valid token
}
