package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestServeJWTAccessTokens: `demo serve --access-token-format jwt`, and an
// application registered with access_token_format jwt on a server whose
// default is opaque, both answer RFC 9068 access tokens that the snippets
// API accepts; the revocation endpoint ends one at once, and introspection
// answers for it.
func TestServeJWTAccessTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		serve    []string
		metadata string
	}{
		{"--access-token-format jwt", []string{"--access-token-format", "jwt"}, `{"grant_types":["password"],"token_endpoint_auth_method":"client_secret_basic"}`},
		{"access_token_format in the metadata", nil, `{"grant_types":["password"],"token_endpoint_auth_method":"client_secret_basic","access_token_format":"jwt"}`},
		{"ES256", []string{"--access-token-format", "jwt", "--access-token-alg", "ES256"}, `{"grant_types":["password"],"token_endpoint_auth_method":"client_secret_basic"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, _ := redisEnv(t)
			pw := randomString(t)
			if r := runCmd(t, env, "createuser", "--redis", testRedisURL, "--username", "alice", "--password", pw); r.code != 0 {
				t.Fatalf("createuser: code %d, stderr %q", r.code, r.stderr)
			}
			r := runCmd(t, env, "createapplication", "--redis", testRedisURL, "--json", "--metadata", tc.metadata)
			var creds map[string]string
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &creds) != nil {
				t.Fatalf("createapplication: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			auth := basic(creds["client_id"], creds["client_secret"])
			s := startServe(t, env, tc.serve...)
			tk := s.tokenForm(auth, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}}).wantTokens(t)
			if !strings.HasPrefix(tk.access, "eyJ") || strings.Count(tk.access, ".") != 2 {
				t.Fatalf("access token %.10s...: want a JWT", tk.access)
			}
			if res := s.api(http.MethodPost, snippetsPath, tk.access, `{"code":"print(1)"}`); res.status != http.StatusCreated {
				t.Errorf("POST %s with the JWT = %d, want 201; body %s", snippetsPath, res.status, res.body)
			}
			form := url.Values{"token": {tk.access}}.Encode()
			hdr := map[string]string{"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
			in := s.do(http.MethodPost, "/o/introspect/", hdr, form).wantStatus(t, http.StatusOK).obj(t)
			if in["active"] != true || in["username"] != "alice" {
				t.Errorf("introspection: got %v, want active, username alice", in)
			}
			s.do(http.MethodPost, "/o/revoke_token/", hdr, form).wantStatus(t, http.StatusOK)
			s.api(http.MethodGet, snippetsPath, tk.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
		})
	}
}
