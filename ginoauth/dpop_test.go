package ginoauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/dpop/dpoptest"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// dpopKeys are the client keys of the DPoP tests, made once (RSA key
// generation is slow).
var dpopKeys = sync.OnceValue(func() struct{ es, es2, rs *dpoptest.Key } {
	return struct{ es, es2, rs *dpoptest.Key }{dpoptest.NewKey(jose.ES256), dpoptest.NewKey(jose.ES256), dpoptest.NewKey(jose.RS256)}
})

// dpopTokenRequest posts form to the token endpoint with the DPoP header
// values proofs.
func (e *env) dpopTokenRequest(form url.Values, basic []string, proofs ...string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return e.do(req)
}

// dpopGet gets path with "Authorization: <scheme> <token>" and the DPoP
// header values proofs.
func (e *env) dpopGet(path, scheme, token string, proofs ...string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return e.do(req)
}

func (e *env) tokenURL() string { return e.srv.URL + "/o/token/" }

// saveCounter counts SaveTokens calls.
type saveCounter struct {
	store.Store
	n atomic.Int64
}

func (s *saveCounter) SaveTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	s.n.Add(1)
	return s.Store.SaveTokens(ctx, at, rt)
}

// dpopIntrospection is what the DPoP tests read of an introspection.
type dpopIntrospection struct {
	TokenType string                 `json:"token_type"`
	Cnf       *ginoauth.Confirmation `json:"cnf"`
}

// introspect introspects token as the confidential client.
func (e *env) introspect(t *testing.T, token string) dpopIntrospection {
	t.Helper()
	r := e.post("/o/introspect/", url.Values{"token": {token}}, []string{e.confID, e.secret}, "")
	if r.status != 200 || r.body["active"] != true {
		t.Fatalf("introspection: status %d, body %v; want 200 and active", r.status, r.body)
	}
	raw, _ := json.Marshal(r.body)
	var out dpopIntrospection
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestDPoPTokenEndpoint: a token request with a valid proof gets tokens
// bound to its key (token_type DPoP, cnf.jkt in introspection); a bad
// proof is invalid_dpop_proof (400) and issues nothing.
func TestDPoPTokenEndpoint(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		saves := &saveCounter{}
		e := newEnv(t, kind, func(c *ginoauth.Config) { saves.Store = c.Store; c.Store = saves })
		conf := []string{e.confID, e.secret}
		cc := url.Values{"grant_type": {"client_credentials"}}
		for _, key := range []*dpoptest.Key{k.es, k.rs} {
			r := e.dpopTokenRequest(cc, conf, key.Proof("POST", e.tokenURL(), "", ""))
			if !wantStatus(t, string(key.Alg), r, 200) {
				continue
			}
			wantField(t, string(key.Alg), r, "token_type", "DPoP")
			in := e.introspect(t, r.str("access_token"))
			if in.TokenType != "DPoP" || in.Cnf == nil || in.Cnf.JKT != key.JKT() {
				t.Errorf("%s: introspection: token_type %q, cnf %+v; want DPoP and jkt %q", key.Alg, in.TokenType, in.Cnf, key.JKT())
			}
		}
		// Without a proof: a bearer token, and no cnf.
		r := e.dpopTokenRequest(cc, conf)
		wantField(t, "no proof", r, "token_type", "Bearer")
		if in := e.introspect(t, r.str("access_token")); in.TokenType != "Bearer" || in.Cnf != nil {
			t.Errorf("no proof: introspection: token_type %q, cnf %+v; want Bearer and none", in.TokenType, in.Cnf)
		}

		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		privJWK := jose.JSONWebKey{Key: priv}
		stale := k.es.Sign(dpoptest.Claims{HTM: "POST", HTU: e.tokenURL(), IAT: time.Now().Add(-5 * time.Minute).Unix()}, dpoptest.Options{})
		replayed := k.es.Proof("POST", e.tokenURL(), "", "")
		wantStatus(t, "first use", e.dpopTokenRequest(cc, conf, replayed), 200)
		issued := saves.n.Load()
		for _, tc := range []struct {
			name   string
			proofs []string
		}{
			{"wrong htm", []string{k.es.Proof("GET", e.tokenURL(), "", "")}},
			{"wrong htu", []string{k.es.Proof("POST", e.srv.URL+"/o/other/", "", "")}},
			{"stale iat", []string{stale}},
			{"replayed", []string{replayed}},
			{"ath without a token", []string{k.es.Proof("POST", e.tokenURL(), "goat_x", "")}},
			{"typ JWT", []string{k.es.Sign(dpoptest.Claims{HTM: "POST", HTU: e.tokenURL()}, dpoptest.Options{Typ: "JWT"})}},
			{"private jwk", []string{(&dpoptest.Key{Alg: jose.ES256, Private: priv}).Sign(dpoptest.Claims{HTM: "POST", HTU: e.tokenURL()}, dpoptest.Options{JWK: &privJWK})}},
			{"two proofs", []string{k.es.Proof("POST", e.tokenURL(), "", ""), k.es.Proof("POST", e.tokenURL(), "", "")}},
			{"garbage", []string{"a.b.c"}},
			{"oversize", []string{strings.Repeat("a", dpop.MaxProofSize+1)}},
		} {
			wantError(t, tc.name, e.dpopTokenRequest(cc, conf, tc.proofs...), 400, "invalid_dpop_proof")
		}
		if n := saves.n.Load() - issued; n != 0 {
			t.Errorf("refused proofs: %d token saves, want 0", n)
		}
	})
}

