package resource_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// testKey is a SecretKey for the tests' providers.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// cheapHash is a bcrypt hash of "wonderland" at the lowest cost.
var cheapHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// remoteAS is the remote authorization server of the resource-server
// tests: a real Provider on the in-process store, mounted on an httptest
// server, with a user and a confidential client.
type remoteAS struct {
	t        *testing.T
	p        *ginoauth.Provider
	srv      *httptest.Server
	clientID string
	secret   string
}

func newRemoteAS(t *testing.T, mod func(*ginoauth.Config)) *remoteAS {
	t.Helper()
	cfg := ginoauth.Config{
		SecretKey:     testKey,
		Scopes:        map[string]string{"read": "Read", "write": "Write", "introspection": "Introspect tokens"},
		DefaultScopes: []string{"read", "write"},
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := ginoauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Store().CreateUser(ctx, &store.User{ID: "u1", Username: "alice", PasswordHash: cheapHash, IsActive: true}); err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "api", ClientType: store.Confidential,
		GrantTypes: []string{store.GrantPassword, store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &remoteAS{t: t, p: p, srv: srv, clientID: app.ClientID, secret: secret}
}

func (as *remoteAS) introspectURL() string { return as.srv.URL + "/o/introspect/" }

// post sends a form to the remote server with the client's credentials.
func (as *remoteAS) post(path string, form url.Values) map[string]any {
	as.t.Helper()
	req, _ := http.NewRequest("POST", as.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(as.clientID), url.QueryEscape(as.secret))
	res, err := as.srv.Client().Do(req)
	if err != nil {
		as.t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &body)
	if res.StatusCode != 200 {
		as.t.Fatalf("POST %s: %d %s", path, res.StatusCode, raw)
	}
	return body
}

// passwordToken returns an access and a refresh token for alice.
func (as *remoteAS) passwordToken(scope string) (string, string) {
	as.t.Helper()
	b := as.post("/o/token/", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "scope": {scope}})
	at, _ := b["access_token"].(string)
	rt, _ := b["refresh_token"].(string)
	return at, rt
}

// clientToken returns a client_credentials access token.
func (as *remoteAS) clientToken(scope string) string {
	as.t.Helper()
	b := as.post("/o/token/", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	at, _ := b["access_token"].(string)
	return at
}

func (as *remoteAS) revoke(token string) {
	as.t.Helper()
	as.post("/o/revoke_token/", url.Values{"token": {token}})
}

// countingTransport counts the calls to the introspection endpoint, and
// can make each one slow.
type countingTransport struct {
	base  http.RoundTripper
	calls atomic.Int64
	delay time.Duration
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return c.base.RoundTrip(r)
}

// logBuffer collects log lines from concurrent goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testClock is an injectable clock.
type testClock struct{ t atomic.Pointer[time.Time] }

func newTestClock() *testClock {
	c := &testClock{}
	c.set(time.Now())
	return c
}

func (c *testClock) now() time.Time        { return *c.t.Load() }
func (c *testClock) set(t time.Time)       { c.t.Store(&t) }
func (c *testClock) add(d time.Duration)   { c.set(c.now().Add(d)) }
func (c *testClock) Now() func() time.Time { return c.now }

// rs is a resource server: a gin engine whose /api routes sit behind
// Authenticate. /api/whoami answers with the token's details (or refuses
// as a guard would); /api/open answers 200 to anyone, to prove the
// middleware itself stops requests during an outage.
type rs struct {
	t *testing.T
	r *gin.Engine
}

func newRS(t *testing.T, v resource.TokenValidator, opts resource.Options) *rs {
	t.Helper()
	r := gin.New()
	api := r.Group("/api", resource.Authenticate(v, opts))
	api.GET("/whoami", whoami)
	api.GET("/open", func(c *gin.Context) { c.String(200, "let through") })
	return &rs{t: t, r: r}
}

func whoami(c *gin.Context) {
	tok, ok := resource.TokenFromContext(c)
	if !ok {
		if err := resource.AuthErrorFromContext(c); err != nil {
			resource.AbortWithError(c, err)
			return
		}
		resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
		return
	}
	out := gin.H{"client": tok.ClientID, "user": tok.Username, "sub": tok.UserID,
		"scope": scope.Format(tok.Scopes), "exp": tok.ExpiresAt.Unix()}
	if u, ok := resource.UserFromContext(c); ok {
		out["loaded"] = u
	}
	c.JSON(200, out)
}

type rsResp struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r rsResp) str(k string) string { s, _ := r.body[k].(string); return s }

func (s *rs) get(path, token string) rsResp {
	s.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.r.ServeHTTP(w, req)
	out := rsResp{status: w.Code, header: w.Header(), raw: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &out.body)
	return out
}

func newIntrospector(t *testing.T, cfg resource.IntrospectionConfig) *resource.Introspector {
	t.Helper()
	in, err := resource.NewIntrospector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// counted gives cfg a transport that counts calls to the endpoint.
func counted(base *http.Client, delay time.Duration) (*http.Client, *countingTransport) {
	tr := &countingTransport{base: base.Transport, delay: delay}
	if tr.base == nil {
		tr.base = http.DefaultTransport
	}
	return &http.Client{Transport: tr}, tr
}

func TestIntrospectorValidToken(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, nil)
	bearer := as.clientToken("introspection")
	for _, tc := range []struct {
		name string
		cfg  resource.IntrospectionConfig
	}{
		{"client credentials", resource.IntrospectionConfig{ClientID: as.clientID, ClientSecret: as.secret}},
		{"bearer token", resource.IntrospectionConfig{BearerToken: bearer}},
		{"client credentials, cached", resource.IntrospectionConfig{ClientID: as.clientID, ClientSecret: as.secret, CacheTTL: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.URL = as.introspectURL()
			s := newRS(t, newIntrospector(t, tc.cfg), resource.Options{})
			at, _ := as.passwordToken("read write")
			r := s.get("/api/whoami", at)
			if r.status != 200 || r.str("user") != "alice" || r.str("sub") != "u1" || r.str("client") != as.clientID || r.str("scope") != "read write" {
				t.Fatalf("user token: %d %s", r.status, r.raw)
			}
			if exp, _ := r.body["exp"].(float64); time.Until(time.Unix(int64(exp), 0)) < time.Hour {
				t.Fatalf("exp %v is not the token's", r.body["exp"])
			}
			ct := as.clientToken("read")
			if r := s.get("/api/whoami", ct); r.status != 200 || r.str("user") != "" || r.str("sub") != "" || r.str("scope") != "read" {
				t.Fatalf("client_credentials token: %d %s", r.status, r.raw)
			}
			for _, bad := range []string{"goat_unknown", at + "x", "nonsense"} {
				if r := s.get("/api/whoami", bad); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Fatalf("token %q: %d %v %s", bad, r.status, r.header, r.raw)
				}
			}
			if r := s.get("/api/whoami", ""); r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="api"` {
				t.Fatalf("no token: %d %v", r.status, r.header)
			}
		})
	}
}

func TestIntrospectorRefusesRefreshToken(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, nil)
	_, rt := as.passwordToken("")
	s := newRS(t, newIntrospector(t, resource.IntrospectionConfig{
		URL: as.introspectURL(), ClientID: as.clientID, ClientSecret: as.secret, CacheTTL: time.Minute,
	}), resource.Options{})
	for range 2 { // the second answer comes from the negative cache
		if r := s.get("/api/whoami", rt); r.status != 401 || r.str("error") != "invalid_token" {
			t.Fatalf("refresh token as bearer: %d %s", r.status, r.raw)
		}
	}
}

func TestIntrospectorRevocation(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, nil)
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{
		{"no cache: refused at once", 0},
		{"cached: refused after CacheTTL", 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			s := newRS(t, newIntrospector(t, resource.IntrospectionConfig{
				URL: as.introspectURL(), ClientID: as.clientID, ClientSecret: as.secret,
				CacheTTL: tc.ttl, Now: clock.Now(),
			}), resource.Options{})
			at, _ := as.passwordToken("")
			if r := s.get("/api/whoami", at); r.status != 200 {
				t.Fatalf("before revocation: %d %s", r.status, r.raw)
			}
			as.revoke(at)
			if tc.ttl > 0 {
				// Within CacheTTL the cached answer stands: that is the
				// trade-off the setting makes.
				clock.add(tc.ttl - time.Second)
				if r := s.get("/api/whoami", at); r.status != 200 {
					t.Fatalf("revoked token within CacheTTL: %d; want the cached 200", r.status)
				}
				clock.add(2 * time.Second)
			}
			if r := s.get("/api/whoami", at); r.status != 401 || r.str("error") != "invalid_token" {
				t.Fatalf("revoked token: %d %s", r.status, r.raw)
			}
		})
	}
}

func TestIntrospectorCaching(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, nil)
	clock := newTestClock()
	client, tr := counted(as.srv.Client(), 0)
	s := newRS(t, newIntrospector(t, resource.IntrospectionConfig{
		URL: as.introspectURL(), ClientID: as.clientID, ClientSecret: as.secret,
		CacheTTL: time.Minute, HTTPClient: client, Now: clock.Now(),
	}), resource.Options{})
	at, _ := as.passwordToken("")
	for i := range 10 {
		if r := s.get("/api/whoami", at); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.raw)
		}
	}
	if n := tr.calls.Load(); n != 1 {
		t.Fatalf("10 requests within CacheTTL made %d calls; want 1", n)
	}
	clock.add(time.Minute)
	if r := s.get("/api/whoami", at); r.status != 200 || tr.calls.Load() != 2 {
		t.Fatalf("after CacheTTL: %d, %d calls; want 200 and a second call", r.status, tr.calls.Load())
	}

	// Negative answers are cached for min(CacheTTL, 5s).
	for range 3 {
		if r := s.get("/api/whoami", "goat_unknown"); r.status != 401 {
			t.Fatalf("unknown token: %d", r.status)
		}
	}
	if n := tr.calls.Load(); n != 3 {
		t.Fatalf("3 requests with an unknown token made %d calls; want 1", n-2)
	}
	clock.add(5 * time.Second)
	s.get("/api/whoami", "goat_unknown")
	if n := tr.calls.Load(); n != 4 {
		t.Fatalf("negative answer reused after 5s (%d calls)", n)
	}
}

func TestIntrospectorConcurrentMisses(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, nil)
	// Each call takes 200ms, so the 20 requests all miss the cache while
	// the first call is in flight; they must share it.
	client, tr := counted(as.srv.Client(), 200*time.Millisecond)
	s := newRS(t, newIntrospector(t, resource.IntrospectionConfig{
		URL: as.introspectURL(), ClientID: as.clientID, ClientSecret: as.secret,
		CacheTTL: time.Minute, HTTPClient: client,
	}), resource.Options{})
	at, _ := as.passwordToken("read")
	var wg sync.WaitGroup
	var ok atomic.Int64
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			if r := s.get("/api/whoami", at); r.status == 200 && r.str("scope") == "read" {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 20 || tr.calls.Load() != 1 {
		t.Fatalf("%d of 20 concurrent requests passed with %d calls; want 20 and 1", ok.Load(), tr.calls.Load())
	}
}

func TestIntrospectorCacheNeverOutlivesExp(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, func(c *ginoauth.Config) { c.AccessTokenExpire = time.Minute })
	clock := newTestClock()
	client, tr := counted(as.srv.Client(), 0)
	s := newRS(t, newIntrospector(t, resource.IntrospectionConfig{
		URL: as.introspectURL(), ClientID: as.clientID, ClientSecret: as.secret,
		CacheTTL: time.Hour, HTTPClient: client, Now: clock.Now(),
	}), resource.Options{})
	at, _ := as.passwordToken("")
	r := s.get("/api/whoami", at)
	if r.status != 200 {
		t.Fatalf("fresh token: %d %s", r.status, r.raw)
	}
	exp := time.Unix(int64(r.body["exp"].(float64)), 0)
	clock.set(exp.Add(-time.Second))
	if r := s.get("/api/whoami", at); r.status != 200 || tr.calls.Load() != 1 {
		t.Fatalf("just before exp: %d with %d calls; want 200 from the cache", r.status, tr.calls.Load())
	}
	// Past exp, by this server's clock: the cached answer is not used, and
	// the remote's "active" (by its own clock) is not believed either.
	clock.set(exp.Add(time.Second))
	if r := s.get("/api/whoami", at); r.status != 401 || r.str("error") != "invalid_token" {
		t.Fatalf("past exp: %d %s", r.status, r.raw)
	}
	if n := tr.calls.Load(); n != 2 {
		t.Fatalf("%d calls; want a second one past exp", n)
	}
}

func TestIntrospectorMaxCacheEntries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"active": true, "scope": "read"}`)
	}))
	t.Cleanup(up.Close)
	in := newIntrospector(t, resource.IntrospectionConfig{
		URL: up.URL, ClientID: "rs", ClientSecret: "s", CacheTTL: time.Hour, MaxCacheEntries: 1,
	})
	for i, tc := range []struct {
		token string
		calls int64
	}{{"a", 1}, {"a", 1}, {"b", 2}, {"b", 2}, {"a", 3}} {
		if _, err := in.Validate(t.Context(), tc.token); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != tc.calls {
			t.Fatalf("step %d (%s): %d calls; want %d", i, tc.token, calls.Load(), tc.calls)
		}
	}
}

