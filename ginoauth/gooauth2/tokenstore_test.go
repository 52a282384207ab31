package gooauth2_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/gooauth2"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// goEnv is a go-oauth2 server (manager + server.NewDefaultServer) on the
// adapter's TokenStore and ClientStore, served over HTTP: POST /token and
// GET /api (ValidationBearerToken).
type goEnv struct {
	client   redis.UniversalClient
	prefix   string // the TokenStore's key prefix
	legacyNS string // a namespace for go-oauth2/redis keys
	manager  *manage.Manager
	clients  *gooauth2.ClientStore
	srv      *httptest.Server
}

func newGoEnv(t *testing.T) *goEnv {
	t.Helper()
	apps, client, prefix := newApps(t)
	e := &goEnv{client: client, prefix: prefix + "go:", legacyNS: prefix + "legacy:"}
	e.manager = manage.NewDefaultManager()
	e.manager.MapTokenStorage(gooauth2.NewTokenStore(client, gooauth2.WithPrefix(e.prefix)))
	e.clients = gooauth2.NewClientStore(apps)
	e.manager.MapClientStorage(e.clients)
	gs := server.NewDefaultServer(e.manager)
	gs.SetClientInfoHandler(server.ClientBasicHandler)
	gs.SetPasswordAuthorizationHandler(func(_ context.Context, _, username, password string) (string, error) {
		if username == "alice" && password == "wonderland" {
			return "u1", nil
		}
		return "", nil
	})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := gs.HandleTokenRequest(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		ti, err := gs.ValidationBearerToken(r)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_token"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"client":"` + ti.GetClientID() + `","user":"` + ti.GetUserID() + `","scope":"` + ti.GetScope() + `"}`))
	})
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *goEnv) token(t *testing.T, form url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	return postForm(t, e.srv.URL+"/token", form, id, secret)
}

func (e *goEnv) api(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	return getBearer(t, e.srv.URL+"/api", token)
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func TestGoOAuth2ServerClientCredentials(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	e := newGoEnv(t)
	status, body := e.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, confID, confSecret)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	access := str(body, "access_token")
	if access == "" || body["refresh_token"] != nil {
		t.Fatalf("token body: %v", body)
	}
	status, body = e.api(t, access)
	if status != http.StatusOK || str(body, "client") != confID || str(body, "scope") != "read" {
		t.Fatalf("ValidationBearerToken: %d %v", status, body)
	}

	// The client secret is checked against the stored hash.
	for _, c := range []struct{ name, id, secret string }{
		{"wrong secret", confID, "nope"},
		{"no secret", confID, ""},
		{"unknown client", "nobody", confSecret},
	} {
		status, body = e.token(t, url.Values{"grant_type": {"client_credentials"}}, c.id, c.secret)
		if status != http.StatusUnauthorized || str(body, "error") != "invalid_client" {
			t.Errorf("%s: %d %v, want 401 invalid_client", c.name, status, body)
		}
	}
	if status, _ := e.api(t, access+"x"); status != http.StatusUnauthorized {
		t.Errorf("unknown token: %d, want 401", status)
	}

	// One record, keyed by the token's SHA-256, with the access lifetime.
	kv := dump(t, e.client, e.prefix)
	if len(kv) != 1 {
		t.Fatalf("keys: %v, want one access key", kv)
	}
	for k := range kv {
		if !strings.HasPrefix(k, e.prefix+"at:") || len(k) != len(e.prefix)+3+64 {
			t.Errorf("key %q is not <prefix>at:<sha256>", k)
		}
		ttl, err := e.client.PTTL(context.Background(), k).Result()
		if err != nil || ttl <= time.Hour+59*time.Minute || ttl > 2*time.Hour {
			t.Errorf("PTTL %s = %v, %v; want about the 2h access lifetime", k, ttl, err)
		}
	}
	assertNoRawTokens(t, e.client, e.prefix, access)
}

