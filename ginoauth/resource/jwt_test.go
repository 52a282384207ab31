package resource_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/dpop/dpoptest"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

const testIssuer = "https://auth.example.com"

// jwksServer serves a JWK Set that a test can change, counting requests.
type jwksServer struct {
	mu    sync.Mutex
	keys  []jose.JSONWebKey
	down  bool
	body  string // served instead of the set when not empty
	hits  atomic.Int64
	srv   *httptest.Server
	url   string
	clock *testClock
}

func newJWKSServer(t testing.TB) *jwksServer {
	t.Helper()
	js := &jwksServer{clock: newTestClock()}
	js.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.hits.Add(1)
		js.mu.Lock()
		defer js.mu.Unlock()
		switch {
		case js.down:
			http.Error(w, "down", http.StatusServiceUnavailable)
		case js.body != "":
			_, _ = w.Write([]byte(js.body))
		default:
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: js.keys})
		}
	}))
	t.Cleanup(js.srv.Close)
	js.url = js.srv.URL + "/o/.well-known/jwks.json"
	return js
}

// signer is a key of the set: it signs JWTs the server's way.
type signer struct {
	kid string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func newSigner(t testing.TB, kid string, alg jose.SignatureAlgorithm) *signer {
	t.Helper()
	var k crypto.Signer
	var err error
	if alg == jose.ES256 {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &signer{kid: kid, alg: alg, key: k}
}

func (s *signer) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
}

func (js *jwksServer) publish(s ...*signer) {
	js.mu.Lock()
	defer js.mu.Unlock()
	for _, k := range s {
		js.keys = append(js.keys, k.jwk())
	}
}

// sign makes a JWT with the header typ and the claims.
func (s *signer) sign(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), s.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// goodClaims are an RFC 9068 access token's claims for alice.
func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "u1", "aud": "https://api.example.com/", "client_id": "c1",
		"scope": "read write", "jti": "j1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"preferred_username": "alice",
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for key, val := range m {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func jwtIntrospector(t *testing.T, js *jwksServer, mod func(*resource.IntrospectionConfig)) *resource.Introspector {
	t.Helper()
	cfg := resource.IntrospectionConfig{JWKSURL: js.url, Issuer: testIssuer, Now: js.clock.Now(), Logger: quietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	return newIntrospector(t, cfg)
}

// TestJWTModeTokens: the JWT mode accepts RS256 and ES256 access tokens
// of the set and maps their claims, and refuses every other JWT with
// invalid_token (401 at the middleware), never a 503.
func TestJWTModeTokens(t *testing.T) {
	t.Parallel()
	js := newJWKSServer(t)
	rsa1, ec1 := newSigner(t, "rsa1", jose.RS256), newSigner(t, "ec1", jose.ES256)
	js.publish(rsa1, ec1)
	stranger := newSigner(t, "rsa1", jose.RS256) // same kid, another key
	in := jwtIntrospector(t, js, nil)
	ctx := context.Background()
	now := js.clock.now()
	good := goodClaims(now)

	for _, s := range []*signer{rsa1, ec1} {
		info, err := in.Validate(ctx, s.sign(t, "at+jwt", with(good, "cnf", map[string]any{"jkt": "thumb"})))
		if err != nil {
			t.Fatalf("%s: %v", s.alg, err)
		}
		if info.ClientID != "c1" || info.UserID != "u1" || info.Username != "alice" || strings.Join(info.Scopes, " ") != "read write" ||
			strings.Join(info.Audience, ",") != "https://api.example.com/" || info.JKT != "thumb" || info.ExpiresAt.Unix() != now.Add(time.Hour).Unix() {
			t.Errorf("%s: got %+v", s.alg, info)
		}
	}
	// A client's own token: sub is the client_id, no user (RFC 9068 2.2).
	if info, err := in.Validate(ctx, rsa1.sign(t, "application/AT+JWT", with(with(good, "sub", "c1"), "aud", []string{"a", "b"}))); err != nil || info.UserID != "" || len(info.Audience) != 2 {
		t.Errorf("client token: got %+v, %v; want no user and two audiences", info, err)
	}

	hs := func() string { // HS256 keyed with the RSA public key's DER
		der, _ := x509.MarshalPKIXPublicKey(rsa1.key.Public())
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"rsa1","typ":"at+jwt"}`))
		p, _ := json.Marshal(good)
		signing := h + "." + base64.RawURLEncoding.EncodeToString(p)
		m := hmac.New(sha256.New, der)
		m.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	none := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))
		p, _ := json.Marshal(good)
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}()
	for _, tc := range []struct{ name, token string }{
		{"wrong iss", rsa1.sign(t, "at+jwt", with(good, "iss", "https://evil.example.com"))},
		{"expired", rsa1.sign(t, "at+jwt", with(good, "exp", now.Add(-time.Second).Unix()))},
		{"no exp", rsa1.sign(t, "at+jwt", with(good, "exp", nil))},
		{"no iat", rsa1.sign(t, "at+jwt", with(good, "iat", nil))},
		{"iat in the future", rsa1.sign(t, "at+jwt", with(good, "iat", now.Add(time.Hour).Unix()))},
		{"nbf in the future", rsa1.sign(t, "at+jwt", with(good, "nbf", now.Add(time.Hour).Unix()))},
		{"no jti", rsa1.sign(t, "at+jwt", with(good, "jti", nil))},
		{"no client_id", rsa1.sign(t, "at+jwt", with(good, "client_id", nil))},
		{"no sub", rsa1.sign(t, "at+jwt", with(good, "sub", nil))},
		{"exp a string", rsa1.sign(t, "at+jwt", with(good, "exp", "tomorrow"))},
		{"aud a number", rsa1.sign(t, "at+jwt", with(good, "aud", 7))},
		{"typ JWT (an ID token)", rsa1.sign(t, "JWT", good)},
		{"no typ", rsa1.sign(t, "", good)},
		{"another key with a known kid", stranger.sign(t, "at+jwt", good)},
		{"alg none", none},
		{"HS256 with the public key", hs},
		{"payload changed", func() string {
			parts := strings.Split(rsa1.sign(t, "at+jwt", good), ".")
			p, _ := json.Marshal(with(good, "scope", "admin"))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}()},
		{"garbage", "eyJ.eyJ.x"},
	} {
		_, err := in.Validate(ctx, tc.token)
		if !errors.Is(err, oautherr.ErrInvalidToken) {
			t.Errorf("%s: got %v, want invalid_token", tc.name, err)
		}
	}

	// Through the middleware: 200 and 401.
	srv := newRS(t, in, resource.Options{Now: js.clock.Now()})
	if r := srv.get("/api/whoami", ec1.sign(t, "at+jwt", good)); r.status != 200 || r.str("user") != "alice" {
		t.Errorf("middleware, good token: %d %s", r.status, r.raw)
	}
	if r := srv.get("/api/whoami", none); r.status != 401 {
		t.Errorf("middleware, alg none: %d, want 401", r.status)
	}
}

// TestJWTModeKeySet: the set is fetched once and cached; an unknown kid
// refetches it (a rotation is picked up) at most once per 30 s; a set that
// cannot be fetched answers 503 when there is none cached, and the cached
// one otherwise; a redirect or an oversize set is a failure.
func TestJWTModeKeySet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	js := newJWKSServer(t)
	k1, k2 := newSigner(t, "k1", jose.ES256), newSigner(t, "k2", jose.ES256)
	in := jwtIntrospector(t, js, nil)
	good := goodClaims(js.clock.now())

	js.mu.Lock()
	js.down = true
	js.mu.Unlock()
	if _, err := in.Validate(ctx, k1.sign(t, "at+jwt", good)); !errors.Is(err, resource.ErrUpstreamUnavailable) {
		t.Fatalf("no set yet, JWKS down: got %v, want ErrUpstreamUnavailable", err)
	}
	srv := newRS(t, in, resource.Options{Now: js.clock.Now()})
	if r := srv.get("/api/whoami", k1.sign(t, "at+jwt", good)); r.status != 503 {
		t.Errorf("middleware, JWKS down: %d, want 503", r.status)
	}
	js.mu.Lock()
	js.down = false
	js.mu.Unlock()
	js.publish(k1)
	js.clock.add(time.Minute)
	good = goodClaims(js.clock.now())

	hits := js.hits.Load()
	for range 5 {
		if _, err := in.Validate(ctx, k1.sign(t, "at+jwt", good)); err != nil {
			t.Fatal(err)
		}
	}
	if got := js.hits.Load() - hits; got != 1 {
		t.Errorf("five tokens: JWKS fetched %d times, want once", got)
	}

	// A rotation, past the refetch interval: k2 appears; its first token
	// refetches the set.
	js.clock.add(31 * time.Second)
	js.publish(k2)
	hits = js.hits.Load()
	if _, err := in.Validate(ctx, k2.sign(t, "at+jwt", good)); err != nil {
		t.Errorf("new key after rotation: %v", err)
	}
	// Forged kids: within 30 s of that fetch, no more fetches.
	for i := range 20 {
		bogus := newSignerFast(k1, "bogus"+string(rune('a'+i)))
		if _, err := in.Validate(ctx, bogus.sign(t, "at+jwt", good)); !errors.Is(err, oautherr.ErrInvalidToken) {
			t.Errorf("unknown kid: got %v, want invalid_token", err)
		}
	}
	if got := js.hits.Load() - hits; got != 1 {
		t.Errorf("a rotation and 20 unknown kids: JWKS fetched %d times, want once", got)
	}

	// Past the TTL, with the server down: the cached set goes on.
	js.clock.add(resource.DefaultJWKSCacheTTL + time.Second)
	good = goodClaims(js.clock.now())
	js.mu.Lock()
	js.down = true
	js.mu.Unlock()
	if _, err := in.Validate(ctx, k1.sign(t, "at+jwt", good)); err != nil {
		t.Errorf("stale set, JWKS down: %v, want the cached set used", err)
	}

	// A set too big, or not a set at all, is a failure (503 with none cached).
	for name, body := range map[string]string{"oversize": `{"keys":[` + strings.Repeat(" ", 70<<10) + `]}`, "not a set": `<html>`} {
		js2 := newJWKSServer(t)
		js2.mu.Lock()
		js2.body = body
		js2.mu.Unlock()
		in2 := jwtIntrospector(t, js2, nil)
		if _, err := in2.Validate(ctx, k1.sign(t, "at+jwt", goodClaims(js2.clock.now()))); !errors.Is(err, resource.ErrUpstreamUnavailable) {
			t.Errorf("%s JWKS: got %v, want ErrUpstreamUnavailable", name, err)
		}
	}
	redirect := httptest.NewServer(http.RedirectHandler(js.url, http.StatusFound))
	t.Cleanup(redirect.Close)
	in3 := newIntrospector(t, resource.IntrospectionConfig{JWKSURL: redirect.URL, Issuer: testIssuer, Logger: quietLogger()})
	if _, err := in3.Validate(ctx, k1.sign(t, "at+jwt", goodClaims(time.Now()))); !errors.Is(err, resource.ErrUpstreamUnavailable) {
		t.Errorf("redirecting JWKS: got %v, want ErrUpstreamUnavailable", err)
	}
}

// newSignerFast is s's key under another kid.
func newSignerFast(s *signer, kid string) *signer { return &signer{kid: kid, alg: s.alg, key: s.key} }

// TestJWTModeConfig: the JWT mode's configuration errors.
func TestJWTModeConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  resource.IntrospectionConfig
	}{
		{"no issuer", resource.IntrospectionConfig{JWKSURL: "https://auth.example.com/jwks"}},
		{"plain http", resource.IntrospectionConfig{JWKSURL: "http://auth.example.com/jwks", Issuer: testIssuer}},
		{"relative", resource.IntrospectionConfig{JWKSURL: "/jwks", Issuer: testIssuer}},
		{"credentials without URL", resource.IntrospectionConfig{JWKSURL: "https://auth.example.com/jwks", Issuer: testIssuer, BearerToken: "x"}},
		{"negative TTL", resource.IntrospectionConfig{JWKSURL: "https://auth.example.com/jwks", Issuer: testIssuer, JWKSCacheTTL: -1}},
	} {
		if _, err := resource.NewIntrospector(tc.cfg); err == nil {
			t.Errorf("%s: NewIntrospector succeeded, want an error", tc.name)
		}
	}
	if _, err := resource.NewIntrospector(resource.IntrospectionConfig{JWKSURL: "http://127.0.0.1:1/jwks", Issuer: testIssuer}); err != nil {
		t.Errorf("loopback http: %v", err)
	}
}

// TestJWTModeWithProvider: a resource server with the JWT mode verifies a
// ginoauth provider's JWT access tokens with its published JWKS, without
// calling its introspection endpoint, and still introspects its opaque
// ones; a revocation at the provider is not seen before the token
// expires (the mode's documented bound), unlike with introspection.
func TestJWTModeWithProvider(t *testing.T) {
	t.Parallel()
	jwtAS := newRemoteAS(t, func(c *ginoauth.Config) {
		c.AccessTokenFormat = store.TokenFormatJWT
		c.Issuer = testIssuer
	})
	client, tr := counted(jwtAS.srv.Client(), 0)
	in := newIntrospector(t, resource.IntrospectionConfig{
		URL: jwtAS.introspectURL(), ClientID: jwtAS.clientID, ClientSecret: jwtAS.secret, HTTPClient: client,
		JWKSURL: jwtAS.srv.URL + "/o/.well-known/jwks.json", Issuer: testIssuer, Logger: quietLogger(),
	})
	srv := newRS(t, in, resource.Options{})
	at, _ := jwtAS.passwordToken("read")
	if !strings.HasPrefix(at, "eyJ") {
		t.Fatalf("token %.8s...: want a JWT", at)
	}
	for range 3 {
		if r := srv.get("/api/whoami", at); r.status != 200 || r.str("user") != "alice" || r.str("sub") != "u1" {
			t.Fatalf("JWT through the JWKS: %d %s", r.status, r.raw)
		}
	}
	if got := tr.calls.Load(); got != 1 {
		t.Errorf("calls to the provider for three requests: got %d, want 1 (the JWKS, no introspection)", got)
	}
	jwtAS.revoke(at)
	if r := srv.get("/api/whoami", at); r.status != 200 {
		t.Errorf("revoked JWT in JWT mode: %d, want 200 until it expires (documented)", r.status)
	}

	// An opaque token of the same server still goes to introspection.
	ctx := context.Background()
	if _, err := jwtAS.p.UpdateApplication(ctx, jwtAS.clientID, func(a *store.Application) error {
		a.AccessTokenFormat = store.TokenFormatOpaque
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	opaque := jwtAS.clientToken("read")
	if strings.HasPrefix(opaque, "eyJ") {
		t.Fatal("after the update: still a JWT, want an opaque token")
	}
	calls := tr.calls.Load()
	if r := srv.get("/api/whoami", opaque); r.status != 200 {
		t.Errorf("opaque token: %d %s", r.status, r.raw)
	}
	if tr.calls.Load() != calls+1 {
		t.Errorf("opaque token: %d calls, want one introspection", tr.calls.Load()-calls)
	}
}

// TestIntrospectionDPoP: an introspection answer for a DPoP-bound token
// (token_type DPoP, cnf.jkt; RFC 9449 section 6.2) gives TokenInfo.JKT; one
// that says DPoP but names no key is not usable.
func TestIntrospectionDPoP(t *testing.T) {
	t.Parallel()
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.PostForm.Get("token") {
		case "bound":
			_, _ = w.Write([]byte(`{"active":true,"token_type":"DPoP","client_id":"c","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`))
		default:
			_, _ = w.Write([]byte(`{"active":true,"token_type":"DPoP","client_id":"c"}`))
		}
	}))
	t.Cleanup(ep.Close)
	in := newIntrospector(t, resource.IntrospectionConfig{URL: ep.URL, ClientID: "rs", ClientSecret: "s", Logger: quietLogger()})
	info, err := in.Validate(context.Background(), "bound")
	if err != nil || info.JKT != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" {
		t.Errorf("DPoP-bound answer: got %+v, %v; want its jkt", info, err)
	}
	if _, err := in.Validate(context.Background(), "keyless"); !errors.Is(err, oautherr.ErrInvalidToken) {
		t.Errorf("DPoP answer without cnf.jkt: got %v, want invalid_token", err)
	}
}

