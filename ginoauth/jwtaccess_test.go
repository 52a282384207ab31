package ginoauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

const (
	jwtIssuer   = "https://auth.example.com"
	jwtResource = "https://api.example.com/"
)

// jwtConfig makes every application's access tokens JWTs (RFC 9068).
func jwtConfig(c *ginoauth.Config) {
	c.AccessTokenFormat = store.TokenFormatJWT
	c.Issuer = jwtIssuer
	c.Resource = jwtResource
}

// jwtParts decodes a JWT's header and claims, unverified.
func jwtParts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %.12s...: got %d parts, want a compact JWS", tok, len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// jwks fetches the provider's published key set.
func (e *env) jwks() jose.JSONWebKeySet {
	e.t.Helper()
	res, err := e.srv.Client().Get(e.srv.URL + "/o/.well-known/jwks.json")
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		e.t.Fatal(err)
	}
	return set
}

// reseal re-encodes a JWT with its header or claims changed by edit and
// its signature kept (a forgery).
func reseal(t *testing.T, tok string, part int, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	h, c := jwtParts(t, tok)
	m := []map[string]any{h, c}[part]
	edit(m)
	b, _ := json.Marshal(m)
	parts[part] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// TestJWTAccessTokens: with AccessTokenFormat jwt, the token endpoint
// answers RFC 9068 access tokens, verifiable with the published JWKS, that
// the provider's middleware, introspection and revocation take; forged,
// unsigned, HMAC-confused and expired ones are refused.
func TestJWTAccessTokens(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		clk := &fakeClock{t: time.Now()}
		e := newEnv(t, kind, func(c *ginoauth.Config) { jwtConfig(c); c.Now = clk.Now })

		// A real client: golang.org/x/oauth2's client credentials flow.
		cc := clientcredentials.Config{ClientID: e.confID, ClientSecret: e.secret, TokenURL: e.srv.URL + "/o/token/", Scopes: []string{"read"}}
		tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client()))
		if err != nil {
			t.Fatal(err)
		}
		access := tok.AccessToken
		header, claims := jwtParts(t, access)
		if header["typ"] != "at+jwt" || header["alg"] != "RS256" || header["kid"] == nil {
			t.Errorf("header: got %v, want typ at+jwt, alg RS256 and a kid", header)
		}
		for k, want := range map[string]any{
			"iss": jwtIssuer, "sub": e.confID, "aud": jwtResource, "client_id": e.confID, "scope": "read",
		} {
			if claims[k] != want {
				t.Errorf("claim %s: got %v, want %v", k, claims[k], want)
			}
		}
		iat, _ := claims["iat"].(float64)
		exp, _ := claims["exp"].(float64)
		if jti, _ := claims["jti"].(string); jti == "" || exp-iat != ginoauth.DefaultAccessTokenExpire.Seconds() {
			t.Errorf("jti %v, exp-iat %v: want a jti and the access token lifetime", claims["jti"], exp-iat)
		}

		// The published JWKS verifies it, as any RFC 9068 resource server would.
		jws, err := jose.ParseSigned(access, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		set := e.jwks()
		keys := set.Key(jws.Signatures[0].Header.KeyID)
		if len(keys) != 1 {
			t.Fatalf("JWKS: got %d keys for the token's kid, want 1", len(keys))
		}
		if _, err := jws.Verify(keys[0].Key); err != nil {
			t.Errorf("verify with the published key: %v", err)
		}

		// The middleware, with x/oauth2's client.
		res, err := cc.Client(context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())).Get(e.srv.URL + "/api/whoami")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET /api/whoami with the JWT: status %d, want 200", res.StatusCode)
		}

		// A user's token: sub is the user's id, preferred_username the name.
		pw := e.passwordToken("read write")
		_, uc := jwtParts(t, pw.str("access_token"))
		if uc["sub"] != "u1" || uc["preferred_username"] != "alice" || uc["scope"] != "read write" {
			t.Errorf("password grant claims: got %v, want sub u1, preferred_username alice, scope read write", uc)
		}
		if r := e.get("/api/whoami", pw.str("access_token")); wantStatus(t, "whoami (user)", r, 200) {
			wantField(t, "whoami (user)", r, "user", "alice")
		}

		// Forgeries and the wrong kind of JWT.
		pub := keys[0].Key.(*rsa.PublicKey)
		for _, tc := range []struct{ name, token string }{
			{"scope widened, signature kept", reseal(t, access, 1, func(m map[string]any) { m["scope"] = "read write admin" })},
			{"alg none", noneJWT(t, access)},
			{"HS256 keyed with the public key", hmacJWT(t, access, pub)},
			{"kid of no key", reseal(t, access, 0, func(m map[string]any) { m["kid"] = "nope" })},
			{"typ JWT", reseal(t, access, 0, func(m map[string]any) { m["typ"] = "JWT" })},
			{"truncated", access[:len(access)-4]},
			{"jti of another shape", reseal(t, access, 1, func(m map[string]any) { m["jti"] = "x" })},
		} {
			if r := e.get("/api/whoami", tc.token); r.status != 401 {
				t.Errorf("%s: status %d, want 401", tc.name, r.status)
			}
		}

		// Introspection answers from the record.
		r := e.post("/o/introspect/", url.Values{"token": {access}}, []string{e.confID, e.secret}, "")
		if r.body["active"] != true || r.str("client_id") != e.confID || r.str("token_type") != "Bearer" || r.str("aud") != jwtResource {
			t.Errorf("introspection: got %v, want active, client_id, token_type Bearer, aud", r.body)
		}

		// Revocation (RFC 7009) of the JWT: refused at once on this instance,
		// inactive at introspection.
		if r := e.post("/o/revoke_token/", url.Values{"token": {access}}, []string{e.confID, e.secret}, ""); r.status != 200 {
			t.Fatalf("revoke: status %d, want 200", r.status)
		}
		if r := e.get("/api/whoami", access); r.status != 401 {
			t.Errorf("revoked JWT: status %d, want 401", r.status)
		}
		if r := e.post("/o/introspect/", url.Values{"token": {access}}, []string{e.confID, e.secret}, ""); r.body["active"] != false {
			t.Errorf("introspection of the revoked JWT: got %v, want inactive", r.body)
		}

		// Expiry, by the provider's clock.
		clk.Add(ginoauth.DefaultAccessTokenExpire + time.Second)
		if r := e.get("/api/whoami", pw.str("access_token")); r.status != 401 {
			t.Errorf("expired JWT: status %d, want 401", r.status)
		}
	})
}

