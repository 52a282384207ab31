package ginoauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/pages"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
	"github.com/ginoauth/toolkit/permissions"
)

func init() { gin.SetMode(gin.TestMode) }

var testKey = []byte("0123456789abcdef0123456789abcdef")

// cheapHash is a bcrypt hash of "wonderland" at the lowest cost.
var cheapHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// countingStore counts access-token lookups, to prove which requests reach
// the store.
type countingStore struct {
	store.Store
	gets         atomic.Int64
	apps         atomic.Int64 // GetApplication calls
	refreshReads atomic.Int64 // GetRefreshToken calls
	rotations    atomic.Int64 // RotateRefreshToken calls
	inPlace      atomic.Int64 // RotateRefresh calls
	saves        atomic.Int64 // SaveTokens calls
	freshSaves   atomic.Int64 // SaveFreshTokens calls
}

func (s *countingStore) SaveTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	s.saves.Add(1)
	return s.Store.SaveTokens(ctx, at, rt)
}

// SaveFreshTokens forwards to the wrapped store's store.FreshTokenSaver
// (redisstore has one), or to its SaveTokens.
func (s *countingStore) SaveFreshTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	s.freshSaves.Add(1)
	if f, ok := s.Store.(store.FreshTokenSaver); ok {
		return f.SaveFreshTokens(ctx, at, rt)
	}
	return s.Store.SaveTokens(ctx, at, rt)
}

func (s *countingStore) GetRefreshToken(ctx context.Context, k store.Key) (*store.RefreshToken, error) {
	s.refreshReads.Add(1)
	return s.Store.GetRefreshToken(ctx, k)
}

func (s *countingStore) RotateRefreshToken(ctx context.Context, old *store.RefreshToken, retired *store.RetiredRefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	s.rotations.Add(1)
	return s.Store.RotateRefreshToken(ctx, old, retired, at, rt)
}

// The signing keys' methods forward to the wrapped store (memstore and
// redisstore both implement store.SigningKeys), so that OpenID Connect can
// be on.
func (s *countingStore) SaveSigningKey(ctx context.Context, k *store.SigningKey) error {
	return s.Store.(store.SigningKeys).SaveSigningKey(ctx, k)
}

func (s *countingStore) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	return s.Store.(store.SigningKeys).ListSigningKeys(ctx)
}

func (s *countingStore) DeleteSigningKey(ctx context.Context, kid string) error {
	return s.Store.(store.SigningKeys).DeleteSigningKey(ctx, kid)
}

// RotateRefresh forwards to the wrapped store (memstore and redisstore
// both implement store.RefreshRotator), so that the provider under test
// takes the one-round-trip refresh as it would on them.
func (s *countingStore) RotateRefresh(ctx context.Context, old store.Key, req store.RotateRefresh) (*store.RefreshToken, error) {
	s.inPlace.Add(1)
	return s.Store.(store.RefreshRotator).RotateRefresh(ctx, old, req)
}

func (s *countingStore) GetApplication(ctx context.Context, clientID string) (*store.Application, error) {
	s.apps.Add(1)
	return s.Store.GetApplication(ctx, clientID)
}

func (s *countingStore) GetAccessToken(ctx context.Context, k store.Key) (*store.AccessToken, error) {
	s.gets.Add(1)
	return s.Store.GetAccessToken(ctx, k)
}

// env is a provider mounted on a test server with a confidential client
// (password + client_credentials), a public client (password) and a user.
type env struct {
	t        *testing.T
	p        *ginoauth.Provider
	st       *countingStore
	srv      *httptest.Server
	confID   string
	secret   string
	pubID    string
	username string
	password string
}

var storeKinds = []string{"memory", "redis"}

