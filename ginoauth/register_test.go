package ginoauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/memstore"
)

// everyOpenScope is the ceiling a client registered without "scope" gets:
// every scope of newEnv's provider, the reserved ones aside.
const everyOpenScope = "admin read write"

// openRegistration turns on open registration, without a rate limit.
func openRegistration(cfg *ginoauth.Config) {
	cfg.Registration = ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationOpen{}, PerAddress: -1}
}

// scopedRegistration needs an initial access token with scope "register".
func scopedRegistration(cfg *ginoauth.Config) {
	cfg.Scopes["register"] = "Register clients"
	cfg.Registration = ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationScope("register"), PerAddress: -1}
}

// send sends a request with a body, a content type and a bearer token
// (each optional).
func (e *env) send(method, path, contentType, body, token string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// register posts a client metadata document as JSON.
func (e *env) register(doc, token string) resp {
	e.t.Helper()
	return e.send("POST", "/o/register/", "application/json", doc, token)
}

// countApps counts the stored applications.
func (e *env) countApps() int {
	e.t.Helper()
	apps, err := e.p.Store().ListApplications(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(apps)
}

// strs reads a JSON array of strings of an answer; nil when absent.
func (r resp) strs(k string) []string {
	raw, ok := r.body[k].([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func TestRegister(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, openRegistration)
		for _, tc := range []struct {
			name, doc    string
			public       bool
			authMethod   string
			grants       []string
			respTypes    []string
			scope        string
			getTokenWith func(t *testing.T, e *env, id, secret string) string
		}{
			{
				name: "public SPA", scope: everyOpenScope,
				doc:        `{"client_name":"SPA","redirect_uris":["https://spa.example/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}`,
				public:     true,
				authMethod: "none", grants: []string{"authorization_code", "refresh_token"}, respTypes: []string{"code"},
			},
			{
				name:       "confidential web app",
				doc:        `{"client_name":"Web","redirect_uris":["https://web.example/cb","http://127.0.0.1/cb"],"grant_types":["authorization_code","password"],"scope":"read write"}`,
				authMethod: "client_secret_basic", grants: []string{"authorization_code", "password"}, respTypes: []string{"code"}, scope: "read write",
				getTokenWith: func(t *testing.T, e *env, id, secret string) string {
					cfg := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/o/token/", AuthStyle: oauth2.AuthStyleInHeader}, Scopes: []string{"read"}}
					tok, err := cfg.PasswordCredentialsToken(context.Background(), e.username, e.password)
					if err != nil {
						t.Fatalf("password grant with the registered client: %v", err)
					}
					return tok.AccessToken
				},
			},
			{
				name:       "client credentials machine",
				doc:        `{"client_name":"Machine","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`,
				authMethod: "client_secret_post", grants: []string{"client_credentials"}, respTypes: []string{}, scope: everyOpenScope,
				getTokenWith: func(t *testing.T, e *env, id, secret string) string {
					cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.srv.URL + "/o/token/", AuthStyle: oauth2.AuthStyleInParams}
					tok, err := cfg.Token(context.Background())
					if err != nil {
						t.Fatalf("client_credentials with the registered client: %v", err)
					}
					return tok.AccessToken
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.register(tc.doc, "")
				if !wantStatus(t, "register", r, 201) {
					return
				}
				if got := r.header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
				id, secret, regToken := r.str("client_id"), r.str("client_secret"), r.str("registration_access_token")
				wantField(t, "register", r, "registration_client_uri", e.srv.URL+"/o/register/"+id)
				wantField(t, "register", r, "token_endpoint_auth_method", tc.authMethod)
				wantField(t, "register", r, "scope", tc.scope)
				wantField(t, "register", r, "access_token_format", "opaque")
				if got := r.strs("grant_types"); !slices.Equal(got, tc.grants) {
					t.Errorf("grant_types = %q, want %q", got, tc.grants)
				}
				if got := r.strs("response_types"); !slices.Equal(got, tc.respTypes) {
					t.Errorf("response_types = %q, want %q", got, tc.respTypes)
				}
				if !strings.HasPrefix(regToken, ginoauth.RegistrationTokenPrefix) || len(regToken) < 40 {
					t.Errorf("registration_access_token = %q, want a long %s... token", regToken, ginoauth.RegistrationTokenPrefix)
				}
				if iat, _ := r.body["client_id_issued_at"].(float64); iat <= 0 {
					t.Errorf("client_id_issued_at = %v, want a time", r.body["client_id_issued_at"])
				}
				exp, hasExp := r.body["client_secret_expires_at"]
				if tc.public {
					if secret != "" || hasExp {
						t.Errorf("public client: client_secret = %q, client_secret_expires_at = %v; want neither", secret, exp)
					}
				} else if secret == "" || exp != float64(0) {
					t.Errorf("confidential client: client_secret = %q, client_secret_expires_at = %v; want a secret and 0", secret, exp)
				}
				app, err := e.p.Store().GetApplication(context.Background(), id)
				if err != nil {
					t.Fatalf("the registered client is not stored: %v", err)
				}
				if wantType := map[bool]store.ClientType{true: store.Public, false: store.Confidential}[tc.public]; app.ClientType != wantType {
					t.Errorf("client type = %s, want %s", app.ClientType, wantType)
				}
				if app.UserID != "" || app.SkipAuthorization {
					t.Errorf("open registration: owner %q, skip_authorization %v; want none, false", app.UserID, app.SkipAuthorization)
				}
				if app.RegistrationTokenHash != ginoauth.HashClientSecret(regToken) {
					t.Errorf("stored registration token hash = %q, want the token's hash", app.RegistrationTokenHash)
				}
				if tc.getTokenWith != nil {
					at := tc.getTokenWith(t, e, id, secret)
					who := e.get("/api/whoami", at)
					wantStatus(t, "API call with the new client's token", who, 200)
					wantField(t, "API call", who, "client", id)
				}
			})
		}
	})
}

func TestRegisterRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, openRegistration)
		big := `{"client_name":"` + strings.Repeat("a", ginoauth.MaxClientMetadataSize) + `","grant_types":["client_credentials"]}`
		for _, tc := range []struct {
			name, contentType, body, code string
		}{
			{"unknown grant", "application/json", `{"grant_types":["implicit"]}`, "invalid_client_metadata"},
			{"http redirect URI, not loopback", "application/json", `{"redirect_uris":["http://app.example/cb"]}`, "invalid_redirect_uri"},
			{"redirect URI with a fragment", "application/json", `{"redirect_uris":["https://app.example/cb#x"]}`, "invalid_redirect_uri"},
			{"code grant without redirect URI", "application/json", `{"grant_types":["authorization_code"]}`, "invalid_redirect_uri"},
			{"public client with client_credentials", "application/json", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata"},
			{"unknown scope", "application/json", `{"grant_types":["client_credentials"],"scope":"read nope"}`, "invalid_client_metadata"},
			{"introspection scope", "application/json", `{"grant_types":["client_credentials"],"scope":"introspection"}`, "invalid_client_metadata"},
			{"member of the wrong type", "application/json", `{"grant_types":["client_credentials"],"client_name":5}`, "invalid_client_metadata"},
			{"redirect_uris not an array", "application/json", `{"redirect_uris":"https://app.example/cb"}`, "invalid_redirect_uri"},
			{"member twice", "application/json", `{"grant_types":["client_credentials"],"grant_types":["password"]}`, "invalid_client_metadata"},
			{"oversize", "application/json", big, "invalid_client_metadata"},
			{"not JSON", "application/json", `grant_types=client_credentials`, "invalid_client_metadata"},
			{"JSON array", "application/json", `[{"grant_types":["client_credentials"]}]`, "invalid_client_metadata"},
			{"empty body", "application/json", ``, "invalid_client_metadata"},
			{"form content type", "application/x-www-form-urlencoded", `{"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
			{"no content type", "", `{"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
			{"latin-1 charset", "application/json; charset=iso-8859-1", `{"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
			{"software statement", "application/json", `{"grant_types":["client_credentials"],"software_statement":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}`, "invalid_software_statement"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.countApps()
				r := e.send("POST", "/o/register/", tc.contentType, tc.body, "")
				wantError(t, tc.name, r, 400, tc.code)
				if r.str("error_description") == "" {
					t.Errorf("%s: no error_description", tc.name)
				}
				if got := r.header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("%s: Cache-Control = %q, want no-store", tc.name, got)
				}
				if after := e.countApps(); after != before {
					t.Errorf("%s: %d applications after, %d before: something was stored", tc.name, after, before)
				}
			})
		}
		// The same documents pass with application/json and a UTF-8 charset.
		r := e.send("POST", "/o/register", "application/json; charset=UTF-8", `{"grant_types":["client_credentials"]}`, "")
		wantStatus(t, "register without the trailing slash, charset=UTF-8", r, 201)
		wantError(t, "GET on the registration endpoint", e.get("/o/register/", ""), 405, "invalid_request")
	})
}

func TestRegistrationPolicy(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, scopedRegistration)
		doc := `{"client_name":"Reg","grant_types":["client_credentials"]}`
		withScope := e.passwordToken("register").str("access_token")
		without := e.passwordToken("read write").str("access_token")
		cc := e.token(map[string][]string{"grant_type": {"client_credentials"}, "scope": {"register"}}, []string{e.confID, e.secret}).str("access_token")
		for _, tc := range []struct {
			name, token string
			status      int
			code        string
			challenge   string // in WWW-Authenticate
		}{
			{"no token", "", 401, "invalid_token", `error="invalid_token"`},
			{"not a token of this provider", "goat_forged", 401, "invalid_token", `error="invalid_token"`},
			{"a token without the scope", without, 403, "insufficient_scope", `scope="register"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.countApps()
				r := e.register(doc, tc.token)
				wantError(t, tc.name, r, tc.status, tc.code)
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") || !strings.Contains(got, tc.challenge) {
					t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge with %s", tc.name, got, tc.challenge)
				}
				if after := e.countApps(); after != before {
					t.Errorf("%s: %d applications after, %d before", tc.name, after, before)
				}
			})
		}
		r := e.register(doc, withScope)
		if wantStatus(t, "a user's token with the scope", r, 201) {
			app, err := e.p.Store().GetApplication(context.Background(), r.str("client_id"))
			if err != nil {
				t.Fatal(err)
			}
			if app.UserID != "u1" {
				t.Errorf("owner = %q, want the token's user u1", app.UserID)
			}
		}
		r = e.register(doc, cc)
		if wantStatus(t, "a client_credentials token with the scope", r, 201) {
			app, err := e.p.Store().GetApplication(context.Background(), r.str("client_id"))
			if err != nil {
				t.Fatal(err)
			}
			if app.UserID != "" {
				t.Errorf("owner = %q, want none (the token has no user)", app.UserID)
			}
		}
	})
}

