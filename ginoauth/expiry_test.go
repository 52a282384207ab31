package ginoauth_test

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// newRedisCodeEnv is newCodeEnv on a Redis store whose client and key
// prefix the test gets too, with the Config left at its defaults but for
// mod.
func newRedisCodeEnv(t *testing.T, mod func(*ginoauth.Config)) (*codeEnv, redis.UniversalClient, string) {
	t.Helper()
	client, prefix := redistest.Client(t)
	rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: &countingStore{Store: rs}, username: "alice", password: "wonderland"}
	cfg := ginoauth.Config{
		Store:     e.st,
		SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		Sessions: ginoauth.SessionFunc(func(c *gin.Context) (*ginoauth.Owner, error) {
			v, err := c.Cookie("test_user")
			if err != nil || v == "" {
				return nil, nil
			}
			id, name, _ := strings.Cut(v, ".")
			return &ginoauth.Owner{ID: id, Username: name}, nil
		}),
	}
	if mod != nil {
		mod(&cfg)
	}
	if e.p, err = ginoauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.st.CreateUser(ctx, &store.User{ID: "u1", Username: e.username, PasswordHash: cheapHash, IsActive: true}); err != nil {
		t.Fatal(err)
	}
	ce := &codeEnv{env: e, redirect: testRedirect}
	apps := []struct {
		app        ginoauth.NewApplication
		id, secret *string
	}{
		{ginoauth.NewApplication{Name: "conf", ClientType: store.Confidential,
			GrantTypes: []string{store.GrantPassword, store.GrantClientCredentials}}, &e.confID, &e.secret},
		{ginoauth.NewApplication{Name: "Web <App>", ClientType: store.Confidential,
			GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect}}, &ce.webID, &ce.webSecret},
	}
	for _, a := range apps {
		app, secret, err := e.p.CreateApplication(ctx, a.app)
		if err != nil {
			t.Fatal(err)
		}
		*a.id, *a.secret = app.ClientID, secret
	}
	e.srv = newServer(t, e.p)
	return ce, client, prefix
}

