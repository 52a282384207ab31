package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ginoauth/toolkit/ginoauth"
)

// TestClientAssertionOnRedis: an application registered by `demo
// createapplication --metadata` with private_key_jwt and its jwks, or
// with client_secret_jwt, gets a token from the demo server with a signed
// client assertion (RFC 7523), which then reads the API; the same
// assertion again, or the secret of the client_secret_jwt one, is
// invalid_client.
func TestClientAssertionOnRedis(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Use: "sig", Algorithm: "ES256"}}})
	if err != nil {
		t.Fatal(err)
	}
	register := func(doc string) map[string]string {
		t.Helper()
		r := runCmd(t, env, "createapplication", "--redis", testRedisURL, "--json", "--metadata", doc)
		var creds map[string]string
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &creds) != nil || creds["client_id"] == "" {
			t.Fatalf("createapplication: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		return creds
	}
	pk := register(`{"client_name":"Nightly export","grant_types":["client_credentials"],"scope":"read",` +
		`"token_endpoint_auth_method":"private_key_jwt","jwks":` + string(jwks) + `}`)
	hs := register(`{"client_name":"Reports","grant_types":["client_credentials"],"scope":"read",` +
		`"token_endpoint_auth_method":"client_secret_jwt"}`)
	if pk["client_secret"] != "" || hs["client_secret"] == "" {
		t.Fatalf("secrets printed: private_key_jwt %q, client_secret_jwt %q; want none, then one", pk["client_secret"], hs["client_secret"])
	}

	b, err := env.openBackend(t.Context(), redisTarget{url: testRedisURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	s := startApp(t, options{Store: b.store, Snippets: b.snippets, SecretKey: b.secretKey, Logger: testLogger(t)})

	assertion := func(alg jose.SignatureAlgorithm, k any, kid, client string) string {
		opts := (&jose.SignerOptions{}).WithType("JWT")
		if kid != "" {
			opts = opts.WithHeader("kid", kid)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, opts)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		raw, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: client, Subject: client, Audience: jwt.Audience{s.url + tokenPath},
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: randomString(t),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {ginoauth.ClientAssertionTypeJWT}, "client_assertion": {a}}
	}

	pkAssertion := assertion(jose.ES256, key, "k1", pk["client_id"])
	tk := s.tokenForm("", form(pkAssertion)).wantTokens(t)
	s.api("GET", snippetsPath, tk.access, "").wantStatus(t, http.StatusOK)
	s.tokenForm("", form(pkAssertion)).wantError(t, http.StatusUnauthorized, "invalid_client")

	tk = s.tokenForm("", form(assertion(jose.HS256, []byte(hs["client_secret"]), "", hs["client_id"]))).wantTokens(t)
	s.api("GET", snippetsPath, tk.access, "").wantStatus(t, http.StatusOK)
	s.tokenForm(basic(hs["client_id"], hs["client_secret"]), url.Values{"grant_type": {"client_credentials"}}).
		wantError(t, http.StatusUnauthorized, "invalid_client")
}