func newStore(t testing.TB, kind string) store.Store {
	if kind == "memory" {
		return memstore.New()
	}
	client, prefix := redistest.Client(t)
	s, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newEnv(t *testing.T, kind string, mod func(*ginoauth.Config)) *env {
	t.Helper()
	e := &env{t: t, st: &countingStore{Store: newStore(t, kind)}, username: "alice", password: "wonderland"}
	cfg := ginoauth.Config{
		Store:         e.st,
		SecretKey:     []byte("0123456789abcdef0123456789abcdef"),
		Scopes:        map[string]string{"read": "Read", "write": "Write", "admin": "Admin"},
		DefaultScopes: []string{"read", "write"},
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := ginoauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	ctx := context.Background()
	// A cheap bcrypt cost keeps the suite fast; CreateUser's own cost is
	// tested in TestCreateUser.
	if err := e.st.CreateUser(ctx, &store.User{ID: "u1", Username: e.username, PasswordHash: cheapHash, IsActive: true}); err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "conf", ClientType: store.Confidential,
		GrantTypes: []string{store.GrantPassword, store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.confID, e.secret = app.ClientID, secret
	pub, _, err := p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "pub", ClientType: store.Public, GrantTypes: []string{store.GrantPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.pubID = pub.ClientID

	e.srv = newServer(t, p)
	return e
}

// newServer serves p's endpoints, its pages, and /api/whoami behind its
// middleware.
func newServer(t *testing.T, p *ginoauth.Provider) *httptest.Server {
	t.Helper()
	r := gin.New()
	p.Mount(r)
	pages.Mount(r, p, pages.Config{})
	api := r.Group("/api", p.Middleware())
	api.GET("/whoami", func(c *gin.Context) {
		tok, ok := resource.TokenFromContext(c)
		if !ok {
			if err := resource.AuthErrorFromContext(c); err != nil {
				resource.AbortWithError(c, err)
				return
			}
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		c.JSON(200, gin.H{"client": tok.ClientID, "user": tok.Username, "scope": scope.Format(tok.Scopes)})
	})
	api.POST("/whoami", func(c *gin.Context) {
		_, ok := resource.TokenFromContext(c)
		c.JSON(200, gin.H{"ok": ok})
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
}

func (r resp) str(k string) string { s, _ := r.body[k].(string); return s }

func (e *env) do(req *http.Request) resp {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL.Path, raw)
		}
	}
	return out
}

// token posts a form to the token endpoint; basic, if not nil, is
// {id, secret} sent with HTTP Basic.
func (e *env) token(form url.Values, basic []string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	return e.do(req)
}

func (e *env) passwordToken(scope string) resp {
	e.t.Helper()
	f := url.Values{"grant_type": {"password"}, "username": {e.username}, "password": {e.password}}
	if scope != "" {
		f.Set("scope", scope)
	}
	r := e.token(f, []string{e.confID, e.secret})
	if r.status != 200 {
		e.t.Fatalf("password grant: status = %d, want 200 (body %v)", r.status, r.body)
	}
	return r
}

func (e *env) get(path, token string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// wantStatus reports, as got/want, an answer whose status is not want
// (the body is shown for context) and returns whether it was want.
func wantStatus(t *testing.T, what string, r resp, want int) bool {
	t.Helper()
	if r.status != want {
		t.Errorf("%s: status = %d, want %d (body %v)", what, r.status, want, r.body)
		return false
	}
	return true
}

// wantField reports, as got/want, an answer whose string member key is not
// want, and returns whether it was.
func wantField(t *testing.T, what string, r resp, key, want string) bool {
	t.Helper()
	if got := r.str(key); got != want {
		t.Errorf("%s: %s = %q, want %q", what, key, got, want)
		return false
	}
	return true
}

// wantError reports an answer that is not the OAuth error code with
// status, one condition a message, and returns whether it was.
func wantError(t *testing.T, what string, r resp, status int, code string) bool {
	t.Helper()
	ok := wantStatus(t, what, r, status)
	return wantField(t, what, r, "error", code) && ok
}

func forEachStore(t *testing.T, f func(t *testing.T, kind string)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, kind)
		})
	}
}

func TestTokenEndpointGrants(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		r := e.passwordToken("")
		wantField(t, "password grant", r, "token_type", "Bearer")
		wantField(t, "password grant", r, "scope", "read write")
		if got, want := r.body["expires_in"], float64(36000); got != want {
			t.Errorf("password grant: expires_in = %v, want %v", got, want)
		}
		for key, prefix := range map[string]string{"access_token": "goat_", "refresh_token": "gort_"} {
			if got := r.str(key); !strings.HasPrefix(got, prefix) {
				t.Errorf("password grant: %s = %q, want prefix %q", key, got, prefix)
			}
		}
		for name, want := range map[string]string{ // RFC 6749 section 5.1
			"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json; charset=utf-8",
		} {
			if got := r.header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("%s = %q, want [%q]", name, got, want)
			}
		}
		w := e.get("/api/whoami", r.str("access_token"))
		wantStatus(t, "whoami", w, 200)
		wantField(t, "whoami", w, "user", "alice")
		wantField(t, "whoami", w, "client", e.confID)

		// client_credentials, credentials in the form, no trailing slash, no refresh token.
		req, _ := http.NewRequest("POST", e.srv.URL+"/o/token", strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "client_id": {e.confID}, "client_secret": {e.secret}, "scope": {"read"},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		cc := e.do(req)
		wantStatus(t, "client_credentials", cc, 200)
		wantField(t, "client_credentials", cc, "scope", "read")
		wantField(t, "client_credentials", cc, "refresh_token", "")
		w = e.get("/api/whoami", cc.str("access_token"))
		wantStatus(t, "whoami with a client token", w, 200)
		wantField(t, "whoami with a client token", w, "user", "")

		// JSON body (DOT's JSONOAuthLibCore), public client by client_id alone.
		body, _ := json.Marshal(map[string]string{"grant_type": "password", "username": "alice", "password": "wonderland", "client_id": e.pubID, "scope": "read"})
		req, _ = http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		j := e.do(req)
		wantStatus(t, "JSON public password grant", j, 200)
		wantField(t, "JSON public password grant", j, "scope", "read")
	})
}

