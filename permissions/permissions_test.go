package permissions_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/permissions"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// --- fixtures ---

// creds is what the test middleware puts on the context, standing in for
// the resource-server middleware (and a session middleware).
type creds struct {
	token   *resource.TokenInfo
	user    any
	authErr error
	realm   string
}

// inject is the tiny test middleware.
func (cr creds) inject(c *gin.Context) {
	if cr.realm != "" {
		resource.SetRealm(c, cr.realm)
	}
	if cr.token != nil {
		resource.SetToken(c, cr.token)
	}
	if cr.user != nil {
		resource.SetUser(c, cr.user)
	}
	if cr.authErr != nil {
		resource.SetAuthError(c, cr.authErr)
	}
}

var (
	anon     = creds{}
	badToken = creds{authErr: oautherr.ErrInvalidToken.WithDescription("The access token is invalid.")}
	session  = creds{user: "alice"}
	outage   = creds{authErr: fmt.Errorf("lookup token: %w", store.ErrUnavailable)}
)

// badHeader is what the middleware records for "Authorization: Bearer a b".
var badHeader = creds{authErr: oautherr.ErrInvalidRequest.WithDescription("The bearer token is malformed.")}

// userToken is a valid token issued on behalf of user 42.
func userToken(scopes ...string) creds {
	return creds{token: &resource.TokenInfo{
		ClientID: "app", UserID: "42", Username: "alice", Scopes: scopes,
		IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	}}
}

// appToken is a valid client_credentials token: no resource owner.
func appToken(scopes ...string) creds {
	return creds{token: &resource.TokenInfo{ClientID: "app", Scopes: scopes}}
}

func expiredToken(scopes ...string) creds {
	return creds{token: &resource.TokenInfo{
		ClientID: "app", UserID: "42", Scopes: scopes,
		IssuedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour),
	}}
}

// want is an expected answer.
type want struct {
	status  int
	wwwAuth string
	err     string // the JSON body's "error"; "" for a 200
}

var (
	allowed = want{status: http.StatusOK}
	// notAuthenticated: no credentials, bare challenge.
	notAuthenticated = want{http.StatusUnauthorized, `Bearer realm="api"`, "not_authenticated"}
	invalidToken     = want{http.StatusUnauthorized,
		`Bearer realm="api", error="invalid_token", error_description="The access token is invalid."`, "invalid_token"}
	expired = want{http.StatusUnauthorized,
		`Bearer realm="api", error="invalid_token", error_description="The access token expired."`, "invalid_token"}
	unavailable = want{http.StatusServiceUnavailable, "", "temporarily_unavailable"}
)

// malformedHeader is RFC 6750 3.1's invalid_request, with its challenge.
var malformedHeader = want{http.StatusBadRequest,
	`Bearer realm="api", error="invalid_request", error_description="The bearer token is malformed."`, "invalid_request"}

func insufficientScope(scope string) want {
	return want{http.StatusForbidden,
		`Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="` + scope + `"`,
		"insufficient_scope"}
}

func permissionDenied(description string) want {
	return want{http.StatusForbidden, "", "permission_denied"} // RFC 6750 3.1 has no challenge for it
}

const (
	defaultDenied   = "You do not have permission to perform this action."
	tokenRequired   = "This resource requires an OAuth2 access token."
	noResourceOwner = "This resource requires a token issued on behalf of a user."
	methodNotListed = "No scope grants access to this resource with this request method."
)

// serve answers one request on an engine guarded by handlers (between the
// credential middleware and a handler that answers 200 "ok").
func serve(t testing.TB, method string, cr creds, handlers ...gin.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	r := gin.New()
	chain := append([]gin.HandlerFunc{cr.inject}, handlers...)
	chain = append(chain, func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.Handle(method, "/resource", chain...)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(method, "/resource", nil))
	return w
}

// check compares an answer with w.
func check(t testing.TB, got *httptest.ResponseRecorder, w want) {
	t.Helper()
	if got.Code != w.status {
		t.Errorf("status = %d, want %d (body %s)", got.Code, w.status, got.Body)
	}
	if h := got.Header().Get("WWW-Authenticate"); h != w.wwwAuth {
		t.Errorf("WWW-Authenticate = %q\n                 want %q", h, w.wwwAuth)
	}
	if w.status == http.StatusOK {
		if got.Body.String() != "ok" {
			t.Errorf("body = %q, want the handler's %q", got.Body, "ok")
		}
		return
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(got.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", got.Body, err)
	}
	if body.Error != w.err {
		t.Errorf("body error = %q, want %q", body.Error, w.err)
	}
	if got.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got.Header().Get("Cache-Control"))
	}
}

type guardCase struct {
	name   string
	perm   permissions.Permission
	method string
	creds  creds
	want   want
}

