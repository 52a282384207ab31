// Package permissions guards Gin routes the way Django REST Framework's
// permission classes (and Django OAuth Toolkit's token-scope permissions)
// guard DRF views.
//
// The resource-server middleware (resource.Authenticate, or a ginoauth
// Provider's Middleware) never rejects a request itself: it records on the gin.Context what it learned (the validated token,
// the user, or why a presented token was refused), and the guards of this
// package decide. A guard is a [Permission]; [Require] turns one or more of
// them into a gin.HandlerFunc for a group or for a single endpoint:
//
//	api := router.Group("/api", tokenMiddleware)
//	api.Use(permissions.Require(permissions.TokenHasReadWriteScope()))
//	api.GET("/orders", listOrders)  // needs scope "read"
//	api.POST("/orders", makeOrder)  // needs scope "write"
//	api.DELETE("/orders/:id",
//		permissions.Require(permissions.TokenHasScope("admin")), deleteOrder)
//
// Refusals follow DRF (rest_framework.views.APIView.permission_denied) and
// RFC 6750 section 3:
//
//   - a request with no credentials is answered 401 with a bare
//     `WWW-Authenticate: Bearer realm="api"` challenge (not_authenticated);
//   - a request whose bearer token was refused by the middleware (unknown,
//     revoked, expired) is answered with that error: 401 invalid_token;
//   - a request whose Authorization header is malformed ("Bearer a b", or
//     the header sent twice) is answered 400 invalid_request, with a
//     challenge naming that error;
//   - a valid token that lacks a scope is answered 403 insufficient_scope,
//     naming the scope needed in the challenge's scope attribute;
//   - an authenticated request refused for another reason is answered 403
//     permission_denied.
//
// The guards read no clock: resource.Authenticate records a token only if
// its ExpiresAt has not passed by the middleware's clock (resource
// Options.Now), as DOT's AccessToken.is_valid checks expiry. Code that
// records tokens itself with resource.SetToken must check expiry first.
//
// A [Registry] registers routes on gin and remembers which guards each one
// requires, for documentation and audits ([Registry.Routes],
// [Registry.WriteTable]):
//
//	reg := permissions.NewRegistry()
//	api := reg.Group(router, "/api", permissions.IsAuthenticated())
//	api.GET("/orders", listOrders)
//	api.With(permissions.TokenHasScope("write")).POST("/orders", makeOrder)
//	reg.WriteTable(os.Stdout)
//	// METHOD  PATH         PERMISSIONS
//	// GET     /api/orders  IsAuthenticated
//	// POST    /api/orders  IsAuthenticated & TokenHasScope(write)
//
// Every guard names the DRF or DOT class it mirrors; docs/permissions.md in
// the repository has the full table.
//
// Constructors validate their arguments and panic on programming errors (an
// empty resource list for [TokenHasResourceScope], a blank scope name, a
// nil Permission), as gin panics on a duplicate route: such mistakes surface
// when the routes are built, not as a guard that silently lets everything
// through.
package permissions
