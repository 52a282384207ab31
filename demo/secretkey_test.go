package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecretKeyNeverInRedis: with Redis, the signing key comes from
// GINOAUTH_SECRET_KEY or --secret-key-file, never from Redis, where anyone
// who can read it could forge a login session (security review, issue 8
// finding 5). Without one, serve refuses to start and says how to make
// one; a key left in Redis by an older demo is ignored; the management
// commands, which sign nothing, neither need one nor store one.
func TestSecretKeyNeverInRedis(t *testing.T) {
	t.Parallel()

	t.Run("serve without a key refuses to start", func(t *testing.T) {
		t.Parallel()
		env, kv := redisEnv(t)
		env.getenv = noEnv
		// A key an older demo kept in Redis is not used either.
		kv.Set(context.Background(), env.prefix+"secret_key", strings.Repeat("ab", 32), 0)
		var out, errOut syncBuffer
		e := *env
		e.stdout, e.stderr, e.logger = &out, &errOut, testLogger(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--redis", testRedisURL}, &e)
		if code != exitError {
			t.Fatalf("serve --redis without a key: exit %d, want %d; stderr %q", code, exitError, errOut.String())
		}
		for _, want := range []string{envSecretKey, "--secret-key-file", "head -c 32 /dev/urandom | base64"} {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("the refusal does not mention %q: %q", want, errOut.String())
			}
		}
	})

	t.Run("--secret-key-file", func(t *testing.T) {
		t.Parallel()
		env, kv := redisEnv(t)
		env.getenv = noEnv
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The management commands need no key, and store none.
		r := runCmd(t, env, "createuser", "--redis", testRedisURL, "--username", "carol", "--password", "s3cret-pw")
		if r.code != 0 {
			t.Fatalf("createuser without a key: code %d, stderr %q", r.code, r.stderr)
		}
		r = runCmd(t, env, "createapplication", "--redis", testRedisURL, "--json", "confidential", "password")
		var creds map[string]string
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &creds) != nil {
			t.Fatalf("createapplication without a key: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		srv := startServe(t, env, "--secret-key-file", path)
		tk := srv.tokenForm(basic(creds["client_id"], creds["client_secret"]), url.Values{
			"grant_type": {"password"}, "username": {"carol"}, "password": {"s3cret-pw"},
		}).wantTokens(t)
		srv.api("GET", userDetailsPath, tk.access, "").wantStatus(t, http.StatusOK)
		if n, err := kv.Exists(context.Background(), env.prefix+"secret_key").Result(); err != nil || n != 0 {
			t.Errorf("a secret key was stored in Redis (exists = %d, err %v)", n, err)
		}
		e := *env
		e.secretKeyFile = path
		b, err := e.openBackend(context.Background(), redisTarget{url: testRedisURL})
		if err != nil {
			t.Fatal(err)
		}
		defer b.close()
		if string(b.secretKey) != string(raw) {
			t.Errorf("secret key = %x, want the file's %x", b.secretKey, raw)
		}
	})

	t.Run("bad --secret-key-file", func(t *testing.T) {
		t.Parallel()
		env, _ := redisEnv(t)
		env.getenv = noEnv
		short := filepath.Join(t.TempDir(), "short")
		if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{short, filepath.Join(t.TempDir(), "missing")} {
			e := *env
			e.secretKeyFile = path
			if _, err := e.openBackend(context.Background(), redisTarget{url: testRedisURL}); err == nil || !strings.Contains(err.Error(), "--secret-key-file") {
				t.Errorf("--secret-key-file %s: err = %v, want one naming --secret-key-file", filepath.Base(path), err)
			}
		}
	})
}
