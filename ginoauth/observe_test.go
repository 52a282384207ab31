package ginoauth_test

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/observe"
)

// recorder is an observe.Observer that lists the events it got.
type recorder struct {
	observe.Nop
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) TokenIssued(g string)               { r.add("issued " + g) }
func (r *recorder) CacheSize(n int)                    { r.add(fmt.Sprintf("cache size %d", n)) }
func (r *recorder) CacheInvalidationLag(time.Duration) { r.add("cache lag") }
func (r *recorder) Validation(res string)              { r.add("validation " + res) }
func (r *recorder) Revocation(k string)                { r.add("revocation " + k) }
func (r *recorder) CodeReplay()                        { r.add("code replay") }
func (r *recorder) RefreshTokenReuse()                 { r.add("refresh reuse") }

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// TestObserverCodeReplay: a code redeemed twice reports one issue and one
// replay, and nothing else (the replay's revocation is not a revocation
// asked for).
func TestObserverCodeReplay(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		rec := &recorder{}
		ce := newCodeEnv(t, kind, func(c *ginoauth.Config) { c.Observer = rec })
		conf := ce.oauthConfig()
		v := oauth2.GenerateVerifier()
		loc := ce.authorize(t, ce.browser("u1.alice"), conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {v}}
		web := []string{ce.webID, ce.webSecret}
		if r := ce.token(form, web); r.status != 200 {
			t.Fatalf("first redemption: got %d, want 200", r.status)
		}
		if r := ce.token(form, web); r.status != 400 {
			t.Errorf("second redemption: got %d, want 400", r.status)
		}
		want := []string{"issued authorization_code", "code replay"}
		if got := rec.got(); !slices.Equal(got, want) {
			t.Errorf("events: got %q, want %q", got, want)
		}
	})
}

// TestObserverRevokeGrantsAndDeleteApplication: deleting an application
// revokes its tokens without listing them (the application's generation is
// gone), so it counts one application revocation, no family.
func TestObserverRevokeGrantsAndDeleteApplication(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		rec := &recorder{}
		ce := newCodeEnv(t, kind, func(c *ginoauth.Config) { c.Observer = rec })
		conf := ce.oauthConfig()
		for range 2 {
			v := oauth2.GenerateVerifier()
			loc := ce.authorize(t, ce.browser("u1.alice"), conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {v}}
			if r := ce.token(form, []string{ce.webID, ce.webSecret}); r.status != 200 {
				t.Fatalf("code redemption: got %d, want 200", r.status)
			}
		}
		if err := ce.p.DeleteApplication(t.Context(), ce.webID); err != nil {
			t.Fatal(err)
		}
		want := []string{"issued authorization_code", "issued authorization_code", "revocation application"}
		if got := rec.got(); !slices.Equal(got, want) {
			t.Errorf("events: got %q, want %q", got, want)
		}
	})
}

// TestTokenSpan: each token request makes one ginoauth.token span with
// the registered grant type and the error code, and no attribute holds
// the secret, the password or a token; an unsupported grant_type value is
// not recorded.
func TestTokenSpan(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.TracerProvider = tp })
	ok := e.token(url.Values{"grant_type": {"password"}, "username": {e.username}, "password": {e.password}}, []string{e.confID, e.secret})
	if ok.status != 200 {
		t.Fatalf("password grant: got %d, want 200", ok.status)
	}
	e.token(url.Values{"grant_type": {"client_credentials"}}, []string{e.confID, "wrong-secret"})
	e.token(url.Values{"grant_type": {"goat_made-up"}}, []string{e.confID, e.secret})

	spans := sr.Ended()
	if len(spans) != 3 {
		t.Fatalf("spans: got %d, want 3", len(spans))
	}
	attrs := func(i int) map[string]string {
		m := map[string]string{}
		for _, kv := range spans[i].Attributes() {
			m[string(kv.Key)] = kv.Value.Emit()
		}
		return m
	}
	for i, want := range []map[string]string{
		{"oauth.grant_type": "password"},
		{"oauth.grant_type": "client_credentials", "oauth.error": "invalid_client", "http.response.status_code": "401"},
		{"oauth.error": "unsupported_grant_type", "http.response.status_code": "400"},
	} {
		if spans[i].Name() != "ginoauth.token" {
			t.Errorf("span %d: name %q, want ginoauth.token", i, spans[i].Name())
		}
		if got := attrs(i); !maps.Equal(got, want) {
			t.Errorf("span %d: attributes %v, want %v", i, got, want)
		}
	}
	for i := range spans {
		for _, v := range attrs(i) {
			for _, secret := range []string{e.secret, e.password, "goat_", "gort_"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %d holds a secret, password or token: %q", i, v)
				}
			}
		}
	}
}
