package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// quietRedis drops go-redis's own log lines (the outage tests make its
// connection pool complain).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

// testKey is the secret key of test servers, so that a token one of them
// issues passes another's checksum (the outage tests need that).
var testKey = bytes.Repeat([]byte{0x42}, 32)

// testServer is a demo app behind httptest.NewServer.
type testServer struct {
	*app
	t   *testing.T
	url string
}

type clientCreds struct{ id, secret string }

type userCreds struct{ username, password string }

// testLogger logs warnings and errors to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newTestServer starts a demo app on a Redis of its own (redistest: the
// REDIS_URL server under a fresh prefix, or a miniredis), with mods applied
// to its options.
func newTestServer(t *testing.T, mods ...func(*options)) *testServer {
	t.Helper()
	return startApp(t, testOptions(t, mods...))
}

// testOptions are the options of a test server on a Redis of its own,
// with mods applied.
func testOptions(t *testing.T, mods ...func(*options)) options {
	t.Helper()
	client, prefix := redistest.Client(t)
	rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	o := options{
		Store:     rs,
		Snippets:  snippets.NewRedis(client, prefix),
		SecretKey: testKey,
		Logger:    testLogger(t),
	}
	for _, m := range mods {
		m(&o)
	}
	return o
}

// startApp starts a demo app with exactly o.
func startApp(t *testing.T, o options) *testServer {
	t.Helper()
	a, err := newApp(o)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)
	return &testServer{app: a, t: t, url: srv.URL}
}

func randomString(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newUser creates a user with a random password.
func (s *testServer) newUser(username string) userCreds {
	s.t.Helper()
	pw := randomString(s.t)
	if _, err := s.provider.CreateUser(context.Background(), ginoauth.NewUser{
		Username: username, Password: pw, Email: username + "@example.com",
		FirstName: strings.ToUpper(username[:1]) + username[1:], LastName: "Tester",
	}); err != nil {
		s.t.Fatalf("CreateUser(%s): %v", username, err)
	}
	return userCreds{username, pw}
}

// newClient registers an application; id may be empty for a generated one.
func (s *testServer) newClient(id string, ct store.ClientType, grants ...string) clientCreds {
	s.t.Helper()
	app, secret, err := s.provider.CreateApplication(context.Background(), ginoauth.NewApplication{
		Name: "test " + string(ct), ClientType: ct, GrantTypes: grants, ClientID: id,
	})
	if err != nil {
		s.t.Fatalf("CreateApplication: %v", err)
	}
	return clientCreds{app.ClientID, secret}
}

// result is an HTTP answer, body read.
type result struct {
	status int
	header http.Header
	body   []byte
}

// obj decodes the body as a JSON object.
func (r result) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object (status %d): %v: %s", r.status, err, r.body)
	}
	return m
}

// errCode is the "error" member of a JSON error body.
func (r result) errCode(t *testing.T) string {
	t.Helper()
	s, _ := r.obj(t)["error"].(string)
	return s
}

// str is a string member of the JSON object body.
func (r result) str(t *testing.T, name string) string {
	t.Helper()
	s, _ := r.obj(t)[name].(string)
	return s
}

// wantStatus fails the test unless the answer has that status.
func (r result) wantStatus(t *testing.T, status int) result {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

// wantError checks status, JSON error code and a JSON content type.
func (r result) wantError(t *testing.T, status int, code string) result {
	t.Helper()
	r.wantStatus(t, status)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if got := r.errCode(t); got != code {
		t.Errorf("error = %q, want %q; body: %s", got, code, r.body)
	}
	return r
}

// do sends a request; hdr holds extra headers ("Authorization", ...).
func (s *testServer) do(method, path string, hdr map[string]string, body string) result {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

// api calls a resource endpoint with a bearer token (none if empty) and a
// JSON body (none if empty).
func (s *testServer) api(method, path, token, body string) result {
	s.t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	if body != "" {
		hdr["Content-Type"] = "application/json"
	}
	return s.do(method, path, hdr, body)
}

// basic is an HTTP Basic Authorization value with id and secret
// form-encoded first, as RFC 6749 section 2.3.1 says.
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// tokenForm posts a form-encoded token request; auth is an Authorization
// value or "".
func (s *testServer) tokenForm(auth string, form url.Values) result {
	s.t.Helper()
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if auth != "" {
		hdr["Authorization"] = auth
	}
	return s.do(http.MethodPost, tokenPath, hdr, form.Encode())
}

// tokens is a successful token answer.
type tokens struct {
	access, refresh, scope string
}

// wantTokens checks a successful token answer (RFC 6749 5.1) and returns
// its tokens.
func (r result) wantTokens(t *testing.T) tokens {
	t.Helper()
	r.wantStatus(t, http.StatusOK)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	m := r.obj(t)
	if m["token_type"] != "Bearer" {
		t.Errorf("token_type = %v, want Bearer", m["token_type"])
	}
	if _, ok := m["expires_in"].(float64); !ok {
		t.Errorf("expires_in = %v, want a number", m["expires_in"])
	}
	tk := tokens{access: r.str(t, "access_token"), refresh: r.str(t, "refresh_token"), scope: r.str(t, "scope")}
	if tk.access == "" {
		t.Fatalf("no access_token in %s", r.body)
	}
	return tk
}

// passwordToken gets tokens with the password grant, Basic client auth.
func (s *testServer) passwordToken(c clientCreds, u userCreds, scope string) tokens {
	s.t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {u.username}, "password": {u.password}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return s.tokenForm(basic(c.id, c.secret), form).wantTokens(s.t)
}

// clientToken gets a token with the client_credentials grant.
func (s *testServer) clientToken(c clientCreds, scope string) tokens {
	s.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return s.tokenForm(basic(c.id, c.secret), form).wantTokens(s.t)
}

// refresh uses a refresh token.
func (s *testServer) refresh(c clientCreds, refreshToken string) result {
	s.t.Helper()
	return s.tokenForm(basic(c.id, c.secret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// fixture is a server with the usual cast: a confidential client allowed
// the password and client_credentials grants, and a user.
type fixture struct {
	*testServer
	conf  clientCreds
	alice userCreds
}

func newFixture(t *testing.T, mods ...func(*options)) *fixture {
	t.Helper()
	s := newTestServer(t, mods...)
	return &fixture{
		testServer: s,
		conf:       s.newClient("", store.Confidential, store.GrantPassword, store.GrantClientCredentials),
		alice:      s.newUser("alice"),
	}
}

// clock is a settable clock for Config.Now.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
