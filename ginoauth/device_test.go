package ginoauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// deviceEnv serves a provider whose store backs the device grant, with a
// "test_user" cookie session, a public client (tvID) and a confidential
// one (consoleID) allowed the grant, and a public one that is not
// (plainID).
type deviceEnv struct {
	p                 *ginoauth.Provider
	srv               *httptest.Server
	clock             *atomic.Pointer[time.Time]
	tvID, otherTVID   string
	consoleID, secret string
	plainID           string
}

func testSessions(c *gin.Context) (*ginoauth.Owner, error) {
	v, err := c.Cookie("test_user")
	if err != nil || v == "" {
		return nil, nil
	}
	id, name, _ := strings.Cut(v, ".")
	return &ginoauth.Owner{ID: id, Username: name}, nil
}

// newDeviceProvider builds a provider on st with a settable clock.
func newDeviceProvider(t *testing.T, st store.Store, clock *atomic.Pointer[time.Time], mod func(*ginoauth.Config)) (*ginoauth.Provider, *httptest.Server) {
	t.Helper()
	cfg := ginoauth.Config{
		Store:         st,
		SecretKey:     []byte("0123456789abcdef0123456789abcdef"),
		Scopes:        map[string]string{"read": "Read", "write": "Write"},
		DefaultScopes: []string{"read"},
		Sessions:      ginoauth.SessionFunc(testSessions),
		Now:           func() time.Time { return *clock.Load() },
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := ginoauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, newServer(t, p)
}

func newDeviceEnv(t *testing.T, kind string, mod func(*ginoauth.Config)) *deviceEnv {
	t.Helper()
	clock := &atomic.Pointer[time.Time]{}
	now := time.Now()
	clock.Store(&now)
	p, srv := newDeviceProvider(t, newStore(t, kind), clock, mod)
	de := &deviceEnv{p: p, srv: srv, clock: clock}
	de.createApps(t)
	return de
}

func (de *deviceEnv) createApps(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	mk := func(name string, ct store.ClientType, grants ...string) (string, string) {
		app, secret, err := de.p.CreateApplication(ctx, ginoauth.NewApplication{Name: name, ClientType: ct, GrantTypes: grants})
		if err != nil {
			t.Fatal(err)
		}
		return app.ClientID, secret
	}
	de.tvID, _ = mk("Living room TV", store.Public, store.GrantDeviceCode)
	de.otherTVID, _ = mk("Other TV", store.Public, store.GrantDeviceCode)
	de.consoleID, de.secret = mk("Console", store.Confidential, store.GrantDeviceCode)
	de.plainID, _ = mk("Plain", store.Public, store.GrantPassword)
}

func (de *deviceEnv) advance(d time.Duration) {
	n := de.clock.Load().Add(d)
	de.clock.Store(&n)
}

func postForm(t *testing.T, u string, form url.Values, basic ...string) resp {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, body: map[string]any{}}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("POST %s: status %d, body not JSON: %s", u, res.StatusCode, raw)
	}
	return r
}

// start asks for a device authorization for the public client id.
func (de *deviceEnv) start(t *testing.T, srvURL, clientID string) (deviceCode, userCode string) {
	t.Helper()
	r := postForm(t, srvURL+"/o/device_authorization/", url.Values{"client_id": {clientID}, "scope": {"read"}})
	if r.status != 200 {
		t.Fatalf("device authorization: %d %v", r.status, r.body)
	}
	return r.str("device_code"), r.str("user_code")
}

func poll(t *testing.T, srvURL, clientID, deviceCode string) resp {
	t.Helper()
	return postForm(t, srvURL+"/o/token/", url.Values{
		"grant_type": {store.GrantDeviceCode}, "client_id": {clientID}, "device_code": {deviceCode},
	})
}

// decide enters userCode at the verification page as user and answers the
// consent page; it returns the final page.
func decide(t *testing.T, b *http.Client, srvURL, userCode string, allow bool) page {
	t.Helper()
	pg := fetch(t, b, "GET", srvURL+"/o/device/?user_code="+url.QueryEscape(userCode), nil)
	if pg.status != 200 || !strings.Contains(pg.body, `value="`+userCode+`"`) {
		t.Fatalf("verification page: %d, want the code prefilled: %s", pg.status, pg.body)
	}
	f := consentForm(t, pg.body)
	f.Set("user_code", userCode)
	pg = fetch(t, b, "POST", srvURL+"/o/device/", f)
	if pg.status != 200 || !strings.Contains(pg.body, `id="allow"`) {
		t.Fatalf("consent page: %d: %s", pg.status, pg.body)
	}
	f = consentForm(t, pg.body)
	if allow {
		f.Set("allow", "Authorize")
	} else {
		f.Set("deny", "Cancel")
	}
	return fetch(t, b, "POST", srvURL+"/o/device/", f)
}

