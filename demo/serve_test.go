package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServe runs `demo serve --addr 127.0.0.1:0 --redis <env's Redis>`
// with args, and returns the server once it listens. It stops when the
// test ends, and must then exit with 0.
func startServe(t *testing.T, env *runEnv, args ...string) *testServer {
	t.Helper()
	srv, _ := startServeOutput(t, env, args...)
	return srv
}

// startServeOutput is startServe that also returns what serve prints on
// its standard output.
func startServeOutput(t *testing.T, env *runEnv, args ...string) (*testServer, *syncBuffer) {
	t.Helper()
	var out, errOut syncBuffer
	e := *env
	e.stdout, e.stderr, e.logger = &out, &errOut, testLogger(t)
	srv, _ := runServe(t, &e, &errOut, append([]string{"--redis", testRedisURL}, args...)...)
	return srv, &out
}

// runServe runs `demo serve --addr 127.0.0.1:0` with args on env as it is
// (its streams and logger), and returns the server once it listens, and a
// function that stops it and returns its exit code once it has exited.
// The server stops when the test ends, if not before, and must then have
// exited with 0. errOut is serve's standard error, for failure messages.
func runServe(t *testing.T, env *runEnv, errOut fmt.Stringer, args ...string) (srv *testServer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	e := *env
	e.serving = func(u string) { ready <- u }
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), &e)
	}()
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() {
		if code := stop(); code != 0 {
			t.Errorf("serve exited with %d: %s", code, errOut)
		}
	})
	select {
	case base := <-ready:
		return &testServer{t: t, url: base}, stop
	case code := <-done:
		done <- code // for stop
		t.Fatalf("serve exited with %d: %s", code, errOut)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return nil, nil
}

// TestServeLogLevel: serve's --log-level governs every line of the log
// main sets up (newProcessEnv), the request log included: at warn, a
// request logs nothing at INFO.
func TestServeLogLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level slog.Level
		// wantRequests: the request log (INFO) is on.
		wantRequests bool
	}{
		{slog.LevelDebug, true},
		{slog.LevelInfo, true},
		{slog.LevelWarn, false},
		{slog.LevelError, false},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			t.Parallel()
			var out, errOut syncBuffer
			env := newProcessEnv(&out, &errOut, noEnv) // no Redis: the embedded store
			s, stop := runServe(t, env, &errOut, "--log-level", strings.ToLower(tt.level.String()))
			s.do(http.MethodGet, "/", nil, "").wantStatus(t, http.StatusOK)
			s.do(http.MethodGet, "/nowhere", nil, "").wantStatus(t, http.StatusNotFound)
			if code := stop(); code != 0 { // every request logged by now
				t.Fatalf("serve exited with %d: %s", code, &errOut)
			}

			logged := errOut.String()
			for line := range strings.Lines(logged) {
				var got slog.Level
				_, after, _ := strings.Cut(line, " level=")
				lv, _, _ := strings.Cut(after, " ")
				if err := got.UnmarshalText([]byte(lv)); err != nil {
					t.Errorf("not a log line of the text handler: %q", line)
					continue
				}
				if got < tt.level {
					t.Errorf("--log-level %s logged at %s: %q", tt.level, got, line)
				}
			}
			if got := strings.Contains(logged, "msg=request"); got != tt.wantRequests {
				t.Errorf("--log-level %s: request log present = %v, want %v; log:\n%s", tt.level, got, tt.wantRequests, logged)
			}
		})
	}
}