// noneJWT is tok's claims under alg "none", unsigned.
func noneJWT(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(reseal(t, tok, 0, func(m map[string]any) { m["alg"] = "none" }), ".")
	return parts[0] + "." + parts[1] + "."
}

// hmacJWT is tok's claims signed HS256 with the RSA public key's DER as the
// secret (the key-confusion attack).
func hmacJWT(t *testing.T, tok string, pub *rsa.PublicKey) string {
	t.Helper()
	parts := strings.Split(reseal(t, tok, 0, func(m map[string]any) { m["alg"] = "HS256" }), ".")
	der, _ := x509.MarshalPKIXPublicKey(pub)
	m := hmac.New(sha256.New, der)
	m.Write([]byte(parts[0] + "." + parts[1]))
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestJWTAccessTokenFormat: the application's access_token_format wins
// over the server's default; AccessTokenAlg picks the algorithm; a refresh
// answers a new JWT and retires the old one.
func TestJWTAccessTokenFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		server, app   string
		alg           string
		wantJWT       bool
		wantHeaderAlg string
	}{
		{"server opaque, application jwt", "", store.TokenFormatJWT, "", true, "RS256"},
		{"server jwt, application opaque", store.TokenFormatJWT, store.TokenFormatOpaque, "", false, ""},
		{"server jwt, application default", store.TokenFormatJWT, "", "", true, "RS256"},
		{"server opaque, application default", "", "", "", false, ""},
		{"ES256", store.TokenFormatJWT, "", "ES256", true, "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ginoauth.New(ginoauth.Config{AccessTokenFormat: tc.server, AccessTokenAlg: tc.alg, Issuer: jwtIssuer})
			if err != nil {
				t.Fatal(err)
			}
			app, _, err := p.CreateApplication(ctx, ginoauth.NewApplication{
				ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword}, AccessTokenFormat: tc.app,
			})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.IssueTokens(ctx, app, ginoauth.IssueRequest{UserID: "u1", Username: "alice", Scopes: []string{"read"}, Refresh: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.HasPrefix(resp.AccessToken, "eyJ"); got != tc.wantJWT {
				t.Fatalf("access token %.8s...: JWT %v, want %v", resp.AccessToken, got, tc.wantJWT)
			}
			// What the registration answer and listapplications show.
			if got, want := p.AccessTokenFormat(app), map[bool]string{true: store.TokenFormatJWT, false: store.TokenFormatOpaque}[tc.wantJWT]; got != want {
				t.Errorf("AccessTokenFormat: got %q, want %q", got, want)
			}
			if _, err := p.Validate(ctx, resp.AccessToken); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if !tc.wantJWT {
				return
			}
			if h, _ := jwtParts(t, resp.AccessToken); h["alg"] != tc.wantHeaderAlg {
				t.Errorf("alg: got %v, want %s", h["alg"], tc.wantHeaderAlg)
			}
		})
	}
	if _, err := ginoauth.New(ginoauth.Config{AccessTokenFormat: "paseto"}); err == nil {
		t.Error(`New with AccessTokenFormat "paseto": got no error, want one`)
	}
	if _, err := ginoauth.New(ginoauth.Config{AccessTokenAlg: "HS256"}); err == nil {
		t.Error(`New with AccessTokenAlg "HS256": got no error, want one`)
	}
}

