package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
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
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	ready := make(chan string, 1)
	e := *env
	e.stdout, e.stderr, e.logger = &out, &errOut, testLogger(t)
	e.serving = func(u string) { ready <- u }
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--redis", testRedisURL}, args...), &e)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, errOut.String())
		}
	})
	select {
	case base := <-ready:
		return &testServer{t: t, url: base}, &out
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return nil, nil
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