func TestGoOAuth2ServerPasswordAndRefresh(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	e := newGoEnv(t)
	status, body := e.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "scope": {"read write"}}, confID, confSecret)
	if status != http.StatusOK {
		t.Fatalf("password grant: %d %v", status, body)
	}
	access, refresh := str(body, "access_token"), str(body, "refresh_token")
	if access == "" || refresh == "" {
		t.Fatalf("password grant body: %v", body)
	}
	status, body = e.api(t, access)
	if status != http.StatusOK || str(body, "user") != "u1" || str(body, "scope") != "read write" {
		t.Fatalf("ValidationBearerToken: %d %v", status, body)
	}
	// TTLs follow the token information: 2h access, 7 days refresh (the
	// manager's password-grant defaults).
	ctx := context.Background()
	for _, c := range []struct {
		kind string
		max  time.Duration
	}{{"at:", 2 * time.Hour}, {"rt:", 7 * 24 * time.Hour}} {
		keys, err := e.client.Keys(ctx, e.prefix+c.kind+"*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("%s keys: %v %v", c.kind, keys, err)
		}
		ttl, err := e.client.PTTL(ctx, keys[0]).Result()
		if err != nil || ttl <= c.max-time.Minute || ttl > c.max {
			t.Errorf("%s PTTL %v %v, want about %v", c.kind, ttl, err, c.max)
		}
	}

	status, body = e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, confID, confSecret)
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, body)
	}
	access2, refresh2 := str(body, "access_token"), str(body, "refresh_token")
	if access2 == "" || refresh2 == "" || access2 == access || refresh2 == refresh {
		t.Fatalf("refresh body: %v", body)
	}
	if status, body := e.api(t, access2); status != http.StatusOK || str(body, "scope") != "read write" || str(body, "user") != "u1" {
		t.Errorf("new access token: %d %v", status, body)
	}
	// The old pair is gone: the rotation removed it in the same step.
	if status, _ := e.api(t, access); status != http.StatusUnauthorized {
		t.Errorf("old access token after refresh: %d, want 401", status)
	}
	status, body = e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, confID, confSecret)
	if status == http.StatusOK || str(body, "error") != "invalid_grant" {
		t.Errorf("old refresh token: %d %v, want invalid_grant", status, body)
	}
	assertNoRawTokens(t, e.client, e.prefix, access, refresh, access2, refresh2)
}

// TestGoOAuth2ConcurrentRefresh: go-oauth2's Manager reads a refresh token,
// stores the new pair, then deletes the old token; with go-oauth2/redis two
// concurrent refreshes both succeed. The adapter's Create replaces the
// pair atomically, so exactly one does.
func TestGoOAuth2ConcurrentRefresh(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	e := newGoEnv(t)
	_, body := e.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}}, confID, confSecret)
	refresh := str(body, "refresh_token")
	if refresh == "" {
		t.Fatalf("password grant: %v", body)
	}
	const n = 20
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ok  int
		got []string
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, confID, confSecret)
			mu.Lock()
			defer mu.Unlock()
			if status == http.StatusOK {
				ok++
				got = append(got, str(body, "access_token"))
			} else if str(body, "error") != "invalid_grant" {
				t.Errorf("losing refresh: %d %v, want invalid_grant", status, body)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", ok, n)
	}
	if status, _ := e.api(t, got[0]); status != http.StatusOK {
		t.Errorf("winner's access token: %d", status)
	}
}

// barrierStore holds every GetByCode until n of them have read the code,
// so that n concurrent redemptions all get past go-oauth2's read before
// any of them removes the code: the interleaving in which a store that
// does not report an already-removed code lets each of them get tokens.
type barrierStore struct {
	*gooauth2.TokenStore
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newBarrierStore(ts *gooauth2.TokenStore, n int) *barrierStore {
	return &barrierStore{TokenStore: ts, n: n, all: make(chan struct{})}
}

func (b *barrierStore) GetByCode(ctx context.Context, code string) (oauth2.TokenInfo, error) {
	ti, err := b.TokenStore.GetByCode(ctx, code)
	b.mu.Lock()
	if b.arrived++; b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return ti, err
	case <-time.After(10 * time.Second):
		return nil, errors.New("barrierStore: the other redemptions never read the code")
	}
}