// TestBasicAuthIsFormDecoded: RFC 6749 2.3.1 has the id and secret
// form-urlencoded inside HTTP Basic, as certified clients send them.
func TestBasicAuthIsFormDecoded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	ctx := context.Background()
	app, secret, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{
		ClientID: "my client:1+2", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.token(url.Values{"grant_type": {"client_credentials"}}, []string{app.ClientID, secret})
	wantStatus(t, "percent-encoded Basic id", r, 200)
	// The same id sent raw (not encoded) is another id: "+" decodes to a space.
	req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("my client%3A1+2:"+secret)))
	wantStatus(t, "raw '+' in the Basic id", e.do(req), 401)
}

// TestRepeatedAuthorizationHeader: a request with two Authorization
// headers is invalid_request at every endpoint that authenticates
// clients, as at protected resources: which one counts would be a guess.
func TestRepeatedAuthorizationHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(e.confID+":"+e.secret))
	cc := "grant_type=client_credentials"
	for _, tc := range []struct {
		name, path, body string
		auth             []string
		status           int
		code             string
	}{
		{"one Basic header", "/o/token/", cc, []string{basic}, 200, ""},
		{"the same Basic header twice", "/o/token/", cc, []string{basic, basic}, 400, "invalid_request"},
		{"Basic, then Bearer", "/o/token/", cc, []string{basic, "Bearer abc"}, 400, "invalid_request"},
		{"Bearer, then Basic", "/o/token/", cc, []string{"Bearer abc", basic}, 400, "invalid_request"},
		{"Basic, then empty", "/o/token/", cc, []string{basic, ""}, 400, "invalid_request"},
		{"form credentials and two headers", "/o/token/", cc + "&client_id=" + e.confID + "&client_secret=" + e.secret, []string{"Bearer abc", "Bearer abc"}, 400, "invalid_request"},
		{"revocation", "/o/revoke_token/", "token=goat_x", []string{basic, basic}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, h := range tc.auth {
				req.Header.Add("Authorization", h)
			}
			wantError(t, tc.name, e.do(req), tc.status, tc.code)
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	conf := []string{e.confID, e.secret}
	pw := func(extra ...string) url.Values {
		v := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		raw    string // raw body instead of form
		ctype  string
		basic  []string
		status int
		code   string
	}{
		{"missing grant_type", url.Values{"username": {"a"}}, "", "", conf, 400, "invalid_request"},
		{"repeated parameter", nil, "grant_type=password&grant_type=password&username=alice&password=wonderland", "", conf, 400, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"urn:x"}}, "", "", conf, 400, "unsupported_grant_type"},
		{"implicit is not a grant", url.Values{"grant_type": {"implicit"}}, "", "", conf, 400, "unsupported_grant_type"},
		{"no client", pw(), "", "", nil, 401, "invalid_client"},
		{"unknown client", pw(), "", "", []string{"nope", "x"}, 401, "invalid_client"},
		{"wrong secret", pw(), "", "", []string{e.confID, "wrong"}, 401, "invalid_client"},
		{"confidential without secret", pw("client_id", e.confID), "", "", nil, 401, "invalid_client"},
		{"public with a secret", pw("client_id", e.pubID, "client_secret", "x"), "", "", nil, 401, "invalid_client"},
		{"two auth methods", pw("client_secret", e.secret), "", "", conf, 400, "invalid_request"},
		{"bad password", pw("password", "nope"), "", "", conf, 400, "invalid_grant"},
		{"unknown user", pw("username", "bob"), "", "", conf, 400, "invalid_grant"},
		{"missing password", url.Values{"grant_type": {"password"}, "username": {"alice"}}, "", "", conf, 400, "invalid_request"},
		{"public client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.pubID}}, "", "", nil, 400, "unauthorized_client"},
		{"unknown scope", pw("scope", "read nope"), "", "", conf, 400, "invalid_scope"},
		{"malformed scope", pw("scope", "read\twrite"), "", "", conf, 400, "invalid_scope"},
		{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"gort_xyz"}}, "", "", conf, 400, "invalid_grant"},
		{"missing refresh token", url.Values{"grant_type": {"refresh_token"}}, "", "", conf, 400, "invalid_request"},
		{"bad json", nil, `{"grant_type":`, "application/json", conf, 400, "invalid_request"},
		{"json number", nil, `{"grant_type":"password","username":1}`, "application/json", conf, 400, "invalid_request"},
		{"json repeated grant_type", nil, `{"grant_type":"password","grant_type":"client_credentials"}`, "application/json", conf, 400, "invalid_request"},
		{"json repeated client_id", nil, `{"grant_type":"client_credentials","client_id":"nope","client_id":"` + e.confID + `"}`, "application/json", conf, 400, "invalid_request"},
		{"json repeated, first null", nil, `{"grant_type":"client_credentials","scope":null,"scope":"read"}`, "application/json", conf, 400, "invalid_request"},
		{"json repeated, escaped", nil, `{"grant_type":"password","grant\u005ftype":"client_credentials"}`, "application/json", conf, 400, "invalid_request"},
		{"json object value", nil, `{"grant_type":"client_credentials","scope":{"a":"b"}}`, "application/json", conf, 400, "invalid_request"},
		{"json trailing brace", nil, `{"grant_type":"client_credentials"}}`, "application/json", conf, 400, "invalid_request"},
		{"json trailing bracket", nil, `{"grant_type":"client_credentials"}]`, "application/json", conf, 400, "invalid_request"},
		{"json two objects", nil, `{"grant_type":"client_credentials"} {}`, "application/json", conf, 400, "invalid_request"},
		{"json array", nil, `[{"grant_type":"client_credentials"}]`, "application/json", conf, 400, "invalid_request"},
		{"xml body", nil, `<x/>`, "application/xml", conf, 400, "invalid_request"},
		{"huge body", nil, "grant_type=password&x=" + strings.Repeat("a", 70<<10), "", conf, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if tc.form != nil {
				r = e.token(tc.form, tc.basic)
			} else {
				req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(tc.raw))
				ct := tc.ctype
				if ct == "" {
					ct = "application/x-www-form-urlencoded"
				}
				req.Header.Set("Content-Type", ct)
				req.SetBasicAuth(tc.basic[0], tc.basic[1])
				r = e.do(req)
			}
			wantError(t, tc.name, r, tc.status, tc.code)
			if r.str("error_description") == "" {
				t.Errorf("error_description = %q, want one", r.str("error_description"))
			}
			if got, want := r.header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			if got, want := r.header.Get("WWW-Authenticate"), "Basic realm="; tc.status == 401 && !strings.HasPrefix(got, want) {
				t.Errorf("WWW-Authenticate = %q, want prefix %q", got, want)
			}
		})
	}
}

