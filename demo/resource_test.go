package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// TestServeResource: `demo serve` makes its own URL (or --resource) the
// API's resource identifier (RFC 8707): (password-grant) tokens issued without a
// resource parameter, or naming it, work at the snippets API; a token for a
// --resource-also resource is refused there with 401 invalid_token; a
// resource the server does not serve is invalid_target. The protected
// resource metadata (RFC 9728) publishes the identifier.
func TestServeResource(t *testing.T) {
	t.Parallel()
	const other = "https://other.example.com/api/"
	for _, tc := range []struct {
		name string
		args []string
		own  string // "": the server's URL with a slash
	}{
		{"default: the server's URL", nil, ""},
		{"--resource", []string{"--resource", "https://snippets.example.com/"}, "https://snippets.example.com/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, _ := redisEnv(t)
			pw := randomString(t)
			if r := runCmd(t, env, "createuser", "--redis", testRedisURL, "--username", "alice", "--password", pw); r.code != 0 {
				t.Fatalf("createuser: code %d, stderr %q", r.code, r.stderr)
			}
			r := runCmd(t, env, "createapplication", "--redis", testRedisURL, "--json", "confidential", "password")
			var creds map[string]string
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &creds) != nil {
				t.Fatalf("createapplication: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			auth := basic(creds["client_id"], creds["client_secret"])
			s := startServe(t, env, append([]string{"--resource-also", other}, tc.args...)...)
			own := tc.own
			if own == "" {
				own = s.url + "/"
			}
			var meta struct {
				Resource string `json:"resource"`
			}
			s.getJSON(t, "/.well-known/oauth-protected-resource", "", &meta)
			if meta.Resource != own {
				t.Errorf("protected resource metadata: resource = %q, want %q", meta.Resource, own)
			}
			for _, c := range []struct {
				name      string
				resources []string
				status    int
			}{
				{"no resource", nil, http.StatusOK},
				{"own resource", []string{own}, http.StatusOK},
				{"own and other", []string{own, other}, http.StatusOK},
				{"other resource", []string{other}, http.StatusUnauthorized},
			} {
				tk := s.tokenForm(auth, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}, "resource": c.resources}).wantTokens(t)
				res := s.api(http.MethodPost, snippetsPath, tk.access, `{"code":"print(1)"}`)
				if c.status == http.StatusOK {
					if res.status != http.StatusCreated {
						t.Errorf("%s: POST %s = %d, want %d; body %s", c.name, snippetsPath, res.status, http.StatusCreated, res.body)
					}
					continue
				}
				res.wantError(t, c.status, "invalid_token")
			}
			s.tokenForm(auth, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}, "resource": {"https://unknown.example.com/"}}).
				wantError(t, http.StatusBadRequest, "invalid_target")
		})
	}
}
