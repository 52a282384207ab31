package ginoauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// assertionKeys are the client keys of the assertion tests, made once:
// RSA key generation is slow.
type assertionKeys struct {
	es, es2, esOther *ecdsa.PrivateKey
	rs               *rsa.PrivateKey
	ed               ed25519.PrivateKey
}

var testAssertionKeys = sync.OnceValue(func() *assertionKeys {
	ec := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return &assertionKeys{es: ec(), es2: ec(), esOther: ec(), rs: rs, ed: ed}
})

// jwkSet returns the public JWK Set of keys, each {kid, key}.
func jwkSet(t testing.TB, keys ...any) json.RawMessage {
	t.Helper()
	var set jose.JSONWebKeySet
	for i := 0; i < len(keys); i += 2 {
		set.Keys = append(set.Keys, jose.JSONWebKey{KeyID: keys[i].(string), Key: keys[i+1], Use: "sig"})
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// claims is an assertion's claim set; a zero field is left out.
type claims struct {
	Iss string   `json:"iss,omitempty"`
	Sub string   `json:"sub,omitempty"`
	Aud []string `json:"aud,omitempty"`
	Exp int64    `json:"exp,omitempty"`
	Nbf int64    `json:"nbf,omitempty"`
	Iat int64    `json:"iat,omitempty"`
	Jti string   `json:"jti,omitempty"`
}

// sign makes a compact JWS of c with key (a private key or an HMAC
// secret) under alg, with kid in its header when not empty.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c claims) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	opts.WithType("JWT")
	if kid != "" {
		opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsigned makes an alg "none" JWT of c.
func unsigned(c claims) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(c)
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

func newJTI(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwksServer is a client's jwks_uri: an httptest TLS server whose set the
// test changes, counting its fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	set     json.RawMessage
	status  int
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, set json.RawMessage) *jwksServer {
	j := &jwksServer{set: set, status: http.StatusOK}
	j.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(j.status)
		w.Write(j.set)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) serve(set json.RawMessage, status int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.set, j.status = set, status
}

// assertionEnv is newEnv with clients that authenticate with assertions.
type assertionEnv struct {
	*env
	keys                          *assertionKeys
	esID, rsID, edID, uriID, hsID string
	hsSecret                      string
	jwks                          *jwksServer
}

func newAssertionEnv(t *testing.T, kind string) *assertionEnv {
	t.Helper()
	keys := testAssertionKeys()
	jw := newJWKSServer(t, jwkSet(t, "u1", keys.es.Public()))
	e := newEnv(t, kind, func(c *ginoauth.Config) {
		c.ClientAssertion.HTTPClient = jw.srv.Client()
		// countingStore hides the store's device codes: name them.
		c.Device.Store, _ = c.Store.(*countingStore).Store.(store.DeviceCodes)
	})
	a := &assertionEnv{env: e, keys: keys, jwks: jw}
	create := func(method string, jwks json.RawMessage, uri string) (string, string) {
		app, secret, err := e.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			Name: method, ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
			TokenEndpointAuthMethod: method, JWKS: jwks, JWKSURI: uri,
		})
		if err != nil {
			t.Fatal(err)
		}
		return app.ClientID, secret
	}
	a.esID, _ = create(store.AuthPrivateKeyJWT, jwkSet(t, "es1", keys.es.Public(), "es2", keys.es2.Public()), "")
	a.rsID, _ = create(store.AuthPrivateKeyJWT, jwkSet(t, "rs1", keys.rs.Public()), "")
	a.edID, _ = create(store.AuthPrivateKeyJWT, jwkSet(t, "ed1", keys.ed.Public()), "")
	a.uriID, _ = create(store.AuthPrivateKeyJWT, nil, jw.srv.URL+"/jwks")
	a.hsID, a.hsSecret = create(store.AuthClientSecretJWT, nil, "")
	if a.hsSecret == "" {
		t.Fatal("CreateApplication(client_secret_jwt) returned no secret")
	}
	return a
}

// claimsFor returns a valid claim set for client at the token endpoint.
func (a *assertionEnv) claimsFor(client string) claims {
	now := time.Now()
	return claims{Iss: client, Sub: client, Aud: []string{a.srv.URL + "/o/token/"},
		Exp: now.Add(2 * time.Minute).Unix(), Iat: now.Unix(), Jti: newJTI(a.t)}
}

// form is a client_credentials request carrying assertion.
func assertionForm(assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {ginoauth.ClientAssertionTypeJWT},
		"client_assertion":      {assertion},
	}
}