func TestRegistrationConfigNeedsKnownScope(t *testing.T) {
	_, err := ginoauth.New(ginoauth.Config{SecretKey: testKey, Registration: ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationScope("nope")}})
	if err == nil {
		t.Fatal("New with RegistrationScope of an unknown scope: no error")
	}
}

func TestClientConfiguration(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, openRegistration)
		full := `{"client_name":"Full","redirect_uris":["https://web.example/cb"],"post_logout_redirect_uris":["https://web.example/bye"],` +
			`"grant_types":["authorization_code","client_credentials"],"scope":"read write","access_token_format":"opaque"}`
		reg := e.register(full, "")
		if !wantStatus(t, "register", reg, 201) {
			return
		}
		id, secret, regToken := reg.str("client_id"), reg.str("client_secret"), reg.str("registration_access_token")
		path := "/o/register/" + id
		other := e.register(`{"grant_types":["client_credentials"]}`, "")
		otherToken := other.str("registration_access_token")

		// A token of the client, to show DELETE revokes it.
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.srv.URL + "/o/token/"}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatalf("client_credentials: %v", err)
		}
		wantStatus(t, "the client's token before DELETE", e.get("/api/whoami", tok.AccessToken), 200)

		// Refused: every one the same 401 invalid_token, with a challenge.
		var firstBody map[string]any
		for _, tc := range []struct{ name, method, path, token string }{
			{"GET without a token", "GET", path, ""},
			{"GET with a wrong token", "GET", path, regToken + "x"},
			{"GET with another client's token", "GET", path, otherToken},
			{"GET with the client's secret", "GET", path, secret},
			{"GET of an unknown client", "GET", "/o/register/NOSUCHCLIENT", regToken},
			{"PUT with another client's token", "PUT", path, otherToken},
			{"DELETE without a token", "DELETE", path, ""},
			{"DELETE with another client's token", "DELETE", path, otherToken},
		} {
			body := ""
			if tc.method == "PUT" {
				body = `{"client_id":"` + id + `","grant_types":["client_credentials"]}`
			}
			r := e.send(tc.method, tc.path, "application/json", body, tc.token)
			wantError(t, tc.name, r, 401, "invalid_token")
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge", tc.name, got)
			}
			if firstBody == nil {
				firstBody = r.body
			} else if !reflect.DeepEqual(r.body, firstBody) {
				t.Errorf("%s: body %v, want the same as every refusal, %v", tc.name, r.body, firstBody)
			}
		}
		stored := func() *store.Application {
			app, err := e.p.Store().GetApplication(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			return app
		}
		orig := stored()

		// GET: the registration, without the secret or registration token.
		get := e.send("GET", path, "", "", regToken)
		if wantStatus(t, "GET", get, 200) {
			for k, v := range reg.body {
				if k == "client_secret" || k == "registration_access_token" {
					if _, ok := get.body[k]; ok {
						t.Errorf("GET answers %s", k)
					}
					continue
				}
				if !reflect.DeepEqual(get.body[k], v) {
					t.Errorf("GET %s = %v, want %v as registered", k, get.body[k], v)
				}
			}
			if got := get.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("GET: Cache-Control = %q, want no-store", got)
			}
		}

		// PUT refusals: 400, nothing changed.
		for _, tc := range []struct{ name, doc, code string }{
			{"no client_id", `{"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
			{"another client_id", `{"client_id":"` + other.str("client_id") + `","grant_types":["client_credentials"]}`, "invalid_client_metadata"},
			{"a wrong client_secret", `{"client_id":"` + id + `","client_secret":"chosen","grant_types":["client_credentials"]}`, "invalid_client_metadata"},
			{"the registration token", `{"client_id":"` + id + `","registration_access_token":"` + regToken + `","grant_types":["client_credentials"]}`, "invalid_client_metadata"},
			{"a bad redirect URI", `{"client_id":"` + id + `","redirect_uris":["http://evil.example/"]}`, "invalid_redirect_uri"},
			{"not JSON", `client_id=` + id, "invalid_client_metadata"},
		} {
			r := e.send("PUT", path, "application/json", tc.doc, regToken)
			wantError(t, "PUT with "+tc.name, r, 400, tc.code)
			if got := stored(); !reflect.DeepEqual(got, orig) {
				t.Errorf("PUT with %s changed the client: %+v, was %+v", tc.name, got, orig)
			}
		}

		// PUT replaces: members left out go back to their defaults.
		minimal := `{"client_id":"` + id + `","client_secret":"` + secret + `","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`
		put := e.send("PUT", path, "application/json", minimal, regToken)
		if wantStatus(t, "PUT", put, 200) {
			wantField(t, "PUT", put, "client_name", "")
			wantField(t, "PUT", put, "scope", everyOpenScope)
			wantField(t, "PUT", put, "client_secret", "") // unchanged, not sent
			if got := put.strs("redirect_uris"); got != nil {
				t.Errorf("PUT: redirect_uris = %q, want none", got)
			}
		}
		// It matches a client registered afresh with the same document.
		fresh := e.register(minimal, "")
		freshApp, err := e.p.Store().GetApplication(context.Background(), fresh.str("client_id"))
		if err != nil {
			t.Fatal(err)
		}
		got := stored()
		for _, kept := range []string{"ClientID", "SecretHash", "CreatedAt", "Generation", "UserID", "SkipAuthorization", "RegistrationTokenHash"} {
			reflect.ValueOf(freshApp).Elem().FieldByName(kept).Set(reflect.ValueOf(got).Elem().FieldByName(kept))
		}
		if !reflect.DeepEqual(got, freshApp) {
			t.Errorf("after PUT the client is\n%+v\nwant, as registered afresh with that document,\n%+v", got, freshApp)
		}
		if got.SecretHash != orig.SecretHash || got.RegistrationTokenHash != orig.RegistrationTokenHash || !got.CreatedAt.Equal(orig.CreatedAt) {
			t.Error("PUT changed the secret, the registration token or the creation time")
		}
		// The old secret still works, with the new method.
		cc.AuthStyle = oauth2.AuthStyleInParams
		if _, err := cc.Token(context.Background()); err != nil {
			t.Errorf("client_credentials after PUT: %v", err)
		}

		// PUT to a public client drops the secret; back to a confidential
		// one issues a new secret, sent once.
		pub := `{"client_id":"` + id + `","redirect_uris":["https://web.example/cb"],"token_endpoint_auth_method":"none"}`
		if r := e.send("PUT", path, "application/json", pub, regToken); wantStatus(t, "PUT to public", r, 200) {
			if a := stored(); a.ClientType != store.Public || a.SecretHash != "" {
				t.Errorf("after PUT to public: type %s, secret hash %q; want public, none", a.ClientType, a.SecretHash)
			}
		}
		conf := `{"client_id":"` + id + `","grant_types":["client_credentials"]}`
		r := e.send("PUT", path, "application/json", conf, regToken)
		if wantStatus(t, "PUT back to confidential", r, 200) {
			newSecret := r.str("client_secret")
			if newSecret == "" || newSecret == secret {
				t.Errorf("PUT back to confidential: client_secret = %q, want a new one", newSecret)
			}
			cc2 := clientcredentials.Config{ClientID: id, ClientSecret: newSecret, TokenURL: e.srv.URL + "/o/token/"}
			if _, err := cc2.Token(context.Background()); err != nil {
				t.Errorf("client_credentials with the new secret: %v", err)
			}
		}

		// DELETE: 204, the client and its tokens are gone.
		del := e.send("DELETE", path, "", "", regToken)
		wantStatus(t, "DELETE", del, 204)
		if _, err := e.p.Store().GetApplication(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after DELETE: GetApplication = %v, want ErrNotFound", err)
		}
		wantError(t, "the client's token after DELETE", e.get("/api/whoami", tok.AccessToken), 401, "invalid_token")
		wantError(t, "GET after DELETE", e.send("GET", path, "", "", regToken), 401, "invalid_token")
		wantError(t, "DELETE again", e.send("DELETE", path, "", "", regToken), 401, "invalid_token")
		wantError(t, "POST on the configuration endpoint", e.send("POST", path, "application/json", "{}", otherToken), 405, "invalid_request")
	})
}