func TestScopeCeiling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	app, secret, err := e.p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}, AllowedScopes: []string{"read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	creds := []string{app.ClientID, secret}
	r := e.token(url.Values{"grant_type": {"client_credentials"}}, creds)
	wantStatus(t, "defaults under a ceiling", r, 200)
	wantField(t, "defaults under a ceiling", r, "scope", "read")
	r = e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"read write"}}, creds)
	wantError(t, "scope above the ceiling", r, 400, "invalid_scope")
}

// TestGrantNotAllowed: a client that does not list a grant type gets
// unauthorized_client at the token endpoint, before anything else of the
// request (a bogus code, missing credentials) is looked at.
func TestGrantNotAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	ctx := context.Background()
	ccOnly, ccSecret, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	pwOnly, pwSecret, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		form  url.Values
		basic []string
	}{
		{"authorization_code, confidential client without it", url.Values{
			"grant_type": {"authorization_code"}, "code": {"goac_whatever"}, "redirect_uri": {testRedirect}, "code_verifier": {strings.Repeat("a", 43)},
		}, []string{e.confID, e.secret}},
		{"authorization_code, public client without it", url.Values{
			"grant_type": {"authorization_code"}, "code": {"goac_whatever"}, "client_id": {e.pubID}, "code_verifier": {strings.Repeat("a", 43)},
		}, nil},
		{"password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}}, []string{ccOnly.ClientID, ccSecret}},
		{"client_credentials", url.Values{"grant_type": {"client_credentials"}}, []string{pwOnly.ClientID, pwSecret}},
		{"client_credentials, public client", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.pubID}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.token(tc.form, tc.basic)
			if got, want := r.status, http.StatusBadRequest; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := r.str("error"), "unauthorized_client"; got != want {
				t.Errorf("error = %q, want %q (%s)", got, want, r.str("error_description"))
			}
		})
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		first := e.passwordToken("read write")
		refresh := func(rt string, creds []string, scope string) resp {
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			if scope != "" {
				f.Set("scope", scope)
			}
			return e.token(f, creds)
		}
		conf := []string{e.confID, e.secret}

		// Another client's refresh token is invalid_grant, and does not consume it.
		other, otherSecret, _ := e.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword},
		})
		wantError(t, "cross-client refresh", refresh(first.str("refresh_token"), []string{other.ClientID, otherSecret}, ""), 400, "invalid_grant")
		wantError(t, "refresh widening the scope", refresh(first.str("refresh_token"), conf, "read write admin"), 400, "invalid_scope")

		second := refresh(first.str("refresh_token"), conf, "read")
		if !wantStatus(t, "refresh", second, 200) {
			t.FailNow()
		}
		wantField(t, "refresh", second, "scope", "read")
		if got := second.str("refresh_token"); got == first.str("refresh_token") {
			t.Errorf("refresh: refresh_token = %q, want a new one", got)
		}
		wantStatus(t, "the old access token after rotation", e.get("/api/whoami", first.str("access_token")), 401)
		r := e.get("/api/whoami", second.str("access_token"))
		wantStatus(t, "the new access token", r, 200)
		wantField(t, "the new access token", r, "scope", "read")
		wantError(t, "reused refresh token", refresh(first.str("refresh_token"), conf, ""), 400, "invalid_grant")
	})
}

