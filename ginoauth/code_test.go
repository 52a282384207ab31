package ginoauth_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// slowSave is a store whose SaveTokens waits before writing, as over a
// slow link, when delay is set.
type slowSave struct {
	store.Store
	delay atomic.Int64 // nanoseconds
}

func (s *slowSave) SaveTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	time.Sleep(time.Duration(s.delay.Load()))
	return s.Store.SaveTokens(ctx, at, rt)
}

// SaveFreshTokens waits as SaveTokens does, then forwards to the wrapped
// store's (see countingStore): were a code exchange to skip the
// revocation check, TestConcurrentCodeReplayRevokes would see it.
func (s *slowSave) SaveFreshTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	time.Sleep(time.Duration(s.delay.Load()))
	return s.Store.(store.FreshTokenSaver).SaveFreshTokens(ctx, at, rt)
}

// TestConcurrentCodeReplayRevokes: of 20 concurrent redemptions of one code
// at most one gets tokens, and since the others are replays (RFC 6749
// 4.1.2), whatever it got is revoked once they have all been answered:
// a replay's revocation that runs before the winner stores its tokens
// must not let them be stored afterwards. Many rounds, as the race is
// narrow; in every other round the winner's SaveTokens is slowed down, so
// that the replays' revocations run first.
func TestConcurrentCodeReplayRevokes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		slow := new(slowSave)
		ce := newCodeEnv(t, kind, func(c *ginoauth.Config) {
			slow.Store = c.Store
			c.Store = slow
		})
		conf := ce.oauthConfig()
		web := []string{ce.webID, ce.webSecret}
		for round := range 20 {
			slow.delay.Store(int64(round%2) * int64(5*time.Millisecond))
			v := oauth2.GenerateVerifier()
			loc := ce.authorize(t, ce.browser("u1.alice"), conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {v}}
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				issued []resp
			)
			start := make(chan struct{})
			for range 20 {
				wg.Go(func() {
					<-start
					r := ce.token(form, web)
					switch {
					case r.status == 200:
						mu.Lock()
						issued = append(issued, r)
						mu.Unlock()
					default:
						wantError(t, fmt.Sprintf("round %d: concurrent redemption", round), r, 400, "invalid_grant")
					}
				})
			}
			close(start)
			wg.Wait()
			if len(issued) > 1 {
				t.Fatalf("round %d: concurrent redemptions that got tokens = %d of 20, want at most 1", round, len(issued))
			}
			for _, tok := range issued {
				if r := ce.get("/api/whoami", tok.str("access_token")); !wantStatus(t, fmt.Sprintf("round %d: access token of a replayed code", round), r, 401) {
					t.FailNow()
				}
				if r := ce.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, web); !wantError(t, fmt.Sprintf("round %d: refresh token of a replayed code", round), r, 400, "invalid_grant") {
					t.FailNow()
				}
			}
		}
	})
}

// TestInsecureAllowNoPKCE: the setting lets confidential clients ask for a
// code without PKCE; public clients still must send a code_challenge, and
// are answered invalid_request at their redirect URI.
func TestInsecureAllowNoPKCE(t *testing.T) {
	t.Parallel()
	ce := newCodeEnv(t, "memory", func(c *ginoauth.Config) { c.InsecureAllowNoPKCE = true })
	b := ce.browser("u1.alice")
	for _, tc := range []struct {
		name, clientID, redirect string
		consent                  bool // else an invalid_request redirect
	}{
		{"confidential", ce.webID, testRedirect, true},
		{"public", ce.nativeID, "http://127.0.0.1:53682/callback", false},
	} {
		q := url.Values{"response_type": {"code"}, "client_id": {tc.clientID}, "redirect_uri": {tc.redirect}, "state": {"s1"}}
		pg := fetch(t, b, "GET", ce.srv.URL+"/o/authorize/?"+q.Encode(), nil)
		if tc.consent {
			if pg.status != 200 {
				t.Errorf("%s client without PKCE: status = %d, want 200 (the consent page)", tc.name, pg.status)
			}
			if pg.location != nil {
				t.Errorf("%s client without PKCE: location = %v, want none (the consent page)", tc.name, pg.location)
			}
			continue
		}
		if pg.status != 302 {
			t.Errorf("%s client without PKCE: status = %d, want 302", tc.name, pg.status)
		}
		if pg.location == nil {
			t.Errorf("%s client without PKCE: no location, want a redirect to %s", tc.name, tc.redirect)
			continue
		}
		if got := pg.location.String(); !strings.HasPrefix(got, tc.redirect+"?") {
			t.Errorf("%s client without PKCE: location = %s, want it to start with %s?", tc.name, got, tc.redirect)
		}
		if got := pg.location.Query().Get("error"); got != "invalid_request" {
			t.Errorf("%s client without PKCE: error = %q, want %q", tc.name, got, "invalid_request")
		}
		if got := pg.location.Query().Get("state"); got != "s1" {
			t.Errorf("%s client without PKCE: state = %q, want %q", tc.name, got, "s1")
		}
	}
}

// TestNoPKCECodeRedeemedByPublicClient: a code issued without PKCE (to a
// confidential client, under InsecureAllowNoPKCE) is refused if the client
// has become public by the time it is redeemed: public clients always need
// PKCE, at the token endpoint too.
func TestNoPKCECodeRedeemedByPublicClient(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, func(c *ginoauth.Config) { c.InsecureAllowNoPKCE = true })
		code := ce.authorize(t, ce.browser("u1.alice"), ce.oauthConfig().AuthCodeURL("s")).Query().Get("code")
		if _, err := ce.p.UpdateApplication(context.Background(), ce.webID, func(a *store.Application) error {
			a.ClientType = store.Public
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "client_id": {ce.webID}}
		if !wantError(t, "public client redeeming a code issued without PKCE", ce.token(f, nil), 400, "invalid_grant") {
			t.FailNow()
		}
	})
}

// TestFreshFamilySaves: the grants that open a new family store their
// tokens through store.FreshTokenSaver, which skips the revocation check;
// a code exchange, whose family a replay of the code may have revoked,
// goes through SaveTokens (TestConcurrentCodeReplayRevokes shows why).
func TestFreshFamilySaves(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		v := oauth2.GenerateVerifier()
		loc := ce.authorize(t, ce.browser("u1.alice"), ce.oauthConfig().AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
		code := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {v}}
		for _, tc := range []struct {
			name                string
			get                 func() resp
			wantFresh, wantSave int64
		}{
			{"client_credentials", ce.ccToken, 1, 0},
			{"password", func() resp { return ce.passwordToken("") }, 1, 0},
			{"authorization_code", func() resp { return ce.token(code, []string{ce.webID, ce.webSecret}) }, 0, 1},
		} {
			fresh, saves := ce.st.freshSaves.Load(), ce.st.saves.Load()
			if r := tc.get(); !wantStatus(t, tc.name, r, 200) {
				continue
			}
			if got := ce.st.freshSaves.Load() - fresh; got != tc.wantFresh {
				t.Errorf("%s: SaveFreshTokens calls = %d, want %d", tc.name, got, tc.wantFresh)
			}
			if got := ce.st.saves.Load() - saves; got != tc.wantSave {
				t.Errorf("%s: SaveTokens calls = %d, want %d", tc.name, got, tc.wantSave)
			}
		}
	})
}