// TestReplaceMetadataCoversApplication: each field of store.Application
// is either replaced by a PUT (RFC 7592 section 2.2) or kept. A new field
// fails this test until register.go's replaceMetadata and this list say
// which it is.
func TestReplaceMetadataCoversApplication(t *testing.T) {
	known := map[string]string{
		"ClientID": "kept", "SecretHash": "kept", "CreatedAt": "kept", "Generation": "kept", "UserID": "kept",
		"SkipAuthorization": "kept", "RegistrationTokenHash": "kept",
		// UpdateApplication clears it when the method is no longer
		// client_secret_jwt, and refuses a switch to that method.
		"SealedSecret":                       "kept",
		"RequirePushedAuthorizationRequests": "replaced", "DPoPBoundAccessTokens": "replaced",
		"Name": "replaced", "ClientType": "replaced", "GrantTypes": "replaced", "RedirectURIs": "replaced",
		"AllowedScopes": "replaced", "PostLogoutRedirectURIs": "replaced", "TokenEndpointAuthMethod": "replaced",
		"JWKS": "replaced", "JWKSURI": "replaced", "IDTokenSignedResponseAlg": "replaced", "AccessTokenFormat": "replaced",
	}
	for f := range reflect.TypeFor[store.Application]().Fields() {
		if _, ok := known[f.Name]; !ok {
			t.Errorf("store.Application.%s: neither replaced nor kept by a registration update; see replaceMetadata in register.go", f.Name)
		}
	}
}

func TestRegistrationMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  ginoauth.RegistrationConfig
		want string
	}{
		{"off", ginoauth.RegistrationConfig{}, ""},
		{"on", ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationOpen{}}, "https://auth.example/o/register/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ginoauth.New(ginoauth.Config{Store: memstore.New(), SecretKey: testKey, Issuer: "https://auth.example",
				OIDC: ginoauth.OIDCConfig{Enabled: true}, Registration: tc.reg})
			if err != nil {
				t.Fatal(err)
			}
			r := gin.New()
			p.Mount(r)
			for _, doc := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest("GET", doc, nil))
				var m map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &m); w.Code != 200 || err != nil {
					t.Fatalf("GET %s: %d %s", doc, w.Code, w.Body)
				}
				if got, _ := m["registration_endpoint"].(string); got != tc.want {
					t.Errorf("%s: registration_endpoint = %q, want %q", doc, got, tc.want)
				}
			}
			w := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/o/register/", strings.NewReader(`{"grant_types":["client_credentials"]}`))
			req.Header.Set("Content-Type", "application/json")
			r.ServeHTTP(w, req)
			if want := map[bool]int{true: 404, false: 201}[tc.want == ""]; w.Code != want {
				t.Errorf("POST /o/register/ = %d, want %d", w.Code, want)
			}
		})
	}
}