// TestGoOAuth2AuthorizationCodeRedeemedOnce drives the code grant through
// go-oauth2's Manager, which reads a code (GetByCode), then removes it
// (RemoveByCode), then issues tokens: a second redemption fails, and of
// concurrent redemptions that have all read the code before any removes
// it exactly one gets tokens, because RemoveByCode reports the code the
// winner removed.
func TestGoOAuth2AuthorizationCodeRedeemedOnce(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	e := newGoEnv(t)
	ctx := context.Background()
	newCode := func(t *testing.T) string {
		t.Helper()
		ti, err := e.manager.GenerateAuthToken(ctx, oauth2.Code, &oauth2.TokenGenerateRequest{
			ClientID: confID, UserID: "u1", RedirectURI: "https://app.example.com/cb", Scope: "read",
		})
		if err != nil {
			t.Fatal(err)
		}
		return ti.GetCode()
	}
	redeem := func(m *manage.Manager, code string) (oauth2.TokenInfo, error) {
		return m.GenerateAccessToken(ctx, oauth2.AuthorizationCode, &oauth2.TokenGenerateRequest{
			ClientID: confID, ClientSecret: confSecret, RedirectURI: "https://app.example.com/cb", Code: code,
		})
	}

	code := newCode(t)
	keys, err := e.client.Keys(ctx, e.prefix+"code:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("code keys %v %v", keys, err)
	}
	if ttl, err := e.client.PTTL(ctx, keys[0]).Result(); err != nil || ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("code PTTL %v %v, want about 10m", ttl, err)
	}
	assertNoRawTokens(t, e.client, e.prefix, code)

	// One after the other.
	ti, err := redeem(e.manager, code)
	if err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	if info, err := e.manager.LoadAccessToken(ctx, ti.GetAccess()); err != nil || info.GetUserID() != "u1" || info.GetScope() != "read" {
		t.Fatalf("LoadAccessToken: %v %v", info, err)
	}
	if _, err := redeem(e.manager, code); !errors.Is(err, oerrors.ErrInvalidAuthorizeCode) {
		t.Fatalf("second redemption: %v, want ErrInvalidAuthorizeCode", err)
	}

	// Concurrently, every redemption past the read before any removes.
	for _, n := range []int{2, 10} {
		code := newCode(t)
		m := manage.NewDefaultManager()
		m.MapClientStorage(e.clients)
		m.MapTokenStorage(newBarrierStore(gooauth2.NewTokenStore(e.client, gooauth2.WithPrefix(e.prefix)), n))
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []string
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ti, err := redeem(m, code)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, ti.GetAccess())
				case !errors.Is(err, oerrors.ErrInvalidAuthorizeCode):
					t.Errorf("losing redemption: %v, want ErrInvalidAuthorizeCode", err)
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("%d of %d concurrent redemptions got tokens, want exactly 1", len(wins), n)
		}
		if info, err := e.manager.LoadAccessToken(ctx, wins[0]); err != nil || info.GetUserID() != "u1" {
			t.Fatalf("the winner's token: %v %v", info, err)
		}
	}
}

