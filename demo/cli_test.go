package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/internal/redistest"
)

func noEnv(string) string { return "" }

// cmdResult is what a command did.
type cmdResult struct {
	code           int
	stdout, stderr string
}

// runCmd runs the demo's command line with env (nil: no environment, no
// Redis dialer).
func runCmd(t *testing.T, env *runEnv, args ...string) cmdResult {
	t.Helper()
	if env == nil {
		env = &runEnv{getenv: noEnv, prefix: defaultPrefix}
	}
	var out, errOut syncBuffer
	e := *env
	e.stdout, e.stderr = &out, &errOut
	if e.logger == nil {
		e.logger = testLogger(t)
	}
	code := run(context.Background(), args, &e)
	return cmdResult{code, out.String(), errOut.String()}
}

// testSecretKey is the GINOAUTH_SECRET_KEY of redisEnv: serve needs one
// on Redis.
var testSecretKey = strings.Repeat("5e", minSecretKey)

// keyEnv is an environment with GINOAUTH_SECRET_KEY only.
func keyEnv(k string) string {
	if k == envSecretKey {
		return testSecretKey
	}
	return ""
}

// redisEnv is a runEnv whose --redis URLs all lead to one test Redis under
// a prefix of its own, with a secret key in GINOAUTH_SECRET_KEY.
func redisEnv(t *testing.T) (*runEnv, redis.UniversalClient) {
	client, prefix := redistest.Client(t)
	return &runEnv{
		getenv: keyEnv,
		prefix: prefix,
		dial:   func(string) (redis.UniversalClient, error) { return client, nil },
	}, client
}

// testRedisURL is the --redis argument of tests using redisEnv: any valid
// URL, as the dialer ignores it.
const testRedisURL = "redis://127.0.0.1:6379/0"

func TestHelp(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "createapplication") {
		t.Errorf("demo help: code %d, stdout %q", r.code, r.stdout)
	}
	for _, want := range []string{"--site social", "--social-url", "convert-token"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo help does not mention %s", want)
		}
	}
	r = runCmd(t, nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
		t.Errorf("demo --help: code %d, stdout %q", r.code, r.stdout)
	}
	// Flags alone are serve's: a bad one is serve's usage error.
	r = runCmd(t, nil, "--port", "80")
	if r.code != 2 || !strings.Contains(r.stderr, "usage: demo serve") {
		t.Errorf("demo --port 80: code %d, stderr %q; want serve's usage error and 2", r.code, r.stderr)
	}
}

func TestCreateApplicationJSON(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, "createapplication", "--json", "--name", "cli app", "confidential", "password,client-credentials")
	if r.code != 0 {
		t.Fatalf("exit code %d, stderr %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines, want one JSON line: %q", len(lines), r.stdout)
	}
	var creds map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &creds); err != nil {
		t.Fatalf("stdout is not JSON: %v: %q", err, lines[0])
	}
	if creds["client_id"] == "" || creds["client_secret"] == "" {
		t.Errorf("credentials = %v, want client_id and client_secret", creds)
	}
	if !strings.Contains(r.stderr, "forgets everything") {
		t.Errorf("no warning about the embedded store on stderr: %q", r.stderr)
	}

	r = runCmd(t, nil, "createapplication", "--json", "public", "password")
	var pub map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &pub) != nil || pub["client_id"] == "" || pub["client_secret"] != "" {
		t.Errorf("public client: code %d, stdout %q", r.code, r.stdout)
	}
}

func TestCommandLineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string // in stderr
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"createapplication without arguments", []string{"createapplication"}, "needs two arguments"},
		{"createapplication with one argument", []string{"createapplication", "confidential"}, "needs two arguments"},
		{"bad client type", []string{"createapplication", "secret", "password"}, `client type "secret"`},
		{"bad grant type", []string{"createapplication", "confidential", "implicit"}, `grant type "implicit"`},
		{"unknown flag", []string{"createapplication", "--colour", "blue", "confidential", "password"}, "flag provided but not defined"},
		{"createuser without flags", []string{"createuser"}, "needs --username and --password"},
		{"createuser without password", []string{"createuser", "--username", "carol"}, "needs --username and --password"},
		{"createuser with a stray argument", []string{"createuser", "--username", "carol", "--password", "pw", "extra"}, "no other arguments"},
		{"bad Redis URL scheme", []string{"createuser", "--username", "carol", "--password", "pw", "--redis", "http://localhost"}, "--redis"},
		{"unparsable Redis URL keeps its password out", []string{"createapplication", "--redis", "redis://user:hunter2@[::1", "public", "password"}, "--redis: invalid URL"},
		{"serve with a stray argument", []string{"serve", "now"}, `unexpected argument "now"`},
		{"serve with a flag missing its value", []string{"serve", "--addr"}, "flag needs an argument"},
		{"serve with an unknown flag", []string{"serve", "--port", "80"}, "flag provided but not defined"},
		{"serve with a bad Redis URL", []string{"serve", "--redis", "redis://user:hunter2@host:notaport"}, "--redis: invalid URL"},
		{"serve with a CORS origin without a scheme", []string{"serve", "--cors-origin", "localhost:3000"}, "is not an origin"},
		{"serve with a CORS origin with a path", []string{"serve", "--cors-origin", "http://localhost:3000/app"}, "is not an origin"},
		{"serve with a CORS origin with a trailing slash", []string{"serve", "--cors-origin", "http://localhost:3000/"}, "drop the trailing slash"},
		{"serve with a negative token rate limit", []string{"serve", "--token-rate-limit", "-1"}, "--token-rate-limit -1: want a number of requests per minute, or 0 for no limit"},
		{"serve with a trusted proxy that is no address", []string{"serve", "--trusted-proxy", "lb.internal"}, `"lb.internal" is not an IP address or CIDR block`},
		{"serve with a token rate limit that is not a number", []string{"serve", "--token-rate-limit", "lots"}, `invalid value "lots" for flag -token-rate-limit`},
		{"serve with a snippet write rate without a period", []string{"serve", "--snippet-write-rate", "100"}, `want N/period, such as 100/hour`},
		{"serve with a snippet write rate of an unknown period", []string{"serve", "--snippet-write-rate", "5/week"}, `"5/week": want N/period`},
		{"serve with a negative snippet write rate", []string{"serve", "--snippet-write-rate", "-1/hour"}, `"-1/hour": want N/period`},
		{"serve with a snippet code limit of 0", []string{"serve", "--snippet-code-limit", "0"}, "--snippet-code-limit 0: want a number of bytes from 1 to 16777216"},
		{"serve with a snippet code limit over 16 MiB", []string{"serve", "--snippet-code-limit", "16777217"}, "--snippet-code-limit 16777217: want a number of bytes"},
		{"serve with a relative issuer", []string{"serve", "--issuer", "auth.example.com"}, `"auth.example.com" is not an absolute http or https URL`},
		{"serve with an issuer of another scheme", []string{"serve", "--issuer", "ftp://auth.example.com"}, "is not an absolute http or https URL"},
		{"serve with an issuer without a host", []string{"serve", "--issuer", "https:///auth"}, "is not an absolute http or https URL"},
		{"serve with an issuer with a query", []string{"serve", "--issuer", "https://auth.example.com/?tenant=1"}, "an issuer has no query or fragment"},
		{"serve with an issuer with an empty query", []string{"serve", "--issuer", "https://auth.example.com/?"}, "an issuer has no query or fragment"},
		{"serve with an issuer with a fragment", []string{"serve", "--issuer", "https://auth.example.com#top"}, "an issuer has no query or fragment"},
		{"serve with an issuer with a password keeps it out", []string{"serve", "--issuer", "https://admin:hunter2@auth.example.com"}, "--issuer: an issuer has no user name or password"},
		{"serve with an unparsable issuer keeps its password out", []string{"serve", "--issuer", "https://admin:hunter2@[::1"}, "--issuer: not a URL"},
		{"routes with an argument", []string{"routes", "all"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCmd(t, nil, tt.args...)
			if r.code != 2 {
				t.Errorf("exit code = %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantErr)
			}
			for _, bad := range []string{"hunter2", "goroutine", "panic"} {
				if strings.Contains(r.stderr+r.stdout, bad) {
					t.Errorf("output contains %q: %s", bad, r.stderr)
				}
			}
		})
	}
}

