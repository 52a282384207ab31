package ginoauth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// cachePair is two providers (two instances) on one Redis, each with the
// validation cache on, and a client_credentials application.
type cachePair struct {
	a, b  *ginoauth.Provider
	recB  *recorder
	app   *store.Application
	store *redisstore.Store
}

func newCachePair(t *testing.T, client redis.UniversalClient, prefix string) *cachePair {
	t.Helper()
	rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	cp := &cachePair{recB: &recorder{}, store: rs}
	for i, rec := range []*recorder{{}, cp.recB} {
		p, err := ginoauth.New(ginoauth.Config{Store: rs, SecretKey: testKey, ValidationCache: true, Observer: rec})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		if i == 0 {
			cp.a = p
		} else {
			cp.b = p
		}
	}
	cp.app, _, err = cp.a.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// eventually polls cond every 10 ms for up to limit.
func eventually(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func (cp *cachePair) issue(t *testing.T) string {
	t.Helper()
	resp, err := cp.a.IssueTokens(context.Background(), cp.app, ginoauth.IssueRequest{Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.AccessToken
}

func (cp *cachePair) cacheHits() int {
	n := 0
	for _, e := range cp.recB.got() {
		if e == "validation cache_hit" {
			n++
		}
	}
	return n
}

// TestValidationCacheRevocationAcrossInstances: instance B answers a token
// from its cache, and a revocation made through instance A (the revoke
// endpoint's store call, a family revocation, the application's tokens
// revoked) is honoured by B within a second.
func TestValidationCacheRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	cp := newCachePair(t, client, prefix)
	ctx := context.Background()
	if !eventually(2*time.Second, cp.b.ValidationCacheLive) {
		t.Fatal("B's validation cache: got not live after 2 s, want live")
	}
	for _, tc := range []struct {
		name   string
		revoke func(token string) error
	}{
		{"revoke the access token", func(token string) error {
			return cp.a.Store().RevokeAccessToken(ctx, tokenKey(t, token))
		}},
		{"revoke the family", func(token string) error {
			return cp.a.Store().RevokeFamily(ctx, tokenKey(t, token).Family)
		}},
		{"revoke the application's tokens", func(string) error {
			_, err := cp.a.RevokeGrants(ctx, store.GrantFilter{ClientID: cp.app.ClientID})
			return err
		}},
	} {
		token := cp.issue(t)
		hits := cp.cacheHits()
		for range 2 {
			if _, err := cp.b.Validate(ctx, token); err != nil {
				t.Fatalf("%s: B validates the fresh token: got %v, want no error", tc.name, err)
			}
		}
		if got := cp.cacheHits() - hits; got != 1 {
			t.Errorf("%s: cache hits of two validations on B: got %d, want 1", tc.name, got)
		}
		start := time.Now()
		if err := tc.revoke(token); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		refused := eventually(time.Second, func() bool {
			_, err := cp.b.Validate(ctx, token)
			return errors.Is(err, oautherr.ErrInvalidToken)
		})
		if !refused {
			t.Errorf("%s: B still accepts the token 1 s after the revocation", tc.name)
		} else {
			t.Logf("%s: refused by B after %v", tc.name, time.Since(start).Round(time.Millisecond))
		}
	}
}

// TestValidationCacheReportsSize: the Observer hears the validation
// cache's size (observe.Observer.CacheSize), every second, and the lag of
// each invalidation it hears of (CacheInvalidationLag).
func TestValidationCacheReportsSize(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	cp := newCachePair(t, client, prefix)
	if !eventually(2*time.Second, cp.b.ValidationCacheLive) {
		t.Fatal("B's validation cache: got not live after 2 s, want live")
	}
	for range 2 {
		if _, err := cp.b.Validate(context.Background(), cp.issue(t)); err != nil {
			t.Fatalf("B validates a fresh token: got %v, want no error", err)
		}
	}
	reported := eventually(3*time.Second, func() bool { return slices.Contains(cp.recB.got(), "cache size 2") })
	if !reported {
		t.Errorf("B's observer events: got %q, want one \"cache size 2\" within 3 s", cp.recB.got())
	}
	if slices.Contains(cp.recB.got(), "cache lag") {
		t.Fatal("a lag was reported before any invalidation")
	}
	if _, err := cp.a.RevokeGrants(context.Background(), store.GrantFilter{ClientID: cp.app.ClientID}); err != nil {
		t.Fatal(err)
	}
	if !eventually(time.Second, func() bool { return slices.Contains(cp.recB.got(), "cache lag") }) {
		t.Errorf("B's observer events after a revocation: got %q, want a \"cache lag\" within 1 s", cp.recB.got())
	}
}

// TestValidationCacheChannelCut: when B's invalidation channel is cut,
// B flushes and bypasses its cache (every validation reads the store)
// until it has subscribed again, then caches again. A real Redis is needed
// to cut one named connection (CLIENT KILL).
func TestValidationCacheChannelCut(t *testing.T) {
	t.Parallel()
	url := os.Getenv(redistest.EnvURL)
	if url == "" {
		t.Skip("needs a real Redis (REDIS_URL) to cut a connection with CLIENT KILL")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	var name [8]byte
	_, _ = rand.Read(name[:])
	opt.ClientName = "ginoauth-cut-" + hex.EncodeToString(name[:])
	client := redis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	// A unique prefix. Its keys are written through client, which with
	// REDIS_CLUSTER_URL also set is not the client redistest cleans up.
	_, prefix := redistest.Client(t)
	t.Cleanup(func() {
		if err := redistest.DeletePrefix(context.Background(), client, prefix); err != nil {
			t.Errorf("deleting keys %s*: %v", prefix, err)
		}
	})
	cp := newCachePair(t, client, prefix)
	ctx := context.Background()
	if !eventually(2*time.Second, cp.b.ValidationCacheLive) {
		t.Fatal("B's validation cache: got not live after 2 s, want live")
	}
	token := cp.issue(t)
	if _, err := cp.b.Validate(ctx, token); err != nil {
		t.Fatalf("validate: %v", err)
	}

	// Kill this test's subscriber connections (both providers' share the
	// client name; no other test's connection has it).
	admin := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB, Password: opt.Password, Username: opt.Username})
	t.Cleanup(func() { _ = admin.Close() })
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.SplitSeq(list, "\n") {
		if !strings.Contains(line, "name="+opt.ClientName+" ") || !strings.Contains(line, "cmd=subscribe") && !strings.Contains(line, " sub=1") {
			continue
		}
		for f := range strings.FieldsSeq(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
					killed++
				}
			}
		}
	}
	if killed == 0 {
		t.Fatalf("found no subscriber connection named %s to kill", opt.ClientName)
	}
	if !eventually(3*time.Second, func() bool { return !cp.b.ValidationCacheLive() }) {
		// The watcher may already have resubscribed; it must have flushed
		// meanwhile, which the next validation shows as a miss.
		t.Log("B's cache was live again before the test saw it down")
	}
	if !eventually(5*time.Second, cp.b.ValidationCacheLive) {
		t.Fatal("B's cache: got not live 5 s after the cut, want live again")
	}
	hits := cp.cacheHits()
	if _, err := cp.b.Validate(ctx, token); err != nil {
		t.Fatalf("validate after the cut: %v", err)
	}
	if got := cp.cacheHits() - hits; got != 0 {
		t.Errorf("first validation after the cut: got %d cache hits, want 0 (the cache was flushed)", got)
	}
	if _, err := cp.b.Validate(ctx, token); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if got := cp.cacheHits() - hits; got != 1 {
		t.Errorf("second validation after the cut: got %d cache hits, want 1 (caching resumed)", got)
	}
	// Revocations still reach B after the reconnect.
	if err := cp.a.Store().RevokeFamily(ctx, tokenKey(t, token).Family); err != nil {
		t.Fatal(err)
	}
	if !eventually(time.Second, func() bool {
		_, err := cp.b.Validate(ctx, token)
		return errors.Is(err, oautherr.ErrInvalidToken)
	}) {
		t.Error("after the reconnect, B still accepts a revoked token 1 s later")
	}
}