// TestIssuer: `demo serve --issuer URL` is the issuer of the metadata (RFC
// 8414, RFC 9728) and the iss of authorization answers (RFC 9207), which
// the demo client then expects; without it, the issuer is the scheme and
// host each request came to.
func TestIssuer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		// want is the issuer of the metadata asked for with Host:
		// otherHost; without --issuer, the iss of the code flow is the
		// server's own address, which the browser uses.
		want string
	}{
		{"no --issuer: the request's host", nil, "http://" + otherHost},
		{"--issuer", []string{"--issuer", "https://auth.example.com"}, "https://auth.example.com"},
		{"--issuer with a port, a path and a trailing slash", []string{"--issuer", "http://localhost:8443/auth/"}, "http://localhost:8443/auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, kv := redisEnv(t)
			pw := randomString(t)
			if r := runCmd(t, env, "createuser", "--redis", testRedisURL, "--username", "alice", "--password", pw); r.code != 0 {
				t.Fatalf("createuser: code %d, stderr %q", r.code, r.stderr)
			}
			s := startServe(t, env, tt.args...)

			// The metadata, asked for under another Host.
			var as serverMeta
			s.getJSON(t, "/.well-known/oauth-authorization-server", otherHost, &as)
			if as.Issuer != tt.want || as.TokenEndpoint != tt.want+tokenPath || as.AuthorizationEndpoint != tt.want+"/o/authorize/" {
				t.Errorf("authorization server metadata: %+v, want issuer %s", as, tt.want)
			}
			var rs struct {
				AuthorizationServers []string `json:"authorization_servers"`
			}
			s.getJSON(t, "/.well-known/oauth-protected-resource", otherHost, &rs)
			if len(rs.AuthorizationServers) != 1 || rs.AuthorizationServers[0] != tt.want {
				t.Errorf("protected resource metadata: authorization_servers %v, want [%s]", rs.AuthorizationServers, tt.want)
			}

			// The code flow through the demo client: the iss of the
			// answer is the issuer (the browser's host when there is no
			// --issuer), and the demo client accepts it.
			id, err := kv.Get(context.Background(), env.prefix+clientIDKey).Result()
			if err != nil {
				t.Fatal(err)
			}
			ws := &webServer{testServer: s, clientID: id, alice: userCreds{"alice", pw}}
			b := s.browser(t)
			callback := ws.answerConsent(t, b, ws.toConsent(t, b, ws.alice), true)
			wantIss := tt.want
			if tt.args == nil {
				wantIss = s.url
			}
			if got := queryOf(t, callback).Get("iss"); got != wantIss {
				t.Errorf("iss = %q, want %q", got, wantIss)
			}
			if res := b.get(callback).wantStatus(t, http.StatusOK); res.byID("result") != "Token exchange succeeded" {
				t.Errorf("the demo client refused the answer:\n%s", res.body)
			}
		})
	}
}

// queryOf returns the query of a URL.
func queryOf(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("bad URL %q: %v", u, err)
	}
	return p.Query()
}

// otherHost is a Host header that is not the server's address.
const otherHost = "api.example.test:8000"

// serverMeta is the part of RFC 8414 metadata TestIssuer checks.
type serverMeta struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// getJSON GETs path with that Host header and decodes the JSON answer.
func (s *testServer) getJSON(t *testing.T, path, host string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestServeWarnsWithoutIssuer: `demo serve` on an address other machines
// can reach, without --issuer, warns that the issuer then comes from each
// request's Host header (security review, issue 8 finding 16); on a
// loopback address, or with --issuer, it does not.
func TestServeWarnsWithoutIssuer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		warn bool
	}{
		{"all interfaces", []string{"--addr", "0.0.0.0:0"}, true},
		{"all interfaces with --issuer", []string{"--addr", "0.0.0.0:0", "--issuer", "https://auth.example.com"}, false},
		{"loopback", []string{"--addr", "127.0.0.1:0"}, false},
		{"localhost", []string{"--addr", "localhost:0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut syncBuffer
			env := newProcessEnv(&out, &errOut, func(string) string { return "" })
			_, stop := runServe(t, env, &errOut, tt.args...)
			if code := stop(); code != 0 {
				t.Fatalf("serve exited with %d: %s", code, errOut.String())
			}
			got := strings.Contains(errOut.String(), "--issuer")
			if got != tt.warn {
				t.Errorf("warning about --issuer: %v, want %v; stderr:\n%s", got, tt.warn, errOut.String())
			}
		})
	}
}
