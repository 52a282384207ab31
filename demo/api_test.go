package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/demo/snippets"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestUnauthenticated: no token, a bad token, an expired token.
func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	f := newFixture(t, func(o *options) { o.Now = clk.now })
	protected := []string{snippetsPath, snippetsPath + "1/", userDetailsPath, secretPath}

	// A token with a valid checksum from a server with another key.
	foreign := newFixture(t, func(o *options) { o.SecretKey = []byte(strings.Repeat("k", 32)) })
	foreignToken := foreign.clientToken(foreign.conf, "").access

	// A token that expires: issued now, checked after the clock moves on.
	expired := f.passwordToken(f.conf, f.alice, "")
	clk.advance(10*time.Hour + time.Second) // DOT's default lifetime is 36000 s
	live := f.passwordToken(f.conf, f.alice, "")

	tests := []struct {
		name       string
		authz      string // Authorization header; "" for none
		status     int
		code       string
		wantHeader string // exact WWW-Authenticate, or a substring if it starts with ~
	}{
		{"no token", "", 401, "not_authenticated", `Bearer realm="api"`},
		{"another scheme", "Basic " + "dXNlcjpwdw==", 401, "not_authenticated", `Bearer realm="api"`},
		{"garbage token", "Bearer garbage", 401, "invalid_token", `~error="invalid_token"`},
		{"forged token", "Bearer goat_" + strings.Repeat("A", 80), 401, "invalid_token", `~error="invalid_token"`},
		{"token signed with another key", "Bearer " + foreignToken, 401, "invalid_token", `~error="invalid_token"`},
		{"expired token", "Bearer " + expired.access, 401, "invalid_token", `~error="invalid_token"`},
		{"refresh token as access token", "Bearer " + live.refresh, 401, "invalid_token", `~error="invalid_token"`},
	}
	for _, tt := range tests {
		for _, path := range protected {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				t.Parallel()
				hdr := map[string]string{}
				if tt.authz != "" {
					hdr["Authorization"] = tt.authz
				}
				r := f.do(http.MethodGet, path, hdr, "").wantError(t, tt.status, tt.code)
				h := r.header.Get("WWW-Authenticate")
				if want, ok := strings.CutPrefix(tt.wantHeader, "~"); ok {
					if !strings.HasPrefix(h, `Bearer realm="api"`) || !strings.Contains(h, want) {
						t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with %s", h, want)
					}
				} else if h != tt.wantHeader {
					t.Errorf("WWW-Authenticate = %q, want %q", h, tt.wantHeader)
				}
			})
		}
	}
	t.Run("the live token works", func(t *testing.T) {
		t.Parallel()
		f.api("GET", snippetsPath, live.access, "").wantStatus(t, http.StatusOK)
	})
	t.Run("a Bearer header without a token is invalid_request", func(t *testing.T) {
		t.Parallel()
		f.do(http.MethodGet, snippetsPath, map[string]string{"Authorization": "Bearer "}, "").
			wantError(t, http.StatusBadRequest, "invalid_request")
	})
}

// TestShortLivedToken: with a 1 s lifetime the token dies by the real
// clock too.
func TestShortLivedToken(t *testing.T) {
	t.Parallel()
	const lifetime = time.Second
	f := newFixture(t, func(o *options) { o.AccessTokenExpire = lifetime })
	issued := time.Now()
	tk := f.clientToken(f.conf, "")
	// Valid at first, unless this machine is so slow that it expired already.
	if r := f.api("GET", snippetsPath, tk.access, ""); r.status != http.StatusOK && time.Since(issued) < lifetime {
		t.Fatalf("a fresh token answered %d: %s", r.status, r.body)
	}
	time.Sleep(lifetime + 100*time.Millisecond)
	r := f.api("GET", snippetsPath, tk.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
	if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", h)
	}
}

