package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTutorialCommands runs, against `demo serve`, the curl commands of
// the tutorials the demo's users come from, with the demo's credentials
// in place of theirs:
//
//	curl -d "client_id=ID&client_secret=SECRET&grant_type=password&username=U&password=P&scope=read" http://localhost:8000/oauth2/access_token/
//	curl -H "Authorization: Bearer TOKEN" http://localhost:8000/user_details_by_username/alice/
//
// The first is django-oauth2's password grant, the client authenticating
// with client_secret_post, at its token endpoint (also without the
// trailing slash); the second the user lookup of the Machinalis article,
// which answers for the token's own user only.
func TestTutorialCommands(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	cmd := func(args ...string) cmdResult {
		t.Helper()
		r := runCmd(t, env, append(args, "--redis", testRedisURL)...)
		if r.code != 0 {
			t.Fatalf("demo %s: code %d, stderr %q", args[0], r.code, r.stderr)
		}
		return r
	}
	alice := userCreds{"alice", randomString(t)}
	cmd("createuser", "--username", alice.username, "--password", alice.password)
	cmd("createuser", "--username", "bob", "--password", randomString(t))
	var app struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(cmd("createapplication", "--json", "confidential", "password").stdout), &app); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, env)

	// curl -d "client_id=...&client_secret=...&grant_type=password&username=...&password=...&scope=..." URL
	accessToken := func(path string, secret, scope string) result {
		t.Helper()
		body := "client_id=" + url.QueryEscape(app.ID) + "&client_secret=" + url.QueryEscape(secret) +
			"&grant_type=password&username=" + url.QueryEscape(alice.username) +
			"&password=" + url.QueryEscape(alice.password) + "&scope=" + url.QueryEscape(scope)
		return s.do(http.MethodPost, path, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body)
	}
	readToken := ""
	for _, path := range []string{legacyTokenPath, strings.TrimSuffix(legacyTokenPath, "/")} {
		t.Run("POST "+path, func(t *testing.T) {
			tk := accessToken(path, app.Secret, "read").wantTokens(t)
			if tk.scope != "read" {
				t.Errorf("scope = %q, want read", tk.scope)
			}
			readToken = tk.access
			accessToken(path, "not-"+app.Secret, "read").wantError(t, http.StatusUnauthorized, "invalid_client")
		})
	}
	if readToken == "" {
		t.Fatal("no token from django-oauth2's token endpoint")
	}
	writeToken := accessToken(legacyTokenPath, app.Secret, "write").wantTokens(t).access

	tests := []struct {
		name, token, username string
		status                int
		// wantUser is the username of a 200 answer.
		wantUser string
	}{
		{"the token's own user", readToken, "alice", http.StatusOK, "alice"},
		{"another user", readToken, "bob", http.StatusNotFound, ""},
		{"no such user", readToken, "nobody", http.StatusNotFound, ""},
		{"no token", "", "alice", http.StatusUnauthorized, ""},
		{"a token without the read scope", writeToken, "alice", http.StatusForbidden, ""},
		{"not a token", "not-a-token", "alice", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run("GET /user_details_by_username/"+tt.username+"/ with "+tt.name, func(t *testing.T) {
			r := s.api(http.MethodGet, "/user_details_by_username/"+tt.username+"/", tt.token, "")
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body: %s", r.status, tt.status, r.body)
			}
			if got := r.str(t, "username"); got != tt.wantUser {
				t.Errorf("username = %q, want %q; body: %s", got, tt.wantUser, r.body)
			}
		})
	}
}