// tokenKey is the store key of an access token.
func tokenKey(t *testing.T, token string) store.Key {
	t.Helper()
	if !strings.HasPrefix(token, opaque.AccessPrefix) {
		t.Fatalf("token %.8s...: not an access token", token)
	}
	return store.Key{Family: token[len(opaque.AccessPrefix) : len(opaque.AccessPrefix)+opaque.FamilyLen], Signature: opaque.Signature(token)}
}

// TestValidationCacheRefusesForgeries: a hit skips the token's tag check,
// so a token that shares a cached token's family (its first characters)
// but not the rest must still be refused, on a hit's path as on a miss's.
func TestValidationCacheRefusesForgeries(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	cp := newCachePair(t, client, prefix)
	ctx := context.Background()
	if !eventually(2*time.Second, cp.b.ValidationCacheLive) {
		t.Fatal("B's validation cache: got not live after 2 s, want live")
	}
	token := cp.issue(t)
	for range 2 {
		if _, err := cp.b.Validate(ctx, token); err != nil {
			t.Fatalf("the real token: got %v, want no error", err)
		}
	}
	if cp.cacheHits() == 0 {
		t.Fatal("the real token was never answered from the cache")
	}
	last := token[len(token)-1:]
	flip := map[string]string{"A": "B"}[last]
	if flip == "" {
		flip = "A"
	}
	body := len("goat_") + opaque.FamilyLen
	for name, forged := range map[string]string{
		"last character changed": token[:len(token)-1] + flip,
		"secret replaced":        token[:body] + strings.Repeat("A", len(token)-body),
		"one character short":    token[:len(token)-1],
	} {
		if _, err := cp.b.Validate(ctx, forged); !errors.Is(err, oautherr.ErrInvalidToken) {
			t.Errorf("%s: got %v, want invalid_token", name, err)
		}
	}
}