// TestDPoPBoundAccessTokensApplication: a client registered with
// dpop_bound_access_tokens (RFC 9449 section 5.2) gets no token without
// a proof.
func TestDPoPBoundAccessTokensApplication(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		md, err := ginoauth.ParseClientMetadata([]byte(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","dpop_bound_access_tokens":true}`))
		if err != nil {
			t.Fatal(err)
		}
		if !md.DPoPBoundAccessTokens {
			t.Fatal("ParseClientMetadata: DPoPBoundAccessTokens false, want true")
		}
		na := md.NewApplication()
		na.Name = "dpop only"
		app, secret, err := e.p.CreateApplication(context.Background(), na)
		if err != nil {
			t.Fatal(err)
		}
		cc := url.Values{"grant_type": {"client_credentials"}}
		creds := []string{app.ClientID, secret}
		wantError(t, "no proof", e.dpopTokenRequest(cc, creds), 400, "invalid_dpop_proof")
		r := e.dpopTokenRequest(cc, creds, k.es.Proof("POST", e.tokenURL(), "", ""))
		wantStatus(t, "with a proof", r, 200)
		wantField(t, "with a proof", r, "token_type", "DPoP")
	})
}

// TestDPoPRefresh: RFC 9449 section 5. A public client's refresh token is
// bound to the key: a refresh without a proof, or with another key, is
// invalid_grant and leaves it usable; a confidential client's is not
// bound, but each new access token is bound to the proof sent at refresh.
// Both stores have the one-round-trip rotation, so both of its paths are
// crossed.
func TestDPoPRefresh(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		pw := url.Values{"grant_type": {"password"}, "username": {e.username}, "password": {e.password}}
		pub := url.Values{"client_id": {e.pubID}}
		form := func(extra ...url.Values) url.Values {
			f := url.Values{}
			for _, x := range extra {
				for k, v := range x {
					f[k] = v
				}
			}
			return f
		}
		refresh := func(rt string, creds []string, proofs ...string) resp {
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			if creds == nil {
				f.Set("client_id", e.pubID)
			}
			return e.dpopTokenRequest(f, creds, proofs...)
		}
		proof := func(key *dpoptest.Key) string { return key.Proof("POST", e.tokenURL(), "", "") }

		// Public client, bound.
		first := e.dpopTokenRequest(form(pw, pub), nil, proof(k.es))
		if !wantStatus(t, "public: password grant", first, 200) {
			t.FailNow()
		}
		wantField(t, "public: password grant", first, "token_type", "DPoP")
		rt := first.str("refresh_token")
		inPlace := e.st.inPlace.Load()
		wantError(t, "public bound: no proof", refresh(rt, nil), 400, "invalid_grant")
		if e.st.inPlace.Load() == inPlace {
			t.Errorf("public bound, no proof: the one-round-trip rotation was not tried")
		}
		wantError(t, "public bound: another key", refresh(rt, nil, proof(k.es2)), 400, "invalid_grant")
		second := refresh(rt, nil, proof(k.es))
		if wantStatus(t, "public bound: same key", second, 200) {
			wantField(t, "public bound: same key", second, "token_type", "DPoP")
			// The new refresh token is bound too.
			wantError(t, "public bound, rotated: no proof", refresh(second.str("refresh_token"), nil), 400, "invalid_grant")
			r := e.dpopGet("/api/whoami", "DPoP", second.str("access_token"), k.es.Proof("GET", e.srv.URL+"/api/whoami", second.str("access_token"), ""))
			wantStatus(t, "public bound: the refreshed access token", r, 200)
		}

		// Public client, unbound: a refresh without a proof is a Bearer
		// token (the fast path); with one, it is bound.
		plain := e.dpopTokenRequest(form(pw, pub), nil)
		wantField(t, "public unbound", plain, "token_type", "Bearer")
		r := refresh(plain.str("refresh_token"), nil)
		if wantStatus(t, "public unbound: no proof", r, 200) {
			wantField(t, "public unbound: no proof", r, "token_type", "Bearer")
		}
		r = refresh(r.str("refresh_token"), nil, proof(k.es))
		if wantStatus(t, "public unbound: with a proof", r, 200) {
			wantField(t, "public unbound: with a proof", r, "token_type", "DPoP")
			wantError(t, "public, bound at refresh: no proof", refresh(r.str("refresh_token"), nil), 400, "invalid_grant")
		}

		// Confidential client: the refresh token is not bound.
		conf := []string{e.confID, e.secret}
		c1 := e.dpopTokenRequest(pw, conf, proof(k.es))
		wantField(t, "confidential", c1, "token_type", "DPoP")
		c2 := refresh(c1.str("refresh_token"), conf)
		if wantStatus(t, "confidential: no proof", c2, 200) {
			wantField(t, "confidential: no proof", c2, "token_type", "Bearer")
		}
		c3 := refresh(c2.str("refresh_token"), conf, proof(k.rs))
		if wantStatus(t, "confidential: another key", c3, 200) {
			wantField(t, "confidential: another key", c3, "token_type", "DPoP")
			if in := e.introspect(t, c3.str("access_token")); in.Cnf == nil || in.Cnf.JKT != k.rs.JKT() {
				t.Errorf("confidential, refreshed with the RSA key: cnf %+v, want jkt %q", in.Cnf, k.rs.JKT())
			}
		}
	})
}

