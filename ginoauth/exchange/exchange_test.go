package exchange_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/exchange"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

func init() { gin.SetMode(gin.TestMode) }

// secretBody is what the fake upstream puts in every error answer: it must
// never reach a client of the provider.
const secretBody = "UPSTREAM-INTERNAL-DETAIL"

// upstream is a fake social site: tokens "tok-alice", "tok-bob",
// "tok-stale" and "tok-thirdparty" (alice's, held by another application)
// are valid, every other token is refused with 401; its introspection
// endpoint says "tok-stale" is inactive, and names each token's upstream
// client (clients).
type upstream struct {
	srv   *httptest.Server
	calls atomic.Int64
	// elsewhere is where the upstream's redirects point: it answers any
	// request with alice's details, active, and counts them.
	elsewhere      *httptest.Server
	elsewhereCalls atomic.Int64
}

var profiles = map[string]map[string]any{
	"tok-alice": {"id": 42, "username": "alice", "email": "alice@social.example", "first_name": "Alice", "last_name": "Liddell"},
	"tok-bob":   {"id": "b-7", "username": "bob", "email": "bob@social.example"},
	"tok-stale": {"id": "s-1", "username": "stale"},
	// alice's grant to a third-party application at the upstream.
	"tok-thirdparty": {"id": 42, "username": "alice", "email": "alice@social.example"},
}

