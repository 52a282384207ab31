package ginoauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TestValidationCacheEveryRevocationPath: two instances on one Redis, both
// with the validation cache. For each way a token is revoked (the revoke
// endpoint, refresh token reuse, revoketokens for a user, the
// authorized-tokens page, a replayed authorization code,
// deleteapplication), instance B first answers the token from its cache,
// then, once the revocation was made through instance A, refuses it
// within a second.
func TestValidationCacheEveryRevocationPath(t *testing.T) {
	t.Parallel()
	var rs store.Store // the redisstore itself, which publishes revocations
	ce, _, _ := newRedisCodeEnv(t, func(c *ginoauth.Config) {
		rs = c.Store.(*countingStore).Store
		c.Store, c.ValidationCache = rs, true
	})
	a := ce.env
	recB := &recorder{}
	pb, err := ginoauth.New(ginoauth.Config{Store: rs, SecretKey: []byte("0123456789abcdef0123456789abcdef"), ValidationCache: true, Observer: recB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pb.Close() })
	b := *a
	b.p, b.srv = pb, newServer(t, pb)
	if !eventually(2*time.Second, func() bool { return a.p.ValidationCacheLive() && pb.ValidationCacheLive() }) {
		t.Fatal("the validation caches: not live after 2 s, want live")
	}
	ctx := context.Background()
	doomed, doomedSecret, err := a.p.CreateApplication(ctx, ginoauth.NewApplication{
		Name: "doomed", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	web := []string{ce.webID, ce.webSecret}
	// codeTokens runs the code flow on A; the form redeems the code again.
	codeTokens := func() (resp, url.Values) {
		v := oauth2.GenerateVerifier()
		loc := ce.authorize(t, ce.browser("u1.alice"), ce.oauthConfig().AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {v}}
		r := a.token(form, web)
		if r.status != 200 {
			t.Fatalf("code redemption: status = %d, want 200 (body %v)", r.status, r.body)
		}
		return r, form
	}
	var replay url.Values
	for _, tc := range []struct {
		name   string
		token  func() resp              // issued through A
		revoke func(tok resp) (ok bool) // through A
	}{
		{"revoke endpoint",
			func() resp { return a.passwordToken("read") },
			func(tok resp) bool {
				req, _ := http.NewRequest("POST", a.srv.URL+"/o/revoke_token/", strings.NewReader(url.Values{"token": {tok.str("access_token")}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(a.confID, a.secret)
				return a.do(req).status == 200
			}},
		{"refresh token reuse",
			func() resp {
				first := a.passwordToken("read")
				rotated := a.refresh(first.str("refresh_token"))
				rotated.body["first_refresh_token"] = first.str("refresh_token")
				return rotated
			},
			func(tok resp) bool {
				// The rotated-away refresh token presented again: the grant is revoked.
				return a.refresh(tok.str("first_refresh_token")).status == 400
			}},
		{"revoketokens for a user",
			func() resp { return a.passwordToken("read") },
			func(resp) bool {
				n, err := a.p.RevokeGrants(ctx, store.GrantFilter{UserID: "u1"})
				return err == nil && n > 0
			}},
		{"authorized-tokens page",
			func() resp { tok, _ := codeTokens(); return tok },
			func(tok resp) bool {
				fam := tokenKey(t, tok.str("access_token")).Family
				return ce.postForm(t, ce.browser("u1.alice"), tokensPath+fam+"/delete/", nil).status == http.StatusSeeOther
			}},
		{"replayed authorization code",
			func() resp { tok, form := codeTokens(); replay = form; return tok },
			func(resp) bool { return a.token(replay, web).status == 400 }},
		{"deleteapplication",
			func() resp {
				r := a.token(url.Values{"grant_type": {"client_credentials"}}, []string{doomed.ClientID, doomedSecret})
				if r.status != 200 {
					t.Fatalf("client_credentials: status = %d, want 200 (body %v)", r.status, r.body)
				}
				return r
			},
			func(resp) bool { return a.p.DeleteApplication(ctx, doomed.ClientID) == nil }},
	} {
		tok := tc.token()
		// B answers the token from its cache: the first request caches it,
		// the second hits, unless an invalidation of the family from its
		// issuance (a rotation publishes one) arrived in between.
		hits := countEvents(recB, "validation cache_hit")
		tries := 0
		if !eventually(time.Second, func() bool {
			tries++
			if !b.works(tok) {
				t.Fatalf("%s: B refuses the fresh token, want it accepted", tc.name)
			}
			return countEvents(recB, "validation cache_hit") > hits
		}) {
			t.Fatalf("%s: B's cache hits over %d requests = 0, want at least 1", tc.name, tries)
		}
		start := time.Now()
		if !tc.revoke(tok) {
			t.Fatalf("%s: the revocation through A failed", tc.name)
		}
		refused := eventually(time.Second, func() bool { return !b.works(tok) })
		took := time.Since(start)
		if !refused || took > time.Second+200*time.Millisecond { // eventually checks once more after its second
			t.Errorf("%s: B still accepts the token 1 s after the revocation through A (refused: %v, after %v)", tc.name, refused, took)
			continue
		}
		t.Logf("%s: refused by B after %v", tc.name, took.Round(time.Millisecond))
	}
}

// countEvents counts what r recorded that equals e.
func countEvents(r *recorder, e string) int {
	n := 0
	for _, got := range r.got() {
		if got == e {
			n++
		}
	}
	return n
}