func runGuardCases(t *testing.T, cases []guardCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := cmpOr(tc.method, http.MethodGet)
			check(t, serve(t, method, tc.creds, permissions.Require(tc.perm)), tc.want)
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// permFunc is a custom Permission.
type permFunc func(c *gin.Context) error

func (f permFunc) Check(c *gin.Context) error { return f(c) }
func (f permFunc) String() string             { return "Custom" }

var (
	denyAll  = permFunc(func(*gin.Context) error { return oautherr.ErrPermissionDenied })
	brokenDB = permFunc(func(*gin.Context) error {
		return fmt.Errorf("load user: %w", store.ErrUnavailable)
	})
)

// --- guards ---

func TestTokenHasScope(t *testing.T) {
	t.Parallel()
	rw := permissions.TokenHasScope("read", "write")
	runGuardCases(t, []guardCase{
		{"no credentials", rw, "", anon, notAuthenticated},
		{"refused token", rw, "", badToken, invalidToken},
		{"malformed Authorization header", rw, "", badHeader, malformedHeader},
		{"store outage", rw, "", outage, unavailable},
		{"all scopes", rw, "", userToken("write", "read", "extra"), allowed},
		{"all scopes POST", rw, http.MethodPost, userToken("read", "write"), allowed},
		{"missing one", rw, "", userToken("read"), insufficientScope("read write")},
		{"no scopes", rw, http.MethodDelete, userToken(), insufficientScope("read write")},
		{"client_credentials token", rw, "", appToken("read", "write"), allowed},
		{"session user, no token", rw, "", session, permissionDenied(tokenRequired)},
		{"space-separated entry", permissions.TokenHasScope("read write"), "", userToken("read"), insufficientScope("read write")},
		{"duplicates dropped", permissions.TokenHasScope("read", "read write", "write"), "", userToken("read"), insufficientScope("read write")},
		{"none required, any token", permissions.TokenHasScope(), "", appToken(), allowed},
		{"none required, no credentials", permissions.TokenHasScope(), "", anon, notAuthenticated},
		{"none required, session user", permissions.TokenHasScope(), "", session, permissionDenied(tokenRequired)},
	})
}

func TestTokenHasReadWriteScope(t *testing.T) {
	t.Parallel()
	p := permissions.TokenHasReadWriteScope()
	admin := permissions.TokenHasReadWriteScope("admin")
	custom := permissions.ReadWriteScope{Read: "orders.view", Write: "orders.edit"}
	zero := permissions.ReadWriteScope{}
	runGuardCases(t, []guardCase{
		{"GET read", p, http.MethodGet, userToken("read"), allowed},
		{"HEAD read", p, http.MethodHead, userToken("read"), allowed},
		{"OPTIONS read", p, http.MethodOptions, userToken("read"), allowed},
		{"POST read-only token", p, http.MethodPost, userToken("read"), insufficientScope("write")},
		{"PUT read-only token", p, http.MethodPut, userToken("read"), insufficientScope("write")},
		{"PATCH read-only token", p, http.MethodPatch, userToken("read"), insufficientScope("write")},
		{"DELETE read-only token", p, http.MethodDelete, userToken("read"), insufficientScope("write")},
		{"POST read+write", p, http.MethodPost, userToken("read", "write"), allowed},
		{"POST write only", p, http.MethodPost, userToken("write"), allowed},
		{"GET write only", p, http.MethodGet, userToken("write"), insufficientScope("read")},
		{"GET no credentials", p, http.MethodGet, anon, notAuthenticated},
		{"POST no credentials", p, http.MethodPost, anon, notAuthenticated},
		{"POST refused token", p, http.MethodPost, badToken, invalidToken},
		{"GET session user", p, http.MethodGet, session, permissionDenied(tokenRequired)},
		{"required GET read", admin, http.MethodGet, userToken("read"), insufficientScope("read admin")},
		{"required GET read admin", admin, http.MethodGet, userToken("admin", "read"), allowed},
		{"required POST write", admin, http.MethodPost, userToken("write", "read"), insufficientScope("write admin")},
		{"required POST write admin", admin, http.MethodPost, userToken("write", "admin"), allowed},
		{"custom names GET", custom, http.MethodGet, userToken("orders.view"), allowed},
		{"custom names GET default name", custom, http.MethodGet, userToken("read"), insufficientScope("orders.view")},
		{"custom names POST", custom, http.MethodPost, userToken("orders.view"), insufficientScope("orders.edit")},
		{"zero value GET", zero, http.MethodGet, userToken("read"), allowed},
		{"zero value POST", zero, http.MethodPost, userToken("read"), insufficientScope("write")},
	})
}

func TestTokenHasResourceScope(t *testing.T) {
	t.Parallel()
	p := permissions.TokenHasResourceScope("orders", "users")
	runGuardCases(t, []guardCase{
		{"GET both read", p, http.MethodGet, userToken("orders:read", "users:read"), allowed},
		{"HEAD both read", p, http.MethodHead, userToken("orders:read", "users:read"), allowed},
		{"GET one read", p, http.MethodGet, userToken("orders:read", "users:write"), insufficientScope("orders:read users:read")},
		{"GET plain read", p, http.MethodGet, userToken("read"), insufficientScope("orders:read users:read")},
		{"POST reads only", p, http.MethodPost, userToken("orders:read", "users:read"), insufficientScope("orders:write users:write")},
		{"POST both write", p, http.MethodPost, userToken("orders:write", "users:write"), allowed},
		{"DELETE both write", p, http.MethodDelete, userToken("orders:write", "users:write"), allowed},
		{"GET writes only", p, http.MethodGet, userToken("orders:write", "users:write"), insufficientScope("orders:read users:read")},
		{"no credentials", p, http.MethodGet, anon, notAuthenticated},
		{"refused token", p, http.MethodPost, badToken, invalidToken},
		{"session user", p, http.MethodGet, session, permissionDenied(tokenRequired)},
	})
}

func TestConstructorPanics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    func()
		msg  string
	}{
		{"TokenHasResourceScope()", func() { permissions.TokenHasResourceScope() }, "needs at least one resource"},
		{"TokenHasResourceScope(nil...)", func() { permissions.TokenHasResourceScope([]string(nil)...) }, "needs at least one resource"},
		{"TokenHasResourceScope blank", func() { permissions.TokenHasResourceScope("orders", " ") }, "blank scope name"},
		{"TokenHasScope blank", func() { permissions.TokenHasScope("") }, "blank scope name"},
		{"TokenHasScope quote", func() { permissions.TokenHasScope(`re"ad`) }, "does not allow"},
		{"TokenHasReadWriteScope blank", func() { permissions.TokenHasReadWriteScope("\t") }, "blank scope name"},
		{"IsAuthenticatedOrTokenHasScope blank", func() { permissions.IsAuthenticatedOrTokenHasScope("") }, "blank scope name"},
		{"OAS blank scope", func() {
			permissions.TokenMatchesOASRequirements(map[string][][]string{"GET": {{"read", ""}}})
		}, "blank scope name"},
		{"OAS empty method", func() {
			permissions.TokenMatchesOASRequirements(map[string][][]string{" ": {{"read"}}})
		}, "is not an HTTP method"},
		{"OAS bad method", func() {
			permissions.TokenMatchesOASRequirements(map[string][][]string{"GE T": {{"read"}}})
		}, "is not an HTTP method"},
		{"Require nil", func() { permissions.Require(permissions.AllowAny(), nil) }, "Permission 1 is nil"},
		{"And empty", func() { permissions.And() }, "at least one"},
		{"Or empty", func() { permissions.Or() }, "at least one"},
		{"Or nil", func() { permissions.Or(nil) }, "Permission 0 is nil"},
		{"Not nil", func() { permissions.Not(nil) }, "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				s, _ := r.(string)
				if !strings.HasPrefix(s, "permissions: ") || !strings.Contains(s, tc.msg) {
					t.Errorf("panic = %#v, want a message containing %q", r, tc.msg)
				}
			}()
			tc.f()
		})
	}
}

