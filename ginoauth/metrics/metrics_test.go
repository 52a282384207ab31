package metrics_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/metrics"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

func init() { gin.SetMode(gin.TestMode) }

var testKey = []byte("0123456789abcdef0123456789abcdef")

// server is a provider with its metrics, mounted with a protected /api.
type server struct {
	t        *testing.T
	reg      *prometheus.Registry
	p        *ginoauth.Provider
	h        http.Handler
	metrics  http.Handler
	clientID string
	secret   string
}

// newServer builds a provider on st (nil: a Redis store of its own) that
// reports to fresh metrics on a registry of its own.
func newServer(t *testing.T, st store.Store, limit ginoauth.RateLimit) *server {
	t.Helper()
	if st == nil {
		client, prefix := redistest.Client(t)
		rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		st = rs
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: testKey, Observer: m, TokenRateLimit: limit,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	r.GET("/api", p.Middleware(), func(c *gin.Context) {
		if _, ok := resource.TokenFromContext(c); !ok {
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		c.String(http.StatusOK, "ok")
	})
	s := &server{t: t, reg: reg, p: p, h: r, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	return s
}

// newClient registers a confidential client for the password and
// client_credentials grants.
func (s *server) newClient() {
	s.t.Helper()
	app, secret, err := s.p.CreateApplication(s.t.Context(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials, store.GrantPassword},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.clientID, s.secret = app.ClientID, secret
}

// post sends a form to path with the client's Basic credentials.
func (s *server) post(path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.clientID, s.secret)
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	return w
}

// token asks for tokens and returns the status and the answer.
func (s *server) token(form url.Values) (int, ginoauth.TokenResponse) {
	s.t.Helper()
	w := s.post("/o/token/", form)
	var resp ginoauth.TokenResponse
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			s.t.Fatal(err)
		}
	}
	return w.Code, resp
}

// api calls /api with token and returns the status.
func (s *server) api(token string) int {
	req := httptest.NewRequest("GET", "/api", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	return w.Code
}

// expect checks, on the registry, the exact values of the metrics named
// in want (Prometheus text format, without HELP and TYPE lines: they are
// added from the registry).
func (s *server) expect(want string, names ...string) {
	s.t.Helper()
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(withMeta(s.t, s.reg, names, want)), names...); err != nil {
		s.t.Error(err)
	}
}

// withMeta prefixes want with the HELP and TYPE lines of names, taken
// from reg, so tests list only samples.
func withMeta(t *testing.T, reg *prometheus.Registry, names []string, want string) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		for _, n := range names {
			if f.GetName() == n {
				b.WriteString("# HELP " + n + " " + f.GetHelp() + "\n")
				b.WriteString("# TYPE " + n + " " + strings.ToLower(f.GetType().String()) + "\n")
			}
		}
	}
	return b.String() + want
}

