package ginoauth_test

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// cacheTTL is the application cache lifetime of these tests' second
// instance: its bound on how long a revocation made elsewhere takes.
const cacheTTL = 150 * time.Millisecond

// twoInstances returns an env and a second provider on the same store
// (another server instance), both caching applications for cacheTTL.
func twoInstances(t *testing.T, kind string) (a, b *env) {
	t.Helper()
	short := func(c *ginoauth.Config) { c.ApplicationCacheTTL = cacheTTL }
	a = newEnv(t, kind, short)
	p, err := ginoauth.New(ginoauth.Config{
		Store: a.st, SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		Scopes:              map[string]string{"read": "Read", "write": "Write", "admin": "Admin"},
		DefaultScopes:       []string{"read", "write"},
		ApplicationCacheTTL: cacheTTL,
	})
	if err != nil {
		t.Fatal(err)
	}
	bb := *a
	bb.p, bb.srv = p, newServer(t, p)
	return a, &bb
}

// refusedWithin reports whether e refuses tok at once or, at the latest,
// once the application cache bound has passed.
func refusedWithin(e *env, tok resp) bool {
	e.t.Helper()
	deadline := time.Now().Add(cacheTTL + 50*time.Millisecond)
	for {
		if !e.works(tok) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRevokeClientTokensByGeneration: RevokeGrants with a client alone
// (revoketokens --client-id) revokes every token of the application
// through its generation: at once on the instance that did it, within the
// cache bound on another that had the application cached; refresh tokens
// too; tokens issued after keep working.
func TestRevokeClientTokensByGeneration(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a, b := twoInstances(t, kind)
		ctx := context.Background()
		pw, cc, pub := a.passwordToken(""), a.ccToken(), a.pubToken()
		if !b.works(pw) || !b.works(cc) { // b caches the application
			t.Fatal("tokens refused by the second instance before any revocation")
		}
		n, err := a.p.RevokeGrants(ctx, store.GrantFilter{ClientID: a.confID})
		if err != nil || n != 1 {
			t.Fatalf("RevokeGrants(client) = %d, %v; want 1, nil", n, err)
		}
		if a.works(pw) || a.works(cc) {
			t.Fatal("the instance that revoked still accepts the client's tokens")
		}
		if !refusedWithin(b, pw) || !refusedWithin(b, cc) {
			t.Fatalf("the other instance still accepts the client's tokens after %v", cacheTTL)
		}
		r := b.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.str("refresh_token")}}, []string{a.confID, a.secret})
		wantError(t, "refresh with a revoked generation", r, 400, "invalid_grant")
		if !a.works(pub) || !b.works(pub) {
			t.Fatal("another application's token was revoked too")
		}
		if fresh := a.ccToken(); !a.works(fresh) || !b.works(fresh) {
			t.Fatal("a token issued after the revocation is refused")
		}
	})
}

// TestDeleteApplicationRefusesTokens: deleting an application refuses its
// tokens (within the cache bound elsewhere), and a client created again
// under the same client_id does not revive them.
func TestDeleteApplicationRefusesTokens(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a, b := twoInstances(t, kind)
		ctx := context.Background()
		pw, cc := a.passwordToken(""), a.ccToken()
		if !b.works(pw) || !b.works(cc) {
			t.Fatal("tokens refused before the deletion")
		}
		app, err := a.p.Store().GetApplication(ctx, a.confID)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.p.DeleteApplication(ctx, a.confID); err != nil {
			t.Fatal(err)
		}
		if a.works(pw) || a.works(cc) {
			t.Fatal("the instance that deleted the application still accepts its tokens")
		}
		if !refusedWithin(b, pw) || !refusedWithin(b, cc) {
			t.Fatalf("the other instance still accepts the deleted application's tokens after %v", cacheTTL)
		}
		// The same client_id, created again (as a restore from a backup
		// would): a new generation, so the old tokens stay refused.
		again := *app
		if err := a.p.Store().CreateApplication(ctx, &again); err != nil {
			t.Fatal(err)
		}
		if again.Generation == app.Generation {
			t.Fatalf("recreated application got the old generation %d", app.Generation)
		}
		time.Sleep(cacheTTL + 20*time.Millisecond)
		if a.works(pw) || a.works(cc) || b.works(pw) || b.works(cc) {
			t.Fatal("a token of the deleted application works again once its client_id is recreated")
		}
		r := a.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.str("refresh_token")}}, []string{a.confID, a.secret})
		wantError(t, "refresh token of the deleted application", r, 400, "invalid_grant")
		if fresh := a.ccToken(); !a.works(fresh) {
			t.Fatal("the recreated application's own token is refused")
		}
	})
}