// TestDPoPMiddleware: the DPoP scheme with a proof for the request and
// the token's key; every other combination 401 with a DPoP challenge, or
// a Bearer one for a bound token presented as Bearer.
func TestDPoPMiddleware(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		conf := []string{e.confID, e.secret}
		cc := url.Values{"grant_type": {"client_credentials"}}
		tok := e.dpopTokenRequest(cc, conf, k.es.Proof("POST", e.tokenURL(), "", "")).str("access_token")
		bearer := e.dpopTokenRequest(cc, conf).str("access_token")
		u := e.srv.URL + "/api/whoami"
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		privJWK := jose.JSONWebKey{Key: priv}
		ath := dpop.AccessTokenHash(tok)
		replayed := k.es.Proof("GET", u, tok, "")
		wantStatus(t, "first use", e.dpopGet("/api/whoami", "DPoP", tok, replayed), 200)
		for _, tc := range []struct {
			name, scheme, token string
			proofs              []string
			status              int
			code                string
		}{
			{"valid", "DPoP", tok, []string{k.es.Proof("GET", u, tok, "")}, 200, ""},
			{"scheme in lower case", "dpop", tok, []string{k.es.Proof("GET", u, tok, "")}, 200, ""},
			{"htu with a query", "DPoP", tok, []string{k.es.Proof("GET", u+"?x=1", tok, "")}, 200, ""},
			{"wrong key", "DPoP", tok, []string{k.rs.Proof("GET", u, tok, "")}, 401, "invalid_token"},
			{"wrong htm", "DPoP", tok, []string{k.es.Proof("POST", u, tok, "")}, 401, "invalid_dpop_proof"},
			{"wrong htu", "DPoP", tok, []string{k.es.Proof("GET", e.srv.URL+"/api/other", tok, "")}, 401, "invalid_dpop_proof"},
			{"stale iat", "DPoP", tok, []string{k.es.Sign(dpoptest.Claims{HTM: "GET", HTU: u, ATH: ath, IAT: time.Now().Add(-5 * time.Minute).Unix()}, dpoptest.Options{})}, 401, "invalid_dpop_proof"},
			{"missing ath", "DPoP", tok, []string{k.es.Proof("GET", u, "", "")}, 401, "invalid_dpop_proof"},
			{"bad ath", "DPoP", tok, []string{k.es.Proof("GET", u, bearer, "")}, 401, "invalid_dpop_proof"},
			{"replayed jti", "DPoP", tok, []string{replayed}, 401, "invalid_dpop_proof"},
			{"private jwk", "DPoP", tok, []string{(&dpoptest.Key{Alg: jose.ES256, Private: priv}).Sign(dpoptest.Claims{HTM: "GET", HTU: u, ATH: ath}, dpoptest.Options{JWK: &privJWK})}, 401, "invalid_dpop_proof"},
			{"alg none", "DPoP", tok, []string{noneProof(u, ath)}, 401, "invalid_dpop_proof"},
			{"alg HS256", "DPoP", tok, []string{hsProof(t, u, ath)}, 401, "invalid_dpop_proof"},
			{"oversize", "DPoP", tok, []string{k.es.Sign(dpoptest.Claims{HTM: "GET", HTU: u, ATH: ath, Nonce: strings.Repeat("n", dpop.MaxProofSize)}, dpoptest.Options{})}, 401, "invalid_dpop_proof"},
			{"two DPoP headers", "DPoP", tok, []string{k.es.Proof("GET", u, tok, ""), k.es.Proof("GET", u, tok, "")}, 401, "invalid_dpop_proof"},
			{"no proof", "DPoP", tok, nil, 401, "invalid_dpop_proof"},
			{"bound token as Bearer", "Bearer", tok, nil, 401, "invalid_token"},
			{"bound token as Bearer with a proof", "Bearer", tok, []string{k.es.Proof("GET", u, tok, "")}, 401, "invalid_token"},
			{"bearer token with the DPoP scheme", "DPoP", bearer, []string{k.es.Proof("GET", u, bearer, "")}, 401, "invalid_token"},
			{"bearer token as Bearer", "Bearer", bearer, nil, 200, ""},
		} {
			r := e.dpopGet("/api/whoami", tc.scheme, tc.token, tc.proofs...)
			if tc.code == "" {
				wantStatus(t, tc.name, r, tc.status)
				continue
			}
			wantError(t, tc.name, r, tc.status, tc.code)
			ch := r.header.Values("WWW-Authenticate")
			wantScheme := "DPoP "
			if strings.EqualFold(tc.scheme, "Bearer") {
				wantScheme = "Bearer "
			}
			if len(ch) == 0 || !strings.HasPrefix(ch[0], wantScheme) || !strings.Contains(ch[0], `error="`+tc.code+`"`) {
				t.Errorf("%s: WWW-Authenticate = %q, want a %schallenge with error=%q", tc.name, ch, wantScheme, tc.code)
			}
			if wantScheme == "DPoP " && len(ch) > 0 && !strings.Contains(ch[0], `algs="`) {
				t.Errorf("%s: WWW-Authenticate = %q, want algs", tc.name, ch)
			}
		}
		// No credentials: a Bearer challenge and a DPoP one (RFC 9449
		// section 7.1).
		r := e.get("/api/whoami", "")
		if ch := r.header.Values("WWW-Authenticate"); len(ch) != 2 || ch[0] != `Bearer realm="api"` || !strings.HasPrefix(ch[1], `DPoP realm="api", algs="`) {
			t.Errorf("no token: WWW-Authenticate = %q, want Bearer then DPoP challenges", ch)
		}
	})
}

