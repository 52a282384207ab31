package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ginoauth/toolkit/internal/redistest"
)

// freeAddr returns a local address nobody listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestServeMetricsAddr: with --metrics-addr, /metrics on that listener
// (and not on the main one) counts what the server did: here one refused
// token.
func TestServeMetricsAddr(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	addr := freeAddr(t)
	s := startServe(t, env, "--metrics-addr", addr)

	req, _ := http.NewRequest("GET", s.url+"/snippets/", nil)
	req.Header.Set("Authorization", "Bearer goat_not-a-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /snippets/ with a bad token: got %d, want 401", resp.StatusCode)
	}

	body := get(t, "http://"+addr+"/metrics", http.StatusOK)
	for _, want := range []string{
		`ginoauth_token_validations_total{result="invalid"} 1` + "\n",
		`ginoauth_token_validations_total{result="valid"} 0` + "\n",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics: no %q in\n%s", want, body)
		}
	}
	get(t, s.url+"/metrics", http.StatusNotFound)
}

// get fetches u and checks its status.
func get(t *testing.T, u string, want int) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Errorf("GET %s: got %d, want %d", u, resp.StatusCode, want)
	}
	return string(b)
}

// TestServeTrace: with --trace, serve prints the token endpoint's span,
// with the grant type and without the client's secret, and the spans of
// its Redis commands, by the time it exits.
func TestServeTrace(t *testing.T) {
	t.Parallel()
	env, _ := redisEnv(t)
	var out, errOut syncBuffer
	e := *env
	e.stdout, e.stderr, e.logger = &out, &errOut, testLogger(t)
	s, stop := runServe(t, &e, &errOut, "--redis", testRedisURL, "--trace")

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"hunter2-secret"}}
	resp, err := http.PostForm(s.url+"/o/token/", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token with an unknown client: got %d, want 401", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	spans := errOut.String()
	wants := []string{`"Name":"ginoauth.token"`, `"Value":"client_credentials"`, `"Value":"invalid_client"`}
	if !redistest.UsingCluster() {
		// redisotel instruments a ClusterClient's node clients as they are
		// created; the test's client made its nodes before serve started.
		wants = append(wants, `"Value":"redis"`)
	}
	for _, want := range wants {
		if !strings.Contains(spans, want) {
			t.Errorf("stderr has no %s:\n%s", want, spans)
		}
	}
	if strings.Contains(spans, "hunter2-secret") {
		t.Error("a span holds the client secret")
	}
}