// TestIntrospectorRequest checks what goes over the wire (RFC 7662 2.1,
// RFC 6749 2.3.1) and how an answer from another server is read.
func TestIntrospectorRequest(t *testing.T) {
	t.Parallel()
	var got struct {
		sync.Mutex
		method, ctype, auth string
		form                url.Values
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got.Lock()
		got.method, got.ctype, got.auth, got.form = r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.PostForm
		got.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.PostForm.Get("token") {
		case "dpop":
			fmt.Fprint(w, `{"active": true, "token_type": "DPoP"}`)
		case "inactive":
			fmt.Fprint(w, `{"active": false}`)
		default:
			fmt.Fprint(w, `{"active": true, "scope": "read  write read", "client_id": "c", "username": "bob",
				"sub": "42", "token_type": "bearer", "exp": 4102444800.5, "iat": 1700000000, "aud": ["x"]}`)
		}
	}))
	t.Cleanup(up.Close)
	in := newIntrospector(t, resource.IntrospectionConfig{URL: up.URL + "/introspect?realm=x", ClientID: "my client", ClientSecret: "p@ss:w/o+rd"})
	info, err := in.Validate(t.Context(), "tok+en/=")
	if err != nil {
		t.Fatal(err)
	}
	if info.ClientID != "c" || info.Username != "bob" || info.UserID != "42" || scope.Format(info.Scopes) != "read write" ||
		info.ExpiresAt.Unix() != 4102444800 || info.IssuedAt.Unix() != 1700000000 {
		t.Fatalf("info %+v", info)
	}
	got.Lock()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("my+client:p%40ss%3Aw%2Fo%2Brd"))
	if got.method != "POST" || got.ctype != "application/x-www-form-urlencoded" || got.auth != wantAuth ||
		got.form.Get("token") != "tok+en/=" || got.form.Get("token_type_hint") != "access_token" {
		t.Fatalf("request: %s %s %q %v", got.method, got.ctype, got.auth, got.form)
	}
	got.Unlock()
	for _, tok := range []string{"dpop", "inactive", "", strings.Repeat("a", 17<<10)} {
		if _, err := in.Validate(t.Context(), tok); !errors.Is(err, oautherr.ErrInvalidToken) {
			t.Fatalf("token %.10q: %v; want invalid_token", tok, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := in.Validate(ctx, "whatever"); !errors.Is(err, resource.ErrUpstreamUnavailable) {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestIntrospectorUpstreamFailures(t *testing.T) {
	t.Parallel()
	as := newRemoteAS(t, nil)
	at, _ := as.passwordToken("")
	const leak = "upstream-internal-detail"
	fake := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if status/100 == 3 {
				w.Header().Set("Location", "http://elsewhere.example/steal")
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body, so the server notices the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	huge := `{"active": true, "scope": "read", "x": "` + strings.Repeat(leak, 70<<10/len(leak)) + `"}`

	for _, tc := range []struct {
		name, url string
		secret    string
		inLog     string
	}{
		{"down", closed.URL, as.secret, "connect"},
		{"slow", slow.URL, as.secret, "deadline exceeded"},
		{"500", fake(500, `{"error": "`+leak+`"}`), as.secret, "answered 500"},
		{"redirect", fake(302, leak), as.secret, "answered 302"},
		{"garbage JSON", fake(200, `{"active": tru`+leak), as.secret, "not an RFC 7662 JSON object"},
		{"not an object", fake(200, `null`), as.secret, "not an RFC 7662 JSON object"},
		{"no active member", fake(200, `{"scope": "`+leak+`"}`), as.secret, "not an RFC 7662 JSON object"},
		{"bad scope", fake(200, `{"active": true, "scope": "a\tb"}`), as.secret, "scope is malformed"},
		{"huge body", fake(200, huge), as.secret, "over 65536 bytes"},
		{"wrong credentials", as.introspectURL(), "not-the-secret", "answered 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			s := newRS(t, newIntrospector(t, resource.IntrospectionConfig{
				URL: tc.url, ClientID: as.clientID, ClientSecret: tc.secret,
				CacheTTL: time.Minute, Timeout: 200 * time.Millisecond, Logger: logger,
			}), resource.Options{Logger: logger})
			for _, path := range []string{"/api/whoami", "/api/open", "/api/open"} { // twice: failures are not cached
				began := time.Now()
				r := s.get(path, at)
				if r.status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" ||
					r.header.Get("Retry-After") == "" || r.header.Get("WWW-Authenticate") != "" {
					t.Fatalf("%s: %d %v %s; want 503 temporarily_unavailable with Retry-After", path, r.status, r.header, r.raw)
				}
				if strings.Contains(r.raw, leak) || strings.Contains(r.raw, "answered") {
					t.Fatalf("%s: the answer leaks upstream details: %s", path, r.raw)
				}
				if d := time.Since(began); d > 5*time.Second {
					t.Fatalf("%s took %v", path, d)
				}
			}
			log := logs.String()
			if !strings.Contains(log, "token introspection failed") || !strings.Contains(log, tc.inLog) {
				t.Fatalf("log lacks %q:\n%s", tc.inLog, log)
			}
			for _, secret := range []string{at, tc.secret, as.secret, url.QueryEscape(as.secret), leak} {
				if strings.Contains(log, secret) {
					t.Fatalf("log holds a secret, token or upstream body (%.12s...):\n%s", secret, log)
				}
			}
		})
	}
}

func TestErrUpstreamUnavailable(t *testing.T) {
	t.Parallel()
	wrapped := fmt.Errorf("introspecting: %w", resource.ErrUpstreamUnavailable)
	if !errors.Is(wrapped, resource.ErrUpstreamUnavailable) || errors.Is(wrapped, oautherr.ErrInvalidToken) {
		t.Fatal("ErrUpstreamUnavailable must match itself, and not ErrInvalidToken")
	}
	s := newRS(t, stubValidator{err: wrapped}, resource.Options{Logger: slog.New(slog.DiscardHandler)})
	got := s.get("/api/whoami", "sometoken")
	if got.status != 503 || got.header.Get("Retry-After") == "" || !strings.Contains(got.raw, "temporarily_unavailable") {
		t.Fatalf("an upstream outage: got %d %v %s, want 503 temporarily_unavailable with Retry-After", got.status, got.header, got.raw)
	}
}

func TestNewIntrospectorRejectsBadConfig(t *testing.T) {
	t.Parallel()
	good := resource.IntrospectionConfig{URL: "https://auth.example.com/o/introspect/", ClientID: "rs", ClientSecret: "s"}
	if _, err := resource.NewIntrospector(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*resource.IntrospectionConfig)
	}{
		{"empty URL", func(c *resource.IntrospectionConfig) { c.URL = "" }},
		{"relative URL", func(c *resource.IntrospectionConfig) { c.URL = "/o/introspect/" }},
		{"no host", func(c *resource.IntrospectionConfig) { c.URL = "https:///o/introspect/" }},
		{"other scheme", func(c *resource.IntrospectionConfig) { c.URL = "ftp://auth.example.com/" }},
		{"opaque", func(c *resource.IntrospectionConfig) { c.URL = "https:auth.example.com" }},
		{"credentials in URL", func(c *resource.IntrospectionConfig) { c.URL = "https://rs:s@auth.example.com/" }},
		{"fragment", func(c *resource.IntrospectionConfig) { c.URL = "https://auth.example.com/#x" }},
		{"unparsable", func(c *resource.IntrospectionConfig) { c.URL = "https://auth example.com/%zz" }},
		{"no credentials", func(c *resource.IntrospectionConfig) { c.ClientID, c.ClientSecret = "", "" }},
		{"no secret", func(c *resource.IntrospectionConfig) { c.ClientSecret = "" }},
		{"secret alone", func(c *resource.IntrospectionConfig) { c.ClientID = "" }},
		{"both ways", func(c *resource.IntrospectionConfig) { c.BearerToken = "tok" }},
		{"bad bearer", func(c *resource.IntrospectionConfig) {
			c.ClientID, c.ClientSecret, c.BearerToken = "", "", "tok\r\nX-Evil: 1"
		}},
		{"negative TTL", func(c *resource.IntrospectionConfig) { c.CacheTTL = -time.Second }},
		{"negative timeout", func(c *resource.IntrospectionConfig) { c.Timeout = -time.Second }},
		{"negative size", func(c *resource.IntrospectionConfig) { c.MaxCacheEntries = -1 }},
	} {
		cfg := good
		tc.mod(&cfg)
		if _, err := resource.NewIntrospector(cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// stubValidator answers every token with info or err.
type stubValidator struct {
	info *resource.TokenInfo
	err  error
}

func (s stubValidator) Validate(context.Context, string) (*resource.TokenInfo, error) {
	return s.info, s.err
}

// TestAuthenticateContract: TokenValidator's error contract, and the
// Options.
func TestAuthenticateContract(t *testing.T) {
	t.Parallel()
	valid := &resource.TokenInfo{ClientID: "c", UserID: "u1", Username: "alice", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(time.Hour)}
	loader := func(c *gin.Context, id string) (any, error) {
		switch id {
		case "u1":
			return "user one", nil
		case "gone":
			return nil, fmt.Errorf("loading: %w", resource.ErrUserNotFound)
		}
		return nil, errors.New("users database down")
	}
	for _, tc := range []struct {
		name   string
		v      stubValidator
		status int
		want   string // in the body
	}{
		{"valid", stubValidator{info: valid}, 200, `"loaded":"user one"`},
		{"invalid", stubValidator{err: oautherr.ErrInvalidToken.WithDescription("nope")}, 401, "invalid_token"},
		{"store outage", stubValidator{err: fmt.Errorf("x: %w", store.ErrUnavailable)}, 503, "temporarily_unavailable"},
		{"upstream outage", stubValidator{err: fmt.Errorf("x: %w", resource.ErrUpstreamUnavailable)}, 503, "The authorization server is unavailable"},
		{"any other error", stubValidator{err: errors.New("boom")}, 503, "temporarily_unavailable"},
		{"another OAuth error", stubValidator{err: oautherr.ErrInvalidRequest}, 503, "temporarily_unavailable"},
		{"neither token nor error", stubValidator{}, 503, "temporarily_unavailable"},
		{"user gone", stubValidator{info: &resource.TokenInfo{UserID: "gone"}}, 401, "invalid_token"},
		{"user loader down", stubValidator{info: &resource.TokenInfo{UserID: "other"}}, 503, "temporarily_unavailable"},
	} {
		s := newRS(t, tc.v, resource.Options{UserLoader: loader, Logger: slog.New(slog.DiscardHandler)})
		if r := s.get("/api/whoami", "sometoken"); r.status != tc.status || !strings.Contains(r.raw, tc.want) {
			t.Errorf("%s: %d %s; want %d with %q", tc.name, r.status, r.raw, tc.status, tc.want)
		}
		if tc.status == 503 {
			if r := s.get("/api/open", "sometoken"); r.status != 503 {
				t.Errorf("%s: /api/open let through: %d", tc.name, r.status)
			}
		}
	}

	// Options: realm, skipped paths, the query parameter.
	r := gin.New()
	mw := resource.Authenticate(stubValidator{info: valid}, resource.Options{
		Realm: "shop", SkipPaths: []string{"/skipped"},
		TokenFinders: []resource.TokenFinder{resource.TokenFromHeader, resource.TokenFromQuery},
	})
	r.GET("/whoami", mw, whoami)
	r.GET("/skipped", mw, whoami)
	s := &rs{t: t, r: r}
	if got := s.get("/whoami", ""); got.status != 401 || got.header.Get("WWW-Authenticate") != `Bearer realm="shop"` {
		t.Errorf("realm: %d %v", got.status, got.header)
	}
	if got := s.get("/whoami?access_token=abc", ""); got.status != 200 {
		t.Errorf("query token: %d %s", got.status, got.raw)
	}
	if got := s.get("/skipped", "abc"); got.status != 401 {
		t.Errorf("skipped path was authenticated: %d %s", got.status, got.raw)
	}
}

// TestAuthenticateChecksExpiryByOptionsNow: the middleware refuses a
// validator's answer whose ExpiresAt has passed by Options.Now (401
// invalid_token), whatever the wall clock says, so guards never see an
// expired token.
func TestAuthenticateChecksExpiryByOptionsNow(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	for _, tc := range []struct {
		name      string
		now       time.Time // Options.Now
		expiresAt time.Time
		status    int
	}{
		{"expired by Options.Now, not by the wall clock", wall.Add(2 * time.Hour), wall.Add(time.Hour), http.StatusUnauthorized},
		{"expiring at Options.Now", wall.Add(time.Hour), wall.Add(time.Hour), http.StatusUnauthorized},
		{"valid by Options.Now, expired by the wall clock", wall.Add(-2 * time.Hour), wall.Add(-time.Hour), http.StatusOK},
		{"no ExpiresAt", wall, time.Time{}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := &resource.TokenInfo{ClientID: "c", Scopes: []string{"read"}, ExpiresAt: tc.expiresAt}
			s := newRS(t, stubValidator{info: info}, resource.Options{Now: func() time.Time { return tc.now }})
			r := s.get("/api/whoami", "sometoken")
			if r.status != tc.status {
				t.Errorf("status = %d, want %d", r.status, tc.status)
			}
			if tc.status != http.StatusUnauthorized {
				return
			}
			if got, want := r.str("error"), "invalid_token"; got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
			if got, want := r.header.Get("WWW-Authenticate"), `error="invalid_token"`; !strings.Contains(got, want) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, want)
			}
		})
	}
}