// noneProof is a proof with alg none.
func noneProof(htu, ath string) string {
	enc := func(s string) string { return strings.TrimRight(b64url([]byte(s)), "=") }
	claims, _ := json.Marshal(map[string]any{"jti": "n1", "htm": "GET", "htu": htu, "iat": time.Now().Unix(), "ath": ath})
	return enc(`{"typ":"dpop+jwt","alg":"none"}`) + "." + enc(string(claims)) + "."
}

// hsProof is a proof MACed with HS256, its key in the header.
func hsProof(t *testing.T, htu, ath string) string {
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{
		jose.HeaderType: "dpop+jwt", "jwk": jose.JSONWebKey{Key: key}}})
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"jti": "h1", "htm": "GET", "htu": htu, "iat": time.Now().Unix(), "ath": ath})
	jws, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// TestDPoPNonces: with Config.DPoP.Nonces, a proof without the server's
// nonce is use_dpop_nonce with a DPoP-Nonce header (400 at the token
// endpoint, 401 at a resource), and the retry with it succeeds; a nonce
// of one provider is accepted by another with the same SecretKey.
func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *ginoauth.Config) { c.DPoP.Nonces = true })
		conf := []string{e.confID, e.secret}
		cc := url.Values{"grant_type": {"client_credentials"}}
		r := e.dpopTokenRequest(cc, conf, k.es.Proof("POST", e.tokenURL(), "", ""))
		wantError(t, "token: no nonce", r, 400, "use_dpop_nonce")
		nonce := r.header.Get("DPoP-Nonce")
		if nonce == "" {
			t.Fatal("token: no DPoP-Nonce header")
		}
		r = e.dpopTokenRequest(cc, conf, k.es.Proof("POST", e.tokenURL(), "", nonce))
		if !wantStatus(t, "token: with the nonce", r, 200) {
			t.FailNow()
		}
		tok := r.str("access_token")
		u := e.srv.URL + "/api/whoami"
		r = e.dpopGet("/api/whoami", "DPoP", tok, k.es.Proof("GET", u, tok, ""))
		wantError(t, "resource: no nonce", r, 401, "use_dpop_nonce")
		if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `DPoP `) || !strings.Contains(ch, `error="use_dpop_nonce"`) {
			t.Errorf("resource: no nonce: WWW-Authenticate = %q, want a DPoP use_dpop_nonce challenge", ch)
		}
		n2 := r.header.Get("DPoP-Nonce")
		if n2 == "" {
			t.Fatal("resource: no DPoP-Nonce header")
		}
		wantStatus(t, "resource: with the nonce", e.dpopGet("/api/whoami", "DPoP", tok, k.es.Proof("GET", u, tok, n2)), 200)
		wantError(t, "resource: a made-up nonce", e.dpopGet("/api/whoami", "DPoP", tok, k.es.Proof("GET", u, tok, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")), 401, "use_dpop_nonce")
	})
}