// TestMetricsThroughHTTP drives a provider over HTTP (issue, validate a
// good and a bad token, revoke, throttle) and checks that each counter
// moved by exactly what was done, on the registry and on a /metrics scrape.
func TestMetricsThroughHTTP(t *testing.T) {
	t.Parallel()
	// PerClient 3: two token requests and the revocation count against it.
	s := newServer(t, nil, ginoauth.RateLimit{PerClient: 3, Window: time.Hour})
	s.newClient()
	cc := url.Values{"grant_type": {"client_credentials"}}

	code, tok := s.token(cc)
	if code != http.StatusOK {
		t.Fatalf("token: got %d, want 200", code)
	}
	if got := s.api(tok.AccessToken); got != http.StatusOK {
		t.Errorf("api with the token: got %d, want 200", got)
	}
	if got := s.api("goat_not-a-token"); got != http.StatusUnauthorized {
		t.Errorf("api with a bad token: got %d, want 401", got)
	}
	if w := s.post("/o/revoke_token/", url.Values{"token": {tok.AccessToken}}); w.Code != http.StatusOK {
		t.Errorf("revoke: got %d, want 200", w.Code)
	}
	if got := s.api(tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("api with the revoked token: got %d, want 401", got)
	}
	if code, _ := s.token(cc); code != http.StatusOK {
		t.Errorf("second token: got %d, want 200", code)
	}
	if code, _ := s.token(cc); code != http.StatusTooManyRequests {
		t.Errorf("third token (the fourth request of the client, PerClient 3): got %d, want 429", code)
	}

	s.expect(`
ginoauth_tokens_issued_total{grant_type="client_credentials"} 2
ginoauth_token_validations_total{result="cache_hit"} 0
ginoauth_token_validations_total{result="invalid"} 2
ginoauth_token_validations_total{result="local"} 0
ginoauth_token_validations_total{result="other"} 0
ginoauth_token_validations_total{result="store_error"} 0
ginoauth_token_validations_total{result="valid"} 1
ginoauth_revocations_total{kind="application"} 0
ginoauth_revocations_total{kind="family"} 0
ginoauth_revocations_total{kind="token"} 1
ginoauth_throttled_requests_total{limit="address"} 0
ginoauth_throttled_requests_total{limit="client"} 1
ginoauth_throttled_requests_total{limit="password"} 0
ginoauth_unavailable_responses_total{endpoint="authorize"} 0
ginoauth_unavailable_responses_total{endpoint="introspect"} 0
ginoauth_unavailable_responses_total{endpoint="resource"} 0
ginoauth_unavailable_responses_total{endpoint="revoke"} 0
ginoauth_unavailable_responses_total{endpoint="token"} 0
ginoauth_refresh_token_reuses_total 0
ginoauth_authorization_code_replays_total 0
`, "ginoauth_tokens_issued_total", "ginoauth_token_validations_total", "ginoauth_revocations_total",
		"ginoauth_throttled_requests_total", "ginoauth_unavailable_responses_total",
		"ginoauth_refresh_token_reuses_total", "ginoauth_authorization_code_replays_total", "ginoauth_store_errors_total")

	// The same through the exposition an operator scrapes.
	w := httptest.NewRecorder()
	s.metrics.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, line := range []string{
		`ginoauth_tokens_issued_total{grant_type="client_credentials"} 2`,
		`ginoauth_token_validations_total{result="valid"} 1`,
		`ginoauth_token_validations_total{result="invalid"} 2`,
		`ginoauth_revocations_total{kind="token"} 1`,
		`ginoauth_throttled_requests_total{limit="client"} 1`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics: no line %q in\n%s", line, body)
		}
	}
	for _, secret := range []string{tok.AccessToken, s.secret, s.clientID} {
		if strings.Contains(string(body), secret) {
			t.Errorf("/metrics holds a token, secret or client_id")
		}
	}
}

// TestRefreshReuseAndFamilyRevocation: a rotated refresh token presented
// again counts one reuse; revoking a refresh token counts one family.
func TestRefreshReuseAndFamilyRevocation(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, ginoauth.RateLimit{})
	s.newClient()
	if _, err := s.p.CreateUser(t.Context(), ginoauth.NewUser{Username: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	code, first := s.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse battery"}})
	if code != http.StatusOK {
		t.Fatalf("password grant: got %d, want 200", code)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}
	code, second := s.token(refresh)
	if code != http.StatusOK {
		t.Fatalf("refresh: got %d, want 200", code)
	}
	if code, _ := s.token(refresh); code != http.StatusBadRequest {
		t.Errorf("reused refresh token: got %d, want 400", code)
	}
	// The reuse revoked the grant; revoke a fresh grant's refresh token.
	_, third := s.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse battery"}})
	if w := s.post("/o/revoke_token/", url.Values{"token": {third.RefreshToken}}); w.Code != http.StatusOK {
		t.Errorf("revoke: got %d, want 200", w.Code)
	}
	_ = second
	s.expect(`
ginoauth_tokens_issued_total{grant_type="password"} 2
ginoauth_tokens_issued_total{grant_type="refresh_token"} 1
ginoauth_refresh_token_reuses_total 1
ginoauth_revocations_total{kind="application"} 0
ginoauth_revocations_total{kind="family"} 1
ginoauth_revocations_total{kind="token"} 0
`, "ginoauth_tokens_issued_total", "ginoauth_refresh_token_reuses_total", "ginoauth_revocations_total")
}

// TestStoreOutage: with Redis unreachable, a token request and a
// protected request answer 503, counted by endpoint, by validation result
// and by the store operation that failed.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	st, err := redisstore.New(redistest.Unreachable(t))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, st, ginoauth.RateLimit{})
	s.clientID, s.secret = "some-client", "some-secret"
	if code, _ := s.token(url.Values{"grant_type": {"client_credentials"}}); code != http.StatusServiceUnavailable {
		t.Errorf("token: got %d, want 503", code)
	}
	// A well-formed token (its tag checks) reaches the store.
	tok := mintWithKey(t)
	if got := s.api(tok); got != http.StatusServiceUnavailable {
		t.Errorf("api: got %d, want 503", got)
	}
	s.expect(`
ginoauth_store_errors_total{operation="GetAccessToken"} 1
ginoauth_store_errors_total{operation="GetApplication"} 1
ginoauth_token_validations_total{result="cache_hit"} 0
ginoauth_token_validations_total{result="invalid"} 0
ginoauth_token_validations_total{result="local"} 0
ginoauth_token_validations_total{result="other"} 0
ginoauth_token_validations_total{result="store_error"} 1
ginoauth_token_validations_total{result="valid"} 0
ginoauth_unavailable_responses_total{endpoint="authorize"} 0
ginoauth_unavailable_responses_total{endpoint="introspect"} 0
ginoauth_unavailable_responses_total{endpoint="resource"} 1
ginoauth_unavailable_responses_total{endpoint="revoke"} 0
ginoauth_unavailable_responses_total{endpoint="token"} 1
`, "ginoauth_store_errors_total", "ginoauth_token_validations_total", "ginoauth_unavailable_responses_total")
}