// TestRemoveByCode: RemoveByCode succeeds once per stored code and reports
// a code that is not (or no longer) stored, in either layout; of
// concurrent removals exactly one succeeds.
func TestRemoveByCode(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	client, prefix := redistest.Client(t)
	ns := prefix + "legacy:"
	ts := gooauth2.NewTokenStore(client, gooauth2.WithPrefix(prefix+"go:"), gooauth2.WithLegacyNamespace(ns))
	ctx := context.Background()
	code := func(c string) *models.Token {
		tok := models.NewToken()
		tok.ClientID, tok.UserID, tok.Code, tok.CodeCreateAt, tok.CodeExpiresIn = confID, "u1", c, time.Now(), 10*time.Minute
		return tok
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T, c string) // nil: never stored
	}{
		{"stored code", func(t *testing.T, c string) {
			if err := ts.Create(ctx, code(c)); err != nil {
				t.Fatal(err)
			}
		}},
		{"go-oauth2/redis code", func(t *testing.T, c string) { writeLegacyCode(t, client, ns, code(c)) }},
		{"unknown code", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := "CODE-" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.store != nil {
				tc.store(t, c)
				if err := ts.RemoveByCode(ctx, c); err != nil {
					t.Fatalf("first removal: %v", err)
				}
				if ti, err := ts.GetByCode(ctx, c); ti != nil || err != nil {
					t.Fatalf("GetByCode after removal: %v %v", ti, err)
				}
			}
			if err := ts.RemoveByCode(ctx, c); !errors.Is(err, oerrors.ErrInvalidAuthorizeCode) {
				t.Fatalf("removing a code that is not stored: %v, want ErrInvalidAuthorizeCode", err)
			}

			if tc.store == nil {
				return
			}
			c += "-concurrent"
			tc.store(t, c)
			const n = 10
			errs := make(chan error, n)
			start := make(chan struct{})
			for range n {
				go func() { <-start; errs <- ts.RemoveByCode(ctx, c) }()
			}
			close(start)
			ok := 0
			for range n {
				switch err := <-errs; {
				case err == nil:
					ok++
				case !errors.Is(err, oerrors.ErrInvalidAuthorizeCode):
					t.Errorf("concurrent removal: %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d concurrent removals succeeded, want 1", ok, n)
			}
		})
	}
}

func TestGoOAuth2Removal(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	e := newGoEnv(t)
	ctx := context.Background()
	issue := func() (string, string) {
		_, body := e.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}}, confID, confSecret)
		return str(body, "access_token"), str(body, "refresh_token")
	}

	// Removing an access token leaves its refresh token usable.
	access, refresh := issue()
	if err := e.manager.RemoveAccessToken(ctx, access); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.api(t, access); status != http.StatusUnauthorized {
		t.Errorf("removed access token: %d, want 401", status)
	}
	if _, err := e.manager.LoadRefreshToken(ctx, refresh); err != nil {
		t.Errorf("refresh token after removing its access token: %v", err)
	}
	if err := e.manager.RemoveAccessToken(ctx, access); err != nil {
		t.Errorf("removing twice: %v, want nil", err)
	}

	// Removing a refresh token removes its pair.
	access, refresh = issue()
	if err := e.manager.RemoveRefreshToken(ctx, refresh); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.api(t, access); status != http.StatusUnauthorized {
		t.Errorf("access token of a removed refresh token: %d, want 401", status)
	}
	if _, err := e.manager.LoadRefreshToken(ctx, refresh); !errors.Is(err, oerrors.ErrInvalidRefreshToken) {
		t.Errorf("removed refresh token: %v, want ErrInvalidRefreshToken", err)
	}
	if err := e.manager.RemoveRefreshToken(ctx, refresh); err != nil {
		t.Errorf("removing twice: %v, want nil", err)
	}
	if keys := dump(t, e.client, e.prefix); len(keys) != 1 { // the first refresh token
		t.Errorf("keys left: %d, want 1", len(keys))
	}
}