// TestDPoPTokenSourceWithXOAuth2: the code flow with PKCE as
// golang.org/x/oauth2 drives it, its HTTP client adding proofs
// (dpoptest.Transport): the tokens are DPoP-bound, and so is the public
// client's refresh.
func TestDPoPCodeFlowWithXOAuth2(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		conf := ce.oauthConfig()
		verifier := oauth2.GenerateVerifier()
		loc := ce.authorize(t, ce.browser("u1.alice"), conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		hc := &http.Client{Transport: &dpoptest.Transport{Key: k.es, Base: ce.srv.Client().Transport}}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "DPoP" {
			t.Fatalf("Exchange: token_type %q, want DPoP", tok.TokenType)
		}
		u := ce.srv.URL + "/api/whoami"
		wantStatus(t, "whoami with a proof", ce.dpopGet("/api/whoami", "DPoP", tok.AccessToken, k.es.Proof("GET", u, tok.AccessToken, "")), 200)
		wantError(t, "whoami as Bearer", ce.get("/api/whoami", tok.AccessToken), 401, "invalid_token")
		tok.Expiry = time.Now().Add(-time.Second)
		fresh, err := conf.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatal(err)
		}
		if fresh.TokenType != "DPoP" || fresh.AccessToken == tok.AccessToken {
			t.Errorf("refresh: token_type %q (new token: %v), want a new DPoP token", fresh.TokenType, fresh.AccessToken != tok.AccessToken)
		}
	})
}

