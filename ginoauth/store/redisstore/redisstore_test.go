package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/storetest"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// newStore returns a Store on a fresh key prefix, and its client.
func newStore(t testing.TB) (*Store, redis.UniversalClient, string) {
	t.Helper()
	client, prefix := redistest.Client(t)
	s, err := New(client, WithPrefix(prefix))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, client, prefix
}

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _, _ := newStore(t)
		return s
	})
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// signature is what the server layer stores a token under.
func signature(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// issue returns an access and a refresh token of family for the raw token
// strings rawAT and rawRT.
func issue(family, rawAT, rawRT string, atTTL, rtTTL time.Duration) (*store.AccessToken, *store.RefreshToken) {
	now := time.Now()
	ak := store.Key{Family: family, Signature: signature(rawAT)}
	rk := store.Key{Family: family, Signature: signature(rawRT)}
	at := &store.AccessToken{
		Key: ak, ClientID: "client", UserID: "u1", Username: "alice",
		Scopes: []string{"read"}, Refresh: rk, IssuedAt: now, ExpiresAt: now.Add(atTTL),
	}
	rt := &store.RefreshToken{
		Key: rk, ClientID: "client", UserID: "u1", Username: "alice",
		Scopes: []string{"read"}, Access: ak, IssuedAt: now,
	}
	if rtTTL != 0 {
		rt.ExpiresAt = now.Add(rtTTL)
	}
	return at, rt
}

// keys returns every key under prefix, sorted.
func keys(t *testing.T, client redis.UniversalClient, prefix string) []string {
	t.Helper()
	var out []string
	iter := client.Scan(testCtx(t), 0, prefix+"*", 100).Iterator()
	for iter.Next(testCtx(t)) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	slices.Sort(out)
	return out
}

func TestNewRejectsBracesInPrefix(t *testing.T) {
	t.Parallel()
	client := redistest.Unreachable(t)
	for _, p := range []string{"a{b:", "a}b:", "{tag}:"} {
		if s, err := New(client, WithPrefix(p)); err == nil || s != nil {
			t.Errorf("New(WithPrefix(%q)) = %v, %v; want an error", p, s, err)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) did not fail")
	}
	s, err := New(client)
	if err != nil {
		t.Fatalf("New with the default prefix: %v", err)
	}
	if s.prefix != DefaultPrefix {
		t.Fatalf("default prefix %q, want %q", s.prefix, DefaultPrefix)
	}
	if got := s.accessKey(store.Key{Family: "f", Signature: "s"}); got != "ginoauth:at:{f}:s" {
		t.Fatalf("access key %q", got)
	}
	if got := s.refreshKey(store.Key{Family: "f", Signature: "s"}); got != "ginoauth:rt:{f}:s" {
		t.Fatalf("refresh key %q", got)
	}
}

func TestKeysHoldNoRawToken(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	rawAT, rawRT := "raw-access-token-Zm9vYmFy", "raw-refresh-token-YmF6cXV4"
	at, rt := issue("grant1", rawAT, rawRT, time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	got := keys(t, client, prefix)
	want := []string{
		prefix + "at:{grant1}:" + signature(rawAT),
		prefix + "rt:{grant1}:" + signature(rawRT),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("keys:\n got  %q\n want %q", got, want)
	}
	for _, k := range got {
		val, err := client.Get(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range []string{rawAT, rawRT} {
			if strings.Contains(k, raw) || strings.Contains(val, raw) {
				t.Fatalf("raw token %q found in key %q = %q", raw, k, val)
			}
		}
	}
}

func TestTTLs(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	at, rt := issue("g", "a1", "r1", time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	if d := client.PTTL(ctx, s.accessKey(at.Key)).Val(); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("access token TTL %v, want about an hour", d)
	}
	if d := client.PTTL(ctx, s.refreshKey(rt.Key)).Val(); d != -1*time.Nanosecond && d != -1*time.Millisecond {
		t.Fatalf("refresh token without ExpiresAt has TTL %v, want none", d)
	}

	at2, rt2 := issue("g", "a2", "r2", 30*time.Minute, 24*time.Hour)
	if err := s.RotateRefreshToken(ctx, rt, at2, rt2); err != nil {
		t.Fatal(err)
	}
	if d := client.PTTL(ctx, s.accessKey(at2.Key)).Val(); d <= 29*time.Minute || d > 30*time.Minute {
		t.Fatalf("rotated access token TTL %v, want about 30m", d)
	}
	if d := client.PTTL(ctx, s.refreshKey(rt2.Key)).Val(); d <= 23*time.Hour || d > 24*time.Hour {
		t.Fatalf("rotated refresh token TTL %v, want about 24h", d)
	}

	// A far-off expiry goes through the script as an exact integer.
	const century = 100 * 365 * 24 * time.Hour
	at4, rt4 := issue("g", "a4", "r4", time.Hour, century)
	if err := s.RotateRefreshToken(ctx, rt2, at4, rt4); err != nil {
		t.Fatal(err)
	}
	if d := client.PTTL(ctx, s.refreshKey(rt4.Key)).Val(); d <= century-time.Minute || d > century {
		t.Fatalf("refresh token TTL %v, want about a century", d)
	}

	// Already expired records are not written.
	at3, rt3 := issue("h", "a3", "r3", -time.Second, -time.Second)
	if err := s.SaveTokens(ctx, at3, rt3); err != nil {
		t.Fatalf("SaveTokens(expired): %v", err)
	}
	for _, k := range keys(t, client, prefix) {
		if strings.Contains(k, "{h}") {
			t.Fatalf("expired token written at %q", k)
		}
	}
}

// counter counts the commands and pipelines a client sends.
type counter struct {
	mu        sync.Mutex
	commands  []string
	pipelines [][]string
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.commands = append(c.commands, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, cmd := range cmds {
			names[i] = cmd.Name()
		}
		c.mu.Lock()
		c.pipelines = append(c.pipelines, names)
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (c *counter) reset() {
	c.mu.Lock()
	c.commands, c.pipelines = nil, nil
	c.mu.Unlock()
}

func (c *counter) get() ([]string, [][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commands), slices.Clone(c.pipelines)
}

// TestRoundTrips counts what each hot-path operation sends. Each is run once
// first, so that connection set-up (HELLO, CLIENT SETINFO, which go through
// hooks too) and the script load are not counted.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	cnt := &counter{}
	client.AddHook(cnt)

	gen := 0
	var rt *store.RefreshToken
	var at *store.AccessToken
	for round := range 2 {
		gen++
		at, rt = issue("g", fmt.Sprint("a", gen), fmt.Sprint("r", gen), time.Hour, 0)
		cnt.reset()
		if err := s.SaveTokens(ctx, at, rt); err != nil {
			t.Fatal(err)
		}
		cmds, pipes := cnt.get()
		if round == 1 && (len(cmds) != 0 || len(pipes) != 1 || !slices.Equal(pipes[0], []string{"multi", "set", "set", "exec"})) {
			t.Fatalf("SaveTokens: commands %q, pipelines %q; want one MULTI SET SET EXEC pipeline", cmds, pipes)
		}

		cnt.reset()
		if _, err := s.GetAccessToken(ctx, at.Key); err != nil {
			t.Fatal(err)
		}
		cmds, pipes = cnt.get()
		if round == 1 && (!slices.Equal(cmds, []string{"get"}) || len(pipes) != 0) {
			t.Fatalf("GetAccessToken: commands %q, pipelines %q; want exactly one GET", cmds, pipes)
		}

		// The first rotation may load the script (EVALSHA, then EVAL).
		gen++
		at2, rt2 := issue("g", fmt.Sprint("a", gen), fmt.Sprint("r", gen), time.Hour, 0)
		cnt.reset()
		if err := s.RotateRefreshToken(ctx, rt, at2, rt2); err != nil {
			t.Fatal(err)
		}
		cmds, pipes = cnt.get()
		if round == 1 && (!slices.Equal(cmds, []string{"evalsha"}) || len(pipes) != 0) {
			t.Fatalf("RotateRefreshToken: commands %q, pipelines %q; want exactly one EVALSHA", cmds, pipes)
		}
	}
}

// TestScriptFlushed checks that rotation survives SCRIPT FLUSH (a restart or
// failover): go-redis falls back from EVALSHA to EVAL.
func TestScriptFlushed(t *testing.T) {
	t.Parallel()
	if redistest.UsingRealServer() {
		t.Skip("SCRIPT FLUSH would disturb other tests on a shared server")
	}
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	at, rt := issue("g", "a1", "r1", time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	at2, rt2 := issue("g", "a2", "r2", time.Hour, 0)
	if err := s.RotateRefreshToken(ctx, rt, at2, rt2); err != nil {
		t.Fatalf("rotation after SCRIPT FLUSH: %v", err)
	}
}

func TestInvalidTokens(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	at, rt := issue("g", "a1", "r1", time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	before := keys(t, client, prefix)

	other := func(fam string) (*store.AccessToken, *store.RefreshToken) {
		return issue(fam, "a2", "r2", time.Hour, 0)
	}
	at2, rt2 := other("g")
	atX, rtX := other("x")
	noExp := *at2
	noExp.ExpiresAt = time.Time{}
	braces := *at2
	braces.Key.Family = "a}b"
	oldOtherAccess := *rt
	oldOtherAccess.Access.Family = "x"

	cases := []struct {
		name string
		err  error
	}{
		{"SaveTokens(nil)", s.SaveTokens(ctx, nil, nil)},
		{"SaveTokens(no ExpiresAt)", s.SaveTokens(ctx, &noExp, nil)},
		{"SaveTokens(brace in family)", s.SaveTokens(ctx, &braces, nil)},
		{"SaveTokens(families differ)", s.SaveTokens(ctx, at2, rtX)},
		{"Rotate(nil old)", s.RotateRefreshToken(ctx, nil, at2, rt2)},
		{"Rotate(at in another family)", s.RotateRefreshToken(ctx, rt, atX, rt2)},
		{"Rotate(rt in another family)", s.RotateRefreshToken(ctx, rt, at2, rtX)},
		{"Rotate(old access in another family)", s.RotateRefreshToken(ctx, &oldOtherAccess, at2, rt2)},
		{"CreateApplication(nil)", s.CreateApplication(ctx, nil)},
		{"UpdateApplication(no ClientID)", s.UpdateApplication(ctx, &store.Application{})},
		{"CreateUser(no ID)", s.CreateUser(ctx, &store.User{Username: "x"})},
	}
	for _, c := range cases {
		if !errors.Is(c.err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", c.name, c.err)
		}
	}
	if after := keys(t, client, prefix); !slices.Equal(before, after) {
		t.Fatalf("refused writes changed the keys:\n before %q\n after  %q", before, after)
	}
	// Reads and revocations of keys that cannot exist are just absent.
	for _, k := range []store.Key{{}, {Signature: "s"}, {Family: "a{b", Signature: "s"}} {
		if _, err := s.GetAccessToken(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAccessToken(%v): %v", k, err)
		}
		if _, err := s.GetRefreshToken(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRefreshToken(%v): %v", k, err)
		}
		if err := s.RevokeAccessToken(ctx, k); err != nil {
			t.Errorf("RevokeAccessToken(%v): %v", k, err)
		}
		if err := s.RevokeRefreshToken(ctx, k); err != nil {
			t.Errorf("RevokeRefreshToken(%v): %v", k, err)
		}
	}
}

func TestCorruptValue(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	k := store.Key{Family: "g", Signature: "s"}
	for _, key := range []string{s.accessKey(k), s.refreshKey(k), prefix + "app:c", prefix + "user:u"} {
		if err := client.Set(ctx, key, "{not json", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.SAdd(ctx, prefix+"apps", "c").Err(); err != nil {
		t.Fatal(err)
	}
	_, err1 := s.GetAccessToken(ctx, k)
	_, err2 := s.GetRefreshToken(ctx, k)
	_, err3 := s.GetApplication(ctx, "c")
	_, err4 := s.ListApplications(ctx)
	_, err5 := s.GetUser(ctx, "u")
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("read %d of a corrupt value: got %v, want ErrUnavailable", i+1, err)
		}
	}
}

func TestListSkipsStaleIndexEntries(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	for _, id := range []string{"b", "a"} {
		if err := s.CreateApplication(ctx, &store.Application{ClientID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.SAdd(ctx, prefix+"apps", "ghost", "0ghost").Err(); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListApplications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ClientID)
	}
	if !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("ListApplications = %q, want [a b]", ids)
	}
}

func TestStaleUsernameKey(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	if err := s.CreateUser(ctx, &store.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	// A username key left pointing at a user now named otherwise.
	if err := client.Set(ctx, prefix+"username:old", "u1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUserByUsername(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUserByUsername(stale) = %v, want ErrNotFound", err)
	}
	if err := client.Set(ctx, prefix+"username:gone", "u2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUserByUsername(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUserByUsername(dangling) = %v, want ErrNotFound", err)
	}
}

// everyMethod calls every method of s and returns their errors by name.
func everyMethod(ctx context.Context, s store.Store) map[string]error {
	at, rt := issue("g", "a1", "r1", time.Hour, 0)
	at2, rt2 := issue("g", "a2", "r2", time.Hour, 0)
	app := &store.Application{ClientID: "c", Name: "c"}
	errs := map[string]error{}
	errs["Ping"] = s.Ping(ctx)
	errs["CreateApplication"] = s.CreateApplication(ctx, app)
	_, errs["GetApplication"] = s.GetApplication(ctx, "c")
	errs["UpdateApplication"] = s.UpdateApplication(ctx, app)
	errs["DeleteApplication"] = s.DeleteApplication(ctx, "c")
	_, errs["ListApplications"] = s.ListApplications(ctx)
	errs["CreateUser"] = s.CreateUser(ctx, &store.User{ID: "u1", Username: "alice"})
	_, errs["GetUser"] = s.GetUser(ctx, "u1")
	_, errs["GetUserByUsername"] = s.GetUserByUsername(ctx, "alice")
	errs["SaveTokens"] = s.SaveTokens(ctx, at, rt)
	_, errs["GetAccessToken"] = s.GetAccessToken(ctx, at.Key)
	_, errs["GetRefreshToken"] = s.GetRefreshToken(ctx, rt.Key)
	errs["RotateRefreshToken"] = s.RotateRefreshToken(ctx, rt, at2, rt2)
	errs["RevokeAccessToken"] = s.RevokeAccessToken(ctx, at2.Key)
	errs["RevokeRefreshToken"] = s.RevokeRefreshToken(ctx, rt2.Key)
	return errs
}

func checkUnavailable(t *testing.T, errs map[string]error) {
	t.Helper()
	if len(errs) != 15 {
		t.Fatalf("checked %d methods, want all 15", len(errs))
	}
	for name, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", name, err)
			continue
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDuplicate) {
			t.Errorf("%s: %v is also ErrNotFound or ErrDuplicate", name, err)
		}
	}
}

func TestOutage(t *testing.T) {
	t.Parallel()
	s, err := New(redistest.Unreachable(t), WithPrefix("outage:"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	checkUnavailable(t, everyMethod(testCtx(t), s))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("outage errors took %v", d)
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs := everyMethod(ctx, s)
	checkUnavailable(t, errs)
	if err := errs["GetAccessToken"]; !errors.Is(err, context.Canceled) {
		t.Errorf("GetAccessToken with a cancelled context: %v does not wrap context.Canceled", err)
	}
}

func BenchmarkGetAccessToken(b *testing.B) {
	client, prefix := redistest.Client(b)
	s, err := New(client, WithPrefix(prefix))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	at, rt := issue("grant", "access", "refresh", time.Hour, 0)
	at.Scopes = []string{"read", "write", "groups"}
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetAccessToken(ctx, at.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