func TestRegistrationThrottle(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(cfg *ginoauth.Config) {
			cfg.Registration = ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationOpen{}, PerAddress: 2}
		})
		doc := `{"grant_types":["client_credentials"]}`
		wantStatus(t, "first", e.register(doc, ""), 201)
		wantStatus(t, "second (refused document, counted too)", e.register(`{"grant_types":"x"}`, ""), 400)
		before := e.countApps()
		r := e.register(doc, "")
		wantError(t, "third", r, 429, "too_many_requests")
		if r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		if after := e.countApps(); after != before {
			t.Errorf("throttled registration stored a client: %d applications, %d before", after, before)
		}
	})
}

// TestRegistrationStoreOutage: a store that cannot be reached answers 503,
// never registers.
func TestRegistrationStoreOutage(t *testing.T) {
	st := &failingStore{Store: memstore.New()}
	p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: testKey, Registration: ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationOpen{}}})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	for _, fail := range []string{"allow", "create"} {
		st.fail = fail
		w := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/o/register/", strings.NewReader(`{"grant_types":["client_credentials"]}`))
		req.Header.Set("Content-Type", "application/json")
		r.ServeHTTP(w, req)
		if w.Code != 503 || !strings.Contains(w.Body.String(), "temporarily_unavailable") {
			t.Errorf("store failing at %s: %d %s, want 503 temporarily_unavailable", fail, w.Code, w.Body)
		}
	}
}