// TestDPoPReplayAcrossInstances: two providers on one Redis (two
// instances) share the proofs' jti records: a proof used on one is
// refused on the other.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	e := newEnv(t, "redis", nil)
	p2, err := ginoauth.New(ginoauth.Config{Store: e.st.Store, SecretKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := newServer(t, p2)
	tok := e.dpopTokenRequest(url.Values{"grant_type": {"client_credentials"}}, []string{e.confID, e.secret}, k.es.Proof("POST", e.tokenURL(), "", "")).str("access_token")
	// One proof, for the path both servers serve; htu names each server.
	proof1 := k.es.Sign(dpoptest.Claims{JTI: "shared-jti", HTM: "GET", HTU: e.srv.URL + "/api/whoami", ATH: dpop.AccessTokenHash(tok)}, dpoptest.Options{})
	proof2 := k.es.Sign(dpoptest.Claims{JTI: "shared-jti", HTM: "GET", HTU: srv2.URL + "/api/whoami", ATH: dpop.AccessTokenHash(tok)}, dpoptest.Options{})
	wantStatus(t, "instance 1", e.dpopGet("/api/whoami", "DPoP", tok, proof1), 200)
	e2 := &env{t: t, srv: srv2}
	wantError(t, "instance 2, same key and jti", e2.dpopGet("/api/whoami", "DPoP", tok, proof2), 401, "invalid_dpop_proof")
	fresh := k.es.Proof("GET", srv2.URL+"/api/whoami", tok, "")
	wantStatus(t, "instance 2, a fresh proof", e2.dpopGet("/api/whoami", "DPoP", tok, fresh), 200)
}

// TestDPoPMetadata: dpop_signing_alg_values_supported in both metadata
// documents (RFC 9449 section 5.1, RFC 9728), gone when DPoP is off;
// dpop_bound_access_tokens_required with Config.DPoP.Required.
func TestDPoPMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		cfg          ginoauth.DPoPConfig
		wantAlgs     bool
		wantRequired bool
	}{
		{"default", ginoauth.DPoPConfig{}, true, false},
		{"required", ginoauth.DPoPConfig{Required: true}, true, true},
		{"disabled", ginoauth.DPoPConfig{Disabled: true}, false, false},
	} {
		e := newEnv(t, "memory", func(c *ginoauth.Config) { c.DPoP = tc.cfg })
		as := e.get("/.well-known/oauth-authorization-server", "")
		rs := e.get("/.well-known/oauth-protected-resource", "")
		for what, r := range map[string]resp{"server": as, "resource": rs} {
			algs, _ := r.body["dpop_signing_alg_values_supported"].([]any)
			if got := len(algs) > 0; got != tc.wantAlgs {
				t.Errorf("%s: %s metadata: dpop_signing_alg_values_supported = %v, want present %v", tc.name, what, r.body["dpop_signing_alg_values_supported"], tc.wantAlgs)
			}
			for _, a := range algs {
				if s, _ := a.(string); s == "none" || strings.HasPrefix(s, "HS") {
					t.Errorf("%s: %s metadata: advertises %q", tc.name, what, s)
				}
			}
		}
		if got, _ := rs.body["dpop_bound_access_tokens_required"].(bool); got != tc.wantRequired {
			t.Errorf("%s: dpop_bound_access_tokens_required = %v, want %v", tc.name, got, tc.wantRequired)
		}
	}
}