func TestClientAssertion(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a := newAssertionEnv(t, kind)
		k := a.keys
		es := func(c claims) string { return sign(t, jose.ES256, k.es, "es1", c) }
		rsaPublicPEM := func() []byte {
			der, err := x509.MarshalPKIXPublicKey(k.rs.Public())
			if err != nil {
				t.Fatal(err)
			}
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		}()
		for _, tc := range []struct {
			name   string
			form   func() url.Values
			basic  func() []string // nil: none
			status int
			code   string // "" for success
		}{
			{"ES256 with jwks", func() url.Values { return assertionForm(es(a.claimsFor(a.esID))) }, nil, 200, ""},
			{"ES256, second key of the set", func() url.Values {
				return assertionForm(sign(t, jose.ES256, k.es2, "es2", a.claimsFor(a.esID)))
			}, nil, 200, ""},
			{"ES256 without kid", func() url.Values {
				return assertionForm(sign(t, jose.ES256, k.es2, "", a.claimsFor(a.esID)))
			}, nil, 200, ""},
			{"RS256 with jwks", func() url.Values {
				return assertionForm(sign(t, jose.RS256, k.rs, "rs1", a.claimsFor(a.rsID)))
			}, nil, 200, ""},
			{"PS256 with jwks", func() url.Values {
				return assertionForm(sign(t, jose.PS256, k.rs, "rs1", a.claimsFor(a.rsID)))
			}, nil, 200, ""},
			{"EdDSA with jwks", func() url.Values {
				return assertionForm(sign(t, jose.EdDSA, k.ed, "ed1", a.claimsFor(a.edID)))
			}, nil, 200, ""},
			{"ES256 with jwks_uri", func() url.Values {
				return assertionForm(sign(t, jose.ES256, k.es, "u1", a.claimsFor(a.uriID)))
			}, nil, 200, ""},
			{"HS256 client_secret_jwt", func() url.Values {
				return assertionForm(sign(t, jose.HS256, []byte(a.hsSecret), "", a.claimsFor(a.hsID)))
			}, nil, 200, ""},
			{"client_id matching", func() url.Values {
				f := assertionForm(es(a.claimsFor(a.esID)))
				f.Set("client_id", a.esID)
				return f
			}, nil, 200, ""},
			{"aud the issuer", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Aud = []string{a.srv.URL}
				return assertionForm(es(c))
			}, nil, 200, ""},
			{"aud a list with the token endpoint", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Aud = []string{"https://elsewhere.example", a.srv.URL + "/o/token"}
				return assertionForm(es(c))
			}, nil, 200, ""},

			{"alg none", func() url.Values { return assertionForm(unsigned(a.claimsFor(a.esID))) }, nil, 401, "invalid_client"},
			{"HS256 with the RSA public key (alg confusion)", func() url.Values {
				return assertionForm(sign(t, jose.HS256, rsaPublicPEM, "rs1", a.claimsFor(a.rsID)))
			}, nil, 401, "invalid_client"},
			{"HS256 with the client secret of a private_key_jwt client's set", func() url.Values {
				return assertionForm(sign(t, jose.HS256, []byte(strings.Repeat("k", 32)), "", a.claimsFor(a.esID)))
			}, nil, 401, "invalid_client"},
			{"ES256 for the client_secret_jwt client", func() url.Values {
				return assertionForm(sign(t, jose.ES256, k.es, "es1", a.claimsFor(a.hsID)))
			}, nil, 401, "invalid_client"},
			{"HS256 with a wrong secret", func() url.Values {
				return assertionForm(sign(t, jose.HS256, []byte(a.hsSecret+"x"), "", a.claimsFor(a.hsID)))
			}, nil, 401, "invalid_client"},
			{"wrong key, known kid", func() url.Values {
				return assertionForm(sign(t, jose.ES256, k.esOther, "es1", a.claimsFor(a.esID)))
			}, nil, 401, "invalid_client"},
			{"unknown kid", func() url.Values {
				return assertionForm(sign(t, jose.ES256, k.es, "nope", a.claimsFor(a.esID)))
			}, nil, 401, "invalid_client"},
			{"unknown client", func() url.Values { return assertionForm(es(a.claimsFor("nobody"))) }, nil, 401, "invalid_client"},
			{"malformed", func() url.Values { return assertionForm("not.a.jwt") }, nil, 401, "invalid_client"},
			{"wrong aud", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Aud = []string{"https://elsewhere.example/o/token/"}
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"no aud", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Aud = nil
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"expired", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Exp = time.Now().Add(-2 * time.Minute).Unix()
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"exp too far", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Exp = time.Now().Add(ginoauth.DefaultClientAssertionMaxLifetime + 2*time.Minute).Unix()
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"no exp", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Exp = 0
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"nbf in the future", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Nbf = time.Now().Add(2 * time.Minute).Unix()
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"iat in the future", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Iat = time.Now().Add(2 * time.Minute).Unix()
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"no jti", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Jti = ""
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"sub not iss", func() url.Values {
				c := a.claimsFor(a.esID)
				c.Sub = a.rsID
				return assertionForm(es(c))
			}, nil, 401, "invalid_client"},
			{"client_id not iss", func() url.Values {
				f := assertionForm(es(a.claimsFor(a.esID)))
				f.Set("client_id", a.rsID)
				return f
			}, nil, 401, "invalid_client"},
			{"unsupported assertion type", func() url.Values {
				f := assertionForm(es(a.claimsFor(a.esID)))
				f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
				return f
			}, nil, 401, "invalid_client"},
			{"assertion without its type", func() url.Values {
				f := assertionForm(es(a.claimsFor(a.esID)))
				f.Del("client_assertion_type")
				return f
			}, nil, 400, "invalid_request"},
			{"assertion and Basic", func() url.Values { return assertionForm(es(a.claimsFor(a.esID))) },
				func() []string { return []string{a.confID, a.secret} }, 400, "invalid_request"},
			{"assertion and client_secret", func() url.Values {
				f := assertionForm(sign(t, jose.HS256, []byte(a.hsSecret), "", a.claimsFor(a.hsID)))
				f.Set("client_secret", a.hsSecret)
				return f
			}, nil, 400, "invalid_request"},

			// Each application is held to its registered method.
			{"client_secret_jwt client with its secret in Basic", func() url.Values {
				return url.Values{"grant_type": {"client_credentials"}}
			}, func() []string { return []string{a.hsID, a.hsSecret} }, 401, "invalid_client"},
			{"client_secret_jwt client with client_secret", func() url.Values {
				return url.Values{"grant_type": {"client_credentials"}, "client_id": {a.hsID}, "client_secret": {a.hsSecret}}
			}, nil, 401, "invalid_client"},
			{"client_secret_basic client with an HS256 assertion", func() url.Values {
				return assertionForm(sign(t, jose.HS256, []byte(a.secret), "", a.claimsFor(a.confID)))
			}, nil, 401, "invalid_client"},
			{"client_secret_basic client with client_secret (post)", func() url.Values {
				return url.Values{"grant_type": {"client_credentials"}, "client_id": {a.confID}, "client_secret": {a.secret}}
			}, nil, 200, ""},
			{"client_secret_basic client with Basic", func() url.Values {
				return url.Values{"grant_type": {"client_credentials"}}
			}, func() []string { return []string{a.confID, a.secret} }, 200, ""},
			{"public client with an assertion", func() url.Values {
				f := assertionForm(sign(t, jose.HS256, []byte(strings.Repeat("k", 32)), "", a.claimsFor(a.pubID)))
				f.Set("grant_type", "password")
				return f
			}, nil, 401, "invalid_client"},
			{"private_key_jwt client with no credentials", func() url.Values {
				return url.Values{"grant_type": {"client_credentials"}, "client_id": {a.esID}}
			}, nil, 401, "invalid_client"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var basic []string
				if tc.basic != nil {
					basic = tc.basic()
				}
				r := a.token(tc.form(), basic)
				if tc.code == "" {
					if wantStatus(t, tc.name, r, 200) && r.str("access_token") == "" {
						t.Errorf("%s: no access_token in %v", tc.name, r.body)
					}
					return
				}
				wantError(t, tc.name, r, tc.status, tc.code)
			})
		}
	})
}