// TestScopes: TokenHasReadWriteScope on the snippets, TokenHasScope(read)
// on /user_details/.
func TestScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		scope                  string
		get, post, details     int
		missingForGet, forPost string // scope named in a 403 challenge
	}{
		{scope: "read", get: 200, post: 403, details: 200, forPost: "write"},
		{scope: "write", get: 403, post: 201, details: 403, missingForGet: "read"},
		{scope: "read write", get: 200, post: 201, details: 200},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			t.Parallel()
			tk := f.passwordToken(f.conf, f.alice, tt.scope)
			if tk.scope != tt.scope {
				t.Errorf("granted scope = %q, want %q", tk.scope, tt.scope)
			}
			check := func(r result, want int, scope string) {
				t.Helper()
				if want != http.StatusForbidden {
					r.wantStatus(t, want)
					return
				}
				r.wantError(t, http.StatusForbidden, "insufficient_scope")
				h := r.header.Get("WWW-Authenticate")
				if !strings.Contains(h, `error="insufficient_scope"`) {
					t.Errorf("WWW-Authenticate = %q, want error=\"insufficient_scope\"", h)
				}
				if scope != "" && !strings.Contains(h, `scope="`+scope+`"`) {
					t.Errorf("WWW-Authenticate = %q, want scope=%q", h, scope)
				}
			}
			check(f.api("GET", snippetsPath, tk.access, ""), tt.get, tt.missingForGet)
			check(f.api("POST", snippetsPath, tk.access, `{"code":"print(1)"}`), tt.post, tt.forPost)
			check(f.api("GET", userDetailsPath, tk.access, ""), tt.details, "read")
		})
	}
}