func TestTokenMatchesOASRequirements(t *testing.T) {
	t.Parallel()
	p := permissions.TokenMatchesOASRequirements(map[string][][]string{
		"get":     {{"read"}, {"admin"}},
		"POST":    {{"create", "write"}, {"admin"}},
		" put ":   {{"write"}},
		"PUT":     {{"admin"}},
		"DELETE":  {{}},
		"PATCH":   {},
		"OPTIONS": {{"read"}},
	})
	runGuardCases(t, []guardCase{
		{"GET first alternative", p, http.MethodGet, userToken("read"), allowed},
		{"GET second alternative", p, http.MethodGet, userToken("admin"), allowed},
		{"GET neither", p, http.MethodGet, userToken("write"), insufficientScope("read")},
		{"POST all of first", p, http.MethodPost, userToken("write", "create"), allowed},
		{"POST part of first", p, http.MethodPost, userToken("create"), insufficientScope("create write")},
		{"POST second", p, http.MethodPost, userToken("admin"), allowed},
		{"PUT merged keys, first", p, http.MethodPut, userToken("write"), allowed},
		{"PUT merged keys, second", p, http.MethodPut, userToken("admin"), allowed},
		{"PUT merged keys, neither", p, http.MethodPut, userToken("read"), insufficientScope("write")},
		{"DELETE empty requirement, any token", p, http.MethodDelete, appToken(), allowed},
		{"DELETE empty requirement, no credentials", p, http.MethodDelete, anon, notAuthenticated},
		{"PATCH listed without alternatives", p, http.MethodPatch, userToken("read", "write", "admin"), permissionDenied(methodNotListed)},
		{"HEAD not listed", p, http.MethodHead, userToken("read", "write", "admin"), permissionDenied(methodNotListed)},
		{"not listed, no credentials", p, http.MethodHead, anon, notAuthenticated},
		{"no credentials", p, http.MethodGet, anon, notAuthenticated},
		{"refused token", p, http.MethodPost, badToken, invalidToken},
		{"session user", p, http.MethodGet, session, permissionDenied(tokenRequired)},
	})
}

// checkDirect runs p.Check on a context whose request has method.
func checkDirect(p permissions.Permission, method string, cr creds) error {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = &http.Request{Method: method}
	cr.inject(c)
	return p.Check(c)
}