// TestDPoPDisabled: with DPoP off, a proof is ignored (a Bearer token).
func TestDPoPDisabled(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	e := newEnv(t, "memory", func(c *ginoauth.Config) { c.DPoP.Disabled = true })
	r := e.dpopTokenRequest(url.Values{"grant_type": {"client_credentials"}}, []string{e.confID, e.secret}, k.es.Proof("POST", e.tokenURL(), "", ""))
	wantField(t, "DPoP disabled", r, "token_type", "Bearer")
	wantStatus(t, "DPoP disabled: as Bearer", e.get("/api/whoami", r.str("access_token")), 200)
}

// TestDPoPAuthorizationCodeJKT: RFC 9449 section 10. A code issued for
// an authorization request with dpop_jkt is redeemed only with a proof
// made with that key (a refusal leaves the code usable); a malformed
// dpop_jkt is invalid_request at the authorization endpoint.
func TestDPoPAuthorizationCodeJKT(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, nil)
		conf := ce.oauthConfig()
		b := ce.browser("u1.alice")
		verifier := oauth2.GenerateVerifier()
		loc := ce.authorize(t, b, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("dpop_jkt", k.es.JKT())))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
		creds := []string{ce.webID, ce.webSecret}
		proof := func(key *dpoptest.Key) string { return key.Proof("POST", ce.tokenURL(), "", "") }
		wantError(t, "no proof", ce.dpopTokenRequest(form, creds), 400, "invalid_grant")
		wantError(t, "another key", ce.dpopTokenRequest(form, creds, proof(k.es2)), 400, "invalid_grant")
		r := ce.dpopTokenRequest(form, creds, proof(k.es))
		if wantStatus(t, "the dpop_jkt key", r, 200) {
			wantField(t, "the dpop_jkt key", r, "token_type", "DPoP")
		}

		challenge := "&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43)
		for _, bad := range []string{"abc", strings.Repeat("A", 44), k.es.JKT() + "="} {
			pg := fetch(t, b, "GET", ce.srv.URL+"/o/authorize/?response_type=code&client_id="+ce.webID+"&redirect_uri="+url.QueryEscape(testRedirect)+"&state=s1&dpop_jkt="+bad+challenge, nil)
			wantParam(t, "dpop_jkt "+bad, pg.location, "error", "invalid_request")
		}
	})
}