// quietLogger drops the expected failure lines.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestJWTModeUnknownKeys: a key of the set that go-jose cannot read (an
// unknown kty, an unsupported curve) is skipped, as RFC 7517 section 5
// says, and the others still verify; a set of such keys only is an
// outage (503), not a set of none.
func TestJWTModeUnknownKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := newSigner(t, "k1", jose.ES256)
	known, err := json.Marshal(k.jwk())
	if err != nil {
		t.Fatal(err)
	}
	const odd = `{"kty":"XYZ","kid":"odd"},{"kty":"OKP","crv":"X448","kid":"x448","x":"AAAA"}`
	for _, tc := range []struct {
		name, body string
		wantErr    error
	}{
		{"unknown keys beside a known one", `{"keys":[` + odd + `,` + string(known) + `]}`, nil},
		{"unknown keys only", `{"keys":[` + odd + `]}`, resource.ErrUpstreamUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := newJWKSServer(t)
			js.body = tc.body
			in := jwtIntrospector(t, js, nil)
			_, err := in.Validate(ctx, k.sign(t, "at+jwt", goodClaims(js.clock.now())))
			if (tc.wantErr == nil && err != nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("Validate: got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// FuzzJWTMode: whatever the string, the JWT mode answers a token (with a
// client and an expiry) or invalid_token, never another error or a panic.
func FuzzJWTMode(f *testing.F) {
	js := newJWKSServer(f)
	k := newSigner(f, "k1", jose.ES256)
	js.publish(k)
	in, err := resource.NewIntrospector(resource.IntrospectionConfig{JWKSURL: js.url, Issuer: testIssuer, Now: js.clock.Now(), Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	good := k.sign(f, "at+jwt", goodClaims(js.clock.now()))
	f.Add(good)
	f.Add(k.sign(f, "JWT", goodClaims(js.clock.now())))
	f.Add(good[:len(good)-3])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJ..")
	ctx := context.Background()
	if _, err := in.Validate(ctx, good); err != nil {
		f.Fatal(err) // the set is cached from here on
	}
	f.Fuzz(func(t *testing.T, tok string) {
		info, err := in.Validate(ctx, tok)
		switch {
		case err == nil && (info.ClientID == "" || info.ExpiresAt.IsZero()):
			t.Fatalf("accepted %q as %+v", tok, info)
		case err != nil && !errors.Is(err, oautherr.ErrInvalidToken):
			t.Fatalf("%q: got %v, want invalid_token", tok, err)
		}
	})
}

// TestRemoteDPoP: a resource server that trusts a provider from afar, by
// introspection or by its JWKS, honours the provider's DPoP binding: a
// bound token works with the DPoP scheme and its proof, and is refused as
// a bearer token or with another key's proof.
func TestRemoteDPoP(t *testing.T) {
	t.Parallel()
	key, other := dpoptest.NewKey(jose.ES256), dpoptest.NewKey(jose.ES256)
	for _, format := range []string{store.TokenFormatOpaque, store.TokenFormatJWT} {
		t.Run(format, func(t *testing.T) {
			as := newRemoteAS(t, func(c *ginoauth.Config) { c.AccessTokenFormat = format; c.Issuer = testIssuer })
			cfg := resource.IntrospectionConfig{URL: as.introspectURL(), ClientID: as.clientID, ClientSecret: as.secret, Logger: quietLogger()}
			if format == store.TokenFormatJWT {
				cfg.JWKSURL, cfg.Issuer = as.srv.URL+"/o/.well-known/jwks.json", testIssuer
			}
			in := newIntrospector(t, cfg)
			srv := newRS(t, in, resource.Options{DPoP: resource.DPoPOptions{Enabled: true}, Logger: quietLogger()})

			req, _ := http.NewRequest("POST", as.srv.URL+"/o/token/", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("DPoP", key.Proof("POST", testIssuer+"/o/token/", "", ""))
			req.SetBasicAuth(as.clientID, as.secret)
			res, err := as.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.TokenType != "DPoP" {
				t.Fatalf("token: %d %v %+v", res.StatusCode, err, tok)
			}
			res.Body.Close()

			call := func(scheme string, k *dpoptest.Key) int {
				r := httptest.NewRequest("GET", "http://api.example.com/api/whoami", nil)
				r.Header.Set("Authorization", scheme+" "+tok.AccessToken)
				if k != nil {
					r.Header.Set("DPoP", k.Proof("GET", "http://api.example.com/api/whoami", tok.AccessToken, ""))
				}
				w := httptest.NewRecorder()
				srv.r.ServeHTTP(w, r)
				return w.Code
			}
			if got := call("DPoP", key); got != 200 {
				t.Errorf("DPoP with its proof: %d, want 200", got)
			}
			if got := call("DPoP", other); got != 401 {
				t.Errorf("DPoP with another key's proof: %d, want 401", got)
			}
			if got := call("Bearer", nil); got != 401 {
				t.Errorf("as a bearer token: %d, want 401", got)
			}
		})
	}
}