// TestCommandsOnRedis: users and applications made by the commands are
// there for the server, which shares the secret key they stored.
func TestCommandsOnRedis(t *testing.T) {
	t.Parallel()
	env, client := redisEnv(t)

	r := runCmd(t, env, "createuser", "--redis", testRedisURL, "--username", "carol", "--password", "s3cret-pw", "--email", "carol@example.com")
	if r.code != 0 || !strings.Contains(r.stdout, `User "carol" created`) {
		t.Fatalf("createuser: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "forgets everything") {
		t.Errorf("warned about the embedded store while using Redis: %q", r.stderr)
	}
	r = runCmd(t, env, "createuser", "--redis", testRedisURL, "--username", "carol", "--password", "other")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("duplicate createuser: code %d, stderr %q; want 1 and 'already exists'", r.code, r.stderr)
	}

	r = runCmd(t, env, "createapplication", "--redis", testRedisURL, "--json", "confidential", "password,client-credentials")
	var creds map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &creds) != nil {
		t.Fatalf("createapplication: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// REDIS_URL works as --redis does.
	envURL := *env
	envURL.getenv = func(k string) string {
		if k == envRedisURL {
			return testRedisURL
		}
		return ""
	}
	r = runCmd(t, &envURL, "createapplication", "public", "password")
	if r.code != 0 || !strings.Contains(r.stdout, "client_id:") || strings.Contains(r.stderr, "forgets everything") {
		t.Errorf("createapplication with REDIS_URL: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// A server opening the same Redis sees what the commands made; no
	// secret key was kept there.
	if n, err := client.Exists(context.Background(), env.prefix+"secret_key").Result(); err != nil || n != 0 {
		t.Errorf("a secret key is in Redis (exists %d, err %v)", n, err)
	}
	e2 := *env
	b, err := e2.openBackend(context.Background(), redisTarget{url: testRedisURL})
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(b.secretKey) != testSecretKey {
		t.Error("the server's secret key is not GINOAUTH_SECRET_KEY")
	}
	srv := startApp(t, options{Store: b.store, Snippets: b.snippets, SecretKey: b.secretKey, Logger: testLogger(t)})
	tk := srv.tokenForm(basic(creds["client_id"], creds["client_secret"]), url.Values{
		"grant_type": {"password"}, "username": {"carol"}, "password": {"s3cret-pw"},
	}).wantTokens(t)
	srv.api("POST", snippetsPath, tk.access, `{"code":"x"}`).wantStatus(t, http.StatusCreated)
	if got := srv.api("GET", userDetailsPath, tk.access, "").wantStatus(t, 200).str(t, "email"); got != "carol@example.com" {
		t.Errorf("email = %q", got)
	}
}

// TestSecretKeyFromEnvironment: GINOAUTH_SECRET_KEY, hex or base64, is the
// key and must be long enough.
func TestSecretKeyFromEnvironment(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	good := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		value string
		ok    bool
	}{{good, true}, {base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xab", 32))), true},
		{strings.Repeat("ab", 31), false}, {"not hex", false}} {
		e := *env
		e.getenv = func(k string) string {
			if k == envSecretKey {
				return tt.value
			}
			return ""
		}
		b, err := e.openBackend(context.Background(), redisTarget{url: testRedisURL})
		if tt.ok != (err == nil) {
			t.Errorf("%s=%q: err = %v, want ok %v", envSecretKey, tt.value, err, tt.ok)
			continue
		}
		if err == nil && hex.EncodeToString(b.secretKey) != good {
			t.Errorf("secret key = %x, want the environment's", b.secretKey)
		}
		if err != nil && strings.Contains(err.Error(), tt.value) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
	e := *env
	e.getenv = func(k string) string {
		if k == envSecretKey {
			return "00"
		}
		return ""
	}
	r := runCmd(t, &e, "createapplication", "--redis", testRedisURL, "public", "password")
	if r.code != 1 || !strings.Contains(r.stderr, envSecretKey) {
		t.Errorf("short key: code %d, stderr %q; want 1 naming %s", r.code, r.stderr, envSecretKey)
	}
}

// TestServeEmbedded runs `demo serve` without Redis, and `demo` with
// serve's flags alone (`go run ./demo`): it prints working credentials,
// serves, and shuts down when its context ends.
func TestServeEmbedded(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"--addr", "127.0.0.1:0"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			testServeEmbedded(t, args)
		})
	}
}

func testServeEmbedded(t *testing.T, args []string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	ready := make(chan string, 1)
	env := &runEnv{stdout: &out, stderr: &errOut, getenv: noEnv, prefix: defaultPrefix,
		logger: testLogger(t), serving: func(u string) { ready <- u }}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, env) }()

	var base string
	select {
	case base = <-ready:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	printed := out.String()
	if !strings.Contains(printed, base) || !strings.Contains(printed, "curl") {
		t.Errorf("serve did not print its URL and curl lines:\n%s", printed)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(printed))
	exportRe := regexp.MustCompile(`(\w+)=(\S+)`)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "export BASE=") {
			for _, m := range exportRe.FindAllStringSubmatch(line, -1) {
				vars[m[1]] = m[2]
			}
		}
	}
	if vars["BASE"] != base || vars["CLIENT_ID"] == "" || vars["CLIENT_SECRET"] == "" || vars["PASSWORD"] == "" {
		t.Fatalf("no export line with the credentials:\n%s", printed)
	}

	srv := &testServer{t: t, url: base}
	tk := srv.tokenForm(basic(vars["CLIENT_ID"], vars["CLIENT_SECRET"]), url.Values{
		"grant_type": {"password"}, "username": {"demo"}, "password": {vars["PASSWORD"]},
	}).wantTokens(t)
	srv.api("POST", snippetsPath, tk.access, `{"title":"hello","code":"print(\"hello, world\")"}`).wantStatus(t, http.StatusCreated)
	srv.api("GET", userDetailsPath, tk.access, "").wantStatus(t, http.StatusOK)
	srv.tokenForm(basic(vars["CLIENT_ID"], vars["CLIENT_SECRET"]), url.Values{"grant_type": {"client_credentials"}}).wantTokens(t)

	// The demo client is registered for this server's URL, and its pages
	// lead to the provider.
	if !strings.Contains(printed, "Demo client:") || !strings.Contains(printed, base+clientCallbackPath) {
		t.Errorf("serve did not print the demo client:\n%s", printed)
	}
	b := srv.browser(t)
	b.get(clientPath).wantStatus(t, http.StatusOK)
	b.get(clientStartPath).wantRedirect(t, b, "/o/authorize/?")

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited with %d after shutdown: %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

// TestServeOnRedis: with Redis, serve creates no demo user and prints no
// credential.
func TestServeOnRedis(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	_, out := startServeOutput(t, env)
	if s := out.String(); !strings.Contains(s, "Redis at") || strings.Contains(s, "client_secret") || strings.Contains(s, "PASSWORD") {
		t.Errorf("serve on Redis printed:\n%s", s)
	}
}

// TestServeRedisDown: serve on an unreachable Redis fails at once with a
// message, exit code 1.
func TestServeRedisDown(t *testing.T) {
	t.Parallel()
	down := redistest.Unreachable(t)
	env := &runEnv{getenv: keyEnv, prefix: defaultPrefix, dial: func(string) (redis.UniversalClient, error) { return down, nil }}
	r := runCmd(t, env, "serve", "--addr", "127.0.0.1:0", "--redis", testRedisURL)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach Redis") {
		t.Errorf("code %d, stderr %q; want 1 and 'cannot reach Redis'", r.code, r.stderr)
	}
}