// TestDPoPPushedAuthorization: RFC 9449 section 10.1. A DPoP proof sent
// with a pushed authorization request binds the code to its key, as
// dpop_jkt does: the code is redeemed only with a proof of that key. A
// dpop_jkt naming another key than the proof's, or a proof made for
// another URL, is refused at the PAR endpoint.
func TestDPoPPushedAuthorization(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newPAREnv(t, kind, nil, nil)
		parURL := ce.srv.URL + "/o/par/"
		creds := []string{ce.webID, ce.webSecret}
		push := func(form url.Values, proofs ...string) resp {
			req, _ := http.NewRequest("POST", parURL, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(creds[0]), url.QueryEscape(creds[1]))
			for _, p := range proofs {
				req.Header.Add("DPoP", p)
			}
			return ce.do(req)
		}
		verifier := oauth2.GenerateVerifier()
		r := push(ce.pushForm(verifier), k.es.Proof("POST", parURL, "", ""))
		if !wantStatus(t, "push with a proof", r, http.StatusCreated) {
			t.FailNow()
		}
		loc := ce.authorize(t, ce.browser("u1.alice"), ce.authorizeURL(ce.webID, r.str("request_uri")))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
		proof := func(key *dpoptest.Key) string { return key.Proof("POST", ce.tokenURL(), "", "") }
		wantError(t, "no proof", ce.dpopTokenRequest(form, creds), 400, "invalid_grant")
		wantError(t, "another key", ce.dpopTokenRequest(form, creds, proof(k.es2)), 400, "invalid_grant")
		if r := ce.dpopTokenRequest(form, creds, proof(k.es)); wantStatus(t, "the pushed proof's key", r, 200) {
			wantField(t, "the pushed proof's key", r, "token_type", "DPoP")
		}

		mismatch := ce.pushForm(oauth2.GenerateVerifier())
		mismatch.Set("dpop_jkt", k.es2.JKT())
		wantError(t, "dpop_jkt of another key", push(mismatch, k.es.Proof("POST", parURL, "", "")), 400, "invalid_dpop_proof")
		wantError(t, "a proof for the token endpoint", push(ce.pushForm(oauth2.GenerateVerifier()), proof(k.es)), 400, "invalid_dpop_proof")
		matching := ce.pushForm(oauth2.GenerateVerifier())
		matching.Set("dpop_jkt", k.es.JKT())
		wantStatus(t, "dpop_jkt of the proof's key", push(matching, k.es.Proof("POST", parURL, "", "")), http.StatusCreated)
	})
}

// TestDPoPNextNonce: RFC 9449 sections 8.2 and 9. A proof whose nonce is
// of the previous time slot (still accepted) gets a fresh nonce in the
// DPoP-Nonce header of the successful answer, at the token endpoint and
// at a resource; a proof with the current nonce gets none.
func TestDPoPNextNonce(t *testing.T) {
	t.Parallel()
	k := dpopKeys()
	const lifetime = 10 * time.Second
	var offset atomic.Int64
	base := time.Now() // the server's clock stands still but for offset: no slot ends by chance
	e := newEnv(t, "memory", func(c *ginoauth.Config) {
		c.DPoP.Nonces, c.DPoP.NonceLifetime = true, lifetime
		c.Now = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	})
	conf := []string{e.confID, e.secret}
	cc := url.Values{"grant_type": {"client_credentials"}}
	nonce := e.dpopTokenRequest(cc, conf, k.es.Proof("POST", e.tokenURL(), "", "")).header.Get("DPoP-Nonce")
	r := e.dpopTokenRequest(cc, conf, k.es.Proof("POST", e.tokenURL(), "", nonce))
	if !wantStatus(t, "token: the current nonce", r, 200) {
		t.FailNow()
	}
	if got := r.header.Get("DPoP-Nonce"); got != "" {
		t.Errorf("token: the current nonce: DPoP-Nonce %q, want none", got)
	}
	tok := r.str("access_token")

	offset.Store(int64(lifetime)) // the nonce's slot is now the previous one
	r = e.dpopTokenRequest(cc, conf, k.es.Proof("POST", e.tokenURL(), "", nonce))
	next := r.header.Get("DPoP-Nonce")
	if wantStatus(t, "token: the previous slot's nonce", r, 200); next == "" || next == nonce {
		t.Errorf("token: the previous slot's nonce: DPoP-Nonce %q, want a new one", next)
	}
	u := e.srv.URL + "/api/whoami"
	r = e.dpopGet("/api/whoami", "DPoP", tok, k.es.Proof("GET", u, tok, nonce))
	if wantStatus(t, "resource: the previous slot's nonce", r, 200); r.header.Get("DPoP-Nonce") != next {
		t.Errorf("resource: the previous slot's nonce: DPoP-Nonce %q, want %q", r.header.Get("DPoP-Nonce"), next)
	}
	r = e.dpopGet("/api/whoami", "DPoP", tok, k.es.Proof("GET", u, tok, next))
	if wantStatus(t, "resource: the new nonce", r, 200); r.header.Get("DPoP-Nonce") != "" {
		t.Errorf("resource: the new nonce: DPoP-Nonce %q, want none", r.header.Get("DPoP-Nonce"))
	}
}