func deviceBrowser(user string, srvURL string) *http.Client {
	ce := &codeEnv{env: &env{srv: &httptest.Server{URL: srvURL}}}
	return ce.browser(user)
}

// TestDeviceFlowWithXOAuth2 runs the device flow as golang.org/x/oauth2
// does it (DeviceAuth, DeviceAccessToken polling while the user approves
// at the verification page), then uses the token and replays the code.
func TestDeviceFlowWithXOAuth2(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		de := newDeviceEnv(t, kind, func(c *ginoauth.Config) {
			c.Now = time.Now
			c.Device.PollInterval = time.Second
		})
		cfg := &oauth2.Config{ClientID: de.tvID, Scopes: []string{"read"}, Endpoint: oauth2.Endpoint{
			DeviceAuthURL: de.srv.URL + "/o/device_authorization/", TokenURL: de.srv.URL + "/o/token/", AuthStyle: oauth2.AuthStyleInParams,
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		da, err := cfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(da.UserCode) != 9 || da.UserCode[4] != '-' || da.VerificationURI != de.srv.URL+"/o/device/" ||
			da.VerificationURIComplete != da.VerificationURI+"?user_code="+da.UserCode || da.Interval != 1 ||
			!strings.HasPrefix(da.DeviceCode, "godc_") || time.Until(da.Expiry) < 9*time.Minute {
			t.Fatalf("device authorization: %+v", da)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		done := make(chan result, 1)
		go func() {
			tok, err := cfg.DeviceAccessToken(ctx, da)
			done <- result{tok, err}
		}()
		time.Sleep(1500 * time.Millisecond) // a poll or two answered authorization_pending
		// The user types the code in lower case without the dash.
		b := deviceBrowser("u1.alice", de.srv.URL)
		pg := decide(t, b, de.srv.URL, strings.ToLower(strings.ReplaceAll(da.UserCode, "-", "")), true)
		if pg.status != 200 || !strings.Contains(pg.body, `id="done"`) {
			t.Fatalf("decision: %d %s", pg.status, pg.body)
		}
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.tok.RefreshToken == "" || res.tok.Extra("scope") != "read" {
			t.Fatalf("token: %+v", res.tok)
		}
		req, _ := http.NewRequest("GET", de.srv.URL+"/api/whoami", nil)
		res.tok.SetAuthHeader(req)
		r := (&env{t: t, srv: de.srv}).do(req)
		if r.status != 200 || r.str("user") != "alice" || r.str("client") != de.tvID {
			t.Fatalf("whoami: %d %v", r.status, r.body)
		}
		// Polled after success: invalid_grant, nothing issued.
		again := poll(t, de.srv.URL, de.tvID, da.DeviceCode)
		wantError(t, "poll after success", again, 400, "invalid_grant")
	})
}

// TestDeviceTokenErrors polls device codes in each state the RFC 8628
// section 3.5 answers tell apart, on a frozen clock.
func TestDeviceTokenErrors(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		de := newDeviceEnv(t, kind, nil)
		u := de.srv.URL
		b := deviceBrowser("u1.alice", u)
		pending, _ := de.start(t, u, de.tvID)
		slow, _ := de.start(t, u, de.tvID)
		if r := poll(t, u, de.tvID, slow); r.str("error") != "authorization_pending" {
			t.Fatalf("first poll: %v", r.body)
		}
		denied, deniedUC := de.start(t, u, de.tvID)
		decide(t, b, u, deniedUC, false)
		approved, approvedUC := de.start(t, u, de.tvID)
		decide(t, b, u, approvedUC, true)
		used, usedUC := de.start(t, u, de.tvID)
		decide(t, b, u, usedUC, true)
		if r := poll(t, u, de.tvID, used); r.status != 200 || r.str("access_token") == "" {
			t.Fatalf("approved poll: %d %v", r.status, r.body)
		}
		forged := pending[:len(pending)-2] + "AA"
		cases := []struct {
			name, client, code string
			status             int
			want               string
		}{
			{"pending", de.tvID, pending, 400, "authorization_pending"},
			{"polled again at once", de.tvID, slow, 400, "slow_down"},
			{"denied", de.tvID, denied, 400, "access_denied"},
			{"another client's code", de.otherTVID, approved, 400, "invalid_grant"},
			{"polled after success", de.tvID, used, 400, "invalid_grant"},
			{"forged code", de.tvID, forged, 400, "invalid_grant"},
			{"not a device code", de.tvID, "goac_nothing", 400, "invalid_grant"},
			{"missing code", de.tvID, "", 400, "invalid_request"},
			{"client without the grant", de.plainID, pending, 400, "unauthorized_client"},
		}
		for _, tc := range cases {
			wantError(t, tc.name, poll(t, u, tc.client, tc.code), tc.status, tc.want)
		}
		// The approved code still gets its tokens after the wrong client's try.
		if r := poll(t, u, de.tvID, approved); r.status != 200 {
			t.Errorf("approved poll after another client's: %d %v", r.status, r.body)
		}
		de.advance(11 * time.Minute)
		wantError(t, "expired", poll(t, u, de.tvID, pending), 400, "expired_token")
		wantError(t, "expired, after success", poll(t, u, de.tvID, used), 400, "invalid_grant")
		pg := decide2(t, b, u, "BCDF-GHJK")
		wantPageStatus(t, "unknown user code", pg, 400)
	})
}