// TestSnippetsCRUD walks a snippet through its life.
func TestSnippetsCRUD(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tk := f.passwordToken(f.conf, f.alice, "").access
	before := time.Now().Add(-time.Second)

	var page struct {
		Count   int              `json:"count"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(f.api("GET", snippetsPath, tk, "").wantStatus(t, 200).body, &page); err != nil || len(page.Results) != 0 {
		t.Fatalf("empty list = %v (%v), want no results", page, err)
	}

	// Create with the defaults.
	r := f.api("POST", snippetsPath, tk, `{"code":"foo = \"bar\"\n"}`).wantStatus(t, http.StatusCreated)
	first := r.obj(t)
	want := map[string]any{"id": 1.0, "title": "", "code": "foo = \"bar\"\n", "linenos": false,
		"language": "python", "style": "friendly", "owner": "alice"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("created %s = %#v, want %#v", k, first[k], v)
		}
	}
	created, err := time.Parse(time.RFC3339, first["created"].(string))
	if err != nil || created.Before(before) || created.After(time.Now().Add(time.Second)) {
		t.Errorf("created = %v (%v), want an RFC 3339 time of now", first["created"], err)
	}
	if loc := r.header.Get("Location"); loc != "/snippets/1/" {
		t.Errorf("Location = %q, want /snippets/1/", loc)
	}
	if len(first) != 8 {
		t.Errorf("snippet has fields %v, want exactly id title code linenos language style owner created", first)
	}

	// Create with every field; read-only fields are ignored.
	second := f.api("POST", snippetsPath, tk,
		`{"title":"Hello","code":"print('hello, world')","linenos":true,"language":"go","style":"monokai","owner":"mallory","id":99}`).
		wantStatus(t, http.StatusCreated).obj(t)
	if second["id"] != 2.0 || second["owner"] != "alice" || second["language"] != "go" || second["linenos"] != true {
		t.Errorf("second snippet = %v", second)
	}

	// List, oldest first; get one.
	if err := json.Unmarshal(f.api("GET", snippetsPath, tk, "").wantStatus(t, 200).body, &page); err != nil {
		t.Fatal(err)
	}
	if list := page.Results; page.Count != 2 || len(list) != 2 || list[0]["id"] != 1.0 || list[1]["id"] != 2.0 {
		t.Fatalf("list = %v, want snippets 1 and 2 in order", page)
	}
	if got := f.api("GET", "/snippets/2/", tk, "").wantStatus(t, 200).obj(t); got["title"] != "Hello" {
		t.Errorf("GET /snippets/2/ = %v", got)
	}

	// PUT needs code; fields left out keep their values (as DRF).
	f.api("PUT", "/snippets/2/", tk, `{"title":"no code"}`).wantError(t, 400, "invalid_request")
	put := f.api("PUT", "/snippets/2/", tk, `{"code":"fmt.Println(1)","title":"Go"}`).wantStatus(t, 200).obj(t)
	if put["code"] != "fmt.Println(1)" || put["title"] != "Go" || put["language"] != "go" || put["created"] != second["created"] {
		t.Errorf("after PUT = %v", put)
	}
	// PATCH changes only what it sends.
	patch := f.api("PATCH", "/snippets/2/", tk, `{"linenos":false}`).wantStatus(t, 200).obj(t)
	if patch["linenos"] != false || patch["code"] != "fmt.Println(1)" {
		t.Errorf("after PATCH = %v", patch)
	}
	if got := f.api("GET", "/snippets/2/", tk, "").obj(t); got["linenos"] != false || got["title"] != "Go" {
		t.Errorf("GET after PATCH = %v", got)
	}

	// DELETE, then it is gone.
	if r := f.api("DELETE", "/snippets/1/", tk, ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("DELETE = %d %s, want 204 and no body", r.status, r.body)
	}
	f.api("GET", "/snippets/1/", tk, "").wantError(t, 404, "not_found")
	f.api("DELETE", "/snippets/1/", tk, "").wantError(t, 404, "not_found")
	f.api("PATCH", "/snippets/1/", tk, `{"title":"x"}`).wantError(t, 404, "not_found")
	page.Results = nil
	if err := json.Unmarshal(f.api("GET", snippetsPath, tk, "").wantStatus(t, 200).body, &page); err != nil || len(page.Results) != 1 || page.Count != 1 {
		t.Fatalf("list after delete = %v (%v)", page, err)
	}
}

// TestSnippetOwnership: anyone with a read token reads; only the owner
// changes or deletes; a token without a user never writes.
func TestSnippetOwnership(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bob := f.newUser("bob")
	alice := f.passwordToken(f.conf, f.alice, "").access
	bobs := f.passwordToken(f.conf, bob, "").access
	machine := f.clientToken(f.conf, "").access

	f.api("POST", snippetsPath, alice, `{"code":"a = 1"}`).wantStatus(t, http.StatusCreated)
	tests := []struct {
		name, token, method, path, body string
		status                          int
		code                            string
	}{
		{"other user reads", bobs, "GET", "/snippets/1/", "", 200, ""},
		{"other user lists", bobs, "GET", snippetsPath, "", 200, ""},
		{"client token reads", machine, "GET", "/snippets/1/", "", 200, ""},
		{"other user PUT", bobs, "PUT", "/snippets/1/", `{"code":"b = 2"}`, 403, "permission_denied"},
		{"other user PATCH", bobs, "PATCH", "/snippets/1/", `{"title":"mine"}`, 403, "permission_denied"},
		{"other user DELETE", bobs, "DELETE", "/snippets/1/", "", 403, "permission_denied"},
		{"client token POST", machine, "POST", snippetsPath, `{"code":"c = 3"}`, 403, "permission_denied"},
		{"client token PATCH", machine, "PATCH", "/snippets/1/", `{"title":"x"}`, 403, "permission_denied"},
		{"client token DELETE", machine, "DELETE", "/snippets/1/", "", 403, "permission_denied"},
		{"other user PATCH of a missing snippet", bobs, "PATCH", "/snippets/404/", `{"title":"x"}`, 404, "not_found"},
	}
	for _, tt := range tests {
		r := f.api(tt.method, tt.path, tt.token, tt.body)
		if tt.code == "" {
			r.wantStatus(t, tt.status)
			continue
		}
		r.wantError(t, tt.status, tt.code)
		if tt.status == http.StatusForbidden {
			if h := r.header.Get("WWW-Authenticate"); h != "" {
				t.Errorf("%s: WWW-Authenticate = %q", tt.name, h)
			}
		}
	}
	got := f.api("GET", "/snippets/1/", alice, "").wantStatus(t, 200).obj(t)
	if got["code"] != "a = 1" || got["title"] != "" {
		t.Errorf("others changed the snippet: %v", got)
	}
	f.api("PATCH", "/snippets/1/", alice, `{"title":"mine"}`).wantStatus(t, 200)
	f.api("DELETE", "/snippets/1/", alice, "").wantStatus(t, http.StatusNoContent)
}

// TestSnippetBadRequests: bad JSON, unknown fields, wrong types, bad ids.
func TestSnippetBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tk := f.passwordToken(f.conf, f.alice, "").access
	f.api("POST", snippetsPath, tk, `{"code":"x"}`).wantStatus(t, http.StatusCreated)

	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
		fields                                []string
	}{
		{"bad JSON", "POST", snippetsPath, "", `{"code":`, 400, "invalid_request", nil},
		{"not an object", "POST", snippetsPath, "", `["x"]`, 400, "invalid_request", nil},
		{"empty body", "POST", snippetsPath, "application/json", "", 400, "invalid_request", nil},
		{"two values", "POST", snippetsPath, "", `{"code":"x"}{"code":"y"}`, 400, "invalid_request", nil},
		{"unknown field", "POST", snippetsPath, "", `{"code":"x","author":"me"}`, 400, "invalid_request", []string{"author"}},
		{"title not a string", "POST", snippetsPath, "", `{"code":"x","title":1}`, 400, "invalid_request", []string{"title"}},
		{"linenos not a boolean", "POST", snippetsPath, "", `{"code":"x","linenos":"true"}`, 400, "invalid_request", []string{"linenos"}},
		{"code not a string", "POST", snippetsPath, "", `{"code":{"a":1}}`, 400, "invalid_request", []string{"code"}},
		{"code null", "POST", snippetsPath, "", `{"code":null}`, 400, "invalid_request", []string{"code"}},
		{"code missing", "POST", snippetsPath, "", `{"title":"t"}`, 400, "invalid_request", []string{"code"}},
		{"code blank", "POST", snippetsPath, "", `{"code":"   "}`, 400, "invalid_request", []string{"code"}},
		{"title too long", "POST", snippetsPath, "", `{"code":"x","title":"` + strings.Repeat("t", 101) + `"}`, 400, "invalid_request", []string{"title"}},
		{"unknown language", "POST", snippetsPath, "", `{"code":"x","language":"brainfuck"}`, 400, "invalid_request", []string{"language"}},
		{"unknown style", "PATCH", "/snippets/1/", "", `{"style":"neon"}`, 400, "invalid_request", []string{"style"}},
		{"several fields", "PUT", "/snippets/1/", "", `{"title":false,"linenos":null}`, 400, "invalid_request", []string{"title", "linenos", "code"}},
		{"code over 64 KiB", "POST", snippetsPath, "", `{"code":"` + strings.Repeat("x", 64<<10+1) + `"}`, 400, "invalid_request", []string{"code"}},
		{"code over 64 KiB PATCH", "PATCH", "/snippets/1/", "", `{"code":"` + strings.Repeat("x", 64<<10+1) + `"}`, 400, "invalid_request", []string{"code"}},
		{"form body", "POST", snippetsPath, "application/x-www-form-urlencoded", "code=x", 415, "unsupported_media_type", nil},
		{"body too large", "POST", snippetsPath, "", `{"code":"` + strings.Repeat("x", maxBodyBytes) + `"}`, 413, "invalid_request", nil},
		{"id not a number", "GET", "/snippets/abc/", "", "", 400, "invalid_request", nil},
		{"id zero", "GET", "/snippets/0/", "", "", 400, "invalid_request", nil},
		{"id negative", "DELETE", "/snippets/-1/", "", "", 400, "invalid_request", nil},
		{"id with a sign", "GET", "/snippets/+1/", "", "", 400, "invalid_request", nil},
		{"id too large", "PUT", "/snippets/99999999999999999999/", "", `{"code":"x"}`, 400, "invalid_request", nil},
		{"unknown id", "GET", "/snippets/12345/", "", "", 404, "not_found", nil},
		{"unknown id PUT", "PUT", "/snippets/12345/", "", `{"code":"x"}`, 404, "not_found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hdr := map[string]string{"Authorization": "Bearer " + tk}
			if tt.contentType != "" {
				hdr["Content-Type"] = tt.contentType
			} else if tt.body != "" {
				hdr["Content-Type"] = "application/json"
			}
			r := f.do(tt.method, tt.path, hdr, tt.body).wantError(t, tt.status, tt.code)
			if r.str(t, "error_description") == "" {
				t.Errorf("no error_description: %s", r.body)
			}
			fields, _ := r.obj(t)["fields"].(map[string]any)
			if len(fields) != len(tt.fields) {
				t.Errorf("fields = %v, want messages for %v", fields, tt.fields)
			}
			for _, name := range tt.fields {
				if msg, _ := fields[name].(string); msg == "" {
					t.Errorf("no message for field %q in %s", name, r.body)
				}
			}
		})
	}
	t.Run("nothing was changed", func(t *testing.T) {
		t.Parallel()
		got := f.api("GET", "/snippets/1/", tk, "").wantStatus(t, 200).obj(t)
		if got["code"] != "x" || got["style"] != "friendly" {
			t.Errorf("a refused request changed the snippet: %v", got)
		}
	})
}

// TestUserDetailsAndSecret: the seed tutorials' endpoints.
func TestUserDetailsAndSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	user := f.passwordToken(f.conf, f.alice, "").access
	machine := f.clientToken(f.conf, "").access

	d := f.api("GET", userDetailsPath, user, "").wantStatus(t, 200).obj(t)
	u, err := f.provider.Store().GetUserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": u.ID, "username": "alice", "email": "alice@example.com",
		"first_name": "Alice", "last_name": "Tester", "date_joined": u.DateJoined.Format(time.RFC3339),
		"client_id": f.conf.id} // the token's client, for an API converting this site's tokens
	if len(d) != len(want) {
		t.Errorf("user details = %v, want exactly the fields %v", d, want)
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("user details %s = %#v, want %#v", k, d[k], v)
		}
	}
	if _, ok := d["password_hash"]; ok {
		t.Error("user details show the password hash")
	}

	if msg := f.api("GET", secretPath, user, "").wantStatus(t, 200).str(t, "message"); msg == "" {
		t.Error("GET /secret has no message")
	}
	for _, path := range []string{userDetailsPath, secretPath} {
		f.api("GET", path, machine, "").wantError(t, http.StatusForbidden, "permission_denied")
	}
}

// TestRevoke: a revoked token stops working at once (RFC 7009, mounted
// by the provider).
func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tk := f.passwordToken(f.conf, f.alice, "")
	f.api("GET", snippetsPath, tk.access, "").wantStatus(t, http.StatusOK)
	r := f.do("POST", "/o/revoke_token/", map[string]string{
		"Authorization": basic(f.conf.id, f.conf.secret), "Content-Type": "application/x-www-form-urlencoded",
	}, url.Values{"token": {tk.refresh}}.Encode()).wantStatus(t, http.StatusOK)
	if len(r.body) != 0 {
		t.Errorf("revocation answered a body: %s", r.body)
	}
	f.api("GET", snippetsPath, tk.access, "").wantError(t, http.StatusUnauthorized, "invalid_token")
	f.refresh(f.conf, tk.refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
}

// TestIndexAndUnknownRoutes: GET / lists the endpoints; unknown routes and
// methods answer JSON.
func TestIndexAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newTestServer(t)
	idx := f.do("GET", "/", nil, "").wantStatus(t, 200).obj(t)
	eps, _ := idx["endpoints"].(map[string]any)
	for name, path := range map[string]string{"token": tokenPath, "snippets": snippetsPath, "user_details": userDetailsPath, "secret": secretPath} {
		if eps[name] != path {
			t.Errorf("index endpoints[%s] = %v, want %s", name, eps[name], path)
		}
	}
	routed := map[string]bool{}
	for _, rt := range f.engine.Routes() {
		routed[rt.Method+" "+rt.Path] = true
	}
	for _, e := range slices.Concat(providerEndpoints, tokenAliases) {
		if !routed[e.method+" "+e.path] {
			t.Errorf("%s %s is listed as a provider endpoint but is not routed", e.method, e.path)
		}
		if eps[e.name] != e.path {
			t.Errorf("index endpoints[%s] = %v, want %s", e.name, eps[e.name], e.path)
		}
	}
	f.do("GET", "/nowhere", nil, "").wantError(t, 404, "not_found")
	r := f.do("DELETE", snippetsPath, nil, "").wantError(t, 405, "method_not_allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
}

// TestStoreOutage: with Redis unreachable, requests that need it answer
// 503 JSON, never 200 or 500.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	healthy := newFixture(t)
	tk := healthy.passwordToken(healthy.conf, healthy.alice, "").access
	healthy.api("POST", snippetsPath, tk, `{"code":"x"}`).wantStatus(t, http.StatusCreated)

	down := redistest.Unreachable(t)
	downStore, err := redisstore.New(down, redisstore.WithPrefix("demo:"))
	if err != nil {
		t.Fatal(err)
	}
	// Everything down; the same secret key, so the token passes its checksum
	// and the server must ask the store.
	allDown := startApp(t, options{Store: downStore, Snippets: snippets.NewRedis(down, "demo:"), SecretKey: testKey, Logger: testLogger(t)})
	// Tokens fine, snippets down.
	snippetsDown := startApp(t, options{Store: healthy.provider.Store(), Snippets: snippets.NewRedis(down, "demo:"), SecretKey: testKey, Logger: testLogger(t)})

	pwForm := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {healthy.alice.password}}
	tests := []struct {
		name string
		srv  *testServer
		call func(s *testServer) result
	}{
		{"token endpoint, password grant", allDown, func(s *testServer) result {
			return s.tokenForm(basic(healthy.conf.id, healthy.conf.secret), pwForm)
		}},
		{"token endpoint, client_credentials", allDown, func(s *testServer) result {
			return s.tokenForm(basic(healthy.conf.id, healthy.conf.secret), url.Values{"grant_type": {"client_credentials"}})
		}},
		{"token endpoint, refresh_token", allDown, func(s *testServer) result {
			return s.tokenForm(basic(healthy.conf.id, healthy.conf.secret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"gort_x"}})
		}},
		{"list with a token", allDown, func(s *testServer) result { return s.api("GET", snippetsPath, tk, "") }},
		{"create with a token", allDown, func(s *testServer) result { return s.api("POST", snippetsPath, tk, `{"code":"x"}`) }},
		{"user details with a token", allDown, func(s *testServer) result { return s.api("GET", userDetailsPath, tk, "") }},
		{"secret with a token", allDown, func(s *testServer) result { return s.api("GET", secretPath, tk, "") }},
		{"snippet store down: list", snippetsDown, func(s *testServer) result { return s.api("GET", snippetsPath, tk, "") }},
		{"snippet store down: get", snippetsDown, func(s *testServer) result { return s.api("GET", "/snippets/1/", tk, "") }},
		{"snippet store down: create", snippetsDown, func(s *testServer) result { return s.api("POST", snippetsPath, tk, `{"code":"x"}`) }},
		{"snippet store down: patch", snippetsDown, func(s *testServer) result { return s.api("PATCH", "/snippets/1/", tk, `{"title":"x"}`) }},
		{"snippet store down: delete", snippetsDown, func(s *testServer) result { return s.api("DELETE", "/snippets/1/", tk, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.call(tt.srv).wantError(t, http.StatusServiceUnavailable, "temporarily_unavailable")
			if strings.Contains(string(r.body), "dial") || strings.Contains(string(r.body), "127.0.0.1") {
				t.Errorf("the 503 body leaks the cause: %s", r.body)
			}
		})
	}
	t.Run("without a token no store is needed: 401", func(t *testing.T) {
		t.Parallel()
		allDown.api("GET", snippetsPath, "", "").wantError(t, http.StatusUnauthorized, "not_authenticated")
	})
	t.Run("snippet store down: user details still work", func(t *testing.T) {
		t.Parallel()
		snippetsDown.api("GET", userDetailsPath, tk, "").wantStatus(t, http.StatusOK)
	})
}

// panickingStore is a snippets.Store that panics, to test the recovery.
type panickingStore struct{ snippets.Store }

func (panickingStore) List(context.Context, int, int) ([]*snippets.Snippet, int, error) {
	panic("boom: secret internal state")
}

// TestPanicRecovery: a panic answers a JSON 500 without details.
func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	f := newFixture(t, func(o *options) {
		o.Snippets = panickingStore{snippets.NewMemory()}
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	tk := f.clientToken(f.conf, "").access
	r := f.api("GET", snippetsPath, tk, "").wantError(t, http.StatusInternalServerError, "server_error")
	if s := string(r.body); strings.Contains(s, "boom") || strings.Contains(s, "goroutine") {
		t.Errorf("the 500 body leaks the panic: %s", s)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Error("the panic was not logged")
	}
	f.api("GET", "/", "", "").wantStatus(t, http.StatusOK) // still serving
}

// TestNoSecretsInLogs runs a busy session with every log level on and
// checks that no token, client secret or password reached the log.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	f := newFixture(t, func(o *options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	pw := f.passwordToken(f.conf, f.alice, "")
	cc := f.clientToken(f.conf, "")
	next := f.refresh(f.conf, pw.refresh).wantTokens(t)
	f.api("POST", snippetsPath, next.access, `{"code":"x"}`).wantStatus(t, 201)
	f.api("GET", snippetsPath, pw.access, "").wantStatus(t, 401)
	f.api("POST", snippetsPath, cc.access, `{"code":"x"}`).wantStatus(t, 403)
	f.tokenForm(basic(f.conf.id, f.conf.secret), url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"not-" + f.alice.password}}).wantStatus(t, 400)
	f.tokenForm(basic(f.conf.id, "wrong-"+f.conf.secret), url.Values{"grant_type": {"client_credentials"}}).wantStatus(t, 401)

	out := logs.String()
	if !strings.Contains(out, "path="+snippetsPath) {
		t.Fatalf("requests were not logged:\n%s", out)
	}
	for name, secret := range map[string]string{
		"access token": pw.access, "refresh token": pw.refresh, "rotated access token": next.access,
		"rotated refresh token": next.refresh, "client token": cc.access,
		"client secret": f.conf.secret, "password": f.alice.password,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

// TestRoutesCommand: `demo routes` prints the registry's table.
func TestRoutesCommand(t *testing.T) {
	t.Parallel()
	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"routes"}, &runEnv{stdout: &out, stderr: &errOut, getenv: noEnv, prefix: defaultPrefix}); code != 0 {
		t.Fatalf("exit code %d: %s", code, errOut.String())
	}
	// Columns compared with their spacing collapsed: it depends on the
	// longest path.
	collapse := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	got := collapse(out.String())
	for _, want := range []string{
		"METHOD PATH PERMISSIONS",
		"POST /snippets/ (SessionAuthenticated | TokenHasReadWriteScope(safe: read; unsafe: write)) & IsAuthenticatedOrReadOnly",
		"GET /user_details/ IsAuthenticated & IsAuthenticatedOrTokenHasScope(read)",
		"GET /user_details_by_username/:username/ IsAuthenticated & IsAuthenticatedOrTokenHasScope(read)",
		"GET /secret IsAuthenticated",
		"POST " + tokenPath,
		"POST " + legacyTokenPath,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("routes output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestBenchRoutes: the routes of the load runs exist only with BenchRoutes,
// and /bench/protected is guarded like the API.
func TestBenchRoutes(t *testing.T) {
	t.Parallel()
	off := newTestServer(t)
	off.api("GET", "/bench/open", "", "").wantStatus(t, http.StatusNotFound)

	s := newTestServer(t, func(o *options) { o.BenchRoutes = true })
	c := s.newClient("", store.Confidential, store.GrantClientCredentials)
	s.api("GET", "/bench/open", "", "").wantStatus(t, http.StatusOK)
	s.api("GET", "/bench/snippets/", "", "").wantStatus(t, http.StatusOK)
	s.api("GET", "/bench/protected", "", "").wantError(t, http.StatusUnauthorized, "not_authenticated")
	s.api("GET", "/bench/protected", s.clientToken(c, "write").access, "").wantError(t, http.StatusForbidden, "insufficient_scope")
	s.api("GET", "/bench/protected", s.clientToken(c, "read").access, "").wantStatus(t, http.StatusOK)
}