func TestSafeMethodCaseInsensitive(t *testing.T) {
	t.Parallel()
	// DRF upper-cases request.method; net/http does not, so a lower-case
	// method reaching a guard (through NoRoute, say) must be read alike.
	oas := permissions.TokenMatchesOASRequirements(map[string][][]string{"GET": {{"read"}}})
	rw := permissions.TokenHasReadWriteScope()
	res := permissions.TokenHasResourceScope("orders")
	for _, tc := range []struct {
		p      permissions.Permission
		method string
		cr     creds
		ok     bool
	}{
		{oas, "get", userToken("read"), true},
		{oas, "Get", userToken("write"), false},
		{rw, "get", userToken("read"), true},
		{rw, "head", userToken("read"), true},
		{rw, "options", userToken("read"), true},
		{rw, "post", userToken("read"), false},
		{rw, "PROPFIND", userToken("read"), false},
		{rw, "PROPFIND", userToken("write"), true},
		{res, "get", userToken("orders:read"), true},
		{res, "delete", userToken("orders:read"), false},
	} {
		err := checkDirect(tc.p, tc.method, tc.cr)
		if (err == nil) != tc.ok {
			t.Errorf("%v on %s: Check = %v, want ok=%v", tc.p, tc.method, err, tc.ok)
		}
	}
}

func TestIsAuthenticated(t *testing.T) {
	t.Parallel()
	p := permissions.IsAuthenticated()
	withUser := userToken()
	withUser.user = "alice"
	runGuardCases(t, []guardCase{
		{"session user", p, http.MethodPost, session, allowed},
		{"user token", p, http.MethodGet, userToken(), allowed},
		{"user token, user loaded", p, http.MethodGet, withUser, allowed},
		{"client_credentials token", p, http.MethodGet, appToken("read"), permissionDenied(noResourceOwner)},
		{"no credentials", p, http.MethodGet, anon, notAuthenticated},
		{"refused token", p, http.MethodGet, badToken, invalidToken},
		{"store outage", p, http.MethodGet, outage, unavailable},
	})
}

func TestIsAuthenticatedOrTokenHasScope(t *testing.T) {
	t.Parallel()
	p := permissions.IsAuthenticatedOrTokenHasScope("read")
	tokenAndUser := userToken()
	tokenAndUser.user = "alice" // loaded for the token by the middleware
	runGuardCases(t, []guardCase{
		{"session user", p, http.MethodPost, session, allowed},
		{"token with scope", p, http.MethodGet, userToken("read"), allowed},
		{"client_credentials token with scope", p, http.MethodGet, appToken("read"), allowed},
		{"token without scope", p, http.MethodGet, userToken("write"), insufficientScope("read")},
		{"token user without scope", p, http.MethodGet, tokenAndUser, insufficientScope("read")},
		{"no credentials", p, http.MethodGet, anon, notAuthenticated},
		{"refused token", p, http.MethodGet, badToken, invalidToken},
	})
}

func TestAllowAny(t *testing.T) {
	t.Parallel()
	p := permissions.AllowAny()
	runGuardCases(t, []guardCase{
		{"no credentials", p, http.MethodGet, anon, allowed},
		{"refused token", p, http.MethodPost, badToken, allowed},
		{"token", p, http.MethodDelete, appToken(), allowed},
		{"session user", p, http.MethodGet, session, allowed},
	})
}