// TestClientAssertionAnswersSay: every refusal before the signature is
// verified says the same thing, so an unknown client cannot be told from a
// bad signature.
func TestClientAssertionAnswersSay(t *testing.T) {
	t.Parallel()
	a := newAssertionEnv(t, "memory")
	k := a.keys
	unknown := a.token(assertionForm(sign(t, jose.ES256, k.es, "es1", a.claimsFor("nobody"))), nil)
	badSig := a.token(assertionForm(sign(t, jose.ES256, k.esOther, "es1", a.claimsFor(a.esID))), nil)
	noneAlg := a.token(assertionForm(unsigned(a.claimsFor(a.esID))), nil)
	for _, r := range []resp{unknown, badSig, noneAlg} {
		if r.status != 401 || r.str("error_description") != unknown.str("error_description") {
			t.Errorf("answer %d %v, want 401 with the description of an unknown client's, %q", r.status, r.body, unknown.str("error_description"))
		}
	}
}

func TestClientAssertionReplay(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a := newAssertionEnv(t, kind)
		k := a.keys
		// A second provider on the same store (the same Redis), as another instance.
		other, err := ginoauth.New(ginoauth.Config{Store: a.st, SecretKey: testKey,
			Scopes: map[string]string{"read": "Read", "write": "Write", "admin": "Admin"}})
		if err != nil {
			t.Fatal(err)
		}
		b := *a.env
		b.p, b.srv = other, newServer(t, other)

		c := a.claimsFor(a.esID)
		// A forged assertion with the jti does not use it up.
		forged := sign(t, jose.ES256, k.esOther, "es1", c)
		wantError(t, "forged", a.token(assertionForm(forged), nil), 401, "invalid_client")

		good := sign(t, jose.ES256, k.es, "es1", c)
		wantStatus(t, "first use", a.token(assertionForm(good), nil), 200)
		wantError(t, "replay, same instance", a.token(assertionForm(good), nil), 401, "invalid_client")
		// The other instance's test server has another URL: aud names the
		// first's token endpoint, which it does not accept; so replay one
		// made for both.
		c2 := a.claimsFor(a.esID)
		c2.Aud = []string{a.srv.URL + "/o/token/", b.srv.URL + "/o/token/"}
		both := sign(t, jose.ES256, k.es, "es1", c2)
		wantStatus(t, "first use at b", b.token(assertionForm(both), nil), 200)
		wantError(t, "replay at a", a.token(assertionForm(both), nil), 401, "invalid_client")

		// The same jti by another client is that client's own.
		c3 := a.claimsFor(a.rsID)
		c3.Jti = c.Jti
		wantStatus(t, "same jti, another client", a.token(assertionForm(sign(t, jose.RS256, k.rs, "rs1", c3)), nil), 200)
	})
}