// mintWithKey returns an access token with a valid tag under testKey,
// issued by a provider on a memory store.
func mintWithKey(t *testing.T) string {
	t.Helper()
	p, err := ginoauth.New(ginoauth.Config{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, p: p}
	r := gin.New()
	p.Mount(r)
	s.h = r
	s.newClient()
	code, tok := s.token(url.Values{"grant_type": {"client_credentials"}})
	if code != http.StatusOK {
		t.Fatalf("token: got %d, want 200", code)
	}
	return tok.AccessToken
}

// TestTwoProvidersTwoRegistries: each provider counts on its own
// registry only.
func TestTwoProvidersTwoRegistries(t *testing.T) {
	t.Parallel()
	a := newServer(t, nil, ginoauth.RateLimit{})
	b := newServer(t, nil, ginoauth.RateLimit{})
	a.newClient()
	b.newClient()
	for range 3 {
		if code, _ := a.token(url.Values{"grant_type": {"client_credentials"}}); code != http.StatusOK {
			t.Fatalf("a: token: got %d, want 200", code)
		}
	}
	code, tok := b.token(url.Values{"grant_type": {"client_credentials"}})
	if code != http.StatusOK {
		t.Fatalf("b: token: got %d, want 200", code)
	}
	b.api(tok.AccessToken)
	a.expect(`
ginoauth_tokens_issued_total{grant_type="client_credentials"} 3
`, "ginoauth_tokens_issued_total")
	b.expect(`
ginoauth_tokens_issued_total{grant_type="client_credentials"} 1
`, "ginoauth_tokens_issued_total")
	if got := testutil.ToFloat64(mustVec(t, a.reg, "ginoauth_token_validations_total", "valid")); got != 0 {
		t.Errorf("a: valid validations: got %v, want 0 (b's)", got)
	}
	if got := testutil.ToFloat64(mustVec(t, b.reg, "ginoauth_token_validations_total", "valid")); got != 1 {
		t.Errorf("b: valid validations: got %v, want 1", got)
	}
}

// mustVec returns the value of name{label} on reg as a gauge, for
// testutil.ToFloat64.
func mustVec(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Gauge {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					g.Set(m.GetCounter().GetValue())
				}
			}
		}
	}
	return g
}

// TestRegisterTwiceFails: one registry cannot hold two Metrics unless
// each is told apart with prometheus.WrapRegistererWith.
func TestRegisterTwiceFails(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg); err == nil {
		t.Error("second New on one registry: got nil error, want a duplicate registration")
	}
	shared := prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		if _, err := metrics.New(prometheus.WrapRegistererWith(prometheus.Labels{"provider": name}, shared)); err != nil {
			t.Errorf("New on a registerer wrapped with provider=%s: %v", name, err)
		}
	}
}

// TestLabelsBounded: a value outside a fixed set is counted as "other",
// never as a new series.
func TestLabelsBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Validation("goat_secret")
	m.Revocation("goat_secret")
	m.Throttled("goat_secret")
	m.Unavailable("goat_secret")
	m.CacheSize(7)
	m.CacheInvalidationLag(3 * time.Millisecond)
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := reg.Gather()
	for _, f := range out {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if strings.Contains(l.GetValue(), "goat_") {
					t.Errorf("%s has label value %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
	if n == 0 {
		t.Error("no metrics gathered")
	}
	if got := testutil.ToFloat64(mustGauge(t, reg, "ginoauth_validation_cache_entries")); got != 7 {
		t.Errorf("cache entries: got %v, want 7", got)
	}
}

func mustGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Gauge {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, f := range families {
		if f.GetName() == name {
			g.Set(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return g
}