// decide2 enters a user code and returns the page that answers it.
func decide2(t *testing.T, b *http.Client, srvURL, userCode string) page {
	t.Helper()
	pg := fetch(t, b, "GET", srvURL+"/o/device/", nil)
	f := consentForm(t, pg.body)
	f.Set("user_code", userCode)
	return fetch(t, b, "POST", srvURL+"/o/device/", f)
}

// TestDeviceAuthorizationEndpoint checks client authentication and the
// parameters at the device authorization endpoint, and the metadata.
func TestDeviceAuthorizationEndpoint(t *testing.T) {
	t.Parallel()
	de := newDeviceEnv(t, "redis", nil)
	u := de.srv.URL + "/o/device_authorization/"
	ok := postForm(t, u, url.Values{"scope": {"read write"}}, de.consoleID, de.secret)
	if ok.status != 200 || ok.str("device_code") == "" || ok.body["expires_in"] != float64(600) || ok.body["interval"] != float64(5) {
		t.Fatalf("confidential client: %d %v", ok.status, ok.body)
	}
	wantError(t, "wrong secret", postForm(t, u, url.Values{}, de.consoleID, "nope"), 401, "invalid_client")
	wantError(t, "confidential client without secret", postForm(t, u, url.Values{"client_id": {de.consoleID}}), 401, "invalid_client")
	wantError(t, "no client", postForm(t, u, url.Values{}), 401, "invalid_client")
	wantError(t, "client without the grant", postForm(t, u, url.Values{"client_id": {de.plainID}}), 400, "unauthorized_client")
	wantError(t, "unknown scope", postForm(t, u, url.Values{"client_id": {de.tvID}, "scope": {"admin"}}), 400, "invalid_scope")
	r := (&env{t: t, srv: de.srv}).get("/.well-known/oauth-authorization-server", "")
	if r.str("device_authorization_endpoint") != u {
		t.Errorf("metadata device_authorization_endpoint = %q, want %q", r.str("device_authorization_endpoint"), u)
	}
	// The verification page needs a login.
	pg := fetch(t, deviceBrowser("", de.srv.URL), "GET", de.srv.URL+"/o/device/?user_code=BCDF-GHJK", nil)
	if pg.status != 302 || !strings.HasPrefix(pg.location.Path, "/accounts/login/") {
		t.Errorf("verification page without login: %d %v", pg.status, pg.location)
	}
}