func TestCombinators(t *testing.T) {
	t.Parallel()
	authRead := permissions.And(permissions.IsAuthenticated(), permissions.TokenHasScope("read"))
	adminOrRW := permissions.Or(permissions.TokenHasScope("admin"), permissions.TokenHasScope("read", "write"))
	userOrRead := permissions.Or(permissions.IsAuthenticated(), permissions.TokenHasScope("read"))
	denyOrRead := permissions.Or(denyAll, permissions.TokenHasScope("read"))
	anonOnly := permissions.Not(permissions.IsAuthenticated())
	never := permissions.Not(permissions.AllowAny())
	runGuardCases(t, []guardCase{
		{"And: both", authRead, "", userToken("read"), allowed},
		{"And: first refuses", authRead, "", appToken("read"), permissionDenied(noResourceOwner)},
		{"And: second refuses", authRead, "", userToken(), insufficientScope("read")},
		{"And: no credentials", authRead, "", anon, notAuthenticated},
		{"And: refused token", authRead, "", badToken, invalidToken},
		{"And: single operand", permissions.And(permissions.TokenHasScope("x")), "", userToken("x"), allowed},

		{"Or: first", adminOrRW, "", userToken("admin"), allowed},
		{"Or: second", adminOrRW, "", userToken("write", "read"), allowed},
		{"Or: neither names first scope", adminOrRW, "", userToken("read"), insufficientScope("admin")},
		{"Or: no credentials", adminOrRW, "", anon, notAuthenticated},
		{"Or: refused token", adminOrRW, "", badToken, invalidToken},
		{"Or: session user", adminOrRW, "", session, permissionDenied(tokenRequired)},
		{"Or: session user passes IsAuthenticated", userOrRead, "", session, allowed},
		{"Or: app token with scope", userOrRead, "", appToken("read"), allowed},
		{"Or: first insufficient_scope wins over permission_denied", userOrRead, "", appToken(), insufficientScope("read")},
		{"Or: custom denial then scope", denyOrRead, "", userToken(), insufficientScope("read")},
		{"Or: custom denial only", permissions.Or(denyAll, permissions.IsAuthenticated()), "", appToken(), permissionDenied(defaultDenied)},
		{"Or: outage is not a refusal", permissions.Or(brokenDB, permissions.AllowAny()), "", userToken(), unavailable},

		{"Not: anonymous allowed", anonOnly, "", anon, allowed},
		{"Not: refused token allowed", anonOnly, "", badToken, allowed},
		{"Not: user refused", anonOnly, "", session, permissionDenied(defaultDenied)},
		{"Not: token user refused", anonOnly, http.MethodPost, userToken(), permissionDenied(defaultDenied)},
		{"Not: app token allowed", anonOnly, "", appToken(), allowed},
		{"Not(AllowAny): anonymous", never, "", anon, notAuthenticated},
		{"Not(AllowAny): refused token", never, "", badToken, invalidToken},
		{"Not(AllowAny): token", never, "", userToken(), permissionDenied(defaultDenied)},
		{"Not: outage is not inverted", permissions.Not(brokenDB), "", userToken(), unavailable},
		{"Not: store outage on token lookup", permissions.Not(permissions.TokenHasScope("admin")), "", outage, unavailable},
		{"Not: lacking scope allowed", permissions.Not(permissions.TokenHasScope("admin")), "", userToken("read"), allowed},
		{"Not: holding scope refused", permissions.Not(permissions.TokenHasScope("admin")), "", userToken("admin"), permissionDenied(defaultDenied)},

		{"nested", permissions.And(permissions.IsAuthenticated(), permissions.Or(permissions.TokenHasScope("admin"), permissions.Not(permissions.TokenHasScope("banned")))), "", userToken("banned"), insufficientScope("admin")},
	})
}

func TestRequire(t *testing.T) {
	t.Parallel()
	realm := userToken()
	realm.realm = "orders"
	anonRealm := creds{realm: "orders"}
	runGuardCasesChain(t, []chainCase{
		{"custom denial, anonymous: 401 as DRF", []permissions.Permission{denyAll}, anon, notAuthenticated},
		{"custom denial, refused token", []permissions.Permission{denyAll}, badToken, invalidToken},
		{"custom denial, authenticated", []permissions.Permission{denyAll}, session, permissionDenied(defaultDenied)},
		{"custom outage", []permissions.Permission{brokenDB}, session, unavailable},
		{"custom plain error: the guard could not tell", []permissions.Permission{permFunc(func(*gin.Context) error { return errors.New("bug") })}, session,
			unavailable},
		{"first refusal wins", []permissions.Permission{permissions.IsAuthenticated(), permissions.TokenHasScope("read")}, appToken(), permissionDenied(noResourceOwner)},
		{"all pass", []permissions.Permission{permissions.IsAuthenticated(), permissions.TokenHasScope("read")}, userToken("read"), allowed},
		{"no permissions", nil, anon, allowed},
		{"realm", []permissions.Permission{permissions.TokenHasScope("read")}, realm,
			want{http.StatusForbidden, `Bearer realm="orders", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="read"`, "insufficient_scope"}},
		{"realm, anonymous", []permissions.Permission{permissions.TokenHasScope("read")}, anonRealm,
			want{http.StatusUnauthorized, `Bearer realm="orders"`, "not_authenticated"}},
	})
}

type chainCase struct {
	name  string
	perms []permissions.Permission
	creds creds
	want  want
}

func runGuardCasesChain(t *testing.T, cases []chainCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check(t, serve(t, http.MethodGet, tc.creds, permissions.Require(tc.perms...)), tc.want)
		})
	}
}