// TestJWTAccessTokenRefresh: a refresh answers a new JWT; the old one is
// refused, the new one accepted, on both stores.
func TestJWTAccessTokenRefresh(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, jwtConfig)
		first := e.passwordToken("read")
		r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}, []string{e.confID, e.secret})
		if !wantStatus(t, "refresh", r, 200) {
			return
		}
		second := r.str("access_token")
		if _, c := jwtParts(t, second); c["sub"] != "u1" || c["scope"] != "read" {
			t.Errorf("refreshed claims: got %v, want sub u1, scope read", c)
		}
		if r := e.get("/api/whoami", first.str("access_token")); r.status != 401 {
			t.Errorf("the replaced JWT: status %d, want 401", r.status)
		}
		if r := e.get("/api/whoami", second); r.status != 200 {
			t.Errorf("the new JWT: status %d, want 200", r.status)
		}
	})
}

// watchingStore is a countingStore that passes the Redis store's
// invalidation channel through, so a provider on it can keep a validation
// cache and still count its store reads.
type watchingStore struct {
	*countingStore
	w store.Watcher
}

func (s watchingStore) Watch(ctx context.Context, h store.InvalidationHandler) error {
	return s.w.Watch(ctx, h)
}

// jwtInstance is one instance of a JWT-issuing provider on a shared Redis.
type jwtInstance struct {
	p   *ginoauth.Provider
	st  *countingStore
	rec *recorder
}

