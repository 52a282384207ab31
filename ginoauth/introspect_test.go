package ginoauth_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/ginoauth"
)

// TestIntrospectCallerErrors: a caller that authenticates with client
// credentials is refused as at the token endpoint (401 invalid_client,
// Basic challenge); one that uses a bearer token, as a protected resource
// refuses (RFC 7662 section 2.3, RFC 6750 section 3.1).
func TestIntrospectCallerErrors(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *ginoauth.Config) {
			c.Scopes = map[string]string{"read": "", "write": "", "introspection": "Introspect tokens"}
			c.DefaultScopes = []string{"read", "write"}
			c.Middleware.Realm = "auth"
		})
		conf := []string{e.confID, e.secret}
		user := e.passwordToken("read")
		withScope := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"introspection"}}, conf).str("access_token")
		basic := func(id, secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		}
		const invalidToken = `Bearer realm="auth", error="invalid_token", error_description="The access token is invalid, expired or revoked."`
		for _, tc := range []struct {
			name      string
			auth      []string // Authorization headers
			form      url.Values
			status    int
			code      string
			challenge string
		}{
			{"bearer with the scope", []string{"Bearer " + withScope}, nil, 200, "", ""},
			{"bearer without the scope", []string{"Bearer " + user.str("access_token")}, nil, 403, "insufficient_scope",
				`Bearer realm="auth", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token.", scope="introspection"`},
			{"unknown bearer", []string{"Bearer goat_" + strings.Repeat("A", 76)}, nil, 401, "invalid_token", invalidToken},
			{"garbage bearer", []string{"Bearer nonsense"}, nil, 401, "invalid_token", invalidToken},
			{"refresh token as bearer", []string{"Bearer " + user.str("refresh_token")}, nil, 401, "invalid_token", invalidToken},
			{"lower-case scheme", []string{"bearer nonsense"}, nil, 401, "invalid_token", invalidToken},
			{"malformed bearer", []string{"Bearer a b"}, nil, 400, "invalid_request",
				`Bearer realm="auth", error="invalid_request", error_description="The bearer token is malformed."`},
			{"bearer without token parameter", []string{"Bearer " + withScope}, url.Values{}, 400, "invalid_request",
				`Bearer realm="auth", error="invalid_request", error_description="Missing token parameter."`},
			{"client", []string{basic(e.confID, e.secret)}, nil, 200, "", ""},
			{"client with a wrong secret", []string{basic(e.confID, "wrong")}, nil, 401, "invalid_client", `Basic realm="auth"`},
			{"no credentials", nil, nil, 401, "invalid_client", `Basic realm="auth"`},
			{"two Authorization headers", []string{"Bearer " + withScope, basic(e.confID, e.secret)}, nil, 400, "invalid_request", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				form := tc.form
				if form == nil {
					form = url.Values{"token": {user.str("access_token")}}
				}
				req, _ := http.NewRequest("POST", e.srv.URL+"/o/introspect/", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for _, h := range tc.auth {
					req.Header.Add("Authorization", h)
				}
				r := e.do(req)
				ok := wantStatus(t, "introspect", r, tc.status)
				ok = wantField(t, "introspect", r, "error", tc.code) && ok
				if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("introspect: WWW-Authenticate = %q, want %q", got, tc.challenge)
					ok = false
				}
				if !ok {
					t.FailNow()
				}
				if tc.status == 200 && r.body["active"] != true {
					t.Fatalf("introspect: active = %v, want true (body %v)", r.body["active"], r.body)
				}
			})
		}
	})
}

// TestIntrospectionAuthMethods: the metadata lists only values of the IANA
// registry of token endpoint authentication methods ("bearer" is none).
func TestIntrospectionAuthMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "memory", nil)
	req, _ := http.NewRequest("GET", e.srv.URL+"/.well-known/oauth-authorization-server", nil)
	r := e.do(req)
	raw, _ := r.body["introspection_endpoint_auth_methods_supported"].([]any)
	var got []string
	for _, v := range raw {
		s, _ := v.(string)
		got = append(got, s)
	}
	if want := []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"}; !slices.Equal(got, want) {
		t.Fatalf("introspection_endpoint_auth_methods_supported = %q; want %q", got, want)
	}
}