func TestRequireOnGroupAndEndpoint(t *testing.T) {
	t.Parallel()
	tokens := map[string]*resource.TokenInfo{
		"reader": {UserID: "1", Scopes: []string{"read"}},
		"writer": {UserID: "2", Scopes: []string{"read", "write"}},
		"admin":  {UserID: "3", Scopes: []string{"read", "write", "admin"}},
	}
	auth := func(c *gin.Context) {
		if tok, ok := tokens[strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer ")]; ok {
			resource.SetToken(c, tok)
		}
	}
	var mu sync.Mutex
	ran := map[string]int{}
	h := func(name string) gin.HandlerFunc {
		return func(c *gin.Context) {
			mu.Lock()
			ran[name]++
			mu.Unlock()
			c.String(http.StatusOK, "ok")
		}
	}
	r := gin.New()
	api := r.Group("/api", auth)
	api.Use(permissions.Require(permissions.TokenHasReadWriteScope()))
	api.GET("/orders", h("list"))
	api.POST("/orders", h("create"))
	api.DELETE("/orders/:id", permissions.Require(permissions.TokenHasScope("admin")), h("delete"))
	r.GET("/single", auth, permissions.Require(permissions.TokenHasScope("admin")), h("single"))

	for _, tc := range []struct {
		method, path, token string
		want                want
	}{
		{"GET", "/api/orders", "reader", allowed},
		{"GET", "/api/orders", "", notAuthenticated},
		{"POST", "/api/orders", "reader", insufficientScope("write")},
		{"POST", "/api/orders", "writer", allowed},
		{"DELETE", "/api/orders/7", "writer", insufficientScope("admin")},
		{"DELETE", "/api/orders/7", "admin", allowed},
		{"GET", "/single", "writer", insufficientScope("admin")},
		{"GET", "/single", "admin", allowed},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		t.Run(tc.method+" "+tc.path+" "+tc.token, func(t *testing.T) { check(t, w, tc.want) })
	}
	want := map[string]int{"list": 1, "create": 1, "delete": 1, "single": 1}
	if fmt.Sprint(ran) != fmt.Sprint(want) {
		t.Errorf("handlers ran %v, want %v (a refused request must not reach its handler)", ran, want)
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    permissions.Permission
		want string
	}{
		{permissions.AllowAny(), "AllowAny"},
		{permissions.IsAuthenticated(), "IsAuthenticated"},
		{permissions.TokenHasScope("read", "write read"), "TokenHasScope(read write)"},
		{permissions.TokenHasScope(), "TokenHasScope()"},
		{permissions.TokenHasReadWriteScope(), "TokenHasReadWriteScope(safe: read; unsafe: write)"},
		{permissions.TokenHasReadWriteScope("admin"), "TokenHasReadWriteScope(safe: read admin; unsafe: write admin)"},
		{permissions.ReadWriteScope{Write: "edit"}, "TokenHasReadWriteScope(safe: read; unsafe: edit)"},
		{permissions.TokenHasResourceScope("orders", "users"), "TokenHasResourceScope(safe: orders:read users:read; unsafe: orders:write users:write)"},
		{permissions.TokenMatchesOASRequirements(map[string][][]string{
			"post": {{"write", "create"}}, "GET": {{"read"}, {"admin"}}, "DELETE": {{}}, "PUT": {},
		}), "TokenMatchesOASRequirements(DELETE: {}; GET: read | admin; POST: write create)"},
		{permissions.IsAuthenticatedOrTokenHasScope("read"), "IsAuthenticatedOrTokenHasScope(read)"},
		{permissions.And(permissions.IsAuthenticated(), permissions.TokenHasScope("a")), "(IsAuthenticated & TokenHasScope(a))"},
		{permissions.Or(permissions.AllowAny(), permissions.Not(permissions.IsAuthenticated())), "(AllowAny | ~IsAuthenticated)"},
		{permissions.Or(permissions.IsAuthenticated()), "IsAuthenticated"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// --- Registry ---

func newRegistryEngine(t *testing.T) (*gin.Engine, *permissions.Registry) {
	t.Helper()
	r := gin.New()
	r.Use(func(c *gin.Context) {
		switch c.GetHeader("Authorization") {
		case "Bearer reader":
			resource.SetToken(c, &resource.TokenInfo{UserID: "1", Scopes: []string{"read"}})
		case "Bearer writer":
			resource.SetToken(c, &resource.TokenInfo{UserID: "2", Scopes: []string{"read", "write"}})
		case "Bearer admin":
			resource.SetToken(c, &resource.TokenInfo{UserID: "3", Scopes: []string{"read", "write", "admin"}})
		}
	})
	handler := func(c *gin.Context) { c.String(http.StatusOK, "ok") }
	reg := permissions.NewRegistry()
	api := reg.Group(r, "/api", permissions.IsAuthenticated())
	api.GET("/orders", handler)
	writer := api.With(permissions.TokenHasScope("write"))
	writer.POST("/orders", handler).PUT("/orders/:id", handler)
	api.PATCH("/orders/:id", handler) // With did not change api
	admin := api.Group("/admin", permissions.TokenHasScope("admin"))
	admin.DELETE("/orders/:id", handler)
	admin.With(permissions.Not(permissions.TokenHasScope("write"))).HEAD("/", handler)
	nested := writer.Group("/bulk/", permissions.TokenHasScope("read"))
	nested.Handle(http.MethodPost, "import/", handler)
	nested.OPTIONS("", handler)
	pub := reg.Group(r, "/public")
	pub.GET("/health", handler)
	return r, reg
}

func TestRegistryRoutes(t *testing.T) {
	t.Parallel()
	_, reg := newRegistryEngine(t)
	got := reg.Routes()
	want := []permissions.Route{
		{"HEAD", "/api/admin/", []string{"IsAuthenticated", "TokenHasScope(admin)", "~TokenHasScope(write)"}},
		{"DELETE", "/api/admin/orders/:id", []string{"IsAuthenticated", "TokenHasScope(admin)"}},
		{"OPTIONS", "/api/bulk/", []string{"IsAuthenticated", "TokenHasScope(write)", "TokenHasScope(read)"}},
		{"POST", "/api/bulk/import/", []string{"IsAuthenticated", "TokenHasScope(write)", "TokenHasScope(read)"}},
		{"GET", "/api/orders", []string{"IsAuthenticated"}},
		{"POST", "/api/orders", []string{"IsAuthenticated", "TokenHasScope(write)"}},
		{"PATCH", "/api/orders/:id", []string{"IsAuthenticated"}},
		{"PUT", "/api/orders/:id", []string{"IsAuthenticated", "TokenHasScope(write)"}},
		{"GET", "/public/health", nil},
	}
	if len(got) != len(want) {
		t.Fatalf("Routes() has %d routes, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Method != want[i].Method || got[i].Path != want[i].Path || !slices.Equal(got[i].Permissions, want[i].Permissions) {
			t.Errorf("route %d = %v, want %v", i, got[i], want[i])
		}
	}
	// Routes returns a copy.
	got[0].Permissions[0] = "mutated"
	if reg.Routes()[0].Permissions[0] != "IsAuthenticated" {
		t.Error("Routes() shares its slices with the Registry")
	}
}

func TestRegistryEnforces(t *testing.T) {
	t.Parallel()
	r, _ := newRegistryEngine(t)
	for _, tc := range []struct {
		method, path, token string
		want                want
	}{
		{"GET", "/api/orders", "", notAuthenticated},
		{"GET", "/api/orders", "reader", allowed},
		{"POST", "/api/orders", "reader", insufficientScope("write")},
		{"POST", "/api/orders", "writer", allowed},
		{"PUT", "/api/orders/1", "reader", insufficientScope("write")},
		{"PATCH", "/api/orders/1", "reader", allowed},
		{"DELETE", "/api/admin/orders/1", "writer", insufficientScope("admin")},
		{"DELETE", "/api/admin/orders/1", "admin", allowed},
		{"HEAD", "/api/admin/", "admin", permissionDenied(defaultDenied)},
		{"POST", "/api/bulk/import/", "reader", insufficientScope("write")},
		{"POST", "/api/bulk/import/", "writer", allowed},
		{"OPTIONS", "/api/bulk/", "writer", allowed},
		{"GET", "/public/health", "", allowed},
	} {
		t.Run(tc.method+" "+tc.path+" "+tc.token, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if tc.method == http.MethodHead && w.Code == http.StatusOK {
				w.Body.Reset()
				w.Body.WriteString("ok")
			}
			check(t, w, tc.want)
		})
	}
}

func TestRegistryWriteTable(t *testing.T) {
	t.Parallel()
	_, reg := newRegistryEngine(t)
	var b strings.Builder
	if err := reg.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `METHOD   PATH                   PERMISSIONS
HEAD     /api/admin/            IsAuthenticated & TokenHasScope(admin) & ~TokenHasScope(write)
DELETE   /api/admin/orders/:id  IsAuthenticated & TokenHasScope(admin)
OPTIONS  /api/bulk/             IsAuthenticated & TokenHasScope(write) & TokenHasScope(read)
POST     /api/bulk/import/      IsAuthenticated & TokenHasScope(write) & TokenHasScope(read)
GET      /api/orders            IsAuthenticated
POST     /api/orders            IsAuthenticated & TokenHasScope(write)
PATCH    /api/orders/:id        IsAuthenticated
PUT      /api/orders/:id        IsAuthenticated & TokenHasScope(write)
GET      /public/health         (none)
`
	if b.String() != want {
		t.Errorf("WriteTable:\n%s\nwant:\n%s", b.String(), want)
	}
	if err := reg.WriteTable(failingWriter{}); err == nil {
		t.Error("WriteTable to a failing writer returned nil")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestRegistryConcurrent(t *testing.T) {
	t.Parallel()
	reg := permissions.NewRegistry()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			// One engine per goroutine: gin's router is not safe for
			// concurrent registration, the Registry is.
			g := reg.Group(gin.New(), fmt.Sprintf("/g%d", i), permissions.AllowAny())
			for j := range 20 {
				g.GET(fmt.Sprintf("/r%d", j), func(*gin.Context) {})
				_ = reg.Routes()
			}
		})
	}
	wg.Wait()
	for range 8 {
		wg.Go(func() {
			if n := len(reg.Routes()); n != 160 {
				t.Errorf("Routes() has %d routes, want 160", n)
			}
			_ = reg.WriteTable(io.Discard)
		})
	}
	wg.Wait()
}

// --- allocation, benchmark, fuzz ---

func TestCheckDoesNotAllocateWhenAllowing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	session := creds{user: "alice"}
	for _, tc := range []struct {
		p      permissions.Permission
		method string
		cr     creds
	}{
		{permissions.TokenHasScope("read", "write"), "GET", userToken("read", "write")},
		{permissions.TokenHasReadWriteScope("admin"), "POST", userToken("write", "admin")},
		{permissions.TokenHasResourceScope("orders"), "GET", userToken("orders:read")},
		{permissions.TokenMatchesOASRequirements(map[string][][]string{"GET": {{"x"}, {"read"}}}), "GET", userToken("read")},
		{permissions.IsAuthenticated(), "GET", userToken()},
		{permissions.IsAuthenticatedOrTokenHasScope("read"), "GET", session},
		{permissions.Or(permissions.TokenHasScope("admin"), permissions.TokenHasScope("read")), "GET", userToken("read")},
		{permissions.Not(permissions.TokenHasScope("admin")), "GET", userToken("read")},
	} {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(tc.method, "/", nil)
		tc.cr.inject(c)
		h := permissions.Require(tc.p)
		if n := testing.AllocsPerRun(100, func() { h(c) }); n != 0 {
			t.Errorf("%v: %v allocations per allowed request, want 0", tc.p, n)
		}
		if c.IsAborted() {
			t.Errorf("%v refused", tc.p)
		}
	}
}