func TestTokenStoreNotFoundAndOutage(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	ts := gooauth2.NewTokenStore(client, gooauth2.WithPrefix(prefix))
	ctx := context.Background()
	for name, get := range map[string]func(context.Context, string) (oauth2.TokenInfo, error){
		"GetByAccess": ts.GetByAccess, "GetByRefresh": ts.GetByRefresh, "GetByCode": ts.GetByCode,
	} {
		if ti, err := get(ctx, "missing"); ti != nil || err != nil {
			t.Errorf("%s(missing) = %v, %v; want nil, nil", name, ti, err)
		}
	}

	down := gooauth2.NewTokenStore(redistest.Unreachable(t))
	tok := models.NewToken()
	tok.SetAccess("a")
	tok.SetAccessCreateAt(time.Now())
	tok.SetAccessExpiresIn(time.Hour)
	checks := map[string]error{
		"Create":          down.Create(ctx, tok),
		"RemoveByAccess":  down.RemoveByAccess(ctx, "a"),
		"RemoveByRefresh": down.RemoveByRefresh(ctx, "r"),
		"RemoveByCode":    down.RemoveByCode(ctx, "c"),
	}
	_, checks["GetByAccess"] = down.GetByAccess(ctx, "a")
	_, checks["GetByRefresh"] = down.GetByRefresh(ctx, "r")
	_, checks["GetByCode"] = down.GetByCode(ctx, "c")
	for name, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want store.ErrUnavailable", name, err)
		}
	}
}

func TestClientStore(t *testing.T) {
	t.Parallel()
	apps, _, _ := newApps(t)
	cs := gooauth2.NewClientStore(apps)
	ctx := context.Background()

	ci, err := cs.GetByID(ctx, confID)
	if err != nil {
		t.Fatal(err)
	}
	if ci.GetID() != confID || ci.GetSecret() != "" || ci.GetDomain() != "https://app.example.com/cb" || ci.IsPublic() || ci.GetUserID() != "owner-1" {
		t.Errorf("ClientInfo = %q %q %q %v %q", ci.GetID(), ci.GetSecret(), ci.GetDomain(), ci.IsPublic(), ci.GetUserID())
	}
	v, ok := ci.(oauth2.ClientPasswordVerifier)
	if !ok {
		t.Fatal("ClientInfo does not implement oauth2.ClientPasswordVerifier")
	}
	for secret, want := range map[string]bool{confSecret: true, "": false, "wrong": false, confSecret + "x": false} {
		if got := v.VerifyPassword(secret); got != want {
			t.Errorf("confidential VerifyPassword(%q) = %v, want %v", secret, got, want)
		}
	}

	pub, err := cs.GetByID(ctx, pubID)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.IsPublic() || pub.GetDomain() != "" {
		t.Errorf("public client: %v %q", pub.IsPublic(), pub.GetDomain())
	}
	pv := pub.(oauth2.ClientPasswordVerifier)
	if !pv.VerifyPassword("") || pv.VerifyPassword("anything") {
		t.Error("a public client must pass without a secret and fail with one")
	}

	if ci, err := cs.GetByID(ctx, "nobody"); ci != nil || !errors.Is(err, oerrors.ErrInvalidClient) {
		t.Errorf("unknown client: %v, %v; want ErrInvalidClient", ci, err)
	}
}