// failingStore fails Allow or CreateApplication with store.ErrUnavailable.
type failingStore struct {
	store.Store
	fail string
}

func (s *failingStore) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if s.fail == "allow" {
		return false, 0, store.ErrUnavailable
	}
	return s.Store.Allow(ctx, key, limit, window)
}

func (s *failingStore) CreateApplication(ctx context.Context, app *store.Application) error {
	if s.fail == "create" {
		return store.ErrUnavailable
	}
	return s.Store.CreateApplication(ctx, app)
}

func TestNarrowScopes(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		var outage, demoted atomic.Bool
		e := newEnv(t, kind, func(cfg *ginoauth.Config) {
			// admin only for a user, never for alice's public client.
			cfg.NarrowScopes = func(_ context.Context, client *store.Application, userID string, scopes []string) ([]string, error) {
				if outage.Load() {
					return nil, store.ErrUnavailable
				}
				if userID != "" && client.ClientType == store.Confidential && !demoted.Load() {
					return scopes, nil
				}
				return slices.DeleteFunc(scopes, func(s string) bool { return s == "admin" }), nil
			}
		})
		pw := func(clientID, secret, scope string) resp {
			f := map[string][]string{"grant_type": {"password"}, "username": {e.username}, "password": {e.password}, "scope": {scope}}
			if secret == "" {
				f["client_id"] = []string{clientID}
				return e.token(f, nil)
			}
			return e.token(f, []string{clientID, secret})
		}
		r0 := pw(e.confID, e.secret, "read admin")
		wantStatus(t, "confidential client, a user", r0, 200)
		wantField(t, "confidential client, a user", r0, "scope", "read admin")
		r := pw(e.pubID, "", "read admin")
		wantStatus(t, "public client: admin dropped", r, 200)
		wantField(t, "public client: admin dropped", r, "scope", "read")
		wantError(t, "public client, only admin", pw(e.pubID, "", "admin"), 400, "invalid_scope")
		cc := e.token(map[string][]string{"grant_type": {"client_credentials"}, "scope": {"read admin"}}, []string{e.confID, e.secret})
		wantField(t, "client_credentials: no user, admin dropped", cc, "scope", "read")
		// A refresh is narrowed by the policy of the moment.
		demoted.Store(true)
		ref := e.token(map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {r0.str("refresh_token")}}, []string{e.confID, e.secret})
		wantStatus(t, "refresh after the policy changed", ref, 200)
		wantField(t, "refresh after the policy changed", ref, "scope", "read")
		outage.Store(true)
		wantError(t, "hook failing with a store outage", pw(e.confID, e.secret, "read"), 503, "temporarily_unavailable")
	})
}

