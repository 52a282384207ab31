package ginoauth_test

import (
	"context"
	"encoding/json"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestJWTAccessTokenStaleGeneration: a JWT minted under the generation in
// force before RevokeApplicationTokens (a token request that read the
// application before the revocation, and minted after its message
// arrived) is refused without a store read too: the token carries its
// generation (the gen claim), checked against the application cache.
func TestJWTAccessTokenStaleGeneration(t *testing.T) {
	t.Parallel()
	rs := jwtStore(t)
	clk := &fakeClock{t: time.Now()}
	a, b := newJWTInstance(t, rs, clk), newJWTInstance(t, rs, clk)
	ctx := context.Background()
	app := newJWTApp(t, a.p)
	stale := *app // what a slow token request read before the revocation
	if _, err := rs.RevokeApplicationTokens(ctx, app.ClientID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // C: arrives at B
	clk.Add(3 * time.Second)           // the slow request mints after TrustSkew
	resp, err := a.p.IssueTokens(ctx, &stale, ginoauth.IssueRequest{UserID: "u1", Username: "alice", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.p.Validate(ctx, resp.AccessToken); err == nil {
		t.Errorf("B accepts a fresh JWT whose Generation is revoked (locals=%d); the store path refuses it", b.locals())
	}
}

// TestJWTAccessTokenDeletedApplication: as
// TestJWTAccessTokenStaleGeneration, with a deleted application.
func TestJWTAccessTokenDeletedApplication(t *testing.T) {
	t.Parallel()
	rs := jwtStore(t)
	clk := &fakeClock{t: time.Now()}
	a, b := newJWTInstance(t, rs, clk), newJWTInstance(t, rs, clk)
	ctx := context.Background()
	app := newJWTApp(t, a.p)
	if err := a.p.DeleteApplication(ctx, app.ClientID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	clk.Add(3 * time.Second)
	resp, err := a.p.IssueTokens(ctx, app, ginoauth.IssueRequest{UserID: "u1", Username: "alice", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.p.Validate(ctx, resp.AccessToken); err == nil {
		t.Errorf("B accepts a JWT of a deleted application")
	}
}

// TestJWTAccessTokenLostMessage: a revocation whose message is lost on a
// channel that looks live (or that publishes none) is seen within
// ValidationCacheMaxAge, as for cached opaque tokens: a JWT older than it
// is read from the store.
func TestJWTAccessTokenLostMessage(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	a, b := newJWTInstance(t, rs, clk), newJWTInstance(t, rs, clk)
	ctx := context.Background()
	app := newJWTApp(t, a.p)
	time.Sleep(100 * time.Millisecond)
	clk.Add(3 * time.Second)
	resp, err := a.p.IssueTokens(ctx, app, ginoauth.IssueRequest{UserID: "u1", Username: "alice", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.p.Validate(ctx, resp.AccessToken); err != nil {
		t.Fatal(err)
	}
	// The record disappears without a message (a message lost on a channel
	// that looked live: what ValidationCacheMaxAge is documented to bound).
	fam := jtiFamily(t, resp.AccessToken)
	if err := client.Del(ctx, prefix+"{"+fam+"}a").Err(); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute) // far past ValidationCacheMaxAge (10 s)
	if _, err := b.p.Validate(ctx, resp.AccessToken); err == nil {
		t.Errorf("B accepts a JWT whose record is gone a minute (6x MaxAge) later; an opaque token would be refused after MaxAge")
	}
}

// TestJWTAccessTokenFutureIat: a JWT whose iat is in this instance's
// future (the minting instance's clock ahead) is read from the store, so
// it cannot escape the invalidations that arrive before its iat.
func TestJWTAccessTokenFutureIat(t *testing.T) {
	t.Parallel()
	rs := jwtStore(t)
	clkA := &fakeClock{t: time.Now().Add(time.Hour)} // A's clock is an hour ahead
	clkB := &fakeClock{t: time.Now()}
	a, b := newJWTInstance(t, rs, clkA), newJWTInstance(t, rs, clkB)
	ctx := context.Background()
	app := newJWTApp(t, a.p)
	time.Sleep(100 * time.Millisecond)
	clkB.Add(3 * time.Second)
	resp, err := a.p.IssueTokens(ctx, app, ginoauth.IssueRequest{UserID: "u1", Username: "alice", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.RevokeFamily(ctx, jtiFamily(t, resp.AccessToken)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := b.p.Validate(ctx, resp.AccessToken); err == nil {
		t.Errorf("B accepts a revoked JWT whose iat is an hour in its future")
	}
}

// TestJWTAccessTokenDefaultAudience: with no Config.Resource, the aud
// claim (the issuer's default resource) and the stored record, which the
// store path and introspection answer from, agree.
func TestJWTAccessTokenDefaultAudience(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) {
		c.AccessTokenFormat = store.TokenFormatJWT
		c.Issuer = jwtIssuer
	})
	ctx := context.Background()
	app, _, err := e.p.CreateApplication(ctx, ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.p.IssueTokens(ctx, app, ginoauth.IssueRequest{Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	_, c := jwtParts(t, resp.AccessToken)
	info, err := e.p.Validate(ctx, resp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("claim aud=%v, Validate (stored path) Audience=%v", c["aud"], info.Audience)
	if len(info.Audience) == 0 && c["aud"] != nil {
		t.Errorf("aud claim %v but the stored path's Audience is empty: the local path (TokenInfo from claims) and the stored path disagree", c["aud"])
	}
}

// TestJWTAccessTokenStaleApplicationCache: a token-endpoint instance A
// without a validation cache and with ApplicationCacheTTL 30 s keeps
// minting under the old generation after "revoke all" (as its docs allow
// for 30 s); B refuses those JWTs, as it refuses such opaque tokens.
func TestJWTAccessTokenStaleApplicationCache(t *testing.T) {
	t.Parallel()
	rs := jwtStore(t)
	clk := &fakeClock{t: time.Now()}
	pa, err := ginoauth.New(ginoauth.Config{
		Store: rs, SecretKey: testKey, Now: clk.Now, ApplicationCacheTTL: 30 * time.Second,
		AccessTokenFormat: store.TokenFormatJWT, Issuer: jwtIssuer, Resource: jwtResource,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := newJWTInstance(t, rs, clk)
	srvA := newServer(t, pa)
	ctx := context.Background()
	app, secret, err := pa.CreateApplication(ctx, ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	token := func() string {
		req, _ := http.NewRequest("POST", srvA.URL+"/o/token/", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ClientID, secret)
		res, err := srvA.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var tr ginoauth.TokenResponse
		if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || res.StatusCode != 200 {
			t.Fatalf("token: %d %v", res.StatusCode, err)
		}
		return tr.AccessToken
	}
	_ = token() // A caches the application
	if _, err := rs.RevokeApplicationTokens(ctx, app.ClientID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	clk.Add(3 * time.Second)
	tok := token() // A, 3 s later, still under the old generation (its cache)
	if _, err := b.p.Validate(ctx, tok); err == nil {
		t.Errorf("B accepts, after revoke-all, a fresh JWT A minted under the revoked Generation (opaque: refused)")
	}
}

type plainStore struct{ store.Store } // hides store.SigningKeys

// TestJWTAccessTokenFormatWithoutKeys: an application may not ask for
// JWT access tokens on a provider whose store keeps no signing keys
// (every token request would fail).
func TestJWTAccessTokenFormatWithoutKeys(t *testing.T) {
	t.Parallel()
	p, err := ginoauth.New(ginoauth.Config{Store: plainStore{memstore.New()}, SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}, AccessTokenFormat: store.TokenFormatJWT,
	})
	if err == nil {
		t.Error("CreateApplication with access_token_format jwt on a store without signing keys: accepted, want refused")
	} else {
		return
	}
	srv := newServer(t, p)
	req, _ := http.NewRequest("POST", srv.URL+"/o/token/", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(app.ClientID, secret)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 500 {
		t.Errorf("token request: status %d for an application accepted with access_token_format jwt", res.StatusCode)
	}
}
