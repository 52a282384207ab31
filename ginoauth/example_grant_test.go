package ginoauth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Register a custom grant type (RFC 6749 section 4.5): here a device that
// proves who it is with a key it was enrolled with gets a token for the
// device's owner. The handler checks its own parameters, decides the user
// and the scopes (GrantScopes applies the configured scopes, the defaults
// and the client's ceiling), and mints with IssueTokens; the provider
// authenticates the client and checks that it may use the grant first.
func ExampleGrant() {
	const grantType = "urn:example:params:oauth:grant-type:device-key"
	devices := map[string]string{"key-of-thermostat-42": "alice"} // the app's own records

	p, err := ginoauth.New(ginoauth.Config{
		GrantTypes: []ginoauth.GrantType{{
			Name: grantType,
			Handle: func(ctx context.Context, p *ginoauth.Provider, r *ginoauth.TokenRequest) (*ginoauth.TokenResponse, error) {
				key := r.Params["device_key"]
				if key == "" {
					return nil, oautherr.ErrInvalidRequest.WithDescription("The device_key parameter is missing.")
				}
				owner, ok := devices[key]
				if !ok {
					return nil, oautherr.ErrInvalidGrant.WithDescription("Unknown device key.")
				}
				scopes, err := p.GrantScopes(r.Params["scope"], r.Client)
				if err != nil {
					return nil, err // invalid_scope
				}
				return p.IssueTokens(ctx, r.Client, ginoauth.IssueRequest{
					UserID: owner, Username: owner, Scopes: scopes,
				})
			},
		}},
	})
	if err != nil {
		panic(err)
	}
	// Only applications that list the grant may use it.
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		Name: "thermostats", ClientType: store.Confidential, GrantTypes: []string{grantType},
	})
	if err != nil {
		panic(err)
	}
	r := gin.New()
	p.Mount(r)

	post := func(form url.Values) string {
		req := httptest.NewRequest("POST", "/o/token/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(secret))
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		var body struct {
			Error       string `json:"error"`
			Scope       string `json:"scope"`
			AccessToken string `json:"access_token"`
		}
		_ = jsonDecode(w.Body.Bytes(), &body)
		if body.Error != "" {
			return fmt.Sprint(w.Code, " ", body.Error)
		}
		return fmt.Sprint(w.Code, " scope=", body.Scope, " token=", strings.HasPrefix(body.AccessToken, "goat_"))
	}
	fmt.Println(post(url.Values{"grant_type": {grantType}, "device_key": {"key-of-thermostat-42"}, "scope": {"read"}}))
	fmt.Println(post(url.Values{"grant_type": {grantType}, "device_key": {"stolen?"}}))
	fmt.Println(post(url.Values{"grant_type": {grantType}}))
	fmt.Println(post(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}}))
	// Output:
	// 200 scope=read token=true
	// 400 invalid_grant
	// 400 invalid_request
	// 400 unauthorized_client
}