// TestConcurrentRefresh: 20 concurrent refreshes of one token yield exactly
// one new pair (go-oauth2 redeems it more than once).
// TestConcurrentRefresh: 20 concurrent refreshes of one refresh token mint
// exactly one new pair. What the other 19 get depends on the settings: by
// default they are reuses of a rotated token, which revoke the grant, the
// new pair included (RFC 9700 4.14.2); without reuse protection they are
// refused and the pair lives; within a grace period they all get that same
// pair.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mod    func(*ginoauth.Config)
		ok     int  // answers 200, all with the same pair
		usable bool // the pair works afterwards
	}{
		{"reuse protection (default)", nil, 1, false},
		{"no reuse protection", func(c *ginoauth.Config) { c.DisableRefreshTokenReuseProtection = true }, 1, true},
		{"grace period", func(c *ginoauth.Config) { c.RefreshTokenGracePeriod = time.Minute }, 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, kind string) {
				e := newEnv(t, kind, tc.mod)
				rt := e.passwordToken("").str("refresh_token")
				var (
					wg     sync.WaitGroup
					mu     sync.Mutex
					ok     int
					bad    atomic.Int64
					access = map[string]bool{}
					fresh  = map[string]bool{}
				)
				start := make(chan struct{})
				for range 20 {
					wg.Go(func() {
						<-start
						r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, []string{e.confID, e.secret})
						switch {
						case r.status == 200:
							mu.Lock()
							ok++
							access[r.str("access_token")] = true
							fresh[r.str("refresh_token")] = true
							mu.Unlock()
						case r.status == 400 && r.str("error") == "invalid_grant":
							bad.Add(1)
						default:
							t.Errorf("status = %d, error = %q; want 200, or 400 invalid_grant", r.status, r.str("error"))
						}
					})
				}
				close(start)
				wg.Wait()
				if ok != tc.ok {
					t.Errorf("answers 200 = %d, want %d", ok, tc.ok)
				}
				if got, want := int(bad.Load()), 20-tc.ok; got != want {
					t.Errorf("answers invalid_grant = %d, want %d", got, want)
				}
				if len(access) != 1 || len(fresh) != 1 {
					t.Fatalf("distinct pairs handed out: %d access and %d refresh tokens, want 1 and 1", len(access), len(fresh))
				}
				var at string
				for at = range access {
				}
				want := 401
				if tc.usable {
					want = 200
				}
				wantStatus(t, "the new access token afterwards", e.get("/api/whoami", at), want)
			})
		})
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		now := time.Now()
		var clock atomic.Pointer[time.Time]
		clock.Store(&now)
		e := newEnv(t, kind, func(c *ginoauth.Config) {
			c.Now = func() time.Time { return *clock.Load() }
		})
		good := e.passwordToken("").str("access_token")
		forged := "goat_" + strings.Repeat("A", len(good)-5)
		before := e.st.gets.Load()
		for _, tc := range []struct {
			name, header string
			status       int
			challenge    string
		}{
			{"no token", "", 401, `Bearer realm="api"`},
			{"other scheme", "Basic Zm9vOmJhcg==", 401, `Bearer realm="api"`},
			{"forged", "Bearer " + forged, 401, `Bearer realm="api", error="invalid_token", error_description="The access token is invalid, expired or revoked."`},
			{"garbage", "Bearer not-a-token", 401, `Bearer realm="api", error="invalid_token", error_description="The access token is invalid, expired or revoked."`},
			{"malformed header", "Bearer a b", 400, `Bearer realm="api", error="invalid_request", error_description="The bearer token is malformed."`},
			{"two headers", "Bearer " + good + "\nBearer " + good, 400, `Bearer realm="api", error="invalid_request", error_description="More than one Authorization header."`},
			{"lower-case scheme", "bearer " + good, 200, ""},
		} {
			req, _ := http.NewRequest("GET", e.srv.URL+"/api/whoami", nil)
			for h := range strings.SplitSeq(tc.header, "\n") {
				if h != "" {
					req.Header.Add("Authorization", h)
				}
			}
			r := e.do(req)
			wantStatus(t, tc.name, r, tc.status)
			if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("%s: WWW-Authenticate = %q, want %q", tc.name, got, tc.challenge)
			}
		}
		if n := e.st.gets.Load() - before; n != 1 {
			t.Errorf("store lookups = %d; want 1 (forged and malformed tokens must not reach the store)", n)
		}
		// Expired: the provider's clock passes the expiry.
		later := now.Add(ginoauth.DefaultAccessTokenExpire + time.Second)
		clock.Store(&later)
		r := e.get("/api/whoami", good)
		wantStatus(t, "expired token", r, 401)
		if got, want := r.header.Get("WWW-Authenticate"), `error="invalid_token"`; !strings.Contains(got, want) {
			t.Errorf("expired token: WWW-Authenticate = %q, want it to contain %q", got, want)
		}
	})
}

