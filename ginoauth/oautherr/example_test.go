package oautherr_test

import (
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// A protected resource refuses an expired token: 401 with RFC 6750
// section 3's challenge and RFC 6749 section 5.2's JSON body.
func ExampleWriteBearer() {
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("GET", "/api/orders", nil)

	oautherr.WriteBearer(c, "api", oautherr.ErrInvalidToken.WithDescription("The access token expired."))

	fmt.Println(w.Code)
	fmt.Println(w.Header().Get("WWW-Authenticate"))
	fmt.Println(w.Header().Get("Cache-Control"))
	fmt.Println(w.Body.String())
	// Output:
	// 401
	// Bearer realm="api", error="invalid_token", error_description="The access token expired."
	// no-store
	// {"error":"invalid_token","error_description":"The access token expired."}
}

// A request without credentials gets a challenge with the realm alone
// (RFC 6750 section 3.1: no error code).
func ExampleWriteBearer_noCredentials() {
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("GET", "/api/orders", nil)

	oautherr.WriteBearer(c, "api", oautherr.ErrNotAuthenticated)

	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// 401 Bearer realm="api"
}

// A token without the scope a route needs is 403 insufficient_scope, the
// challenge naming the scope needed.
func ExampleWriteBearer_insufficientScope() {
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("DELETE", "/api/orders/7", nil)

	e := oautherr.ErrInsufficientScope.WithDescription("The request requires higher privileges than provided by the access token.")
	e.Scope = []string{"admin"}
	oautherr.WriteBearer(c, "api", e)

	fmt.Println(w.Code)
	fmt.Println(w.Header().Get("WWW-Authenticate"))
	// Output:
	// 403
	// Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="admin"
}

// errors.Is matches an *Error by its code, whatever its description or
// cause.
func ExampleError_Is() {
	err := fmt.Errorf("token endpoint: %w", oautherr.ErrInvalidGrant.WithDescription("The code was already used."))
	fmt.Println(errors.Is(err, oautherr.ErrInvalidGrant), errors.Is(err, oautherr.ErrInvalidClient))
	fmt.Println(oautherr.As(err).Status)
	// Output:
	// true false
	// 400
}
