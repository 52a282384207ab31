package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/internal/redistest"
)

// redisCommands are the commands that take --redis and --redis-cluster,
// each with the arguments it needs besides them.
func redisCommands() map[string][]string {
	return map[string][]string{
		"serve":             {"--addr", "127.0.0.1:0"},
		"createuser":        {"--username", "carol", "--password", "pw"},
		"createapplication": {"public", "password"},
		"listapplications":  nil,
		"deleteapplication": {"some-client"},
		"revoketokens":      {"--user", "carol"},
		"rotatekeys":        nil,
	}
}

// Distinct URLs, so that the dialer tells which one a command chose.
const (
	flagSingleURL  = "redis://single-flag.invalid:6379/0"
	envSingleURL   = "redis://single-env.invalid:6379/0"
	flagClusterURL = "redis://cluster-flag.invalid:7000?addr=cluster-flag.invalid:7001"
	envClusterURL  = "redis://cluster-env.invalid:7000?addr=cluster-env.invalid:7001"
)

// TestRedisFlagChoice: every command that takes --redis takes
// --redis-cluster; a flag wins over the environment, REDIS_CLUSTER_URL
// over REDIS_URL, and the two flags together are a usage error.
func TestRedisFlagChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantURL string // the URL dialed; "" for none
		code    int
		stderr  string // in stderr
	}{
		{"--redis", []string{"--redis", flagSingleURL}, nil, flagSingleURL, 1, "cannot reach"},
		{"--redis-cluster", []string{"--redis-cluster", flagClusterURL}, nil, flagClusterURL, 1, "cannot reach"},
		{"REDIS_URL", nil, map[string]string{envRedisURL: envSingleURL}, envSingleURL, 1, "cannot reach"},
		{"REDIS_CLUSTER_URL", nil, map[string]string{envRedisClusterURL: envClusterURL}, envClusterURL, 1, "cannot reach"},
		{"REDIS_CLUSTER_URL wins over REDIS_URL", nil,
			map[string]string{envRedisURL: envSingleURL, envRedisClusterURL: envClusterURL}, envClusterURL, 1, "cannot reach"},
		{"--redis wins over REDIS_CLUSTER_URL", []string{"--redis", flagSingleURL},
			map[string]string{envRedisClusterURL: envClusterURL}, flagSingleURL, 1, "cannot reach"},
		{"--redis-cluster wins over REDIS_URL", []string{"--redis-cluster", flagClusterURL},
			map[string]string{envRedisURL: envSingleURL}, flagClusterURL, 1, "cannot reach"},
		{"--redis and --redis-cluster", []string{"--redis", flagSingleURL, "--redis-cluster", flagClusterURL},
			nil, "", 2, "--redis and --redis-cluster do not go together"},
	}
	for cmd, cmdArgs := range redisCommands() {
		for _, tt := range tests {
			t.Run(cmd+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				var (
					mu     sync.Mutex
					dialed []string
				)
				down := redistest.Unreachable(t)
				env := &runEnv{
					getenv: func(k string) string {
						if k == envSecretKey {
							return testSecretKey
						}
						return tt.env[k]
					},
					prefix: defaultPrefix,
					dial: func(u string) (redis.UniversalClient, error) {
						mu.Lock()
						defer mu.Unlock()
						dialed = append(dialed, u)
						return down, nil
					},
				}
				args := append(append([]string{cmd}, tt.args...), cmdArgs...)
				r := runCmd(t, env, args...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("demo %s: code %d, stderr %q; want %d and %q", strings.Join(args, " "), r.code, r.stderr, tt.code, tt.stderr)
				}
				mu.Lock()
				defer mu.Unlock()
				var got string
				if len(dialed) > 0 {
					got = dialed[0]
				}
				if len(dialed) > 1 || got != tt.wantURL {
					t.Errorf("demo %s dialed %q, want %q", strings.Join(args, " "), dialed, tt.wantURL)
				}
			})
		}
	}
}