// TestGuardsUseProviderClock: a token valid by the provider's clock
// (Config.Now) passes the permissions guards even when the wall clock has
// passed its expiry: the middleware checks expiry by Config.Now, and the
// guards do not check it again by time.Now. The store keeps the same clock
// (memstore.WithClock), as it would in an application whose clock is not
// the wall clock.
func TestGuardsUseProviderClock(t *testing.T) {
	t.Parallel()
	past := time.Now().Add(-20 * time.Hour)
	clock := func() time.Time { return past }
	p, err := ginoauth.New(ginoauth.Config{
		Store:     memstore.New(memstore.WithClock(clock)),
		Now:       clock,
		SecretKey: testKey,
		Scopes:    map[string]string{"read": "Read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	r.GET("/orders", p.Middleware(), permissions.Require(permissions.TokenHasScope("read")), func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"orders": []string{}})
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv}
	tok := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, []string{app.ClientID, secret})
	if got, want := tok.status, http.StatusOK; got != want {
		t.Fatalf("token status = %d, want %d (body %v)", got, want, tok.body)
	}
	if got, want := tok.body["expires_in"], float64(36000); got != want {
		t.Fatalf("expires_in = %v, want %v (so that by the wall clock the token expired 10 hours ago)", got, want)
	}
	got := e.get("/orders", tok.str("access_token"))
	if want := http.StatusOK; got.status != want {
		t.Errorf("status = %d, want %d (WWW-Authenticate %q)", got.status, want, got.header.Get("WWW-Authenticate"))
	}
}

func TestMiddlewareStoreOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	good := e.passwordToken("").str("access_token")
	down, err := redisstore.New(redistest.Unreachable(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: down, SecretKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	r.GET("/api", p.Middleware(), func(c *gin.Context) { c.String(200, "let through") })
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/api", nil),
		httptest.NewRequest("POST", "/o/token/", strings.NewReader("grant_type=client_credentials&client_id=a&client_secret=b")),
	} {
		req.Header.Set("Authorization", "Bearer "+good)
		if req.Method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Del("Authorization")
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		var body map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		what := req.Method + " " + req.URL.Path + " during an outage"
		if got, want := w.Code, 503; got != want {
			t.Errorf("%s: status = %d, want %d", what, got, want)
		}
		if got, want := body["error"], "temporarily_unavailable"; got != want {
			t.Errorf("%s: error = %q, want %q", what, got, want)
		}
		if got := w.Header().Get("Retry-After"); got == "" {
			t.Errorf("%s: Retry-After = %q, want one", what, got)
		}
	}
}

func TestMiddlewareOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) {
		c.Middleware.TokenFinders = []resource.TokenFinder{resource.TokenFromHeader, resource.TokenFromQuery, resource.TokenFromForm}
		c.Middleware.SkipPaths = []string{"/api/skipped"}
	})
	good := e.passwordToken("").str("access_token")
	wantStatus(t, "query token", e.get("/api/whoami?access_token="+good, ""), 200)
	wantError(t, "token by two methods", e.get("/api/whoami?access_token="+good, good), 400, "invalid_request")
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/whoami", strings.NewReader("access_token="+good))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := e.do(req)
	wantStatus(t, "form token", r, 200)
	if got, want := r.body["ok"], true; got != want {
		t.Errorf("form token: ok = %v, want %v", got, want)
	}
	// By default neither is read.
	off := newEnv(t, "memory", nil)
	tok := off.passwordToken("").str("access_token")
	wantStatus(t, "query token by default", off.get("/api/whoami?access_token="+tok, ""), 401)
}