// TestTokenStoreReadsGoOAuth2RedisTokens is step 1 of the migration: a
// go-oauth2 server switched from go-oauth2/redis to the TokenStore (with
// WithLegacyNamespace) keeps accepting the tokens it issued before, and
// its first refresh moves the pair to the new layout.
func TestTokenStoreReadsGoOAuth2RedisTokens(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	ctx := context.Background()
	e := newGoEnv(t)
	// The legacy tokens live in the same Redis, under their own namespace.
	ts := gooauth2.NewTokenStore(e.client, gooauth2.WithPrefix(e.prefix), gooauth2.WithLegacyNamespace(e.legacyNS))
	e.manager.MapTokenStorage(ts)
	created := time.Now().Add(-time.Minute)
	tok := legacyToken("OLDACCESS", "OLDREFRESH", "read write", created)
	tok.ClientID = confID
	writeLegacy(t, e.client, e.legacyNS, tok, 0)
	code := models.NewToken()
	code.ClientID, code.UserID, code.Scope, code.RedirectURI = confID, "u42", "read", "https://app.example.com/cb"
	code.Code, code.CodeCreateAt, code.CodeExpiresIn = "OLDCODE", created, 10*time.Minute
	writeLegacyCode(t, e.client, e.legacyNS, code)

	if ti, err := ts.GetByAccess(ctx, "OLDACCESS"); err != nil || ti == nil {
		t.Fatalf("GetByAccess(legacy) = %v, %v", ti, err)
	}
	if status, body := e.api(t, "OLDACCESS"); status != http.StatusOK || str(body, "user") != "u42" || str(body, "scope") != "read write" {
		t.Fatalf("legacy access token on the TokenStore: %d %v", status, body)
	}
	for _, tok := range []string{"OLDREFRESH", "OLDCODE", "NOPE"} {
		if status, _ := e.api(t, tok); status != http.StatusUnauthorized {
			t.Errorf("%s as an access token: %d, want 401", tok, status)
		}
	}
	if ti, err := e.manager.LoadRefreshToken(ctx, "OLDACCESS"); err == nil {
		t.Errorf("legacy access token loaded as a refresh token: %v", ti)
	}

	status, body := e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"OLDREFRESH"}}, confID, confSecret)
	if status != http.StatusOK {
		t.Fatalf("refreshing a legacy refresh token: %d %v", status, body)
	}
	access, refresh := str(body, "access_token"), str(body, "refresh_token")
	if status, body := e.api(t, access); status != http.StatusOK || str(body, "user") != "u42" {
		t.Errorf("new access token: %d %v", status, body)
	}
	if status, _ := e.api(t, "OLDACCESS"); status != http.StatusUnauthorized {
		t.Errorf("legacy access token after its refresh: %d, want 401", status)
	}
	status, body = e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"OLDREFRESH"}}, confID, confSecret)
	if status == http.StatusOK || str(body, "error") != "invalid_grant" {
		t.Errorf("legacy refresh token reused: %d %v, want invalid_grant", status, body)
	}
	// Only the code is left in the legacy layout; the new pair is hashed.
	if legacy := dump(t, e.client, e.legacyNS); len(legacy) != 1 {
		t.Errorf("legacy keys left: %v, want only the code", legacy)
	}
	assertNoRawTokens(t, e.client, e.prefix, access, refresh, "OLDACCESS", "OLDREFRESH")

	// A legacy code is redeemed once.
	ti, err := e.manager.GenerateAccessToken(ctx, oauth2.AuthorizationCode, &oauth2.TokenGenerateRequest{
		ClientID: confID, ClientSecret: confSecret, RedirectURI: "https://app.example.com/cb", Code: "OLDCODE",
	})
	if err != nil || ti.GetUserID() != "u42" {
		t.Fatalf("legacy code: %v %v", ti, err)
	}
	if _, err := e.manager.GenerateAccessToken(ctx, oauth2.AuthorizationCode, &oauth2.TokenGenerateRequest{
		ClientID: confID, ClientSecret: confSecret, RedirectURI: "https://app.example.com/cb", Code: "OLDCODE",
	}); err == nil {
		t.Error("legacy code redeemed twice")
	}

	// Removing a legacy refresh token removes its legacy pair.
	tok = legacyToken("OLDACCESS2", "OLDREFRESH2", "read", created)
	tok.ClientID = confID
	writeLegacy(t, e.client, e.legacyNS, tok, 0)
	if err := e.manager.RemoveRefreshToken(ctx, "OLDREFRESH2"); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.api(t, "OLDACCESS2"); status != http.StatusUnauthorized {
		t.Errorf("access token of a removed legacy refresh token: %d, want 401", status)
	}
	if legacy := dump(t, e.client, e.legacyNS); len(legacy) != 0 {
		t.Errorf("legacy keys left: %v", legacy)
	}
}