func TestClientAssertionJWKSURIRotation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a := newAssertionEnv(t, kind)
		k := a.keys
		jw := a.jwks
		token := func(key *ecdsa.PrivateKey, kid string) resp {
			return a.token(assertionForm(sign(t, jose.ES256, key, kid, a.claimsFor(a.uriID))), nil)
		}
		wantStatus(t, "first key", token(k.es, "u1"), 200)
		wantStatus(t, "first key again (cached)", token(k.es, "u1"), 200)
		if got := jw.fetches.Load(); got != 1 {
			t.Errorf("fetches after two assertions = %d, want 1", got)
		}
		// The client rotates: the new kid is unknown, which refetches once.
		jw.serve(jwkSet(t, "u2", k.es2.Public()), http.StatusOK)
		wantStatus(t, "rotated key", token(k.es2, "u2"), 200)
		if got := jw.fetches.Load(); got != 2 {
			t.Errorf("fetches after the rotation = %d, want 2", got)
		}
		// Unknown kids do not refetch again within the refetch interval.
		for range 5 {
			wantError(t, "unknown kid", token(k.esOther, "u3"), 401, "invalid_client")
		}
		if got := jw.fetches.Load(); got != 2 {
			t.Errorf("fetches after five unknown kids = %d, want 2", got)
		}
		wantError(t, "old key after rotation", token(k.es, "u1"), 401, "invalid_client")
	})
}