// TestTwoProviders: no package-level state; two providers in one process
// with different secret keys do not accept each other's tokens, even on
// one store, where only the key tells them apart. With the same key they
// would (as two instances of one server should), which shows the test can
// fail.
func TestTwoProviders(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a := newEnv(t, kind, nil)
		// sharing is a provider on a's store (its clients and users) with key.
		sharing := func(key []byte) *env {
			p, err := ginoauth.New(ginoauth.Config{
				Store: a.st, SecretKey: key,
				Scopes: map[string]string{"read": "Read", "write": "Write", "admin": "Admin"},
			})
			if err != nil {
				t.Fatal(err)
			}
			b := *a
			b.p, b.srv = p, newServer(t, p)
			return &b
		}
		b := sharing([]byte("another key of at least 32 bytes!!"))
		same := sharing(testKey)
		fromA := a.passwordToken("").str("access_token")
		fromB := b.passwordToken("").str("access_token")
		for _, tc := range []struct {
			name   string
			e      *env
			token  string
			status int
		}{
			{"a, its own token", a, fromA, http.StatusOK},
			{"b, its own token", b, fromB, http.StatusOK},
			{"b, a's token", b, fromA, http.StatusUnauthorized},
			{"a, b's token", a, fromB, http.StatusUnauthorized},
			{"a's key, a's token", same, fromA, http.StatusOK},
		} {
			if got := tc.e.get("/api/whoami", tc.token); got.status != tc.status {
				t.Errorf("%s: status = %d, want %d", tc.name, got.status, tc.status)
			}
		}
	})
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	p, err := ginoauth.New(ginoauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := p.CreateUser(ctx, ginoauth.NewUser{Username: "bob.smith@x", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	cost, err := bcrypt.Cost([]byte(u.PasswordHash))
	if err != nil {
		t.Fatalf("bcrypt.Cost of the stored hash: %v", err)
	}
	if want := ginoauth.PasswordCost; cost != want {
		t.Errorf("hash cost = %d, want %d", cost, want)
	}
	users := ginoauth.StoreUsers{Users: p.Store()}
	if _, err := users.Authenticate(ctx, "bob.smith@x", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{{"bob.smith@x", "PW"}, {"bob", "pw"}, {"", ""}} {
		if _, err := users.Authenticate(ctx, bad[0], bad[1]); !errors.Is(err, ginoauth.ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrBadCredentials", bad[0], bad[1], err)
		}
	}
	for _, nu := range []ginoauth.NewUser{
		{Username: "bob.smith@x", Password: "x"}, // taken
		{Username: "a b", Password: "x"},
		{Username: "", Password: "x"},
		{Username: "c", Password: ""},
		{Username: "d", Password: strings.Repeat("x", 73)},
	} {
		if _, err := p.CreateUser(ctx, nu); err == nil {
			t.Errorf("CreateUser(%q) = nil error, want an error", nu.Username)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]ginoauth.Config{
		"short key":             {SecretKey: []byte("short")},
		"unknown default scope": {DefaultScopes: []string{"nope"}},
		"bad scope name":        {Scopes: map[string]string{"a b": ""}},
		"negative lifetime":     {AccessTokenExpire: -time.Second},
		"relative issuer":       {Issuer: "auth.example.com"},
		"issuer with a query":   {Issuer: "https://auth.example.com/?x=1"},
		"issuer with fragment":  {Issuer: "https://auth.example.com/#x"},
		"issuer with a user":    {Issuer: "https://admin@auth.example.com"},
		"issuer of ftp":         {Issuer: "ftp://auth.example.com"},
		"NarrowedScopes alone":  {NarrowedScopes: []string{"write"}},
	} {
		if _, err := ginoauth.New(cfg); err == nil {
			t.Errorf("%s: New = nil error, want an error", name)
		}
	}
	for _, issuer := range []string{"https://auth.example.com", "https://auth.example.com/", "http://localhost:8000"} {
		if _, err := ginoauth.New(ginoauth.Config{Issuer: issuer}); err != nil {
			t.Errorf("New(Issuer %q) = %v, want nil", issuer, err)
		}
	}
}