// TestRedisClusterURLErrors: a bad --redis-cluster URL (or
// REDIS_CLUSTER_URL) is a usage error naming where it came from, and the
// message never holds the URL's password.
func TestRedisClusterURLErrors(t *testing.T) {
	t.Parallel()
	const password = "hunter2"
	tests := []struct {
		name   string
		args   []string
		env    string // REDIS_CLUSTER_URL
		stderr string
	}{
		{"unparsable", []string{"--redis-cluster", "redis://user:" + password + "@[::1"}, "", "--redis-cluster: invalid URL"},
		{"unparsable, from the environment", nil, "redis://user:" + password + "@[::1", envRedisClusterURL + ": invalid URL"},
		{"bad scheme", []string{"--redis-cluster", "http://user:" + password + "@127.0.0.1:7000"}, "", "invalid URL scheme"},
		{"bad addr", []string{"--redis-cluster", "redis://user:" + password + "@127.0.0.1:7000?addr=nohost"}, "", "unable to parse addr"},
		{"unknown option", []string{"--redis-cluster", "redis://user:" + password + "@127.0.0.1:7000?db=1"}, "", "unexpected option: db"},
		{"bad duration", []string{"--redis-cluster", "redis://user:" + password + "@127.0.0.1:7000?read_timeout=soon"}, "", "invalid read_timeout"},
		{"a database", []string{"--redis-cluster", "redis://user:" + password + "@127.0.0.1:7000/3"}, "", "database 0 only"},
		{"reads from replicas", []string{"--redis-cluster", "redis://user:" + password + "@127.0.0.1:7000?read_only=true"}, "", "reads from masters only"},
		{"routed by latency", []string{"--redis-cluster", "redis://user:" + password + "@127.0.0.1:7000?route_by_latency=1"}, "", "reads from masters only"},
		{"a cluster URL to --redis", []string{"--redis", "redis://user:" + password + "@127.0.0.1:7000?addr=127.0.0.1:7001"}, "", "use --redis-cluster"},
		{"both flags", []string{"--redis", "redis://user:" + password + "@127.0.0.1:6379", "--redis-cluster", "redis://user:" + password + "@127.0.0.1:7000"}, "",
			"do not go together"},
	}
	for cmd, cmdArgs := range redisCommands() {
		for _, tt := range tests {
			t.Run(cmd+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				env := &runEnv{getenv: func(k string) string {
					if k == envRedisClusterURL {
						return tt.env
					}
					return keyEnv(k)
				}, prefix: defaultPrefix}
				args := append(append([]string{cmd}, tt.args...), cmdArgs...)
				r := runCmd(t, env, args...)
				if r.code != exitUsage || !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("demo %s: code %d, stderr %q; want %d and %q", cmd, r.code, r.stderr, exitUsage, tt.stderr)
				}
				if n := strings.Count(r.stderr, "\n"); n != 1 {
					t.Errorf("demo %s: %d lines on stderr, want one: %q", cmd, n, r.stderr)
				}
				if strings.Contains(r.stderr+r.stdout, password) {
					t.Errorf("demo %s: the password is in the output: %q", cmd, r.stderr)
				}
			})
		}
	}
}

// TestClusterOptions: the demo's client defaults fill in what the URL
// does not set, and a value in the URL wins.
func TestClusterOptions(t *testing.T) {
	t.Parallel()
	type opts struct {
		dial, read, write, pool time.Duration
		dialerRetries, redirect int
		name                    string
	}
	defaults := opts{clusterDialTimeout, clusterReadTimeout, clusterWriteTimeout, clusterPoolTimeout,
		clusterDialerRetries, clusterMaxRedirects, clusterClientName}
	tests := []struct {
		query string
		want  opts
	}{
		{"", defaults},
		{"?addr=127.0.0.1:7001", defaults},
		{"/0?addr=127.0.0.1:7001", defaults},
		{"?dial_timeout=3s&read_timeout=2s&write_timeout=4s&pool_timeout=5s",
			opts{3 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, clusterDialerRetries, clusterMaxRedirects, clusterClientName}},
		// 0 disables a timeout (go-redis's -1): the URL's choice, kept.
		{"?read_timeout=0", opts{clusterDialTimeout, -1, clusterWriteTimeout, clusterPoolTimeout, clusterDialerRetries, clusterMaxRedirects, clusterClientName}},
		{"?dialer_retries=4&max_redirects=8&client_name=mine",
			opts{clusterDialTimeout, clusterReadTimeout, clusterWriteTimeout, clusterPoolTimeout, 4, 8, "mine"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			o, err := clusterOptions("redis://127.0.0.1:7000" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Addrs) == 0 || o.Addrs[0] != "127.0.0.1:7000" {
				t.Errorf("Addrs = %v, want 127.0.0.1:7000 first", o.Addrs)
			}
			got := opts{o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.DialerRetries, o.MaxRedirects, o.ClientName}
			if got != tt.want {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
			if o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
				t.Error("reads may go to replicas")
			}
		})
	}
}