// TestEveryGrantKeyExpires: with the default Config on Redis, every key a
// grant leaves behind (tokens, codes, tombstones,
// pushed requests, device authorizations and their user codes, the
// single-use marks of DPoP proofs, the per-user index, the limiter's
// counters) carries a TTL, no longer
// than the default refresh token lifetime and some minutes; only the
// applications and users, which no grant writes, have none.
func TestEveryGrantKeyExpires(t *testing.T) {
	t.Parallel()
	ce, client, prefix := newRedisCodeEnv(t, func(c *ginoauth.Config) {
		c.TokenRateLimit = ginoauth.RateLimit{PerAddress: 1000, PerClient: 1000}
		c.Store = c.Store.(*countingStore).Store // with PAR and the device grant
	})
	// Password grants, refreshed, some of them twice.
	for i := range 10 {
		rt := ce.passwordToken("").str("refresh_token")
		for range i % 3 {
			r := ce.refresh(rt)
			if !wantStatus(t, "refresh", r, 200) {
				t.FailNow()
			}
			rt = r.str("refresh_token")
		}
	}
	// A reused refresh token (its grant revoked), a revoked one, a
	// client_credentials token.
	first := ce.passwordToken("").str("refresh_token")
	wantStatus(t, "refresh", ce.refresh(first), 200)
	wantError(t, "reuse", ce.refresh(first), 400, "invalid_grant")
	revoke := url.Values{"token": {ce.passwordToken("").str("refresh_token")}}
	wantStatus(t, "revoke", ce.post("/o/revoke_token/", revoke, []string{ce.confID, ce.secret}, ""), 200)
	wantStatus(t, "client_credentials", ce.token(url.Values{"grant_type": {"client_credentials"}}, []string{ce.confID, ce.secret}), 200)
	// A code grant, exchanged, then replayed (its grant revoked), and one
	// code never exchanged.
	for _, exchanges := range []int{2, 0} {
		verifier := oauth2.GenerateVerifier()
		loc := ce.authorize(t, ce.browser("u1.alice"), ce.oauthConfig().AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {testRedirect}, "code_verifier": {verifier}}
		for range exchanges {
			ce.token(form, []string{ce.webID, ce.webSecret})
		}
	}

	// A pushed authorization request never used (RFC 9126), a device
	// authorization never approved (RFC 8628), and a DPoP-bound grant
	// (RFC 9449: its proof's jti is kept for single use).
	wantStatus(t, "PAR", ce.post("/o/par/", url.Values{"response_type": {"code"}, "redirect_uri": {testRedirect},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}},
		[]string{ce.webID, ce.webSecret}, ""), 201)
	ctx := context.Background()
	tv, _, err := ce.p.CreateApplication(ctx, ginoauth.NewApplication{Name: "TV", ClientType: store.Public, GrantTypes: []string{store.GrantDeviceCode}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "device authorization", ce.post("/o/device_authorization/", url.Values{"client_id": {tv.ClientID}}, nil, ""), 200)
	pw := url.Values{"grant_type": {"password"}, "username": {ce.username}, "password": {ce.password}}
	if r := ce.dpopTokenRequest(pw, []string{ce.confID, ce.secret}, dpopKeys().es.Proof("POST", ce.tokenURL(), "", "")); !wantStatus(t, "DPoP password grant", r, 200) || r.str("token_type") != "DPoP" {
		t.Fatalf("DPoP password grant: token_type %q, want DPoP", r.str("token_type"))
	}

	keys, err := redistest.Keys(ctx, client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, k := range keys {
		name := strings.TrimPrefix(k, prefix)
		if name == "apps" || name == "appgen" || strings.HasPrefix(name, "app:") || strings.HasPrefix(name, "user:") || strings.HasPrefix(name, "username:") {
			continue
		}
		kinds[keyKind(name)] = true
		ttl, err := client.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		// The user index rounds its entries' expiry up to the UTC day.
		if max := ginoauth.DefaultRefreshTokenExpire + 25*time.Hour; ttl <= 0 || ttl > max {
			t.Errorf("key %s: TTL %v, want one of at most %v", name, ttl, max)
		}
	}
	// No "x": retired refresh tokens are filed only with a grace period
	// (storetest's Rotation/RetiredExpiry checks that they expire).
	for _, kind := range []string{"a", "r", "c", "v", "p", "d", "uc:", "once:", "u:", "rl:"} {
		if !kinds[kind] {
			t.Errorf("no %s key among %v: the test no longer covers it", kind, keys)
		}
	}
}

// keyKind is what kind of redisstore key name is (the prefix cut off):
// the family suffix (a, r, x, c, v, p, d), or the leading "u:", "uc:",
// "once:" or "rl:".
func keyKind(name string) string {
	if strings.HasPrefix(name, "{") {
		if i := strings.IndexByte(name, '}'); i >= 0 {
			return name[i+1:]
		}
	}
	head, _, _ := strings.Cut(name, ":")
	return head + ":"
}

// TestRefreshTokenDefaultLifetime: without Config.RefreshTokenExpire, a
// refresh token lasts DefaultRefreshTokenExpire (30 days), by the
// provider's clock, on every store.
func TestRefreshTokenDefaultLifetime(t *testing.T) {
	t.Parallel()
	if ginoauth.DefaultRefreshTokenExpire != 30*24*time.Hour {
		t.Errorf("DefaultRefreshTokenExpire = %v, want 30 days", ginoauth.DefaultRefreshTokenExpire)
	}
	tests := []struct {
		name   string
		after  time.Duration
		status int
	}{
		{"a minute before", ginoauth.DefaultRefreshTokenExpire - time.Minute, 200},
		{"a minute after", ginoauth.DefaultRefreshTokenExpire + time.Minute, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, kind string) {
				var clock atomic.Int64
				now := time.Now()
				e := newEnv(t, kind, func(c *ginoauth.Config) {
					c.Now = func() time.Time { return now.Add(time.Duration(clock.Load())) }
				})
				rt := e.passwordToken("").str("refresh_token")
				clock.Store(int64(tt.after))
				r := e.refresh(rt)
				if tt.status == 200 {
					wantStatus(t, "refresh", r, 200)
				} else {
					wantError(t, "refresh", r, tt.status, "invalid_grant")
				}
			})
		})
	}
}