// TestClientAssertionJWKSURIUnknownKeyType: a key of a type the server
// cannot read in a client's jwks_uri set (an X448 encryption key, say) is
// skipped, as RFC 7517 section 5 says, and the client's signing key still
// works; it used to make the whole set unreadable.
func TestClientAssertionJWKSURIUnknownKeyType(t *testing.T) {
	t.Parallel()
	a := newAssertionEnv(t, "memory")
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(jwkSet(t, "u1", a.keys.es.Public()), &set); err != nil {
		t.Fatal(err)
	}
	odd := json.RawMessage(`{"kty":"OKP","crv":"X448","kid":"enc","use":"enc","x":"AAAA"}`)
	body, err := json.Marshal(map[string][]json.RawMessage{"keys": {odd, set.Keys[0]}})
	if err != nil {
		t.Fatal(err)
	}
	a.jwks.serve(body, http.StatusOK)
	r := a.token(assertionForm(sign(t, jose.ES256, a.keys.es, "u1", a.claimsFor(a.uriID))), nil)
	wantStatus(t, "an assertion signed by the key beside one of an unknown type", r, 200)
}

func TestClientAssertionJWKSURIFailures(t *testing.T) {
	t.Parallel()
	keys := testAssertionKeys()
	for _, tc := range []struct {
		name   string
		status int
		body   json.RawMessage
	}{
		{"server error", http.StatusInternalServerError, jwkSet(t, "u1", keys.es.Public())},
		{"not JSON", http.StatusOK, json.RawMessage("<html>")},
		{"too large", http.StatusOK, json.RawMessage(`{"keys":[],"pad":"` + strings.Repeat("x", ginoauth.MaxClientMetadataSize) + `"}`)},
		{"a private key only", http.StatusOK, func() json.RawMessage {
			raw, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{KeyID: "u1", Key: keys.es}}})
			return raw
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAssertionEnv(t, "memory")
			a.jwks.serve(tc.body, tc.status)
			r := a.token(assertionForm(sign(t, jose.ES256, keys.es, "u1", a.claimsFor(a.uriID))), nil)
			wantError(t, tc.name, r, 401, "invalid_client")
		})
	}
	t.Run("claims that cannot pass fetch nothing", func(t *testing.T) {
		t.Parallel()
		a := newAssertionEnv(t, "memory")
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for name, mod := range map[string]func(*claims){
			"wrong aud": func(c *claims) { c.Aud = []string{"https://elsewhere.example/token"} },
			"expired":   func(c *claims) { c.Exp = time.Now().Add(-time.Hour).Unix() },
			"no jti":    func(c *claims) { c.Jti = "" },
		} {
			c := a.claimsFor(a.uriID)
			mod(&c)
			// An unknown kid signed by a key the client never had: only a
			// fetch of its jwks_uri could say more.
			r := a.token(assertionForm(sign(t, jose.ES256, other, "unknown", c)), nil)
			wantError(t, name, r, 401, "invalid_client")
		}
		if got := a.jwks.fetches.Load(); got != 0 {
			t.Errorf("jwks_uri fetches for assertions whose claims fail = %d, want 0", got)
		}
	})
	t.Run("an internal address", func(t *testing.T) {
		t.Parallel()
		// The default client (none injected) connects only to public
		// addresses: a jwks_uri on loopback is never even connected to
		// (counted as connections, since the default client would not
		// trust the test server's certificate anyway).
		var conns atomic.Int32
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		e := newEnv(t, "memory", nil)
		app, _, err := e.p.CreateApplication(context.Background(), ginoauth.NewApplication{
			Name: "internal", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
			TokenEndpointAuthMethod: store.AuthPrivateKeyJWT, JWKSURI: srv.URL + "/jwks",
		})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		c := claims{Iss: app.ClientID, Sub: app.ClientID, Aud: []string{e.srv.URL + "/o/token/"},
			Exp: now.Add(2 * time.Minute).Unix(), Iat: now.Unix(), Jti: newJTI(t)}
		r := e.token(assertionForm(sign(t, jose.ES256, keys.es, "u1", c)), nil)
		wantError(t, "a jwks_uri on loopback", r, 401, "invalid_client")
		if got := conns.Load(); got != 0 {
			t.Errorf("connections to a loopback jwks_uri = %d, want 0", got)
		}
	})
	t.Run("plain http", func(t *testing.T) {
		t.Parallel()
		a := newAssertionEnv(t, "memory")
		plain := httptest.NewServer(a.jwks.srv.Config.Handler)
		t.Cleanup(plain.Close)
		// Registration refuses an http jwks_uri; one stored anyway (by an
		// older version, say) is never fetched.
		app := &store.Application{ClientID: "plain", Name: "plain", ClientType: store.Confidential,
			GrantTypes: []string{store.GrantClientCredentials}, TokenEndpointAuthMethod: store.AuthPrivateKeyJWT,
			JWKSURI: plain.URL + "/jwks"}
		if err := a.st.CreateApplication(context.Background(), app); err != nil {
			t.Fatal(err)
		}
		r := a.token(assertionForm(sign(t, jose.ES256, keys.es, "u1", a.claimsFor("plain"))), nil)
		wantError(t, "http jwks_uri", r, 401, "invalid_client")
		if got := a.jwks.fetches.Load(); got != 0 {
			t.Errorf("fetches = %d, want 0", got)
		}
	})
}