// TestDeviceUserCodeGuessing: user code entries are limited per user.
func TestDeviceUserCodeGuessing(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		de := newDeviceEnv(t, kind, func(c *ginoauth.Config) { c.Device.UserCodeAttemptsPerUser = 3 })
		_, uc := de.start(t, de.srv.URL, de.tvID)
		b := deviceBrowser("u2.mallory", de.srv.URL)
		for i, guess := range []string{"BCDF-GHJK", "BCDF-GHJL", "bcdfghjm"} {
			wantPageStatus(t, "guess "+strconv.Itoa(i), decide2(t, b, de.srv.URL, guess), 400)
		}
		pg := decide2(t, b, de.srv.URL, uc)
		if wantPageStatus(t, "right code after the limit", pg, 429) && pg.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		// Another user is not limited by mallory's guesses.
		if pg := decide(t, deviceBrowser("u1.alice", de.srv.URL), de.srv.URL, uc, true); pg.status != 200 {
			t.Errorf("alice: %d", pg.status)
		}
	})
}

// TestDeviceTwoInstances runs two providers on one Redis: a poll on one
// and then at once on the other is slowed down, and of concurrent polls of
// an approved code on both exactly one gets tokens.
func TestDeviceTwoInstances(t *testing.T) {
	t.Parallel()
	if !redistest.UsingRealServer() {
		t.Skip("needs a real Redis (REDIS_URL)")
	}
	client, prefix := redistest.Client(t)
	clock := &atomic.Pointer[time.Time]{}
	now := time.Now()
	clock.Store(&now)
	var urls []string
	var first *ginoauth.Provider
	for range 2 {
		st, err := redisstore.New(client, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		p, srv := newDeviceProvider(t, st, clock, nil)
		if first == nil {
			first = p
		}
		urls = append(urls, srv.URL)
	}
	de := &deviceEnv{p: first, clock: clock}
	de.createApps(t)
	code, _ := de.start(t, urls[0], de.tvID)
	wantError(t, "poll on A", poll(t, urls[0], de.tvID, code), 400, "authorization_pending")
	wantError(t, "poll on B at once", poll(t, urls[1], de.tvID, code), 400, "slow_down")
	de.advance(6 * time.Second)
	wantError(t, "poll on B after 6 s (interval now 10 s)", poll(t, urls[1], de.tvID, code), 400, "slow_down")

	code, uc := de.start(t, urls[0], de.tvID)
	decide(t, deviceBrowser("u1.alice", urls[1]), urls[1], uc, true)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := poll(t, urls[i%2], de.tvID, code)
			switch {
			case r.status == 200:
				wins.Add(1)
			case r.str("error") != "invalid_grant":
				t.Errorf("concurrent poll: %d %v", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d polls got tokens, want 1", wins.Load())
	}
	// A poll after success, on either instance, changes nothing stored.
	ctx := context.Background()
	snapshot := func() (string, []string) {
		rec, err := client.HGetAll(ctx, prefix+"{"+code[5:5+12]+"}d").Result()
		if err != nil || len(rec) == 0 {
			t.Fatalf("device record: %v %v", rec, err)
		}
		keys, err := redistest.Keys(ctx, client, prefix)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		b, _ := json.Marshal(rec)
		return string(b), keys
	}
	rec0, keys0 := snapshot()
	for _, u := range urls {
		wantError(t, "poll after success", poll(t, u, de.tvID, code), 400, "invalid_grant")
	}
	rec1, keys1 := snapshot()
	if rec0 != rec1 || strings.Join(keys0, " ") != strings.Join(keys1, " ") {
		t.Errorf("a poll after success changed the store:\n%s\n%s\n%v\n%v", rec0, rec1, keys0, keys1)
	}
}

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdf-ghjk": "BCDFGHJK", " bcdf ghjk ": "BCDFGHJK", "B-C-D-F-G-H-J-K": "BCDFGHJK",
		"BCDF-GHJ": "", "BCDF-GHJKL": "", "ABCD-FGHJ": "", "BCDF-GHJ0": "", "BCDF-GHJİ": "", "": "",
	} {
		if got := ginoauth.NormalizeUserCode(in); got != want {
			t.Errorf("NormalizeUserCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzNormalizeUserCode: a normalised code is a fixed point, of the
// alphabet, and survives formatting and case changes.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "ſ", "İ", "k\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := ginoauth.NormalizeUserCode(s)
		if n == "" {
			return
		}
		if len(n) != ginoauth.UserCodeLength || strings.Trim(n, ginoauth.UserCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q", s, n)
		}
		for _, v := range []string{n, ginoauth.FormatUserCode(n), strings.ToLower(ginoauth.FormatUserCode(n))} {
			if got := ginoauth.NormalizeUserCode(v); got != n {
				t.Fatalf("NormalizeUserCode(%q) = %q, want %q", v, got, n)
			}
		}
	})
}