// TestTokenStoreTTLs: the keys of a pair live as long as their tokens, and
// the access key never longer than the refresh key (as with
// go-oauth2/redis: a token whose refresh token expired is refused by
// go-oauth2's Manager anyway), whether the pair is stored fresh or by a
// refresh rotation. A zero lifetime is no TTL.
func TestTokenStoreTTLs(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	client, prefix := redistest.Client(t)
	ts := gooauth2.NewTokenStore(client, gooauth2.WithPrefix(prefix))
	ctx := context.Background()
	const none = -1 // no TTL
	key := func(kind, token string) string {
		sum := sha256.Sum256([]byte(token))
		return prefix + kind + hex.EncodeToString(sum[:])
	}
	for i, tc := range []struct {
		name                    string
		access, refresh         time.Duration // lifetimes; refresh 0 with hasRefresh: never expires
		hasRefresh              bool
		refreshAge              time.Duration // how long ago the refresh token was made
		wantAccess, wantRefresh time.Duration
	}{
		{"access within refresh", time.Hour, 2 * time.Hour, true, 0, time.Hour, 2 * time.Hour},
		{"access longer than refresh", 2 * time.Hour, time.Hour, true, 0, time.Hour, time.Hour},
		{"access never expires, refresh does", 0, time.Hour, true, 0, time.Hour, time.Hour},
		{"access beyond what is left of refresh", time.Hour, time.Hour, true, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute},
		{"refresh never expires", time.Hour, 0, true, 0, time.Hour, none},
		{"neither expires", 0, 0, true, 0, none, none},
		{"no refresh token", 2 * time.Hour, 0, false, 0, 2 * time.Hour, 0},
	} {
		for _, rotated := range []bool{false, true} {
			name := fmt.Sprintf("%s (rotated %v)", tc.name, rotated)
			now := time.Now()
			tok := models.NewToken()
			tok.ClientID, tok.UserID, tok.Scope = confID, "u1", "read"
			var info oauth2.TokenInfo = tok
			if rotated {
				old := models.NewToken()
				old.ClientID, old.UserID = confID, "u1"
				old.Access, old.AccessCreateAt, old.AccessExpiresIn = fmt.Sprintf("OLDA-%d", i), now, time.Hour
				old.Refresh, old.RefreshCreateAt, old.RefreshExpiresIn = fmt.Sprintf("OLDR-%d", i), now, time.Hour
				if err := ts.Create(ctx, old); err != nil {
					t.Fatal(err)
				}
				ti, err := ts.GetByRefresh(ctx, old.Refresh)
				if err != nil || ti == nil {
					t.Fatalf("%s: GetByRefresh: %v %v", name, ti, err)
				}
				info = ti
			}
			access, refresh := fmt.Sprintf("A-%d-%v", i, rotated), ""
			info.SetAccess(access)
			info.SetAccessCreateAt(now)
			info.SetAccessExpiresIn(tc.access)
			if tc.hasRefresh {
				refresh = fmt.Sprintf("R-%d-%v", i, rotated)
				info.SetRefresh(refresh)
				info.SetRefreshCreateAt(now.Add(-tc.refreshAge))
				info.SetRefreshExpiresIn(tc.refresh)
			} else if rotated {
				info.SetRefresh("") // the old refresh token is dropped without a new one
			}
			if err := ts.Create(ctx, info); err != nil {
				t.Fatalf("%s: Create: %v", name, err)
			}
			if ti, err := ts.GetByRefresh(ctx, fmt.Sprintf("OLDR-%d", i)); rotated && (ti != nil || err != nil) {
				t.Fatalf("%s: the old pair is still there (%v %v): not a rotation", name, ti, err)
			}
			check := func(what, k string, want time.Duration) {
				got, err := client.PTTL(ctx, k).Result()
				switch {
				case err != nil:
					t.Errorf("%s: PTTL of the %s key: %v", name, what, err)
				case want == none && got != -1:
					t.Errorf("%s: %s key PTTL %v, want none", name, what, got)
				case want != none && (got <= want-time.Minute || got > want):
					t.Errorf("%s: %s key PTTL %v, want about %v", name, what, got, want)
				}
			}
			check("access", key("at:", access), tc.wantAccess)
			if tc.hasRefresh {
				check("refresh", key("rt:", refresh), tc.wantRefresh)
			}
		}
	}
}