// TestApplicationCacheSavesRoundTrips: with the application cached,
// validating a token reads only the token, and a client_credentials
// issuance does not read the application.
func TestApplicationCacheSavesRoundTrips(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	tok := e.ccToken()
	if !e.works(tok) {
		t.Fatal("token refused")
	}
	before := e.st.apps.Load()
	for range 5 {
		if !e.works(tok) {
			t.Fatal("token refused")
		}
		e.ccToken()
	}
	if got := e.st.apps.Load() - before; got != 0 {
		t.Fatalf("%d application reads for 5 validations and 5 issuances with the application cached, want 0", got)
	}
}

// appsDown fails GetApplication as an outage would, once down is set.
type appsDown struct {
	*countingStore
	down atomic.Bool
}

func (s *appsDown) GetApplication(ctx context.Context, clientID string) (*store.Application, error) {
	if s.down.Load() {
		return nil, fmt.Errorf("%w: test outage", store.ErrUnavailable)
	}
	return s.countingStore.GetApplication(ctx, clientID)
}

// TestApplicationOutageAnswers503: when the application cannot be read,
// a token is never let through: the middleware answers 503.
func TestApplicationOutageAnswers503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	tok := e.ccToken()
	st := &appsDown{countingStore: e.st}
	p, err := ginoauth.New(ginoauth.Config{
		Store: st, SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		Scopes:              map[string]string{"read": "Read", "write": "Write", "admin": "Admin"},
		ApplicationCacheTTL: -1, // no cache: every validation reads the application
	})
	if err != nil {
		t.Fatal(err)
	}
	b := *e
	b.p, b.srv = p, newServer(t, p)
	if !b.works(tok) {
		t.Fatal("token refused before the outage")
	}
	st.down.Store(true)
	if r := b.get("/api/whoami", tok.str("access_token")); r.status != 503 {
		t.Fatalf("validation during an application outage: status %d, want 503", r.status)
	}
}

// TestApplicationChangeOnEveryInstance: with the default application cache
// (DefaultApplicationCacheTTL, one second), a change made through one
// instance (here the client_credentials grant taken away) is honoured by
// another that had the application cached within that second.
func TestApplicationChangeOnEveryInstance(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a := newEnv(t, kind, nil)
		p, err := ginoauth.New(ginoauth.Config{Store: a.st, SecretKey: []byte("0123456789abcdef0123456789abcdef"),
			Scopes: map[string]string{"read": "Read", "write": "Write", "admin": "Admin"}, DefaultScopes: []string{"read", "write"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		b := *a
		b.p, b.srv = p, newServer(t, p)
		b.ccToken() // b caches the application
		cc := url.Values{"grant_type": {"client_credentials"}}
		start := time.Now()
		if _, err := a.p.UpdateApplication(context.Background(), a.confID, func(app *store.Application) error {
			app.GrantTypes = []string{store.GrantPassword}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if r := a.token(cc, []string{a.confID, a.secret}); r.status != 400 {
			t.Fatalf("the changing instance: client_credentials status = %d, want 400 at once", r.status)
		}
		// b fetched the application before start: a request b grants must
		// have been sent less than the cache's TTL after the change.
		var lastGranted time.Duration // since the change, the last request b granted
		for {
			sent := time.Since(start)
			if b.token(cc, []string{a.confID, a.secret}).status != 200 {
				break
			}
			lastGranted = sent
			if sent >= ginoauth.DefaultApplicationCacheTTL {
				t.Fatalf("the other instance granted client_credentials to a request sent %v after the change", sent)
			}
			time.Sleep(10 * time.Millisecond)
		}
		r := b.token(cc, []string{a.confID, a.secret})
		wantError(t, "the other instance after the change", r, 400, "unauthorized_client")
		t.Logf("%s: the other instance's last grant was sent %v after the change", kind, lastGranted.Round(time.Millisecond))
	})
}