func BenchmarkRequireTokenHasReadWriteScope(b *testing.B) {
	h := permissions.Require(permissions.TokenHasReadWriteScope())
	for _, bc := range []struct {
		name, method string
	}{
		{"allow", http.MethodGet},
		{"refuse", http.MethodPost},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := gin.CreateTestContext(discardWriter{})
			c.Request = httptest.NewRequest(bc.method, "/", nil)
			resource.SetToken(c, &resource.TokenInfo{UserID: "1", Scopes: []string{"profile", "read"},
				ExpiresAt: time.Now().Add(time.Hour)})
			b.ReportAllocs()
			for b.Loop() {
				h(c)
			}
		})
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// FuzzTokenMatchesOASRequirements checks the normalisation of method keys
// and scope lists against a simple model: construction panics exactly when
// a key is not a method token or a scope entry is blank or invalid, and a
// built guard grants a method exactly the tokens holding the normalised
// scopes.
func FuzzTokenMatchesOASRequirements(f *testing.F) {
	f.Add("GET", "read", "read")
	f.Add("get ", "read write,admin", "admin write")
	f.Add(" Post", "", "")
	f.Add("GE T", "read", "read")
	f.Add("PUT", "read, ", "read")
	f.Add("DELETE", `a"b`, "")
	f.Add("M-SEARCH", "x\ty\nz,x", "z y")
	f.Add("ÿ", "é", "é")
	f.Fuzz(func(t *testing.T, method, scopes, tokenScopes string) {
		if len(method)+len(scopes)+len(tokenScopes) > 4096 {
			t.Skip("the model below is quadratic")
		}
		entries := []string{}
		if scopes != "" {
			entries = strings.Split(scopes, ",")
		}
		m := strings.ToUpper(strings.TrimSpace(method))
		wantPanic := !isToken(m)
		var want []string
		for _, e := range entries {
			fs := strings.Fields(e)
			if len(fs) == 0 {
				wantPanic = true
			}
			for _, s := range fs {
				if !isScopeToken(s) {
					wantPanic = true
				}
				if !slices.Contains(want, s) {
					want = append(want, s)
				}
			}
		}
		var p permissions.Permission
		func() {
			defer func() {
				r := recover()
				if (r != nil) != wantPanic {
					t.Fatalf("TokenMatchesOASRequirements(%q: %q) panic = %v, want panic %v", method, entries, r, wantPanic)
				}
			}()
			p = permissions.TokenMatchesOASRequirements(map[string][][]string{method: {entries}})
		}()
		if wantPanic {
			return
		}
		if !strings.Contains(p.String(), m+":") {
			t.Errorf("String() = %q does not name %s", p.String(), m)
		}
		tok := func(scopes ...string) creds { return userToken(scopes...) }
		if err := checkDirect(p, m, tok(want...)); err != nil {
			t.Errorf("%s with exactly %q: %v", m, want, err)
		}
		if err := checkDirect(p, strings.ToLower(m), tok(want...)); err != nil {
			t.Errorf("%s with exactly %q: %v", strings.ToLower(m), want, err)
		}
		if len(want) > 0 {
			err := checkDirect(p, m, tok(want[:len(want)-1]...))
			var e *oautherr.Error
			if !errors.As(err, &e) || e.Code != "insufficient_scope" || !slices.Equal(e.Scope, want) {
				t.Errorf("%s missing %q: %v, want insufficient_scope naming %q", m, want[len(want)-1], err, want)
			}
		}
		held := strings.Fields(tokenScopes)
		holdsAll := true
		for _, s := range want {
			holdsAll = holdsAll && slices.Contains(held, s)
		}
		if err := checkDirect(p, m, tok(held...)); (err == nil) != holdsAll {
			t.Errorf("%s with %q (want %q): %v", m, held, want, err)
		}
		if err := checkDirect(p, m+"X", tok(want...)); !errors.Is(err, oautherr.ErrPermissionDenied) {
			t.Errorf("unlisted method %sX: %v, want permission_denied", m, err)
		}
	})
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func isScopeToken(s string) bool {
	for _, r := range s {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return false
		}
	}
	return s != ""
}
