package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCreateApplicationMetadataOnRedis: `demo createapplication --metadata
// DOC --json` registers in Redis from an RFC 7591 document and prints the
// credentials (a secret only for a secret-based method); listapplications
// shows the metadata kept; a bad document exits 1 with the validator's
// sentence, and positional arguments beside --metadata are a usage error
// (exit 2).
func TestCreateApplicationMetadataOnRedis(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	tests := []struct {
		name       string
		doc        string
		extra      []string
		wantCode   int
		wantSecret bool
		wantErr    string
	}{
		{"web app", `{"client_name":"Web","redirect_uris":["https://app.example/cb"],"post_logout_redirect_uris":["https://app.example/bye"],"scope":"read","access_token_format":"jwt"}`, nil, 0, true, ""},
		{"native app", `{"redirect_uris":["com.example.app:/cb"],"token_endpoint_auth_method":"none","id_token_signed_response_alg":"ES256"}`, nil, 0, false, ""},
		{"unknown grant", `{"grant_types":["urn:example:nope"]}`, nil, 1, false, `does not offer the grant type "urn:example:nope"`},
		{"http redirect", `{"redirect_uris":["http://app.example/cb"]}`, nil, 1, false, "must use https"},
		{"not JSON", `redirect_uris=https://app.example/cb`, nil, 1, false, "not a JSON object"},
		{"positional too", `{}`, []string{"public", "password"}, 2, false, "--metadata takes no arguments"},
	}
	for _, tc := range tests {
		args := append([]string{"createapplication", "--redis", testRedisURL, "--json", "--metadata", tc.doc}, tc.extra...)
		r := runCmd(t, env, args...)
		if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantErr) {
			t.Errorf("%s: code %d, stderr %q; want %d and %q", tc.name, r.code, r.stderr, tc.wantCode, tc.wantErr)
			continue
		}
		if tc.wantCode != 0 {
			continue
		}
		var creds map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &creds); err != nil || creds["client_id"] == "" {
			t.Errorf("%s: stdout %q, want {\"client_id\": ...}", tc.name, r.stdout)
		}
		if _, got := creds["client_secret"]; got != tc.wantSecret {
			t.Errorf("%s: printed %v, want a client_secret %v", tc.name, creds, tc.wantSecret)
		}
	}

	r := runCmd(t, env, "listapplications", "--redis", testRedisURL, "--json")
	var apps []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &apps) != nil || len(apps) != 2 {
		t.Fatalf("listapplications: code %d, stdout %q, stderr %q; want the two applications", r.code, r.stdout, r.stderr)
	}
	got := map[string]bool{}
	for _, a := range apps {
		for _, k := range []string{"token_endpoint_auth_method", "id_token_signed_response_alg", "access_token_format"} {
			got[k+"="+a[k].(string)] = true
		}
	}
	for _, want := range []string{
		"token_endpoint_auth_method=client_secret_basic", "token_endpoint_auth_method=none",
		"id_token_signed_response_alg=RS256", "id_token_signed_response_alg=ES256",
		"access_token_format=jwt", "access_token_format=opaque",
	} {
		if !got[want] {
			t.Errorf("listapplications --json: no application with %s: %s", want, r.stdout)
		}
	}
}

// TestCreateUserNamesOnRedis: createuser keeps --given-name and
// --family-name beside --email.
func TestCreateUserNamesOnRedis(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	r := runCmd(t, env, "createuser", "--redis", testRedisURL, "--username", "dana", "--password", "s3cret-pw",
		"--email", "dana@example.com", "--given-name", "Dana", "--family-name", "Scully")
	if r.code != 0 {
		t.Fatalf("createuser: code %d, stderr %q", r.code, r.stderr)
	}
	b, err := env.openBackend(t.Context(), redisTarget{url: testRedisURL})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	u, err := b.store.GetUserByUsername(t.Context(), "dana")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := [3]string{u.Email, u.FirstName, u.LastName}, [3]string{"dana@example.com", "Dana", "Scully"}; got != want {
		t.Errorf("email, given and family name = %q, want %q", got, want)
	}
}
