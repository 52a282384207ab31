package gooauth2_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/gooauth2"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
	"github.com/ginoauth/toolkit/permissions"
)

// writeLegacy stores tok exactly as go-oauth2/redis v4's TokenStore.Create
// does, under namespace ns: the token information as JSON under a random
// basic id, and the access and refresh tokens as keys pointing to that id.
// TTLs: the refresh key and the record live for the refresh lifetime left
// (the access lifetime without a refresh token); the access key for its
// lifetime, capped at the refresh one. The layout is reproduced here by
// hand, from reading go-oauth2/redis v4.1.1; the module is not a
// dependency. keep, when positive, overrides every TTL, to leave an
// expired token in Redis as a lagging expiry would.
func writeLegacy(t *testing.T, client redis.UniversalClient, ns string, tok *models.Token, keep time.Duration) {
	t.Helper()
	ctx := context.Background()
	jv, err := json.Marshal(tok) // go-oauth2/redis uses jsoniter's default, encoding/json compatible
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	basicID := hex.EncodeToString(id[:4]) + "-" + hex.EncodeToString(id[4:6]) + "-" + hex.EncodeToString(id[6:8]) + "-" + hex.EncodeToString(id[8:10]) + "-" + hex.EncodeToString(id[10:])
	aexp := tok.AccessExpiresIn
	rexp := aexp
	if tok.Refresh != "" {
		rexp = tok.RefreshCreateAt.Add(tok.RefreshExpiresIn).Sub(time.Now())
		if aexp.Seconds() > rexp.Seconds() {
			aexp = rexp
		}
	}
	if keep > 0 {
		aexp, rexp = keep, keep
	}
	// Not MULTI: on Redis Cluster the three keys may sit in different slots.
	pipe := client.Pipeline()
	if tok.Refresh != "" {
		pipe.Set(ctx, ns+tok.Refresh, basicID, rexp)
	}
	pipe.Set(ctx, ns+tok.Access, basicID, aexp)
	pipe.Set(ctx, ns+basicID, jv, rexp)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// writeLegacyCode stores an authorization code as go-oauth2/redis v4
// does: the token information as JSON under ns + code.
func writeLegacyCode(t *testing.T, client redis.UniversalClient, ns string, tok *models.Token) {
	t.Helper()
	jv, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Set(context.Background(), ns+tok.Code, jv, tok.CodeExpiresIn).Err(); err != nil {
		t.Fatal(err)
	}
}

// legacyToken is a token as go-oauth2's Manager makes it for the password
// grant (2h access, 7 days refresh), issued at created.
func legacyToken(access, refresh, scope string, created time.Time) *models.Token {
	tok := models.NewToken()
	tok.ClientID, tok.UserID, tok.Scope = "legacy-client", "u42", scope
	tok.Access, tok.AccessCreateAt, tok.AccessExpiresIn = access, created, 2*time.Hour
	if refresh != "" {
		tok.Refresh, tok.RefreshCreateAt, tok.RefreshExpiresIn = refresh, created, 7*24*time.Hour
	}
	return tok
}

// countingValidator counts the tokens that reach the legacy lookup.
type countingValidator struct {
	resource.TokenValidator
	calls atomic.Int64
}

func (c *countingValidator) Validate(ctx context.Context, token string) (*resource.TokenInfo, error) {
	c.calls.Add(1)
	return c.TokenValidator.Validate(ctx, token)
}

// migrationEnv is a ginoauth provider mounted on a gin engine whose API
// accepts its own tokens and go-oauth2/redis ones through Chain.
type migrationEnv struct {
	client   redis.UniversalClient
	ns       string
	provider *ginoauth.Provider
	legacy   *countingValidator
	srv      *httptest.Server
	appID    string
	secret   string
}

func newMigrationEnv(t *testing.T, legacyClient, providerClient redis.UniversalClient) *migrationEnv {
	t.Helper()
	client, prefix := redistest.Client(t)
	e := &migrationEnv{client: client, ns: prefix + "oauth2:"}
	if legacyClient == nil {
		legacyClient = client
	}
	if providerClient == nil {
		providerClient = client
	}
	st, err := redisstore.New(providerClient, redisstore.WithPrefix(prefix+"ginoauth:"))
	if err != nil {
		t.Fatal(err)
	}
	e.provider, err = ginoauth.New(ginoauth.Config{
		Store:     st,
		SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		Scopes:    map[string]string{"read": "Read", "write": "Write"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.legacy = &countingValidator{TokenValidator: gooauth2.NewLegacyValidator(legacyClient, e.ns)}

	r := gin.New()
	e.provider.Mount(r)
	api := r.Group("/api", resource.Authenticate(gooauth2.Chain(e.provider, e.legacy), resource.Options{}))
	api.GET("/read", permissions.Require(permissions.TokenHasScope("read")), func(c *gin.Context) {
		tok, _ := resource.TokenFromContext(c)
		c.JSON(http.StatusOK, gin.H{
			"client": tok.ClientID, "user": tok.UserID, "scope": scope.Format(tok.Scopes),
			"iat": tok.IssuedAt.Unix(), "exp": tok.ExpiresAt.Unix(),
		})
	})
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)

	if providerClient == client {
		app, secret, err := e.provider.CreateApplication(context.Background(), ginoauth.NewApplication{
			Name: "new", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
		})
		if err != nil {
			t.Fatal(err)
		}
		e.appID, e.secret = app.ClientID, secret
	}
	return e
}

func (e *migrationEnv) read(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	return getBearer(t, e.srv.URL+"/api/read", token)
}

func TestLegacyTokensAcceptedDuringMigration(t *testing.T) {
	t.Parallel()
	e := newMigrationEnv(t, nil, nil)
	now := time.Now()
	created := now.Add(-10 * time.Minute).Truncate(time.Second)

	writeLegacy(t, e.client, e.ns, legacyToken("LEGACYACCESS1", "LEGACYREFRESH1", "read write", created), 0)
	writeLegacy(t, e.client, e.ns, legacyToken("LEGACYWRITEONLY", "LEGACYREFRESH2", "write", created), 0)
	writeLegacy(t, e.client, e.ns, legacyToken("LEGACYNOREFRESH", "", "read", created), 0)
	// Expired an hour ago, though still in Redis (a TTL set by a server with
	// a different clock, say): refused on the stored expiry.
	writeLegacy(t, e.client, e.ns, legacyToken("LEGACYEXPIRED", "LEGACYREFRESH3", "read", now.Add(-3*time.Hour)), time.Hour)
	// Its refresh token expired: go-oauth2's Manager refuses the access token.
	stale := legacyToken("LEGACYSTALEREFRESH", "LEGACYREFRESH4", "read", now.Add(-time.Hour))
	stale.RefreshExpiresIn = 30 * time.Minute
	writeLegacy(t, e.client, e.ns, stale, time.Hour)

	status, body := e.read(t, "LEGACYACCESS1")
	if status != http.StatusOK || str(body, "client") != "legacy-client" || str(body, "user") != "u42" || str(body, "scope") != "read write" {
		t.Fatalf("legacy token: %d %v", status, body)
	}
	if int64(body["iat"].(float64)) != created.Unix() || int64(body["exp"].(float64)) != created.Add(2*time.Hour).Unix() {
		t.Errorf("legacy token times: %v, want iat %d exp %d", body, created.Unix(), created.Add(2*time.Hour).Unix())
	}
	if status, body := e.read(t, "LEGACYNOREFRESH"); status != http.StatusOK {
		t.Errorf("legacy token without refresh: %d %v", status, body)
	}
	if status, body := e.read(t, "LEGACYWRITEONLY"); status != http.StatusForbidden {
		t.Errorf("legacy token without the scope: %d %v, want 403", status, body)
	}
	for _, tok := range []string{"LEGACYEXPIRED", "LEGACYSTALEREFRESH", "UNKNOWN", "LEGACYREFRESH1"} {
		status, body := e.read(t, tok)
		if status != http.StatusUnauthorized || str(body, "error") != "invalid_token" {
			t.Errorf("%s: %d %v, want 401 invalid_token", tok, status, body)
		}
	}

	// The basic id, presented as a token, leads nowhere.
	ids, err := e.client.Get(context.Background(), e.ns+"LEGACYACCESS1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := e.read(t, ids); status != http.StatusUnauthorized {
		t.Errorf("basic id as a token: %d, want 401", status)
	}

	// ginoauth's own tokens still work, and never reach the legacy lookup.
	status, body = postForm(t, e.srv.URL+"/o/token/", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, e.appID, e.secret)
	if status != http.StatusOK {
		t.Fatalf("ginoauth token: %d %v", status, body)
	}
	ours := str(body, "access_token")
	before := e.legacy.calls.Load()
	if status, body := e.read(t, ours); status != http.StatusOK || str(body, "client") != e.appID {
		t.Errorf("ginoauth token: %d %v", status, body)
	}
	forged := ours[:len(ours)-4] + "AAAA"
	if forged == ours {
		forged = ours[:len(ours)-4] + "BBBB"
	}
	if status, _ := e.read(t, forged); status != http.StatusUnauthorized {
		t.Errorf("forged ginoauth token: %d, want 401", status)
	}
	if n := e.legacy.calls.Load() - before; n != 0 {
		t.Errorf("%d ginoauth-prefixed tokens reached the legacy validator, want 0", n)
	}
	// Not even when stored in the legacy layout: the prefix is ours.
	writeLegacy(t, e.client, e.ns, legacyToken("goat_"+strings.Repeat("A", 76), "", "read", created), 0)
	if status, _ := e.read(t, "goat_"+strings.Repeat("A", 76)); status != http.StatusUnauthorized {
		t.Errorf("ginoauth-prefixed token in the legacy layout: %d, want 401", status)
	}

	// No token at all: 401 from the guard, as without the chain.
	if status, _ := e.read(t, ""); status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", status)
	}
}

func TestLegacyValidatorOutage(t *testing.T) {
	t.Parallel()
	// The legacy Redis is down: a legacy token is 503, never 401 or 200.
	e := newMigrationEnv(t, redistest.Unreachable(t), nil)
	status, body := e.read(t, "LEGACYACCESS1")
	if status != http.StatusServiceUnavailable || str(body, "error") != "temporarily_unavailable" {
		t.Errorf("legacy token, legacy Redis down: %d %v, want 503 temporarily_unavailable", status, body)
	}
	_, err := gooauth2.NewLegacyValidator(redistest.Unreachable(t), "").Validate(context.Background(), "X")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Validate with Redis down: %v, want store.ErrUnavailable", err)
	}

	// ginoauth's store is down: a ginoauth token is 503 and is not handed
	// to the legacy lookup.
	e = newMigrationEnv(t, nil, redistest.Unreachable(t))
	p, err := ginoauth.New(ginoauth.Config{SecretKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		Name: "mem", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	_, body = postForm(t, srv.URL+"/o/token/", url.Values{"grant_type": {"client_credentials"}}, app.ClientID, secret)
	ours := str(body, "access_token") // same SecretKey: its tag checks out on e's provider
	if ours == "" {
		t.Fatalf("token: %v", body)
	}
	if status, body := e.read(t, ours); status != http.StatusServiceUnavailable {
		t.Errorf("ginoauth token, ginoauth store down: %d %v, want 503", status, body)
	}
	if n := e.legacy.calls.Load(); n != 0 {
		t.Errorf("legacy validator called %d times, want 0", n)
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ok := validatorFunc(func(context.Context, string) (*resource.TokenInfo, error) {
		return &resource.TokenInfo{ClientID: "second"}, nil
	})
	refuse := validatorFunc(func(context.Context, string) (*resource.TokenInfo, error) {
		return nil, oautherr.ErrInvalidToken
	})
	down := validatorFunc(func(context.Context, string) (*resource.TokenInfo, error) {
		return nil, store.ErrUnavailable
	})
	if info, err := gooauth2.Chain(refuse, ok).Validate(ctx, "legacy"); err != nil || info.ClientID != "second" {
		t.Errorf("refused then accepted: %v %v", info, err)
	}
	if _, err := gooauth2.Chain(refuse, ok).Validate(ctx, "goat_x"); !errors.Is(err, oautherr.ErrInvalidToken) {
		t.Errorf("ginoauth-prefixed token fell through: %v", err)
	}
	if _, err := gooauth2.Chain(down, ok).Validate(ctx, "legacy"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("outage did not stop the chain: %v", err)
	}
	if _, err := gooauth2.Chain(refuse, refuse).Validate(ctx, "legacy"); !errors.Is(err, oautherr.ErrInvalidToken) {
		t.Errorf("all refused: %v", err)
	}
}

type validatorFunc func(context.Context, string) (*resource.TokenInfo, error)

func (f validatorFunc) Validate(ctx context.Context, token string) (*resource.TokenInfo, error) {
	return f(ctx, token)
}

// TestChainWithTokenStore is step 2 when step 1 was taken: the resource
// server chains the provider with the go-oauth2 server's TokenStore, which
// validates both the tokens the go-oauth2 server issued through it and,
// with WithLegacyNamespace, those go-oauth2/redis stored.
func TestChainWithTokenStore(t *testing.T) {
	skipOnCluster(t)
	t.Parallel()
	e := newGoEnv(t)
	ts := gooauth2.NewTokenStore(e.client, gooauth2.WithPrefix(e.prefix), gooauth2.WithLegacyNamespace(e.legacyNS))
	e.manager.MapTokenStorage(ts)
	created := time.Now().Add(-time.Minute)
	writeLegacy(t, e.client, e.legacyNS, legacyToken("OLDACCESS", "OLDREFRESH", "read", created), 0)
	writeLegacy(t, e.client, e.legacyNS, legacyToken("OLDEXPIRED", "", "read", created.Add(-3*time.Hour)), time.Hour)
	_, body := e.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "scope": {"read"}}, confID, confSecret)
	fromGo := str(body, "access_token")
	if fromGo == "" {
		t.Fatalf("go-oauth2 token: %v", body)
	}

	p, err := ginoauth.New(ginoauth.Config{SecretKey: []byte("0123456789abcdef0123456789abcdef"), Scopes: map[string]string{"read": "Read"}})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(v resource.TokenValidator) *httptest.Server {
		r := gin.New()
		r.GET("/read", resource.Authenticate(gooauth2.Chain(p, v), resource.Options{}),
			permissions.Require(permissions.TokenHasScope("read")), func(c *gin.Context) {
				tok, _ := resource.TokenFromContext(c)
				c.JSON(http.StatusOK, gin.H{"client": tok.ClientID, "user": tok.UserID})
			})
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv
	}
	srv := serve(ts)
	if status, body := getBearer(t, srv.URL+"/read", fromGo); status != http.StatusOK || str(body, "client") != confID || str(body, "user") != "u1" {
		t.Errorf("go-oauth2 token from the TokenStore: %d %v", status, body)
	}
	if status, body := getBearer(t, srv.URL+"/read", "OLDACCESS"); status != http.StatusOK || str(body, "user") != "u42" {
		t.Errorf("go-oauth2/redis token through the TokenStore: %d %v", status, body)
	}
	for _, tok := range []string{"OLDEXPIRED", "OLDREFRESH", "NOPE"} {
		if status, _ := getBearer(t, srv.URL+"/read", tok); status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tok, status)
		}
	}
	if err := e.manager.RemoveAccessToken(context.Background(), fromGo); err != nil {
		t.Fatal(err)
	}
	if status, _ := getBearer(t, srv.URL+"/read", fromGo); status != http.StatusUnauthorized {
		t.Errorf("removed token: %d, want 401", status)
	}

	down := serve(gooauth2.NewTokenStore(redistest.Unreachable(t), gooauth2.WithLegacyNamespace("")))
	if status, _ := getBearer(t, down.URL+"/read", "OLDACCESS"); status != http.StatusServiceUnavailable {
		t.Errorf("TokenStore's Redis down: %d, want 503", status)
	}
}
