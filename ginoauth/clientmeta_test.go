package ginoauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
)

// testJWKS returns a JWK Set with one P-256 key: the public half, or the
// private key when private is set.
func testJWKS(t testing.TB, private bool) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	if private {
		jwk.Key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// registerMetadata parses doc and registers the application it describes
// on p: the path of `demo createapplication --metadata` and, later, of
// dynamic registration.
func registerMetadata(p *ginoauth.Provider, doc string) (*store.Application, string, error) {
	m, err := ginoauth.ParseClientMetadata([]byte(doc))
	if err != nil {
		return nil, "", err
	}
	return p.CreateApplication(context.Background(), m.NewApplication())
}

// metadataCase is a document for TestClientMetadata and what registering
// it gives.
type metadataCase struct {
	name, doc  string
	wantCode   string // "" for a registered application
	wantSecret bool
	wantIn     string // in the problems, or for a success the method
}

// metadataCases are TestClientMetadata's documents; pub and priv are JWK
// Sets of a public and of a private key.
func metadataCases(pub, priv string) []metadataCase {
	big := `{"client_name":"` + strings.Repeat("a", ginoauth.MaxClientMetadataSize) + `"}`
	deep := strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20)
	return []metadataCase{
		{"defaults", `{"redirect_uris":["https://app.example/cb"]}`, "", true, "client_secret_basic"},
		{"public", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","client_name":"SPA","scope":"read"}`, "", false, "none"},
		{"client credentials, post", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`, "", true, "client_secret_post"},
		{"private_key_jwt with jwks", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":` + pub + `,"id_token_signed_response_alg":"ES256","access_token_format":"jwt"}`, "", false, "private_key_jwt"},
		{"private_key_jwt with jwks_uri", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks.json"}`, "", false, "private_key_jwt"},
		{"response types agree", `{"redirect_uris":["https://app.example/cb"],"response_types":["code"],"post_logout_redirect_uris":["https://app.example/bye"]}`, "", true, "client_secret_basic"},
		{"unknown members ignored", `{"grant_types":["client_credentials"],"logo_uri":"https://app.example/l.png","x":{"y":[1,2]}}`, "", true, "client_secret_basic"},
		{"nulls as absent", `{"grant_types":["client_credentials"],"jwks":null,"scope":null}`, "", true, "client_secret_basic"},

		{"unknown grant", `{"grant_types":["implicit"]}`, "invalid_client_metadata", false, `does not offer the grant type "implicit"`},
		{"no grant", `{"grant_types":[]}`, "invalid_client_metadata", false, "at least one authorization grant type"},
		{"code without redirect", `{}`, "invalid_redirect_uri", false, "needs at least one redirect URI"},
		{"http redirect", `{"redirect_uris":["http://app.example/cb"]}`, "invalid_redirect_uri", false, "must use https"},
		{"fragment redirect", `{"redirect_uris":["https://app.example/cb#x"]}`, "invalid_redirect_uri", false, "fragment"},
		{"bad post-logout", `{"grant_types":["client_credentials"],"post_logout_redirect_uris":["http://app.example/"]}`, "invalid_client_metadata", false, "post-logout redirect URI"},
		{"redirect and grant", `{"redirect_uris":["ftp://x"],"grant_types":["authorization_code","nope"]}`, "invalid_client_metadata", false, "nope"},
		{"implicit response type", `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, "invalid_client_metadata", false, `response type "token"`},
		{"code response without grant", `{"grant_types":["client_credentials"],"response_types":["code"]}`, "invalid_client_metadata", false, "go together"},
		{"none with client_credentials", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata", false, "public client cannot use the client_credentials"},
		{"unknown method", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"tls_client_auth"}`, "invalid_client_metadata", false, `"tls_client_auth" is not offered`},
		{"private_key_jwt without keys", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata", false, "needs the client's public keys"},
		{"jwks and jwks_uri", `{"grant_types":["client_credentials"],"jwks":` + pub + `,"jwks_uri":"https://app.example/jwks"}`, "invalid_client_metadata", false, "not both"},
		{"private key in jwks", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":` + priv + `}`, "invalid_client_metadata", false, "not a public key"},
		{"symmetric key in jwks", `{"grant_types":["client_credentials"],"jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}}`, "invalid_client_metadata", false, "not a public key"},
		{"empty jwks", `{"grant_types":["client_credentials"],"jwks":{"keys":[]}}`, "invalid_client_metadata", false, "no keys"},
		{"jwks not a set", `{"grant_types":["client_credentials"],"jwks":{"keys":[{"kty":"RSA"}]}}`, "invalid_client_metadata", false, "not a JWK Set"},
		{"jwks an array", `{"grant_types":["client_credentials"],"jwks":[]}`, "invalid_client_metadata", false, "must be a JWK Set"},
		{"http jwks_uri", `{"grant_types":["client_credentials"],"jwks_uri":"http://127.0.0.1/jwks"}`, "invalid_client_metadata", false, "must be an https URL"},
		{"bad alg", `{"grant_types":["client_credentials"],"id_token_signed_response_alg":"none"}`, "invalid_client_metadata", false, `algorithm "none"`},
		{"bad format", `{"grant_types":["client_credentials"],"access_token_format":"paseto"}`, "invalid_client_metadata", false, `format "paseto"`},
		{"unknown scope", `{"grant_types":["client_credentials"],"scope":"read admin"}`, "invalid_client_metadata", false, `Scope "admin"`},
		{"malformed scope", `{"grant_types":["client_credentials"],"scope":"read\twrite"}`, "invalid_client_metadata", false, "not a list of scopes"},
		{"long name", `{"grant_types":["client_credentials"],"client_name":"` + strings.Repeat("é", 256) + `"}`, "invalid_client_metadata", false, "too long"},
		{"name on two lines", `{"grant_types":["client_credentials"],"client_name":"a\nb"}`, "invalid_client_metadata", false, "one line"},
		{"wrong type", `{"redirect_uris":"https://app.example/cb"}`, "invalid_redirect_uri", false, `"redirect_uris" must be an array of strings`},
		{"wrong type, not a redirect", `{"grant_types":"password"}`, "invalid_client_metadata", false, `"grant_types" must be an array of strings`},
		{"duplicate member", `{"grant_types":["client_credentials"],"grant_types":["password"]}`, "invalid_client_metadata", false, "given twice"},
		{"escaped duplicate", `{"scope":"read","\u0073cope":"write"}`, "invalid_client_metadata", false, "given twice"},
		{"nested duplicate", `{"jwks":{"keys":[],"keys":[]}}`, "invalid_client_metadata", false, "given twice"},
		{"array", `[]`, "invalid_client_metadata", false, "not a JSON object"},
		{"string", `"x"`, "invalid_client_metadata", false, "not a JSON object"},
		{"empty", ``, "invalid_client_metadata", false, "not a JSON object"},
		{"trailing", `{}{}`, "invalid_client_metadata", false, "after the object"},
		{"broken", `{"a":`, "invalid_client_metadata", false, "not a JSON object"},
		{"too deep", deep, "invalid_client_metadata", false, "nested more than"},
		{"too big", big, "invalid_client_metadata", false, "larger than"},
		{"not utf-8", "{\"client_name\":\"\xff\"}", "invalid_client_metadata", false, "not UTF-8"},
	}
}

// TestClientMetadata registers applications from RFC 7591 documents: a
// good one is stored with its metadata, and a secret only when it
// authenticates with one; a bad one is refused with the RFC 7591 error
// code and a sentence naming the problem.
func TestClientMetadata(t *testing.T) {
	t.Parallel()
	tests := metadataCases(testJWKS(t, false), testJWKS(t, true))
	p, err := ginoauth.New(ginoauth.Config{Store: memstore.New(), SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		app, secret, err := registerMetadata(p, tc.doc)
		var invalid *ginoauth.InvalidApplicationError
		switch {
		case tc.wantCode == "" && err != nil:
			t.Errorf("%s: error %v, want a registered application", tc.name, err)
		case tc.wantCode == "":
			if got := app.AuthMethod(); got != tc.wantIn {
				t.Errorf("%s: AuthMethod() = %q, want %q", tc.name, got, tc.wantIn)
			}
			if got := secret != "" && app.SecretHash != ""; got != tc.wantSecret {
				t.Errorf("%s: got a secret %v, want %v", tc.name, got, tc.wantSecret)
			}
		case !errors.As(err, &invalid):
			t.Errorf("%s: error %v, want an *InvalidApplicationError", tc.name, err)
		default:
			if got := invalid.RegistrationErrorCode(); got != tc.wantCode {
				t.Errorf("%s: RegistrationErrorCode() = %q, want %q (problems %q)", tc.name, got, tc.wantCode, invalid.Problems)
			}
			if got := strings.Join(invalid.Problems, " "); !strings.Contains(got, tc.wantIn) {
				t.Errorf("%s: problems %q, want one saying %q", tc.name, got, tc.wantIn)
			}
			if len(invalid.Fields) != len(invalid.Problems) {
				t.Errorf("%s: %d fields for %d problems", tc.name, len(invalid.Fields), len(invalid.Problems))
			}
		}
	}
}

// TestClientMetadataStored: every member of a document is kept, and the
// application reads back the same from the store.
func TestClientMetadataStored(t *testing.T) {
	t.Parallel()
	p, err := ginoauth.New(ginoauth.Config{Store: memstore.New(), SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	jwks := testJWKS(t, false)
	doc := `{
		"client_name": "Reports",
		"redirect_uris": ["https://app.example/cb", "https://app.example/cb"],
		"post_logout_redirect_uris": ["https://app.example/bye"],
		"grant_types": ["authorization_code", "refresh_token"],
		"token_endpoint_auth_method": "private_key_jwt",
		"jwks": ` + jwks + `,
		"id_token_signed_response_alg": "ES256",
		"scope": "read write",
		"access_token_format": "jwt"
	}`
	app, secret, err := registerMetadata(p, doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Store().GetApplication(context.Background(), app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"secret", secret, ""},
		{"Name", got.Name, "Reports"},
		{"ClientType", got.ClientType, store.Confidential},
		{"RedirectURIs", got.RedirectURIs, []string{"https://app.example/cb"}},
		{"PostLogoutRedirectURIs", got.PostLogoutRedirectURIs, []string{"https://app.example/bye"}},
		{"GrantTypes", got.GrantTypes, []string{"authorization_code", "refresh_token"}},
		{"AllowedScopes", got.AllowedScopes, []string{"read", "write"}},
		{"AuthMethod", got.AuthMethod(), "private_key_jwt"},
		{"UsesSecret", got.UsesSecret(), false},
		{"JWKS", string(got.JWKS), jwks},
		{"IDTokenAlg", got.IDTokenAlg(), "ES256"},
		{"TokenFormat", got.TokenFormat(), "jwt"},
	}
	for _, c := range checks {
		if gs, ok := c.got.([]string); ok {
			if !slices.Equal(gs, c.want.([]string)) {
				t.Errorf("%s = %q, want %q", c.what, gs, c.want)
			}
			continue
		}
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

// TestApplicationMetadataDefaults: an application stored without the
// client metadata (as before it existed) takes the defaults from its
// client type.
func TestApplicationMetadataDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stored              string
		method, alg, format string
		usesSecret          bool
	}{
		{`{"client_id":"a","client_type":"confidential","grant_types":["password"]}`, "client_secret_basic", "RS256", "opaque", true},
		{`{"client_id":"b","client_type":"public","grant_types":["password"]}`, "none", "RS256", "opaque", false},
		{`{"client_id":"c","client_type":"confidential","token_endpoint_auth_method":"client_secret_jwt"}`, "client_secret_jwt", "RS256", "opaque", true},
	}
	for _, tc := range tests {
		var a store.Application
		if err := json.Unmarshal([]byte(tc.stored), &a); err != nil {
			t.Fatal(err)
		}
		if got := []any{a.AuthMethod(), a.IDTokenAlg(), a.TokenFormat(), a.UsesSecret()}; !slices.Equal(got, []any{tc.method, tc.alg, tc.format, tc.usesSecret}) {
			t.Errorf("%s: method, alg, format, uses secret = %v, want %v", tc.stored, got, []any{tc.method, tc.alg, tc.format, tc.usesSecret})
		}
	}
}

// FuzzParseClientMetadata: any document is parsed without a panic, into
// metadata or an *InvalidApplicationError with one field per problem; and
// parsed metadata give an application that CheckApplication judges
// without a panic.
func FuzzParseClientMetadata(f *testing.F) {
	f.Add(`{"redirect_uris":["https://app.example/cb"]}`)
	f.Add(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`)
	f.Add(`{"jwks":{"keys":[{"kty":"oct","k":"AAAA"}]},"jwks_uri":"https://x/"}`)
	f.Add(`{"a":1,"\u0061":2}`)
	f.Add(`{"response_types":["code","token"],"scope":"read  write"}`)
	f.Add(`[{"a":{}}]`)
	f.Add(`{"client_name":null}`)
	p, err := ginoauth.New(ginoauth.Config{Store: memstore.New(), SecretKey: testKey})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		m, err := ginoauth.ParseClientMetadata([]byte(doc))
		if err != nil {
			var invalid *ginoauth.InvalidApplicationError
			if !errors.As(err, &invalid) || len(invalid.Problems) == 0 || len(invalid.Fields) != len(invalid.Problems) {
				t.Fatalf("ParseClientMetadata(%q) = %v, want an *InvalidApplicationError with a field per problem", doc, err)
			}
			return
		}
		na := m.NewApplication()
		app := &store.Application{
			Name: na.Name, ClientType: na.ClientType, GrantTypes: na.GrantTypes, RedirectURIs: na.RedirectURIs,
			AllowedScopes: na.AllowedScopes, PostLogoutRedirectURIs: na.PostLogoutRedirectURIs,
			TokenEndpointAuthMethod: na.TokenEndpointAuthMethod, JWKS: na.JWKS, JWKSURI: na.JWKSURI,
			IDTokenSignedResponseAlg: na.IDTokenSignedResponseAlg, AccessTokenFormat: na.AccessTokenFormat,
		}
		_ = p.CheckApplication(app)
	})
}