// TestClientAssertionOtherEndpoints: revocation, introspection and device
// authorization authenticate clients the same way, and accept the token
// endpoint's URL as aud (OpenID Connect Core section 9) as well as their
// own.
func TestClientAssertionOtherEndpoints(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a := newAssertionEnv(t, kind)
		k := a.keys
		tok := a.token(assertionForm(sign(t, jose.ES256, k.es, "es1", a.claimsFor(a.esID))), nil).str("access_token")
		post := func(path string, form url.Values) resp {
			req, _ := http.NewRequest("POST", a.srv.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return a.do(req)
		}
		withAud := func(aud string) url.Values {
			c := a.claimsFor(a.esID)
			c.Aud = []string{aud}
			f := assertionForm(sign(t, jose.ES256, k.es, "es1", c))
			f.Del("grant_type")
			f.Set("token", tok)
			return f
		}
		for _, tc := range []struct {
			name, path, aud string
			status          int
			code            string
		}{
			{"introspect, its own URL", "/o/introspect/", a.srv.URL + "/o/introspect/", 200, ""},
			{"introspect, the token endpoint", "/o/introspect/", a.srv.URL + "/o/token/", 200, ""},
			{"introspect, the revocation endpoint", "/o/introspect/", a.srv.URL + "/o/revoke_token/", 401, "invalid_client"},
			{"revoke, the token endpoint", "/o/revoke_token/", a.srv.URL + "/o/token/", 200, ""},
			{"revoke, its own URL", "/o/revoke_token/", a.srv.URL + "/o/revoke_token/", 200, ""},
			{"revoke, another server", "/o/revoke_token/", "https://elsewhere.example/o/revoke_token/", 401, "invalid_client"},
			// The client is authenticated, then may not use the grant.
			{"device authorization, its own URL", "/o/device_authorization/", a.srv.URL + "/o/device_authorization/", 400, "unauthorized_client"},
			{"device authorization, the issuer", "/o/device_authorization/", a.srv.URL, 400, "unauthorized_client"},
			{"device authorization, another server", "/o/device_authorization/", "https://elsewhere.example/", 401, "invalid_client"},
		} {
			r := post(tc.path, withAud(tc.aud))
			wantStatus(t, tc.name, r, tc.status)
			if tc.code != "" {
				wantField(t, tc.name, r, "error", tc.code)
			}
		}
	})
}