// slowChannel is a store whose invalidation messages reach this instance
// late, as on a loaded network.
type slowChannel struct {
	*redisstore.Store
	delay time.Duration
}

func (s slowChannel) Watch(ctx context.Context, h store.InvalidationHandler) error {
	return s.Store.Watch(ctx, slowHandler{h, s.delay})
}

type slowHandler struct {
	store.InvalidationHandler
	delay time.Duration
}

func (h slowHandler) InvalidateFamily(f string) {
	time.Sleep(h.delay)
	h.InvalidationHandler.InvalidateFamily(f)
}
func (h slowHandler) InvalidateClient(c string) {
	time.Sleep(h.delay)
	h.InvalidationHandler.InvalidateClient(c)
}

// TestValidationCacheOwnRevocation: a token revoked on an instance is
// refused by that instance's very next request, whatever its cache held,
// without waiting for the invalidation message to come back (RFC 7009
// section 2.2: the token is invalid once the revocation is answered); for
// opaque and JWT access tokens, revoked one by one or with their
// application's tokens.
func TestValidationCacheOwnRevocation(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{
		Store: slowChannel{Store: rs, delay: time.Second}, SecretKey: testKey, ValidationCache: true, Issuer: jwtIssuer,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if !eventually(2*time.Second, p.ValidationCacheLive) {
		t.Fatal("validation cache: got not live after 2 s, want live")
	}
	srv := newServer(t, p)
	ctx := context.Background()
	for _, format := range []string{store.TokenFormatOpaque, store.TokenFormatJWT} {
		for _, how := range []string{"revocation endpoint", "application's tokens"} {
			app, secret, err := p.CreateApplication(ctx, ginoauth.NewApplication{
				ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}, AccessTokenFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.IssueTokens(ctx, app, ginoauth.IssueRequest{Scopes: []string{"read"}})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // cached from here on
				if _, err := p.Validate(ctx, resp.AccessToken); err != nil {
					t.Fatalf("%s, %s: before the revocation: %v", format, how, err)
				}
			}
			switch how {
			case "revocation endpoint":
				req, _ := http.NewRequest("POST", srv.URL+"/o/revoke_token/", strings.NewReader(url.Values{"token": {resp.AccessToken}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(app.ClientID, secret)
				res, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Fatalf("revoke: %d", res.StatusCode)
				}
			default:
				if _, err := p.RevokeGrants(ctx, store.GrantFilter{ClientID: app.ClientID}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.Validate(ctx, resp.AccessToken); err == nil {
				t.Errorf("%s, %s: the revoking instance still accepts the token (its message not back yet)", format, how)
			}
		}
	}
}