// newJWTInstance starts an instance on rs with the clock clk, which the
// test moves past tokencache.TrustSkew after anything it invalidates.
func newJWTInstance(t *testing.T, rs *redisstore.Store, clk *fakeClock) *jwtInstance {
	t.Helper()
	in := &jwtInstance{st: &countingStore{Store: rs}, rec: &recorder{}}
	p, err := ginoauth.New(ginoauth.Config{
		Store: watchingStore{in.st, rs}, SecretKey: testKey, ValidationCache: true, Observer: in.rec, Now: clk.Now,
		AccessTokenFormat: store.TokenFormatJWT, Issuer: jwtIssuer, Resource: jwtResource,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	in.p = p
	if !eventually(2*time.Second, p.ValidationCacheLive) {
		t.Fatal("validation cache: got not live after 2 s, want live")
	}
	return in
}

func (in *jwtInstance) locals() int {
	n := 0
	for _, e := range in.rec.got() {
		if e == "validation local" {
			n++
		}
	}
	return n
}

// jtiFamily is the family a JWT access token's jti names.
func jtiFamily(t *testing.T, tok string) string {
	t.Helper()
	_, c := jwtParts(t, tok)
	jti, _ := c["jti"].(string)
	fam, _, ok := strings.Cut(jti, ".")
	if !ok {
		t.Fatalf("jti %q: want family.random", jti)
	}
	return fam
}

// TestJWTAccessTokenRevocationAcrossInstances: instance B accepts A's JWT
// access tokens on their signature, with no store read (once it has
// checked its first one), and honours within
// a second every revocation A makes: the token, its grant, the
// application's tokens, the application's deletion, a rotation, a refresh
// token's reuse.
func TestJWTAccessTokenRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	rs := jwtStore(t)
	clk := &fakeClock{t: time.Now()}
	a, b := newJWTInstance(t, rs, clk), newJWTInstance(t, rs, clk)
	srvA := newServer(t, a.p)
	ctx := context.Background()
	newApp := func() *store.Application {
		app, _, err := a.p.CreateApplication(ctx, ginoauth.NewApplication{
			ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword, store.GrantClientCredentials},
		})
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	issue := func(app *store.Application) *ginoauth.TokenResponse {
		resp, err := a.p.IssueTokens(ctx, app, ginoauth.IssueRequest{UserID: "u1", Username: "alice", Scopes: []string{"read"}, Refresh: true})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	refresh := func(app *store.Application, rt string) *http.Response {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ClientID}}
		res, err := srvA.Client().PostForm(srvA.URL+"/o/token/", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	// B's first JWT access token is read from the store: its list of
	// invalidations starts there, and what it issued before is suspect.
	if _, err := b.p.Validate(ctx, issue(newApp()).AccessToken); err != nil {
		t.Fatalf("B's first JWT: %v", err)
	}
	for _, tc := range []struct {
		name   string
		public bool
		revoke func(app *store.Application, resp *ginoauth.TokenResponse) error
	}{
		{"the access token", false, func(_ *store.Application, resp *ginoauth.TokenResponse) error {
			return rs.RevokeAccessToken(ctx, store.Key{Family: jtiFamily(t, resp.AccessToken), Signature: sha256Hex(resp.AccessToken)})
		}},
		{"its grant", false, func(_ *store.Application, resp *ginoauth.TokenResponse) error {
			return rs.RevokeFamily(ctx, jtiFamily(t, resp.AccessToken))
		}},
		{"the application's tokens", false, func(app *store.Application, _ *ginoauth.TokenResponse) error {
			_, err := a.p.RevokeGrants(ctx, store.GrantFilter{ClientID: app.ClientID})
			return err
		}},
		{"the application deleted", false, func(app *store.Application, _ *ginoauth.TokenResponse) error {
			return a.p.DeleteApplication(ctx, app.ClientID)
		}},
		{"a rotation", true, func(app *store.Application, resp *ginoauth.TokenResponse) error {
			if res := refresh(app, resp.RefreshToken); res.StatusCode != 200 {
				t.Fatalf("refresh: status %d, want 200", res.StatusCode)
			}
			return nil
		}},
		{"a reused refresh token", true, func(app *store.Application, resp *ginoauth.TokenResponse) error {
			refresh(app, resp.RefreshToken)
			if res := refresh(app, resp.RefreshToken); res.StatusCode != 400 {
				t.Fatalf("reuse: status %d, want 400", res.StatusCode)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp()
			if tc.public {
				app.ClientType, app.SecretHash = store.Public, ""
				app.GrantTypes = append(app.GrantTypes, store.GrantRefreshToken)
				if err := rs.UpdateApplication(ctx, app); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(50 * time.Millisecond) // the application's own invalidation arrives
			clk.Add(3 * time.Second)          // past tokencache.TrustSkew
			resp := issue(app)
			reads, locals := b.st.gets.Load(), b.locals()
			for range 3 {
				if _, err := b.p.Validate(ctx, resp.AccessToken); err != nil {
					t.Fatalf("B before the revocation: %v", err)
				}
			}
			if got := b.st.gets.Load() - reads; got != 0 {
				t.Errorf("B's store reads for a fresh JWT: got %d, want 0", got)
			}
			if b.locals() == locals {
				t.Error("B: no validation answered locally, want the first")
			}
			start := time.Now()
			if err := tc.revoke(app, resp); err != nil {
				t.Fatal(err)
			}
			if !eventually(time.Second, func() bool { _, err := b.p.Validate(ctx, resp.AccessToken); return err != nil }) {
				t.Fatalf("B still accepts the JWT 1 s after %s was revoked on A", tc.name)
			}
			t.Logf("B refused the JWT %v after the revocation", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestJWTAccessTokenNewInstance: an instance started after a revocation,
// which never saw its message, still refuses the revoked token (every
// token issued before its channel was live is checked against the store),
// and an instance whose channel is gone reads the store every time.
func TestJWTAccessTokenNewInstance(t *testing.T) {
	t.Parallel()
	rs := jwtStore(t)
	ctx := context.Background()
	clk := &fakeClock{t: time.Now()}
	a := newJWTInstance(t, rs, clk)
	app, _, err := a.p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	issue := func() string {
		resp, err := a.p.IssueTokens(ctx, app, ginoauth.IssueRequest{Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.AccessToken
	}
	revoked, kept := issue(), issue()
	if err := rs.RevokeFamily(ctx, jtiFamily(t, revoked)); err != nil {
		t.Fatal(err)
	}
	c := newJWTInstance(t, rs, clk)
	clk.Add(3 * time.Second) // revoked and kept are older than c's channel, whatever TrustSkew
	if _, err := c.p.Validate(ctx, revoked); err == nil {
		t.Error("new instance: accepted a JWT revoked before it started, want it refused")
	}
	reads := c.st.gets.Load()
	if _, err := c.p.Validate(ctx, kept); err != nil {
		t.Errorf("new instance, a live JWT issued before it started: %v", err)
	}
	if got := c.st.gets.Load() - reads; got != 1 {
		t.Errorf("new instance: store reads for an older JWT: got %d, want 1", got)
	}
	if _, err := c.p.Validate(ctx, kept); err != nil || c.st.gets.Load()-reads != 1 {
		t.Errorf("new instance, again: err %v, reads %d; want the cached answer", err, c.st.gets.Load()-reads)
	}

	// Channel gone (Close unsubscribes): every validation reads the store,
	// so a revocation is honoured at once.
	_ = c.p.Close()
	fresh := issue()
	reads = c.st.gets.Load()
	if _, err := c.p.Validate(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if c.st.gets.Load() == reads {
		t.Error("without its channel: a JWT was accepted with no store read")
	}
	if err := rs.RevokeFamily(ctx, jtiFamily(t, fresh)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.p.Validate(ctx, fresh); err == nil {
		t.Error("without its channel: accepted a revoked JWT")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 64)
	for _, b := range sum {
		out = append(out, hexdigits[b>>4], hexdigits[b&15])
	}
	return string(out)
}

// TestJWTAccessTokenKeyRotation: after RotateKeys, a JWT access token
// signed by the retired key still validates until it expires, and new
// tokens are signed by the new key once it is active.
func TestJWTAccessTokenKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &fakeClock{t: time.Now()}
	p, err := ginoauth.New(ginoauth.Config{AccessTokenFormat: store.TokenFormatJWT, Issuer: jwtIssuer, Now: clk.Now, AccessTokenExpire: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := p.CreateApplication(ctx, ginoauth.NewApplication{ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	issue := func() string {
		resp, err := p.IssueTokens(ctx, app, ginoauth.IssueRequest{Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.AccessToken
	}
	kid := func(tok string) any { h, _ := jwtParts(t, tok); return h["kid"] }
	old := issue()
	if _, err := p.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Minute) // past the publication delay: the new key signs
	fresh := issue()
	if kid(fresh) == kid(old) {
		t.Fatalf("after rotation: new token signed by kid %v, the old key's", kid(fresh))
	}
	for name, tok := range map[string]string{"old key's": old, "new key's": fresh} {
		if _, err := p.Validate(ctx, tok); err != nil {
			t.Errorf("%s token: %v, want valid", name, err)
		}
	}
	clk.Add(time.Hour)
	if _, err := p.Validate(ctx, old); err == nil {
		t.Error("old key's token after its expiry: valid, want refused")
	}
}

// TestJWTAccessTokenDPoP: a DPoP-bound JWT access token carries its key's
// thumbprint in cnf.jkt (RFC 9449 section 6.1), works with the DPoP scheme
// and its proof, and is refused as a bearer token, on both stores.
func TestJWTAccessTokenDPoP(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, jwtConfig)
		// The token endpoint's htu is the issuer's (Config.Issuer); the
		// API's, the URL the request came to.
		r := e.dpopTokenRequest(url.Values{"grant_type": {"client_credentials"}}, []string{e.confID, e.secret}, k.es.Proof("POST", jwtIssuer+"/o/token/", "", ""))
		if !wantStatus(t, "token", r, 200) {
			return
		}
		wantField(t, "token", r, "token_type", "DPoP")
		at := r.str("access_token")
		_, c := jwtParts(t, at)
		if cnf, _ := c["cnf"].(map[string]any); cnf == nil || cnf["jkt"] != k.es.JKT() {
			t.Errorf("cnf: got %v, want jkt %s", c["cnf"], k.es.JKT())
		}
		api := e.srv.URL + "/api/whoami"
		wantStatus(t, "DPoP with its proof", e.dpopGet("/api/whoami", "DPoP", at, k.es.Proof("GET", api, at, "")), 200)
		wantStatus(t, "DPoP with another key's proof", e.dpopGet("/api/whoami", "DPoP", at, k.es2.Proof("GET", api, at, "")), 401)
		wantStatus(t, "as a bearer token", e.get("/api/whoami", at), 401)
	})
}

// jwtStore is a redisstore on a Redis of the test's own (redistest).
func jwtStore(t *testing.T) *redisstore.Store {
	t.Helper()
	client, prefix := redistest.Client(t)
	rs, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// newJWTApp registers a confidential password and client_credentials
// application on p.
func newJWTApp(t *testing.T, p *ginoauth.Provider) *store.Application {
	t.Helper()
	app, _, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
		ClientType: store.Confidential, GrantTypes: []string{store.GrantPassword, store.GrantClientCredentials},
	})
	if err != nil {
		t.Fatal(err)
	}
	return app
}