// TestClientAssertionXOAuth2: golang.org/x/oauth2's clientcredentials
// sends an assertion as extra endpoint parameters.
func TestClientAssertionXOAuth2(t *testing.T) {
	t.Parallel()
	a := newAssertionEnv(t, "memory")
	cfg := clientcredentials.Config{
		ClientID:  a.rsID,
		TokenURL:  a.srv.URL + "/o/token/",
		AuthStyle: oauth2.AuthStyleInParams,
		Scopes:    []string{"read"},
		EndpointParams: url.Values{
			"client_assertion_type": {ginoauth.ClientAssertionTypeJWT},
			"client_assertion":      {sign(t, jose.RS256, a.keys.rs, "rs1", a.claimsFor(a.rsID))},
		},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, a.srv.Client())
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if tok.AccessToken == "" || tok.Extra("scope") != "read" {
		t.Errorf("token = %+v (scope %v), want an access token for read", tok, tok.Extra("scope"))
	}
	if _, err := cfg.Token(ctx); err == nil {
		t.Error("Token with the same assertion again: no error, want invalid_client")
	} else if re, ok := err.(*oauth2.RetrieveError); !ok || re.ErrorCode != "invalid_client" {
		t.Errorf("Token with the same assertion again: %v, want invalid_client", err)
	}
}

func TestClientAssertionMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	r := e.get("/.well-known/oauth-authorization-server", "")
	for _, prefix := range []string{"token", "revocation", "introspection"} {
		methods, _ := r.body[prefix+"_endpoint_auth_methods_supported"].([]any)
		for _, m := range []string{"private_key_jwt", "client_secret_jwt"} {
			if !slices.Contains(methods, any(m)) {
				t.Errorf("%s_endpoint_auth_methods_supported = %v, want %s in it", prefix, methods, m)
			}
		}
		algs, _ := r.body[prefix+"_endpoint_auth_signing_alg_values_supported"].([]any)
		for _, alg := range []string{"RS256", "ES256", "PS256", "EdDSA", "HS256"} {
			if !slices.Contains(algs, any(alg)) {
				t.Errorf("%s_endpoint_auth_signing_alg_values_supported = %v, want %s in it", prefix, algs, alg)
			}
		}
		if slices.Contains(algs, any("none")) {
			t.Errorf("%s_endpoint_auth_signing_alg_values_supported lists none", prefix)
		}
	}
}

// TestClientSecretJWTSecretSealed: the store keeps a client_secret_jwt
// client's secret sealed (never in clear), other clients no readable
// secret at all, and the secret cannot be moved to another client.
func TestClientSecretJWTSecretSealed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		a := newAssertionEnv(t, kind)
		ctx := context.Background()
		hs, err := a.st.GetApplication(ctx, a.hsID)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs.SealedSecret) == 0 || strings.Contains(string(hs.SealedSecret), a.hsSecret) {
			t.Errorf("SealedSecret = %q, want the secret sealed", hs.SealedSecret)
		}
		for _, id := range []string{a.confID, a.esID, a.pubID} {
			app, err := a.st.GetApplication(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(app.SealedSecret) != 0 {
				t.Errorf("%s (%s): SealedSecret = %q, want none", id, app.AuthMethod(), app.SealedSecret)
			}
		}
		// Another client_secret_jwt client given hs's sealed secret cannot
		// use hs's secret: the seal is bound to the client id.
		thief := &store.Application{ClientID: "thief", Name: "thief", ClientType: store.Confidential,
			GrantTypes: []string{store.GrantClientCredentials}, TokenEndpointAuthMethod: store.AuthClientSecretJWT,
			SealedSecret: hs.SealedSecret, SecretHash: hs.SecretHash}
		if err := a.st.CreateApplication(ctx, thief); err != nil {
			t.Fatal(err)
		}
		r := a.token(assertionForm(sign(t, jose.HS256, []byte(a.hsSecret), "", a.claimsFor("thief"))), nil)
		wantError(t, "moved sealed secret", r, 401, "invalid_client")

		// Switching a client to client_secret_jwt is refused: its secret
		// was never kept readable.
		_, err = a.p.UpdateApplication(ctx, a.confID, func(app *store.Application) error {
			app.TokenEndpointAuthMethod = store.AuthClientSecretJWT
			return nil
		})
		if err == nil {
			t.Error("UpdateApplication to client_secret_jwt: no error, want one")
		}
		// Switching it away drops the sealed secret.
		got, err := a.p.UpdateApplication(ctx, a.hsID, func(app *store.Application) error {
			app.TokenEndpointAuthMethod = store.AuthClientSecretPost
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.SealedSecret) != 0 {
			t.Errorf("after switching to client_secret_post: SealedSecret = %q, want none", got.SealedSecret)
		}
	})
}