// TestAuthenticateWithProvider: Authenticate(provider, options) answers
// every request exactly as provider.Middleware() with the same settings,
// and Provider.Middleware keeps its behaviour (provider_test.go covers it
// further).
func TestAuthenticateWithProvider(t *testing.T) {
	t.Parallel()
	opts := resource.Options{
		Realm:        "shop",
		TokenFinders: []resource.TokenFinder{resource.TokenFromHeader, resource.TokenFromQuery},
		SkipPaths:    []string{"/skipped"},
	}
	as := newRemoteAS(t, func(c *ginoauth.Config) { c.Middleware = opts })
	viaProvider, viaAuthenticate := gin.New(), gin.New()
	for _, e := range []struct {
		r  *gin.Engine
		mw gin.HandlerFunc
	}{{viaProvider, as.p.Middleware()}, {viaAuthenticate, resource.Authenticate(as.p, opts)}} {
		e.r.GET("/whoami", e.mw, whoami)
		e.r.GET("/skipped", e.mw, whoami)
	}
	at, rt := as.passwordToken("read")
	revoked, _ := as.passwordToken("")
	as.revoke(revoked)
	for _, tc := range []struct{ name, path, header string }{
		{"no token", "/whoami", ""},
		{"valid", "/whoami", "Bearer " + at},
		{"query", "/whoami?access_token=" + at, ""},
		{"two methods", "/whoami?access_token=" + at, "Bearer " + at},
		{"revoked", "/whoami", "Bearer " + revoked},
		{"refresh token", "/whoami", "Bearer " + rt},
		{"forged", "/whoami", "Bearer goat_" + strings.Repeat("A", 40)},
		{"malformed", "/whoami", "Bearer a b"},
		{"skipped", "/skipped", "Bearer " + at},
	} {
		var got [2]*httptest.ResponseRecorder
		for i, r := range []*gin.Engine{viaProvider, viaAuthenticate} {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			got[i] = httptest.NewRecorder()
			r.ServeHTTP(got[i], req)
		}
		a, b := got[0], got[1]
		if a.Code != b.Code || a.Body.String() != b.Body.String() || a.Header().Get("WWW-Authenticate") != b.Header().Get("WWW-Authenticate") {
			t.Errorf("%s: Middleware %d %q %s; Authenticate %d %q %s", tc.name,
				a.Code, a.Header().Get("WWW-Authenticate"), a.Body, b.Code, b.Header().Get("WWW-Authenticate"), b.Body)
		}
		if tc.name == "valid" && a.Code != 200 || tc.name == "revoked" && a.Code != 401 {
			t.Errorf("%s: %d %s", tc.name, a.Code, a.Body)
		}
	}
}