// TestSingleOptions: a single server's client gets the Cluster client's
// timeouts, one dial attempt and one retry where the URL sets none, and a
// value in the URL wins; the URL's database and address are kept.
func TestSingleOptions(t *testing.T) {
	t.Parallel()
	type opts struct {
		dial, read, write, pool time.Duration
		dialerRetries, retries  int
		name                    string
		db                      int
	}
	defaults := opts{clusterDialTimeout, clusterReadTimeout, clusterWriteTimeout, clusterPoolTimeout,
		clusterDialerRetries, singleMaxRetries, clusterClientName, 3}
	tests := []struct {
		query string
		want  opts
	}{
		{"", defaults},
		{"?dial_timeout=3s&read_timeout=2s&write_timeout=4s&pool_timeout=5s",
			opts{3 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, clusterDialerRetries, singleMaxRetries, clusterClientName, 3}},
		// 0 disables a timeout (go-redis's -1): the URL's choice, kept.
		{"?read_timeout=0", opts{clusterDialTimeout, -1, clusterWriteTimeout, clusterPoolTimeout, clusterDialerRetries, singleMaxRetries, clusterClientName, 3}},
		{"?max_retries=4&client_name=mine",
			opts{clusterDialTimeout, clusterReadTimeout, clusterWriteTimeout, clusterPoolTimeout, clusterDialerRetries, 4, "mine", 3}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			o, err := singleOptions("redis://127.0.0.1:6390/3" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if o.Addr != "127.0.0.1:6390" {
				t.Errorf("Addr = %q, want 127.0.0.1:6390", o.Addr)
			}
			got := opts{o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.DialerRetries, o.MaxRetries, o.ClientName, o.DB}
			if got != tt.want {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := singleOptions("redis://127.0.0.1:6390?dialer_retries=2"); err == nil {
		t.Error("dialer_retries in a single server's URL: no error, want go-redis's (it has no such option)")
	}
}

// TestCommandsOnCluster runs the commands on the Redis Cluster of
// REDIS_CLUSTER_URL with --redis-cluster, as a user would: createuser,
// createapplication, listapplications, rotatekeys, serve, a token and a
// protected request, revoketokens.
// A --redis URL of one of the cluster's nodes is refused.
func TestCommandsOnCluster(t *testing.T) {
	t.Parallel()
	clusterURL := os.Getenv(redistest.EnvClusterURL)
	if clusterURL == "" {
		t.Skip("needs a Redis Cluster: set " + redistest.EnvClusterURL + " (.ci/redis-cluster start DIR prints one)")
	}
	kv, prefix := redistest.Client(t) // deletes the keys under prefix at the end
	env := &runEnv{getenv: keyEnv, prefix: prefix}
	cmd := func(args ...string) cmdResult {
		t.Helper()
		r := runCmd(t, env, append(args, "--redis-cluster", clusterURL)...)
		if r.code != 0 {
			t.Fatalf("demo %s: code %d, stderr %q", args[0], r.code, r.stderr)
		}
		return r
	}
	carol := userCreds{"carol", randomString(t)}
	cmd("createuser", "--username", carol.username, "--password", carol.password)
	var app struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(cmd("createapplication", "--json", "confidential", "password").stdout), &app); err != nil {
		t.Fatal(err)
	}
	if out := cmd("listapplications").stdout; !strings.Contains(out, app.ID) {
		t.Errorf("listapplications does not list %s:\n%s", app.ID, out)
	}
	cmd("rotatekeys")
	if n := kv.HLen(context.Background(), prefix+"oidc:keys").Val(); n != 2 {
		t.Errorf("after rotatekeys: %d signing keys in %soidc:keys, want 2 (RS256 and ES256)", n, prefix)
	}

	var errOut syncBuffer
	e := *env
	e.stdout, e.stderr, e.logger = &syncBuffer{}, &errOut, testLogger(t)
	srv, _ := runServe(t, &e, &errOut, "--redis-cluster", clusterURL)
	tk := srv.tokenForm(basic(app.ID, app.Secret), url.Values{
		"grant_type": {"password"}, "username": {carol.username}, "password": {carol.password},
	}).wantTokens(t)
	srv.api(http.MethodGet, userDetailsPath, tk.access, "").wantStatus(t, http.StatusOK)
	srv.api(http.MethodPost, snippetsPath, tk.access, `{"code":"print(1)"}`).wantStatus(t, http.StatusCreated)
	srv.api(http.MethodGet, snippetsPath, tk.access, "").wantStatus(t, http.StatusOK)

	cmd("revoketokens", "--user", carol.username)
	// The server drops the token from its validation cache when the
	// invalidation arrives (pub/sub): at once, or nearly.
	deadline := time.Now().Add(5 * time.Second)
	for srv.api(http.MethodGet, userDetailsPath, tk.access, "").status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the token still works 5s after revoketokens")
		}
		time.Sleep(50 * time.Millisecond)
	}
	keys, err := redistest.Keys(context.Background(), kv, prefix)
	if err != nil || len(keys) == 0 {
		t.Errorf("keys under %s: %v, %v; want the demo's", prefix, keys, err)
	}

	// One node's URL as --redis: refused at start, naming --redis-cluster.
	node, _, _ := strings.Cut(clusterURL, "?")
	r := runCmd(t, env, "listapplications", "--redis", node)
	if r.code != exitUsage || !strings.Contains(r.stderr, "is a node of a Redis Cluster; use --redis-cluster") {
		t.Errorf("--redis %s: code %d, stderr %q; want %d and a hint at --redis-cluster", node, r.code, r.stderr, exitUsage)
	}
}