// TestParseClientAssertion is the parser's table: what it refuses before
// any key is looked up.
func TestParseClientAssertion(t *testing.T) {
	t.Parallel()
	k := testAssertionKeys()
	c := claims{Iss: "c1", Sub: "c1", Aud: []string{"x"}, Exp: time.Now().Add(time.Minute).Unix(), Jti: "j"}
	for _, tc := range []struct {
		name    string
		raw     string
		wantID  string
		wantAlg string
	}{
		{"ES256", sign(t, jose.ES256, k.es, "k1", c), "c1", "ES256"},
		{"HS256", sign(t, jose.HS256, []byte(strings.Repeat("s", 32)), "", c), "c1", "HS256"},
		{"none", unsigned(c), "", ""},
		{"HS512", sign(t, jose.HS512, []byte(strings.Repeat("s", 64)), "", c), "", ""},
		{"ES384", func() string {
			k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return sign(t, jose.ES384, k384, "", c)
		}(), "", ""},
		{"no iss", sign(t, jose.ES256, k.es, "", claims{Sub: "c1"}), "", ""},
		{"iss not sub", sign(t, jose.ES256, k.es, "", claims{Iss: "c1", Sub: "c2"}), "", ""},
		{"empty", "", "", ""},
		{"too large", strings.Repeat("a", 9000), "", ""},
		{"JSON serialization", func() string {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.es}, nil)
			payload, _ := json.Marshal(c)
			o, _ := s.Sign(payload)
			return o.FullSerialize()
		}(), "", ""},
	} {
		got, err := ginoauth.ParseClientAssertion(tc.raw)
		switch {
		case tc.wantID == "" && err == nil:
			t.Errorf("%s: ParseClientAssertion = %+v, want an error", tc.name, got)
		case tc.wantID != "" && err != nil:
			t.Errorf("%s: ParseClientAssertion: %v, want client %s", tc.name, err, tc.wantID)
		case tc.wantID != "" && (got.ClientID != tc.wantID || got.Alg != tc.wantAlg):
			t.Errorf("%s: ParseClientAssertion = %s %s, want %s %s", tc.name, got.ClientID, got.Alg, tc.wantID, tc.wantAlg)
		}
	}
}

func FuzzParseClientAssertion(f *testing.F) {
	k := testAssertionKeys()
	c := claims{Iss: "c1", Sub: "c1", Aud: []string{"x"}, Exp: 1 << 40, Jti: "j"}
	f.Add(sign(f, jose.ES256, k.es, "k1", c))
	f.Add(sign(f, jose.HS256, []byte(strings.Repeat("s", 32)), "", c))
	f.Add(unsigned(c))
	f.Add("e30.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := ginoauth.ParseClientAssertion(raw)
		if err != nil {
			return
		}
		if a.ClientID == "" {
			t.Errorf("ParseClientAssertion(%q): no client id and no error", raw)
		}
		switch a.Alg {
		case "RS256", "PS256", "ES256", "EdDSA", "HS256":
		default:
			t.Errorf("ParseClientAssertion(%q): algorithm %q accepted", raw, a.Alg)
		}
	})
}

// replayOutage is a store whose replay records are unreachable.
type replayOutage struct{ store.Store }

func (replayOutage) FirstUse(context.Context, string, time.Time) (bool, error) {
	return false, store.ErrUnavailable
}

// TestClientAssertionReplayStoreDown: when the jti cannot be recorded the
// answer is 503, never a token.
func TestClientAssertionReplayStoreDown(t *testing.T) {
	t.Parallel()
	a := newAssertionEnv(t, "memory")
	p, err := ginoauth.New(ginoauth.Config{Store: replayOutage{a.st}, SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	b := *a.env
	b.p, b.srv = p, newServer(t, p)
	c := a.claimsFor(a.esID)
	c.Aud = []string{b.srv.URL}
	r := b.token(assertionForm(sign(t, jose.ES256, a.keys.es, "es1", c)), nil)
	wantStatus(t, "replay store down", r, http.StatusServiceUnavailable)
	if r.str("access_token") != "" {
		t.Errorf("replay store down: an access token was issued")
	}
}