// clients is what the fake introspection says of each token's client:
// client_id and aud members of its answer.
var clients = map[string]map[string]any{
	"tok-alice":      {"client_id": "app-1"},
	"tok-bob":        {"client_id": "app-2", "aud": []string{"api", "app-1"}},
	"tok-stale":      {"client_id": "app-1"},
	"tok-thirdparty": {"client_id": "evil-app", "aud": "evil-app"},
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.elsewhere = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.elsewhereCalls.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"active": true, "id": 42, "username": "alice", "client_id": "app-1"})
	}))
	t.Cleanup(u.elsewhere.Close)
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) map[string]any {
		u.calls.Add(1)
		p := profiles[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		if p == nil {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"detail":"`+secretBody+`"}`)
		}
		return p
	}
	mux.HandleFunc("GET /user_details/", func(w http.ResponseWriter, r *http.Request) {
		if p := auth(w, r); p != nil {
			json.NewEncoder(w).Encode(p)
		}
	})
	// The lookup by username answers for the token's own user only, 404
	// for anyone else, as it must.
	mux.HandleFunc("GET /user_details_by_username/{username}/", func(w http.ResponseWriter, r *http.Request) {
		p := auth(w, r)
		if p == nil {
			return
		}
		if p["username"] != r.PathValue("username") {
			http.Error(w, secretBody, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(p)
	})
	// Misbehaving lookups: one ignores the username and answers the
	// token's user; one answers without a username.
	mux.HandleFunc("GET /ignores_username/{username}/", func(w http.ResponseWriter, r *http.Request) {
		if p := auth(w, r); p != nil {
			json.NewEncoder(w).Encode(p)
		}
	})
	mux.HandleFunc("GET /no_username/{username}/", func(w http.ResponseWriter, r *http.Request) {
		if p := auth(w, r); p != nil {
			json.NewEncoder(w).Encode(map[string]any{"id": p["id"]})
		}
	})
	// A token-info endpoint (as Google's): the user, and the token's
	// client as azp.
	mux.HandleFunc("GET /tokeninfo/", func(w http.ResponseWriter, r *http.Request) {
		if p := auth(w, r); p != nil {
			info := maps.Clone(p)
			info["azp"] = clients[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]["client_id"]
			json.NewEncoder(w).Encode(info)
		}
	})
	mux.HandleFunc("GET /forbidden/", func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		http.Error(w, secretBody, http.StatusForbidden)
	})
	mux.HandleFunc("GET /status/{code}/", func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		code := map[string]int{"500": 500, "502": 502, "404": 404, "302": 302, "400": 400}[r.PathValue("code")]
		if code == 302 {
			w.Header().Set("Location", u.elsewhere.URL+"/user_details/")
		}
		w.WriteHeader(code)
		io.WriteString(w, secretBody)
	})
	mux.HandleFunc("GET /slow/", func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /notjson/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>"+secretBody+"</html>")
	})
	mux.HandleFunc("GET /array/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `["`+secretBody+`"]`)
	})
	mux.HandleFunc("GET /noid/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"username":"`+secretBody+`"}`)
	})
	mux.HandleFunc("GET /big/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":1,"pad":"`+strings.Repeat("x", 70<<10)+`"}`)
	})
	mux.HandleFunc("GET /nested/", func(w http.ResponseWriter, r *http.Request) {
		if p := auth(w, r); p != nil {
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"uid": p["id"], "login": p["username"]}})
		}
	})
	mux.HandleFunc("POST /introspect/", func(w http.ResponseWriter, r *http.Request) {
		if id, sec, _ := r.BasicAuth(); id != "rs" || sec != "rs-secret" {
			http.Error(w, secretBody, http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		tok := r.PostForm.Get("token")
		answer := map[string]any{"active": profiles[tok] != nil && tok != "tok-stale"}
		maps.Copy(answer, clients[tok])
		json.NewEncoder(w).Encode(answer)
	})
	// 307 keeps the method and the body: following it would post the
	// token elsewhere.
	mux.HandleFunc("POST /introspect_redirect/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, u.elsewhere.URL+"/introspect/", http.StatusTemporaryRedirect)
	})
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) backends() []exchange.Backend {
	b := func(name, path string) exchange.Backend {
		return exchange.Backend{Name: name, UserDetailsURL: u.srv.URL + path, AnyClient: true}
	}
	intro := b("introspected", "/user_details/")
	intro.IntrospectionURL, intro.IntrospectionClientID, intro.IntrospectionClientSecret = u.srv.URL+"/introspect/", "rs", "rs-secret"
	intro.AnyClient, intro.AllowedClientIDs = false, []string{"app-1"}
	introBad := intro
	introBad.Name, introBad.IntrospectionClientSecret = "introspected_badcreds", "wrong"
	introRedirect := intro
	introRedirect.Name, introRedirect.IntrospectionURL = "introspection_redirect", u.srv.URL+"/introspect_redirect/"
	tokeninfo := b("tokeninfo", "/tokeninfo/")
	tokeninfo.AnyClient, tokeninfo.AllowedClientIDs, tokeninfo.ClientIDField = false, []string{"app-1", "app-2"}, "azp"
	nested := b("nested", "/nested/")
	nested.IDField, nested.UsernameField, nested.UsernamePrefix = "data.uid", "data.login", "n_"
	return []exchange.Backend{
		b("fake_social_site", "/user_details/"),
		b("fake_social_site_with_params", "/user_details_by_username/{username}/"),
		b("ignores_username", "/ignores_username/{username}/"), b("no_username", "/no_username/{username}/"),
		b("forbidden", "/forbidden/"),
		b("s500", "/status/500/"), b("s502", "/status/502/"), b("s404", "/status/404/"),
		b("s302", "/status/302/"), b("s400", "/status/400/"),
		b("slow", "/slow/"), b("notjson", "/notjson/"), b("array", "/array/"), b("noid", "/noid/"), b("big", "/big/"),
		b("down", "/user_details/"), // its URL is replaced below by a closed port
		intro, introBad, introRedirect, nested, tokeninfo,
	}
}

// env is a provider with the exchange grants behind a test server, a
// confidential client and a public client allowed them.
type env struct {
	t              *testing.T
	p              *ginoauth.Provider
	up             *upstream
	srv            *httptest.Server
	st             store.Store
	confID, secret string
	pubID          string
	logs           *bytes.Buffer
}

func newStore(t *testing.T, kind string) store.Store {
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

func newEnv(t *testing.T, kind string, mod func(*exchange.Config)) *env {
	t.Helper()
	e := &env{t: t, up: newUpstream(t), st: newStore(t, kind), logs: &bytes.Buffer{}}
	backends := e.up.backends()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for i := range backends {
		if backends[i].Name == "down" {
			backends[i].UserDetailsURL = closed.URL + "/user_details/"
		}
	}
	var mu sync.Mutex
	cfg := exchange.Config{
		Backends:       backends,
		DefaultBackend: "fake_social_site",
		Timeout:        300 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(lockedWriter{&mu, e.logs}, nil)),
		Links:          e.st.(store.SocialLinks), // what nil means; set so that mod may wrap it
	}
	if mod != nil {
		mod(&cfg)
	}
	grants, err := exchange.GrantTypes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{
		Store:         e.st,
		SecretKey:     []byte("0123456789abcdef0123456789abcdef"),
		Scopes:        map[string]string{"read": "Read", "write": "Write"},
		DefaultScopes: []string{"read", "write"},
		GrantTypes:    grants,
		Logger:        slog.New(slog.NewTextHandler(lockedWriter{&mu, e.logs}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	ctx := context.Background()
	kinds := []string{exchange.GrantConvertToken, exchange.GrantTokenExchange}
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{Name: "conf", ClientType: store.Confidential, GrantTypes: kinds})
	if err != nil {
		t.Fatal(err)
	}
	e.confID, e.secret = app.ClientID, secret
	pub, _, err := p.CreateApplication(ctx, ginoauth.NewApplication{Name: "pub", ClientType: store.Public, GrantTypes: kinds})
	if err != nil {
		t.Fatal(err)
	}
	e.pubID = pub.ClientID
	r := gin.New()
	p.Mount(r)
	r.GET("/api/whoami", p.Middleware(), func(c *gin.Context) {
		tok, ok := resource.TokenFromContext(c)
		if !ok {
			resource.AbortWithError(c, oautherr.ErrNotAuthenticated)
			return
		}
		c.JSON(200, gin.H{"user": tok.Username, "user_id": tok.UserID, "scope": scope.Format(tok.Scopes)})
	})
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

type resp struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r resp) str(k string) string { s, _ := r.body[k].(string); return s }

func (e *env) post(form url.Values, creds bool) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if creds {
		req.SetBasicAuth(e.confID, e.secret)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) resp {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("body is not JSON: %q", raw)
		}
	}
	return out
}

func (e *env) whoami(token string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return e.do(req)
}

func convert(backend, token string) url.Values {
	return url.Values{"grant_type": {exchange.GrantConvertToken}, "backend": {backend}, "token": {token}}
}

func rfc8693(token string) url.Values {
	return url.Values{"grant_type": {exchange.GrantTokenExchange}, "subject_token": {token}, "subject_token_type": {exchange.TokenTypeAccessToken}}
}

func TestConvertToken(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind, nil)
			r := e.post(convert("fake_social_site", "tok-alice"), true)
			if r.status != 200 || r.str("access_token") == "" || r.str("refresh_token") == "" || r.str("scope") != "read write" {
				t.Fatalf("convert_token: %d %v", r.status, r.body)
			}
			if r.str("issued_token_type") != "" {
				t.Fatalf("convert_token answered issued_token_type %q", r.str("issued_token_type"))
			}
			w := e.whoami(r.str("access_token"))
			if w.status != 200 || w.str("user") != "alice" {
				t.Fatalf("whoami: %d %v", w.status, w.body)
			}
			ctx := context.Background()
			u, err := e.st.GetUser(ctx, w.str("user_id"))
			if err != nil {
				t.Fatal(err)
			}
			if u.Email != "alice@social.example" || u.FirstName != "Alice" || u.LastName != "Liddell" || !u.IsActive {
				t.Fatalf("created user %+v", u)
			}
			// The local user cannot log in with a password.
			if _, err := (ginoauth.StoreUsers{Users: e.st}).Authenticate(ctx, "alice", ""); err == nil {
				t.Fatal("the social user logged in with an empty password")
			}
			if !strings.HasPrefix(u.PasswordHash, "!") {
				t.Fatalf("password hash %q is not unusable", u.PasswordHash)
			}
			linked, err := e.st.(store.SocialLinks).GetSocialUser(ctx, "fake_social_site", "42")
			if err != nil || linked != u.ID {
				t.Fatalf("link: %q, %v; want %q", linked, err, u.ID)
			}

			// Again, and through the with-params backend and RFC 8693: the
			// same local user, not a new one. (The with-params backend is
			// another provider name, so another link, another user.)
			r2 := e.post(convert("fake_social_site", "tok-alice"), true)
			if w2 := e.whoami(r2.str("access_token")); w2.str("user_id") != u.ID {
				t.Fatalf("second exchange: user %v, want %s", w2.body, u.ID)
			}
			x := e.post(rfc8693("tok-alice"), true)
			if x.status != 200 || x.str("issued_token_type") != exchange.TokenTypeAccessToken || x.str("token_type") != "Bearer" {
				t.Fatalf("RFC 8693: %d %v", x.status, x.body)
			}
			if w3 := e.whoami(x.str("access_token")); w3.str("user_id") != u.ID {
				t.Fatalf("RFC 8693 exchange: user %v, want %s", w3.body, u.ID)
			}
			// Without RevokeEarlierTokens, earlier tokens live on.
			if w := e.whoami(r.str("access_token")); w.status != 200 {
				t.Fatalf("first token after later exchanges: %d", w.status)
			}
			// Its refresh token works.
			rf := e.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}}, true)
			if rf.status != 200 {
				t.Fatalf("refresh: %d %v", rf.status, rf.body)
			}
		})
	}
}

func TestWithParamsBackend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	f := convert("fake_social_site_with_params", "tok-alice")
	f.Set("username", "alice")
	r := e.post(f, true)
	if r.status != 200 {
		t.Fatalf("with params: %d %v", r.status, r.body)
	}
	if w := e.whoami(r.str("access_token")); w.str("user") != "alice" {
		t.Fatalf("with params: user %v, want alice", w.body)
	}
	// The upstream answers 404 for any other user, known or not.
	for _, other := range []string{"bob", "nobody"} {
		f.Set("username", other)
		if r := e.post(f, true); r.status != 400 || r.str("error") != "invalid_grant" || strings.Contains(r.raw, secretBody) {
			t.Fatalf("username %s with alice's token: %d %s", other, r.status, r.raw)
		}
	}
	for _, bad := range []string{"", "a/b", "..", ".", "a b", "a%2Fb", "é", strings.Repeat("a", 151)} {
		f.Set("username", bad)
		if r := e.post(f, true); r.status != 400 || r.str("error") != "invalid_request" {
			t.Errorf("username %q: %d %v", bad, r.status, r.body)
		}
	}
}

// TestWithParamsCrossCheck: a {username} backend whose answer names
// another user than requested, or none, is refused.
func TestWithParamsCrossCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	for _, tc := range []struct{ backend, username string }{
		{"ignores_username", "bob"},   // answers alice for bob
		{"ignores_username", "Alice"}, // exact match only
		{"no_username", "alice"},      // says nothing of whom
	} {
		f := convert(tc.backend, "tok-alice")
		f.Set("username", tc.username)
		if r := e.post(f, true); r.status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("%s, username %s: %d %v", tc.backend, tc.username, r.status, r.body)
		}
	}
	// The same backend answering for the requested user is accepted.
	f := convert("ignores_username", "tok-alice")
	f.Set("username", "alice")
	if r := e.post(f, true); r.status != 200 {
		t.Fatalf("ignores_username, username alice: %d %v", r.status, r.body)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "another username") || strings.Contains(logs, "tok-alice") {
		t.Errorf("logs:\n%s", logs)
	}
}

// TestIntrospectionInactive: a token the introspection endpoint says is
// inactive is refused without asking for the user details, even though
// they would answer.
func TestIntrospectionInactive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	if r := e.post(convert("fake_social_site", "tok-stale"), true); r.status != 200 {
		t.Fatalf("tok-stale without introspection: %d %v", r.status, r.body)
	}
	before := e.up.calls.Load()
	x := rfc8693("tok-stale")
	x.Set("audience", "introspected")
	for _, f := range []url.Values{convert("introspected", "tok-stale"), x} {
		if r := e.post(f, true); r.status != 400 || r.str("error") != "invalid_grant" || r.str("access_token") != "" {
			t.Errorf("%s, introspection inactive: %d %v", f.Get("grant_type"), r.status, r.body)
		}
	}
	if n := e.up.calls.Load() - before; n != 0 {
		t.Errorf("an inactive token made %d user-details calls", n)
	}
	if r := e.post(convert("introspected", "tok-alice"), true); r.status != 200 {
		t.Fatalf("active token: %d %v", r.status, r.body)
	}
}

// TestInactiveUser: an upstream account linked to an inactive local user
// gets no tokens.
func TestInactiveUser(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind, nil)
			ctx := context.Background()
			u := &store.User{ID: "inactive-alice", Username: "alice", PasswordHash: "!unusable", IsActive: false, DateJoined: time.Now().UTC().Truncate(time.Second)}
			if err := e.st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := e.st.(store.SocialLinks).LinkSocialUser(ctx, "fake_social_site", "42", u.ID); err != nil {
				t.Fatal(err)
			}
			for _, f := range []url.Values{convert("fake_social_site", "tok-alice"), rfc8693("tok-alice")} {
				if r := e.post(f, true); r.status != 400 || r.str("error") != "invalid_grant" || r.str("access_token") != "" {
					t.Errorf("%s for an inactive user: %d %v", f.Get("grant_type"), r.status, r.body)
				}
			}
			grants, err := e.st.ListGrants(ctx, store.GrantFilter{UserID: u.ID})
			if err != nil || len(grants) != 0 {
				t.Fatalf("the inactive user has grants %v, %v", grants, err)
			}
			// Another account is unaffected.
			if r := e.post(convert("fake_social_site", "tok-bob"), true); r.status != 200 {
				t.Fatalf("active user: %d %v", r.status, r.body)
			}
		})
	}
}

// TestNoRedirects: the default client follows no redirect, of the user
// details or of introspection, so the token goes nowhere but the
// configured URLs; a redirect is an upstream failure. The redirects point
// to a server that would answer with a valid user.
func TestNoRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	for _, backend := range []string{"s302", "introspection_redirect"} {
		r := e.post(convert(backend, "tok-alice"), true)
		if r.status != 503 || r.str("error") != "temporarily_unavailable" {
			t.Errorf("%s: %d %v", backend, r.status, r.body)
		}
	}
	if n := e.up.elsewhereCalls.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
	// A client that follows redirects (Config.HTTPClient) reaches it,
	// which is what the default prevents.
	follow := newEnv(t, "memory", func(c *exchange.Config) { c.HTTPClient = &http.Client{} })
	for _, backend := range []string{"s302", "introspection_redirect"} {
		if r := follow.post(convert(backend, "tok-alice"), true); r.status != 200 {
			t.Errorf("%s, following redirects: %d %v", backend, r.status, r.body)
		}
	}
	if n := follow.up.elsewhereCalls.Load(); n != 2 {
		t.Fatalf("following redirects, the target got %d requests, want 2", n)
	}
}

// TestUsernameCollision: an upstream user whose username is taken by an
// unlinked local user gets another username, never that user's account.
func TestUsernameCollision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	ctx := context.Background()
	local, err := e.p.CreateUser(ctx, ginoauth.NewUser{Username: "alice", Password: "local-secret"})
	if err != nil {
		t.Fatal(err)
	}
	r := e.post(convert("fake_social_site", "tok-alice"), true)
	w := e.whoami(r.str("access_token"))
	if w.status != 200 || w.str("user_id") == local.ID || !strings.HasPrefix(w.str("user"), "alice_") {
		t.Fatalf("collision: %d %v (local user %s)", w.status, w.body, local.ID)
	}
	// The nested backend maps dotted fields and prefixes the username.
	r = e.post(convert("nested", "tok-bob"), true)
	if w := e.whoami(r.str("access_token")); w.str("user") != "n_bob" {
		t.Fatalf("nested: %d %v / %v", r.status, r.body, w.body)
	}
}

func TestRevokeEarlierTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *exchange.Config) { c.RevokeEarlierTokens = true; c.NoRefresh = true })
	first := e.post(convert("fake_social_site", "tok-alice"), true)
	if first.status != 200 || first.str("refresh_token") != "" {
		t.Fatalf("NoRefresh: %d %v", first.status, first.body)
	}
	bob := e.post(convert("fake_social_site", "tok-bob"), true)
	second := e.post(rfc8693("tok-alice"), true)
	if second.status != 200 {
		t.Fatalf("second: %d %v", second.status, second.body)
	}
	if w := e.whoami(first.str("access_token")); w.status != 401 {
		t.Fatalf("earlier token after a new exchange: %d, want 401", w.status)
	}
	if w := e.whoami(second.str("access_token")); w.status != 200 {
		t.Fatalf("new token: %d", w.status)
	}
	if w := e.whoami(bob.str("access_token")); w.status != 200 {
		t.Fatalf("another user's token was revoked: %d", w.status)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	with := func(f url.Values, k, v string) url.Values { f.Set(k, v); return f }
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"rejected token (401)", convert("fake_social_site", "tok-mallory"), 400, "invalid_grant"},
		{"rejected token (403)", convert("forbidden", "tok-alice"), 400, "invalid_grant"},
		{"token with a newline", convert("fake_social_site", "tok\nalice"), 400, "invalid_grant"},
		{"token too long", convert("fake_social_site", strings.Repeat("t", 17<<10)), 400, "invalid_grant"},
		{"missing token", convert("fake_social_site", ""), 400, "invalid_request"},
		{"missing backend", convert("", "tok-alice"), 400, "invalid_request"},
		{"unknown backend", convert("nope", "tok-alice"), 400, "invalid_request"},
		{"unknown backend, quoted", convert("\"n\u00f6pe\\\x01", "tok-alice"), 400, "invalid_request"},
		{"bad scope", with(convert("fake_social_site", "tok-alice"), "scope", "admin"), 400, "invalid_scope"},
		{"upstream 500", convert("s500", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream 502", convert("s502", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream 400", convert("s400", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream 404 without params", convert("s404", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream redirect", convert("s302", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream slow", convert("slow", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream down", convert("down", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream not JSON", convert("notjson", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream array", convert("array", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream no id", convert("noid", "tok-alice"), 503, "temporarily_unavailable"},
		{"upstream too big", convert("big", "tok-alice"), 503, "temporarily_unavailable"},
		{"introspection: inactive", convert("introspected", "tok-mallory"), 400, "invalid_grant"},
		{"introspection: refused credentials", convert("introspected_badcreds", "tok-alice"), 503, "temporarily_unavailable"},
		{"8693: no subject_token_type", with(rfc8693("tok-alice"), "subject_token_type", ""), 400, "invalid_request"},
		{"8693: no subject_token", with(rfc8693(""), "subject_token_type", exchange.TokenTypeAccessToken), 400, "invalid_request"},
		{"8693: refresh token type", with(rfc8693("tok-alice"), "subject_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), 400, "invalid_request"},
		{"8693: requested id_token", with(rfc8693("tok-alice"), "requested_token_type", "urn:ietf:params:oauth:token-type:id_token"), 400, "invalid_request"},
		{"8693: actor token", with(rfc8693("tok-alice"), "actor_token", "x"), 400, "invalid_request"},
		{"8693: unknown audience", with(rfc8693("tok-alice"), "audience", "nope"), 400, "invalid_target"},
		{"8693: unknown resource", with(rfc8693("tok-alice"), "resource", "https://nope.example/"), 400, "invalid_target"},
		{"8693: rejected token", rfc8693("tok-mallory"), 400, "invalid_grant"},
		{"8693: upstream down", with(rfc8693("tok-alice"), "audience", "s500"), 503, "temporarily_unavailable"},
	} {
		start := time.Now()
		r := e.post(tc.form, true)
		if r.status != tc.status || r.str("error") != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
		if d := r.str("error_description"); d == "" || strings.ContainsFunc(d, notInDescriptionSet) {
			t.Errorf("%s: error_description %q is not RFC 6749 5.2's", tc.name, d)
		}
		if strings.Contains(r.raw, secretBody) || strings.Contains(r.raw, "tok-") {
			t.Errorf("%s: the answer echoes the upstream or the token: %s", tc.name, r.raw)
		}
		if tc.status == 503 && r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.name)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: took %v; the upstream timeout is 300ms", tc.name, d)
		}
	}
	if strings.Contains(e.logs.String(), "tok-alice") || strings.Contains(e.logs.String(), secretBody) {
		t.Errorf("the logs hold a token or an upstream body:\n%s", e.logs)
	}
}

// TestRFC8693Backends: the backend is named by audience, else resource,
// else DefaultBackend; without a default (and more than one backend) it
// must be named.
func TestRFC8693Backends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	f := rfc8693("tok-bob")
	f.Set("audience", "fake_social_site_with_params")
	f.Set("username", "bob")
	if r := e.post(f, true); r.status != 200 {
		t.Fatalf("audience: %d %v", r.status, r.body)
	} else if w := e.whoami(r.str("access_token")); w.str("user") != "bob" {
		t.Fatalf("audience: %v", w.body)
	}
	f.Del("audience")
	f.Set("resource", "fake_social_site_with_params")
	if r := e.post(f, true); r.status != 200 {
		t.Fatalf("resource: %d %v", r.status, r.body)
	}
	f.Set("audience", "fake_social_site")
	if r := e.post(f, true); r.status != 400 || r.str("error") != "invalid_target" {
		t.Fatalf("audience and resource differ: %d %v", r.status, r.body)
	}

	nodef := newEnv(t, "memory", func(c *exchange.Config) { c.DefaultBackend = "" })
	if r := nodef.post(rfc8693("tok-alice"), true); r.status != 400 || r.str("error") != "invalid_request" {
		t.Fatalf("no backend named, no default: %d %v", r.status, r.body)
	}
}

func TestPublicClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	f := convert("fake_social_site", "tok-alice")
	f.Set("client_id", e.pubID)
	if r := e.post(f, false); r.status != 400 || r.str("error") != "unauthorized_client" {
		t.Fatalf("public client: %d %v", r.status, r.body)
	}
	if n := e.up.calls.Load(); n != 0 {
		t.Fatalf("a refused client made %d upstream calls", n)
	}
	// No client authentication at all.
	if r := e.post(convert("fake_social_site", "tok-alice"), false); r.status != 401 || r.str("error") != "invalid_client" {
		t.Fatalf("no client: %d %v", r.status, r.body)
	}
	pub := newEnv(t, "memory", func(c *exchange.Config) { c.PublicClients = true })
	f.Set("client_id", pub.pubID)
	if r := pub.post(f, false); r.status != 200 {
		t.Fatalf("public client with PublicClients: %d %v", r.status, r.body)
	}
}

// racyLinks forces the race of concurrent first exchanges for one
// account: the first want lookups each read the store, then wait until
// all have read before answering, so all see no link and all try to link;
// the store lets one link win and the others get ErrDuplicate.
type racyLinks struct {
	store.SocialLinks
	want    int
	mu      sync.Mutex
	n       int
	arrived chan struct{}
	dups    atomic.Int64
}

func newRacyLinks(l store.SocialLinks, want int) *racyLinks {
	return &racyLinks{SocialLinks: l, want: want, arrived: make(chan struct{})}
}

func (l *racyLinks) GetSocialUser(ctx context.Context, provider, upstreamID string) (string, error) {
	id, err := l.SocialLinks.GetSocialUser(ctx, provider, upstreamID)
	l.mu.Lock()
	l.n++
	racing := l.n <= l.want
	if l.n == l.want {
		close(l.arrived)
	}
	l.mu.Unlock()
	if racing {
		select {
		case <-l.arrived:
		case <-time.After(5 * time.Second): // the test then fails on dups
		case <-ctx.Done():
		}
	}
	return id, err
}

func (l *racyLinks) LinkSocialUser(ctx context.Context, provider, upstreamID, userID string) error {
	err := l.SocialLinks.LinkSocialUser(ctx, provider, upstreamID, userID)
	if errors.Is(err, store.ErrDuplicate) {
		l.dups.Add(1)
	}
	return err
}

// TestConcurrentFirstExchange: concurrent first exchanges for one upstream
// account end with one local user, every one of them answered. The links
// store makes them race every time: all see no link, all but one lose the
// link.
func TestConcurrentFirstExchange(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			const n = 3
			var links *racyLinks
			e := newEnv(t, kind, func(c *exchange.Config) {
				links = newRacyLinks(c.Links, n)
				c.Links = links
			})
			results := make([]resp, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(convert("fake_social_site", "tok-bob").Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(e.confID, e.secret)
					res, err := e.srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					defer res.Body.Close()
					results[i].status = res.StatusCode
					_ = json.NewDecoder(res.Body).Decode(&results[i].body)
				})
			}
			wg.Wait()
			if got := links.dups.Load(); got != n-1 {
				t.Fatalf("%d links lost the race, want %d: the test did not force it", got, n-1)
			}
			users := make([]string, n)
			for i, r := range results {
				if r.status != 200 {
					t.Fatalf("exchange %d: %d %v", i, r.status, r.body)
				}
				at, err := e.p.Validate(context.Background(), r.str("access_token"))
				if err != nil {
					t.Fatalf("exchange %d: %v", i, err)
				}
				users[i] = at.UserID
			}
			for i := range users {
				if users[i] != users[0] {
					t.Fatalf("concurrent first exchanges gave users %q", users)
				}
			}
			linked, err := e.st.(store.SocialLinks).GetSocialUser(context.Background(), "fake_social_site", "b-7")
			if err != nil || linked != users[0] {
				t.Fatalf("link: %q, %v; want %q", linked, err, users[0])
			}
		})
	}
}

func TestGrantsConfigErrors(t *testing.T) {
	t.Parallel()
	ok := exchange.Backend{Name: "x", UserDetailsURL: "https://up.example/me", AnyClient: true}
	for name, cfg := range map[string]exchange.Config{
		"no backends":        {},
		"empty name":         {Backends: []exchange.Backend{{UserDetailsURL: ok.UserDetailsURL, AnyClient: true}}},
		"colon in name":      {Backends: []exchange.Backend{{Name: "a:b", UserDetailsURL: ok.UserDetailsURL, AnyClient: true}}},
		"twice":              {Backends: []exchange.Backend{ok, ok}},
		"relative URL":       {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: "/me", AnyClient: true}}},
		"ftp URL":            {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: "ftp://up.example/me", AnyClient: true}}},
		"credentials in URL": {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: "https://u:p@up.example/me", AnyClient: true}}},
		"username in query":  {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: "https://up.example/me?u={username}", AnyClient: true}}},
		"username twice":     {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: "https://up.example/{username}/{username}", AnyClient: true}}},
		"unknown default":    {Backends: []exchange.Backend{ok}, DefaultBackend: "y"},
		"negative timeout":   {Backends: []exchange.Backend{ok}, Timeout: -1},
		"half introspection credentials": {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: ok.UserDetailsURL,
			IntrospectionURL: "https://up.example/introspect", IntrospectionClientID: "id", AnyClient: true}}},
		"neither AllowedClientIDs nor AnyClient": {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: ok.UserDetailsURL,
			IntrospectionURL: "https://up.example/introspect"}}},
		"AllowedClientIDs and AnyClient": {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: ok.UserDetailsURL,
			IntrospectionURL: "https://up.example/introspect", AllowedClientIDs: []string{"app"}, AnyClient: true}}},
		"AllowedClientIDs without introspection": {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: ok.UserDetailsURL,
			AllowedClientIDs: []string{"app"}}}},
		"empty allowed client ID": {Backends: []exchange.Backend{{Name: "x", UserDetailsURL: ok.UserDetailsURL,
			IntrospectionURL: "https://up.example/introspect", AllowedClientIDs: []string{""}}}},
	} {
		if _, err := exchange.GrantTypes(cfg); err == nil {
			t.Errorf("%s: Grants accepted it", name)
		}
	}
	gs, err := exchange.GrantTypes(exchange.Config{Backends: []exchange.Backend{ok}})
	if err != nil || len(gs) != 2 || gs[0].Name != exchange.GrantConvertToken || gs[1].Name != exchange.GrantTokenExchange || gs[0].PublicClients {
		t.Fatalf("Grants = %+v, %v", gs, err)
	}
}

// linkless hides the store's SocialLinks.
type linkless struct{ store.Store }

func TestStoreWithoutLinks(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	grants, err := exchange.GrantTypes(exchange.Config{Backends: up.backends()[:1], Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Store: linkless{memstore.New()}, SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		GrantTypes: grants, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{exchange.GrantConvertToken}})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/o/token/", strings.NewReader(convert("fake_social_site", "tok-alice").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(app.ClientID, secret)
	r.ServeHTTP(w, req)
	if w.Code != 500 {
		t.Fatalf("store without SocialLinks: %d %s", w.Code, w.Body)
	}
	// With Config.Links it works.
	grants, _ = exchange.GrantTypes(exchange.Config{Backends: up.backends()[:1], Links: memstore.New()})
	p2, _ := ginoauth.New(ginoauth.Config{Store: linkless{memstore.New()}, SecretKey: []byte("0123456789abcdef0123456789abcdef"), GrantTypes: grants})
	app, secret, _ = p2.CreateApplication(context.Background(), ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{exchange.GrantConvertToken}})
	r = gin.New()
	p2.Mount(r)
	w = httptest.NewRecorder()
	req = httptest.NewRequest("POST", "/o/token/", strings.NewReader(convert("fake_social_site", "tok-alice").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(app.ClientID, secret)
	r.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("Config.Links: %d %s", w.Code, w.Body)
	}
}

// notInDescriptionSet reports whether r may not appear in an
// error_description (RFC 6749 section 5.2: %x20-21 / %x23-5B / %x5D-7E).
func notInDescriptionSet(r rune) bool {
	return r < 0x20 || r > 0x7e || r == '"' || r == '\\'
}

// TestAllowedClientIDs: a backend with AllowedClientIDs converts only
// tokens its introspection says were issued to one of them (client_id or
// aud), or its user details (ClientIDField), say were issued to one of
// them; the same user's token held by another upstream application is
// refused, through both grants (before the user details are read, with
// introspection).
func TestAllowedClientIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	for _, tc := range []struct {
		name, backend, token string
		status               int
	}{
		{"introspection: client_id allowed", "introspected", "tok-alice", 200},
		{"introspection: allowed among aud", "introspected", "tok-bob", 200},
		{"introspection: another application's token", "introspected", "tok-thirdparty", 400},
		{"ClientIDField: allowed", "tokeninfo", "tok-bob", 200},
		{"ClientIDField: another application's token", "tokeninfo", "tok-thirdparty", 400},
	} {
		x := rfc8693(tc.token)
		x.Set("audience", tc.backend)
		for _, f := range []url.Values{convert(tc.backend, tc.token), x} {
			before := e.up.calls.Load()
			r := e.post(f, true)
			if r.status != tc.status {
				t.Errorf("%s, %s: got %d %v, want %d", tc.name, f.Get("grant_type"), r.status, r.body, tc.status)
			}
			if tc.status == 400 {
				if r.str("error") != "invalid_grant" {
					t.Errorf("%s: error %q, want invalid_grant", tc.name, r.str("error"))
				}
				if n := e.up.calls.Load() - before; tc.backend == "introspected" && n != 0 {
					t.Errorf("%s: a refused client's token made %d user-details calls", tc.name, n)
				}
			}
		}
	}
	// Without the check (AnyClient), the third party's token converts.
	if r := e.post(convert("fake_social_site", "tok-thirdparty"), true); r.status != 200 {
		t.Errorf("AnyClient backend, another application's token: got %d %v, want 200", r.status, r.body)
	}
}