// FuzzRegister: any body and content type gets 201 (and one more client)
// or a 400 JSON error (and nothing stored), never anything else.
func FuzzRegister(f *testing.F) {
	f.Add("application/json", `{"grant_types":["client_credentials"]}`)
	f.Add("application/json", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`)
	f.Add("application/json; charset=utf-8", `{"redirect_uris":["http://x/#"]}`)
	f.Add("application/json", `{"software_statement":1}`)
	f.Add("text/plain", `{}`)
	f.Add("application/json", `{"jwks":{"keys":[{"kty":"oct","k":"AAAA"}]},"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"]}`)
	p, err := ginoauth.New(ginoauth.Config{Store: memstore.New(), SecretKey: testKey, Registration: ginoauth.RegistrationConfig{Policy: ginoauth.RegistrationOpen{}, PerAddress: -1}})
	if err != nil {
		f.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		before, _ := p.Store().ListApplications(context.Background())
		req := httptest.NewRequest("POST", "/o/register/", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		after, _ := p.Store().ListApplications(context.Background())
		var out map[string]any
		if err := json.NewDecoder(bytes.NewReader(w.Body.Bytes())).Decode(&out); err != nil {
			t.Fatalf("%q %q: answer is not JSON: %q", contentType, body, w.Body)
		}
		switch w.Code {
		case 201:
			if len(after) != len(before)+1 || out["client_id"] == nil {
				t.Fatalf("%q %q: 201 but %d clients after %d, answer %v", contentType, body, len(after), len(before), out)
			}
		case 400:
			if len(after) != len(before) {
				t.Fatalf("%q %q: 400 but %d clients after %d", contentType, body, len(after), len(before))
			}
			switch out["error"] {
			case "invalid_client_metadata", "invalid_redirect_uri", "invalid_software_statement":
			default:
				t.Fatalf("%q %q: 400 with error %v", contentType, body, out["error"])
			}
		default:
			t.Fatalf("%q %q: status %d, want 201 or 400 (%s)", contentType, body, w.Code, w.Body)
		}
	})
}

// TestNarrowScopesAtConsent: the authorization endpoint narrows before
// consent: the page does not offer a dropped scope, the code and its
// tokens do not carry it, and a request for it alone is invalid_scope,
// redirected to the client.
func TestNarrowScopesAtConsent(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		ce := newCodeEnv(t, kind, func(cfg *ginoauth.Config) {
			cfg.NarrowScopes = func(_ context.Context, _ *store.Application, userID string, scopes []string) ([]string, error) {
				if userID == "u1" {
					return slices.DeleteFunc(scopes, func(s string) bool { return s == "admin" }), nil
				}
				return scopes, nil
			}
		})
		b := ce.browser("u1.alice")
		cfg := ce.oauthConfig()
		cfg.Scopes = []string{"read", "admin"}
		verifier := oauth2.GenerateVerifier()
		pg := fetch(t, b, "GET", cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), nil)
		if wantPageStatus(t, "consent page", pg, 200) && strings.Contains(pg.body, "Admin") {
			t.Errorf("consent page offers the dropped scope admin: %s", pg.body)
		}
		loc := ce.authorize(t, b, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
		tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if got, _ := tok.Extra("scope").(string); got != "read" {
			t.Errorf("token scope = %q, want read (admin dropped)", got)
		}
		cfg.Scopes = []string{"admin"}
		pg = fetch(t, b, "GET", cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), nil)
		wantParam(t, "only a dropped scope", pg.location, "error", "invalid_scope")
	})
}

// TestRegistrationHandlersOff: the handlers mounted by hand while
// registration is off answer 404 JSON, without a panic.
func TestRegistrationHandlersOff(t *testing.T) {
	p, err := ginoauth.New(ginoauth.Config{Store: memstore.New(), SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.POST("/register", p.RegisterHandler())
	r.GET("/register/:client_id", p.ClientConfigurationHandler())
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/register", strings.NewReader(`{"grant_types":["client_credentials"]}`)),
		httptest.NewRequest("GET", "/register/x", nil),
	} {
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != 404 || !strings.Contains(w.Body.String(), `"not_found"`) {
			t.Errorf("%s %s with registration off: %d %s, want 404 not_found", req.Method, req.URL.Path, w.Code, w.Body)
		}
	}
}

// TestRegisteredClientCannotRegister: a client registered with a user's
// initial access token cannot give itself the registration scope (and so
// register clients of its own, owned by no one, long after the user's
// token): a document may not name it, and a document without a scope
// gets every scope but the reserved ones.
func TestRegisteredClientCannotRegister(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", scopedRegistration)
	withScope := e.passwordToken("register").str("access_token")
	for _, name := range []string{"register", "introspection"} {
		r := e.register(`{"grant_types":["client_credentials"],"scope":"read `+name+`"}`, withScope)
		wantError(t, "a document naming "+name, r, 400, "invalid_client_metadata")
	}
	r := e.register(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`, withScope)
	if !wantStatus(t, "register without a scope", r, 201) {
		t.FailNow()
	}
	wantField(t, "register without a scope", r, "scope", everyOpenScope)
	creds := []string{r.str("client_id"), r.str("client_secret")}
	wantError(t, "client_credentials asking for register", e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"register"}}, creds), 400, "invalid_scope")
	tok := e.token(url.Values{"grant_type": {"client_credentials"}}, creds)
	if wantStatus(t, "client_credentials", tok, 200) && strings.Contains(tok.str("scope"), "register") {
		t.Errorf("client_credentials without a scope: scope %q holds register", tok.str("scope"))
	}
	wantError(t, "registering with the registered client's token", e.register(`{"grant_types":["client_credentials"]}`, tok.str("access_token")), 403, "insufficient_scope")
}

// TestRegisterShowsServerTokenFormat: a client registered without
// access_token_format on a server whose default is JWT is told jwt, the
// format its tokens come in, not opaque.
func TestRegisterShowsServerTokenFormat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", func(c *ginoauth.Config) {
		openRegistration(c)
		c.AccessTokenFormat = store.TokenFormatJWT
	})
	r := e.register(`{"client_name":"Machine","grant_types":["client_credentials"]}`, "")
	if wantStatus(t, "register", r, 201) {
		wantField(t, "register", r, "access_token_format", "jwt")
	}
}
