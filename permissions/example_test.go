package permissions_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/permissions"
)

// exampleAuth stands in for the ginoauth resource-server middleware: it
// knows the bearer tokens "reader" (scope read), "writer" (read write) and
// "admin" (read write admin), and records any other token as refused.
func exampleAuth(c *gin.Context) {
	scopes := map[string][]string{
		"Bearer reader": {"read"},
		"Bearer writer": {"read", "write"},
		"Bearer admin":  {"read", "write", "admin"},
	}
	h := c.GetHeader("Authorization")
	if s, ok := scopes[h]; ok {
		resource.SetToken(c, &resource.TokenInfo{ClientID: "app", UserID: "42", Scopes: s})
	} else if h != "" {
		resource.SetAuthError(c, oautherr.ErrInvalidToken.WithDescription("The access token is invalid."))
	}
}

// try sends a request with token and prints the status, the challenge and
// the body.
func try(r http.Handler, method, path, token string) {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Printf("%s %s (%s): %d\n", method, path, token, w.Code)
	if h := w.Header().Get("WWW-Authenticate"); h != "" {
		fmt.Printf("  WWW-Authenticate: %s\n", h)
	}
	fmt.Printf("  %s\n", w.Body)
}

func ok(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) }

func ExampleRequire() {
	gin.SetMode(gin.TestMode)
	r := gin.New()

	// On a group: GET, HEAD and OPTIONS need scope "read", other methods
	// "write".
	api := r.Group("/api", exampleAuth)
	api.Use(permissions.Require(permissions.TokenHasReadWriteScope()))
	api.GET("/orders", ok)
	api.POST("/orders", ok)

	// On a single endpoint, in addition to the group's guard.
	api.DELETE("/orders/:id", permissions.Require(permissions.TokenHasScope("admin")), ok)

	try(r, "GET", "/api/orders", "")
	try(r, "GET", "/api/orders", "bogus")
	try(r, "GET", "/api/orders", "reader")
	try(r, "POST", "/api/orders", "reader")
	try(r, "POST", "/api/orders", "writer")
	try(r, "DELETE", "/api/orders/7", "writer")
	// Output:
	// GET /api/orders (): 401
	//   WWW-Authenticate: Bearer realm="api"
	//   {"error":"not_authenticated","error_description":"Authentication credentials were not provided."}
	// GET /api/orders (bogus): 401
	//   WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="The access token is invalid."
	//   {"error":"invalid_token","error_description":"The access token is invalid."}
	// GET /api/orders (reader): 200
	//   {"ok":true}
	// POST /api/orders (reader): 403
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="write"
	//   {"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"write"}
	// POST /api/orders (writer): 200
	//   {"ok":true}
	// DELETE /api/orders/7 (writer): 403
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="admin"
	//   {"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"admin"}
}

func ExampleRegistry() {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(exampleAuth)

	reg := permissions.NewRegistry()
	api := reg.Group(r, "/api", permissions.IsAuthenticated())
	api.GET("/orders", ok)
	api.With(permissions.TokenHasScope("write")).POST("/orders", ok)

	admin := api.Group("/admin", permissions.TokenHasScope("admin"))
	admin.DELETE("/orders/:id", ok)

	reg.Group(r, "/health").GET("", ok)

	if err := reg.WriteTable(os.Stdout); err != nil {
		panic(err)
	}
	fmt.Println()
	try(r, "POST", "/api/orders", "reader")
	try(r, "GET", "/health", "")
	// Output:
	// METHOD  PATH                   PERMISSIONS
	// DELETE  /api/admin/orders/:id  IsAuthenticated & TokenHasScope(admin)
	// GET     /api/orders            IsAuthenticated
	// POST    /api/orders            IsAuthenticated & TokenHasScope(write)
	// GET     /health                (none)
	//
	// POST /api/orders (reader): 403
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="write"
	//   {"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"write"}
	// GET /health (): 200
	//   {"ok":true}
}

func ExampleTokenMatchesOASRequirements() {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(exampleAuth)
	orders := permissions.TokenMatchesOASRequirements(map[string][][]string{
		"GET":  {{"read"}, {"admin"}}, // read OR admin
		"POST": {{"read", "write"}},   // read AND write
	})
	fmt.Println(orders)
	r.Any("/orders", permissions.Require(orders), ok)

	try(r, "POST", "/orders", "writer")
	try(r, "PUT", "/orders", "admin") // PUT is not listed
	// Output:
	// TokenMatchesOASRequirements(GET: read | admin; POST: read write)
	// POST /orders (writer): 200
	//   {"ok":true}
	// PUT /orders (admin): 403
	//   {"error":"permission_denied","error_description":"No scope grants access to this resource with this request method."}
}

func ExampleOr() {
	// DRF: permission_classes = [IsAdminScope | (IsAuthenticated & ~IsBanned)]
	p := permissions.Or(
		permissions.TokenHasScope("admin"),
		permissions.And(permissions.IsAuthenticated(), permissions.Not(permissions.TokenHasScope("banned"))),
	)
	fmt.Println(p)
	// Output:
	// (TokenHasScope(admin) | (IsAuthenticated & ~TokenHasScope(banned)))
}
