package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
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

func TestSocialLinksContract(t *testing.T) {
	t.Parallel()
	storetest.RunSocialLinks(t, func(t *testing.T) store.SocialLinks {
		s, _, _ := newStore(t)
		return s
	})
}

func TestSocialKey(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	if err := s.LinkSocialUser(testCtx(t), "fake_social_site", "42", "u1"); err != nil {
		t.Fatal(err)
	}
	if got, err := client.Get(testCtx(t), prefix+"social:fake_social_site:42").Result(); err != nil || got != "u1" {
		t.Fatalf("social key holds %q, %v; want u1", got, err)
	}
	if ttl := client.TTL(testCtx(t), prefix+"social:fake_social_site:42").Val(); ttl >= 0 {
		t.Fatalf("social key has a TTL %v", ttl)
	}
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
		Scopes: []string{"read"}, IssuedAt: now, ExpiresAt: now.Add(atTTL),
	}
	rt := &store.RefreshToken{
		Key: rk, ClientID: "client", UserID: "u1", Username: "alice",
		Scopes: []string{"read"}, IssuedAt: now,
	}
	if rtTTL != 0 {
		rt.ExpiresAt = now.Add(rtTTL)
	}
	return at, rt
}

// keys returns every key under prefix, sorted.
func keys(t *testing.T, client redis.UniversalClient, prefix string) []string {
	t.Helper()
	out, err := redistest.Keys(testCtx(t), client, prefix) // every master on a Cluster
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
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
	if got := s.accessKey(store.Key{Family: "f", Signature: "s"}); got != "ginoauth:{f}a" {
		t.Fatalf("access key %q", got)
	}
	if got := s.refreshKey(store.Key{Family: "f", Signature: "s"}); got != "ginoauth:{f}r" {
		t.Fatalf("refresh key %q", got)
	}
}

func TestKeysHoldNoRawToken(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	rawCode, rawAT, rawRT := "raw-code-Y29kZWNvZGU", "raw-access-token-Zm9vYmFy", "raw-refresh-token-YmF6cXV4"
	rawAT2, rawRT2 := "raw-access-token-2-cXV1eA", "raw-refresh-token-2-Y29yZ2U"
	raws := []string{rawCode, rawAT, rawRT, rawAT2, rawRT2}
	code := &store.AuthorizationCode{
		Key: store.Key{Family: "grant1", Signature: signature(rawCode)}, ClientID: "client", UserID: "u1",
		RedirectURI: "https://example.com/cb", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute),
	}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeAuthorizationCode(ctx, code.Key, time.Now()); err != nil {
		t.Fatal(err)
	}
	at, rt := issue("grant1", rawAT, rawRT, time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	at2, rt2 := issue("grant1", rawAT2, rawRT2, time.Hour, 0)
	retired := &store.RetiredRefreshToken{ClientID: "client", RotatedAt: time.Now(), Successor: []byte("sealed"), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.RotateRefreshToken(ctx, rt, retired, at2, rt2); err != nil {
		t.Fatal(err)
	}
	got := keys(t, client, prefix)
	want := []string{
		prefix + "u:u1",
		prefix + "{grant1}a",
		prefix + "{grant1}c",
		prefix + "{grant1}r",
		prefix + "{grant1}x",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("keys:\n got  %q\n want %q", got, want)
	}
	for _, k := range got {
		val := dump(t, client, k)
		for _, raw := range raws {
			if strings.Contains(k, raw) || strings.Contains(val, raw) {
				t.Fatalf("raw token %q found in key %q = %q", raw, k, val)
			}
		}
	}
}

// dump returns the value of key, of any type, as text.
func dump(t *testing.T, client redis.UniversalClient, key string) string {
	t.Helper()
	ctx := testCtx(t)
	typ, err := client.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = client.Get(ctx, key).Result()
	case "hash":
		v, err = client.HGetAll(ctx, key).Result()
	case "zset":
		v, err = client.ZRangeWithScores(ctx, key, 0, -1).Result()
	default:
		t.Fatalf("key %q has unexpected type %q", key, typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
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
	if err := s.RotateRefreshToken(ctx, rt, nil, at2, rt2); err != nil {
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
	if err := s.RotateRefreshToken(ctx, rt2, nil, at4, rt4); err != nil {
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

// pttl returns key's PTTL, failing the test on error.
func pttl(t *testing.T, client redis.UniversalClient, key string) time.Duration {
	t.Helper()
	d, err := client.PTTL(testCtx(t), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// noTTL reports whether a PTTL answer means "exists, no TTL" (go-redis
// gives -1 as -1ns or -1ms depending on the version).
func noTTL(d time.Duration) bool { return d == -1*time.Nanosecond || d == -1*time.Millisecond }

func about(d, want time.Duration) bool { return d > want-time.Minute && d <= want }

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

// TestRoundTrips counts what each operation sends. Each is run once first,
// so that connection set-up (HELLO, CLIENT SETINFO, which go through hooks
// too) and the script loads are not counted.
func TestRoundTrips(t *testing.T) {
	if redistest.UsingCluster() {
		t.Skip("counts round trips after a warm-up on one master; on Redis Cluster a script is loaded per master, so a first EVALSHA may miss")
	}
	t.Parallel()
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	cnt := &counter{}
	client.AddHook(cnt)

	// check runs op and, in the counted round, compares what it sent.
	check := func(round int, name string, op func() error, wantCmds []string, wantPipes ...[]string) {
		t.Helper()
		cnt.reset()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cmds, pipes := cnt.get()
		if round == 0 {
			return
		}
		if !slices.Equal(cmds, wantCmds) || !slices.EqualFunc(pipes, wantPipes, slices.Equal) {
			t.Fatalf("%s: commands %q, pipelines %q; want commands %q, pipelines %q", name, cmds, pipes, wantCmds, wantPipes)
		}
	}
	script := []string{"evalsha"}
	for round := range 2 {
		fam := fmt.Sprint("g", round)
		gen := func(n int) string { return fmt.Sprint(fam, "-", n) }
		code := &store.AuthorizationCode{
			Key: store.Key{Family: fam, Signature: signature(gen(0))}, ClientID: "client", UserID: "u1",
			IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute),
		}
		check(round, "SaveAuthorizationCode", func() error { return s.SaveAuthorizationCode(ctx, code) }, script)
		check(round, "ConsumeAuthorizationCode", func() error { return s.ConsumeAuthorizationCode(ctx, code.Key, time.Now()) }, script)
		check(round, "GetAuthorizationCode", func() error {
			_, err := s.GetAuthorizationCode(ctx, code.Key)
			return err
		}, []string{"hmget"})

		at, rt := issue(fam, gen(1), gen(2), time.Hour, 0)
		at.UserID, rt.UserID = "u-"+fam, "u-"+fam
		// One round trip: the family's script, then the user index script.
		indexes := []string{"evalsha"}
		check(round, "SaveTokens", func() error { return s.SaveTokens(ctx, at, rt) }, nil, append([]string{"evalsha"}, indexes...))
		check(round, "GetAccessToken", func() error {
			_, err := s.GetAccessToken(ctx, at.Key)
			return err
		}, []string{"get"})
		check(round, "GetRefreshToken", func() error {
			_, err := s.GetRefreshToken(ctx, rt.Key)
			return err
		}, []string{"get"})

		at2, rt2 := issue(fam, gen(3), gen(4), time.Hour, 0)
		at2.UserID, rt2.UserID = "u-"+fam, "u-"+fam
		retired := &store.RetiredRefreshToken{ClientID: "client", RotatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		check(round, "RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, rt, retired, at2, rt2) }, nil, append([]string{"evalsha"}, indexes...))
		check(round, "GetRetiredRefreshToken", func() error {
			_, err := s.GetRetiredRefreshToken(ctx, rt.Key)
			return err
		}, nil, []string{"hget", "get"})
		check(round, "ListGrants", func() error {
			gs, err := s.ListGrants(ctx, store.GrantFilter{UserID: "u-" + fam})
			if err == nil && len(gs) != 1 {
				err = fmt.Errorf("%d grants, want 1", len(gs))
			}
			return err
		}, []string{"hgetall"}, []string{"get", "get", "exists"})
		// Read and rotate in one script; the index entry already covers
		// the new tokens (the old refresh token never expires).
		rot := store.RotateRefresh{
			ClientID: "client", Now: time.Now(),
			Access: store.Key{Family: fam, Signature: signature(gen(7))}, AccessExpiresAt: time.Now().Add(time.Hour),
			Refresh: store.Key{Family: fam, Signature: signature(gen(8))},
		}
		check(round, "RotateRefresh", func() error {
			_, err := s.RotateRefresh(ctx, rt2.Key, rot)
			return err
		}, nil, []string{"evalsha"})
		check(round, "RevokeAccessToken", func() error { return s.RevokeAccessToken(ctx, at2.Key) }, script)
		check(round, "Allow", func() error {
			_, _, err := s.Allow(ctx, "k", 10, time.Hour)
			return err
		}, script)
		check(round, "FirstUse", func() error {
			_, err := s.FirstUse(ctx, "k"+fam, time.Now().Add(time.Minute))
			return err
		}, []string{"set"})
		// One script; the user index entry is left for ListGrants to drop.
		check(round, "RevokeFamily", func() error { return s.RevokeFamily(ctx, fam) }, script)
		check(round, "GetAccessToken(revoked)", func() error {
			if _, err := s.GetAccessToken(ctx, at2.Key); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("got %v, want ErrNotFound", err)
			}
			return nil
		}, []string{"get"})
		// Refused by the tombstone in the same one round trip. (The index
		// write that rides along names a dead family, which ListGrants
		// drops.)
		at3, rt3 := issue(fam, gen(5), gen(6), time.Hour, 0)
		at3.UserID, rt3.UserID = "u2", "u2"
		check(round, "SaveTokens(revoked)", func() error {
			if err := s.SaveTokens(ctx, at3, rt3); !errors.Is(err, store.ErrRevoked) {
				return fmt.Errorf("got %v, want ErrRevoked", err)
			}
			return nil
		}, nil, append([]string{"evalsha"}, indexes...))
	}
}

// TestScriptFlushed checks that every script survives SCRIPT FLUSH (a
// restart or failover): go-redis falls back from EVALSHA to EVAL.
func TestScriptFlushed(t *testing.T) {
	t.Parallel()
	if redistest.UsingRealServer() {
		t.Skip("SCRIPT FLUSH would disturb other tests on a shared server")
	}
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	at, rt := issue("g", "a1", "r1", time.Hour, 0)
	at2, rt2 := issue("g", "a2", "r2", time.Hour, 0)
	code := &store.AuthorizationCode{Key: store.Key{Family: "g", Signature: "c"}, ClientID: "client", ExpiresAt: time.Now().Add(time.Minute)}
	steps := []struct {
		name string
		run  func() error
	}{
		{"SaveAuthorizationCode", func() error { return s.SaveAuthorizationCode(ctx, code) }},
		{"ConsumeAuthorizationCode", func() error { return s.ConsumeAuthorizationCode(ctx, code.Key, time.Now()) }},
		{"SaveTokens", func() error { return s.SaveTokens(ctx, at, rt) }},
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, rt, nil, at2, rt2) }},
		{"RevokeAccessToken", func() error { return s.RevokeAccessToken(ctx, at2.Key) }},
		{"RevokeFamily", func() error { return s.RevokeFamily(ctx, "g") }},
		{"Allow", func() error { _, _, err := s.Allow(ctx, "k", 1, time.Second); return err }},
	}
	for _, st := range steps {
		if err := client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := st.run(); err != nil {
			t.Fatalf("%s after SCRIPT FLUSH: %v", st.name, err)
		}
	}
	if _, err := s.GetRefreshToken(ctx, rt2.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("family not revoked after SCRIPT FLUSH: %v", err)
	}
}

// TestRevokeFamilyLeavesNothing: after RevokeFamily no key of the family is
// left but its tombstone, which outlives the longest-lived record it
// replaced, and the grant indexes no longer name it.
func TestRevokeFamilyLeavesNothing(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	code := &store.AuthorizationCode{Key: store.Key{Family: "g", Signature: "c"}, ClientID: "client", UserID: "u1", ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	at, rt := issue("g", "a1", "r1", time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		at2, rt2 := issue("g", fmt.Sprint("a", i+2), fmt.Sprint("r", i+2), time.Hour, 0)
		retired := &store.RetiredRefreshToken{ClientID: "client", ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.RotateRefreshToken(ctx, rt, retired, at2, rt2); err != nil {
			t.Fatal(err)
		}
		rt = rt2
	}
	// Another family of the same user and client stays.
	atX, rtX := issue("x", "ax", "rx", time.Hour, 0)
	if err := s.SaveTokens(ctx, atX, rtX); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys(t, client, prefix) {
		if strings.Contains(k, "{g}") && k != s.revokedKey("g") {
			t.Errorf("key %q left after RevokeFamily", k)
		}
	}
	// The access tokens and retired records lived an hour, longer than
	// the code and RevokedFamilyRetention; the refresh token never expired.
	if d := pttl(t, client, s.revokedKey("g")); !about(d, time.Hour) {
		t.Errorf("tombstone TTL %v, want about 1h", d)
	}
	gs, err := s.ListGrants(ctx, store.GrantFilter{UserID: "u1"})
	if err != nil || len(gs) != 1 || gs[0].Family != "x" {
		t.Errorf("ListGrants after RevokeFamily(g) = %v, %v; want [x]", gs, err)
	}
	if m := client.HKeys(ctx, prefix+"u:u1").Val(); !slices.Equal(m, []string{"x"}) {
		t.Errorf("user index after ListGrants = %q, want [x] (the revoked family dropped)", m)
	}
}

// TestTombstoneTTL: a revoked family's tombstone lives
// store.RevokedFamilyRetention when nothing of the family outlives that, as
// long as its longest-lived record otherwise (records that never expire
// aside), and is never shortened by a later revocation.
func TestTombstoneTTL(t *testing.T) {
	t.Parallel()
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	revoke := func(family string) time.Duration {
		t.Helper()
		if err := s.RevokeFamily(ctx, family); err != nil {
			t.Fatal(err)
		}
		return pttl(t, client, s.revokedKey(family))
	}
	min := store.RevokedFamilyRetention
	if d := revoke("empty"); !about(d, min) {
		t.Errorf("tombstone TTL %v for a family without records, want about %v", d, min)
	}
	// A redeemed code, as when a replay revokes the family: kept until its
	// ExpiresAt + CodeRetention, longer than the minimum.
	code := &store.AuthorizationCode{Key: store.Key{Family: "code", Signature: "c"}, ClientID: "client", UserID: "u1", ExpiresAt: time.Now().Add(5 * time.Minute)}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeAuthorizationCode(ctx, code.Key, time.Now()); err != nil {
		t.Fatal(err)
	}
	if d := revoke("code"); !about(d, 5*time.Minute+store.CodeRetention) {
		t.Errorf("tombstone TTL %v for a code's family, want about %v", d, 5*time.Minute+store.CodeRetention)
	}
	// Short-lived tokens and a refresh token that never expires: the minimum.
	at, rt := issue("never", "a1", "r1", time.Minute, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	if d := revoke("never"); !about(d, min) {
		t.Errorf("tombstone TTL %v for a family whose refresh token never expires, want about %v", d, min)
	}
	// A long-lived refresh token; revoking again (nothing left) keeps the TTL.
	at, rt = issue("long", "a2", "r2", time.Minute, 48*time.Hour)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	if d := revoke("long"); !about(d, 48*time.Hour) {
		t.Errorf("tombstone TTL %v for a family with a 48h refresh token, want about 48h", d)
	}
	if d := revoke("long"); !about(d, 48*time.Hour) {
		t.Errorf("tombstone TTL %v after revoking again, want about 48h still", d)
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
	otherRetired := &store.RetiredRefreshToken{Key: rt2.Key, ExpiresAt: time.Now().Add(time.Hour)}
	retiredNoExp := &store.RetiredRefreshToken{Key: rt.Key}
	code := &store.AuthorizationCode{Key: store.Key{Family: "g", Signature: "c"}, ClientID: "client", ExpiresAt: time.Now().Add(time.Minute)}
	codeNoExp := *code
	codeNoExp.ExpiresAt = time.Time{}
	codeBraces := *code
	codeBraces.Key.Family = "{g}"
	_, _, allowNoKey := s.Allow(ctx, "", 1, time.Second)
	_, _, allowNoLimit := s.Allow(ctx, "k", 0, time.Second)
	_, _, allowShortWindow := s.Allow(ctx, "k", 1, time.Microsecond)
	_, listNoFilter := s.ListGrants(ctx, store.GrantFilter{})
	_, firstUseNoKey := s.FirstUse(ctx, "", time.Now().Add(time.Minute))
	forgetNoKey := s.Forget(ctx, "", time.Second)

	cases := []struct {
		name string
		err  error
	}{
		{"SaveTokens(nil)", s.SaveTokens(ctx, nil, nil)},
		{"SaveTokens(no ExpiresAt)", s.SaveTokens(ctx, &noExp, nil)},
		{"SaveTokens(brace in family)", s.SaveTokens(ctx, &braces, nil)},
		{"SaveTokens(families differ)", s.SaveTokens(ctx, at2, rtX)},
		{"Rotate(nil old)", s.RotateRefreshToken(ctx, nil, nil, at2, rt2)},
		{"Rotate(at in another family)", s.RotateRefreshToken(ctx, rt, nil, atX, rt2)},
		{"Rotate(rt in another family)", s.RotateRefreshToken(ctx, rt, nil, at2, rtX)},
		{"Rotate(retired under another key)", s.RotateRefreshToken(ctx, rt, otherRetired, at2, rt2)},
		{"Rotate(retired without ExpiresAt)", s.RotateRefreshToken(ctx, rt, retiredNoExp, at2, rt2)},
		{"SaveAuthorizationCode(nil)", s.SaveAuthorizationCode(ctx, nil)},
		{"SaveAuthorizationCode(no ExpiresAt)", s.SaveAuthorizationCode(ctx, &codeNoExp)},
		{"SaveAuthorizationCode(brace in family)", s.SaveAuthorizationCode(ctx, &codeBraces)},
		{"Allow(empty key)", allowNoKey},
		{"Allow(limit 0)", allowNoLimit},
		{"Allow(window under 1ms)", allowShortWindow},
		{"ListGrants(zero filter)", listNoFilter},
		{"FirstUse(empty key)", firstUseNoKey},
		{"Forget(empty key)", forgetNoKey},
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
		if _, err := s.GetRetiredRefreshToken(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRetiredRefreshToken(%v): %v", k, err)
		}
		if _, err := s.GetAuthorizationCode(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAuthorizationCode(%v): %v", k, err)
		}
		if err := s.ConsumeAuthorizationCode(ctx, k, time.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ConsumeAuthorizationCode(%v): %v", k, err)
		}
		if err := s.RevokeFamily(ctx, k.Family); err != nil {
			t.Errorf("RevokeFamily(%q): %v", k.Family, err)
		}
	}
	if after := keys(t, client, prefix); !slices.Equal(before, after) {
		t.Fatalf("reads and revocations of impossible keys changed the keys:\n before %q\n after  %q", before, after)
	}
}

func TestCorruptValue(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	k := store.Key{Family: "g", Signature: "s"}
	if err := client.HSet(ctx, s.retiredKey(k), digest("s"), "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{s.accessKey(k), s.refreshKey(k), prefix + "app:c", prefix + "user:u"} {
		if err := client.Set(ctx, key, "{not json", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.SAdd(ctx, prefix+"apps", "c").Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.HSet(ctx, s.codeKey(k), "v", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	k2 := store.Key{Family: "g2", Signature: "s2"}
	code := &store.AuthorizationCode{Key: k2, ClientID: "c", ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := client.HSet(ctx, s.codeKey(k2), "ca", "yesterday").Err(); err != nil {
		t.Fatal(err)
	}
	// A user index naming the family whose access token is corrupt.
	if err := client.HSet(ctx, prefix+"u:u1", "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// A version or kind this code does not know is corrupt too.
	k3 := store.Key{Family: "g3", Signature: "s"}
	at3, _ := issue("g3", "x", "y", time.Hour, 0)
	at3.Key = k3
	if err := s.SaveTokens(ctx, at3, nil); err != nil {
		t.Fatal(err)
	}
	v := []byte(client.Get(ctx, s.accessKey(k3)).Val())
	v[0] = 3
	if err := client.Set(ctx, s.accessKey(k3), v, 0).Err(); err != nil {
		t.Fatal(err)
	}
	errs := map[string]error{}
	_, errs["GetAccessToken"] = s.GetAccessToken(ctx, k)
	_, errs["GetRefreshToken"] = s.GetRefreshToken(ctx, k)
	_, errs["GetRetiredRefreshToken"] = s.GetRetiredRefreshToken(ctx, k)
	_, errs["GetAuthorizationCode"] = s.GetAuthorizationCode(ctx, k)
	_, errs["GetAuthorizationCode(bad ConsumedAt)"] = s.GetAuthorizationCode(ctx, k2)
	_, errs["GetApplication"] = s.GetApplication(ctx, "c")
	_, errs["ListApplications"] = s.ListApplications(ctx)
	_, errs["GetUser"] = s.GetUser(ctx, "u")
	_, errs["ListGrants"] = s.ListGrants(ctx, store.GrantFilter{UserID: "u1"})
	_, errs["GetAccessToken(version 3)"] = s.GetAccessToken(ctx, k3)
	for name, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s of a corrupt value: got %v, want ErrUnavailable", name, err)
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
	retired := &store.RetiredRefreshToken{ClientID: "client", ExpiresAt: time.Now().Add(time.Hour)}
	code := &store.AuthorizationCode{Key: store.Key{Family: "g", Signature: "c"}, ClientID: "client", ExpiresAt: time.Now().Add(time.Minute)}
	app := &store.Application{ClientID: "c", Name: "c"}
	errs := map[string]error{}
	errs["Ping"] = s.Ping(ctx)
	errs["CreateApplication"] = s.CreateApplication(ctx, app)
	_, errs["GetApplication"] = s.GetApplication(ctx, "c")
	errs["UpdateApplication"] = s.UpdateApplication(ctx, app)
	_, errs["RevokeApplicationTokens"] = s.RevokeApplicationTokens(ctx, "c")
	errs["DeleteApplication"] = s.DeleteApplication(ctx, "c")
	_, errs["ListApplications"] = s.ListApplications(ctx)
	errs["CreateUser"] = s.CreateUser(ctx, &store.User{ID: "u1", Username: "alice"})
	_, errs["GetUser"] = s.GetUser(ctx, "u1")
	_, errs["GetUserByUsername"] = s.GetUserByUsername(ctx, "alice")
	errs["SaveTokens"] = s.SaveTokens(ctx, at, rt)
	_, errs["GetAccessToken"] = s.GetAccessToken(ctx, at.Key)
	_, errs["GetRefreshToken"] = s.GetRefreshToken(ctx, rt.Key)
	errs["RotateRefreshToken"] = s.RotateRefreshToken(ctx, rt, retired, at2, rt2)
	_, errs["GetRetiredRefreshToken"] = s.GetRetiredRefreshToken(ctx, rt.Key)
	errs["RevokeAccessToken"] = s.RevokeAccessToken(ctx, at2.Key)
	errs["RevokeRefreshToken"] = s.RevokeRefreshToken(ctx, rt2.Key)
	errs["RevokeFamily"] = s.RevokeFamily(ctx, "g")
	_, errs["ListGrants"] = s.ListGrants(ctx, store.GrantFilter{UserID: "u1"})
	errs["SaveAuthorizationCode"] = s.SaveAuthorizationCode(ctx, code)
	_, errs["GetAuthorizationCode"] = s.GetAuthorizationCode(ctx, code.Key)
	errs["ConsumeAuthorizationCode"] = s.ConsumeAuthorizationCode(ctx, code.Key, time.Now())
	_, _, errs["Allow"] = s.Allow(ctx, "k", 1, time.Second)
	_, errs["FirstUse"] = s.FirstUse(ctx, "k", time.Now().Add(time.Minute))
	errs["Forget"] = s.Forget(ctx, "k", time.Second)
	return errs
}

// storeMethods is how many methods store.Store has.
var storeMethods = reflect.TypeFor[store.Store]().NumMethod()

func checkUnavailable(t *testing.T, errs map[string]error) {
	t.Helper()
	if len(errs) != storeMethods {
		t.Fatalf("checked %d methods, want all %d", len(errs), storeMethods)
	}
	for name, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", name, err)
			continue
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrConsumed) {
			t.Errorf("%s: %v is also ErrNotFound, ErrDuplicate or ErrConsumed", name, err)
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

// TestCodeNotReplaced: saving a code under a stored code's key is refused,
// so that it can never undo a consumption.
func TestCodeNotReplaced(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testCtx(t)
	code := &store.AuthorizationCode{Key: store.Key{Family: "g", Signature: "c"}, ClientID: "client", ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeAuthorizationCode(ctx, code.Key, time.Now()); err != nil {
		t.Fatal(err)
	}
	again := *code
	again.ClientID = "other"
	if err := s.SaveAuthorizationCode(ctx, &again); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("saving a code over a stored one: got %v, want ErrDuplicate", err)
	}
	got, err := s.GetAuthorizationCode(ctx, code.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "client" || got.ConsumedAt.IsZero() {
		t.Fatalf("code after a refused save: %+v, want the consumed original", got)
	}
	if err := s.ConsumeAuthorizationCode(ctx, code.Key, time.Now()); !errors.Is(err, store.ErrConsumed) {
		t.Fatalf("consuming after a refused save: got %v, want ErrConsumed", err)
	}
}

// Key names by kind, for the tests.
func (s *Store) accessKey(k store.Key) string  { return s.familyKey(k.Family, kindAccess) }
func (s *Store) refreshKey(k store.Key) string { return s.familyKey(k.Family, kindRefresh) }
func (s *Store) retiredKey(k store.Key) string { return s.familyKey(k.Family, kindRetired) }
func (s *Store) codeKey(k store.Key) string    { return s.familyKey(k.Family, kindCode) }
func (s *Store) revokedKey(family string) string {
	return s.familyKey(family, kindTombstone)
}

// TestPublishes: every revocation or replacement of tokens publishes
// "F:<ms>:<family>", every change of an application "C:<ms>:<client_id>",
// on <prefix>inv, <ms> the time of publication.
func TestPublishes(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	sub := client.Subscribe(ctx, prefix+InvalidationChannel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	ch := sub.Channel()
	next := func(what string) string {
		t.Helper()
		select {
		case m := <-ch:
			return m.Payload
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing published", what)
			return ""
		}
	}
	app := &store.Application{ClientID: "app", Name: "app"}
	if err := s.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	at, rt := issue("g", "a1", "r1", time.Hour, 0)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	at2, rt2 := issue("g", "a2", "r2", time.Hour, 0)
	steps := []struct {
		name string
		run  func() error
		want string
	}{
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, rt, nil, at2, rt2) }, "f:g"},
		{"RevokeAccessToken", func() error { return s.RevokeAccessToken(ctx, at2.Key) }, "f:g"},
		{"RevokeRefreshToken", func() error { return s.RevokeRefreshToken(ctx, rt2.Key) }, "f:g"},
		{"RevokeFamily", func() error { return s.RevokeFamily(ctx, "g") }, "f:g"},
		{"UpdateApplication", func() error { return s.UpdateApplication(ctx, app) }, "c:app"},
		{"RevokeApplicationTokens", func() error { _, err := s.RevokeApplicationTokens(ctx, "app"); return err }, "c:app"},
		{"DeleteApplication", func() error { return s.DeleteApplication(ctx, "app") }, "c:app"},
	}
	for _, st := range steps {
		before := time.Now().UnixMilli()
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := next(st.name)
		kind, rest, _ := strings.Cut(got, ":")
		ms, name, _ := strings.Cut(rest, ":")
		sent, err := strconv.ParseInt(ms, 10, 64)
		if kind+":"+name != strings.ToUpper(st.want[:1])+st.want[1:] || err != nil || sent < before || sent > time.Now().UnixMilli() {
			t.Fatalf("%s published %q, want %q with its time (ms) between the two", st.name, got, strings.ToUpper(st.want[:1])+":<ms>:"+st.want[2:])
		}
	}
}

// TestDispatch: timed and untimed messages reach the handler, a timed one
// with its lag; anything else flushes.
func TestDispatch(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_000_500)
	for _, tc := range []struct {
		payload string
		want    []string
	}{
		{"F:1000000:fam", []string{"family fam", "lag 500ms"}},
		{"C:1000000:app:x", []string{"client app:x", "lag 500ms"}},
		{"F:1000600:fam", []string{"family fam", "lag 0s"}}, // the publisher's clock ahead
		{"f:fam", []string{"family fam"}},
		{"c:app", []string{"client app"}},
		{"F:x:fam", []string{"all"}},
		{"F:1000000:", []string{"all"}},
		{"F:1000000", []string{"all"}},
		{"f:", []string{"all"}},
		{"x:y", []string{"all"}},
		{"", []string{"all"}},
	} {
		h := &recordingHandler{}
		dispatch(h, tc.payload, now)
		if !slices.Equal(h.got, tc.want) {
			t.Errorf("dispatch(%q): got %q, want %q", tc.payload, h.got, tc.want)
		}
	}
}

// recordingHandler lists the calls it gets.
type recordingHandler struct{ got []string }

func (h *recordingHandler) InvalidateFamily(f string) { h.got = append(h.got, "family "+f) }
func (h *recordingHandler) InvalidateClient(c string) { h.got = append(h.got, "client "+c) }
func (h *recordingHandler) InvalidateAll()            { h.got = append(h.got, "all") }
func (h *recordingHandler) ChannelLive()              {}
func (h *recordingHandler) ChannelLost(error)         {}
func (h *recordingHandler) InvalidationLag(lag time.Duration) {
	h.got = append(h.got, "lag "+lag.String())
}

// TestUserIndex: the user index is a hash of family -> expiry whose TTL
// follows its longest entry; client_credentials tokens write no index and
// one key only.
func TestUserIndex(t *testing.T) {
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	cc, _ := issue("cc", "a0", "r0", time.Hour, 0)
	cc.UserID, cc.Username = "", ""
	if err := s.SaveTokens(ctx, cc, nil); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, client, prefix); !slices.Equal(got, []string{prefix + "{cc}a"}) {
		t.Fatalf("keys after a client_credentials token: %q, want only its access token", got)
	}
	at, rt := issue("g1", "a1", "r1", time.Hour, 2*time.Hour)
	before := time.Now()
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	idx := prefix + "u:u1"
	// The entry's expiry is rounded up to the day (indexExpiry).
	want := time.UnixMilli(indexExpiry(expMs(rt.ExpiresAt))).Sub(before) + time.Millisecond // now is truncated to the ms
	if d := pttl(t, client, idx); !about(d, want) || d < 2*time.Hour {
		t.Fatalf("index TTL %v, want about %v (2h rounded up to the day)", d, want)
	}
	at2, rt2 := issue("g2", "a2", "r2", time.Hour, 30*time.Minute)
	if err := s.SaveTokens(ctx, at2, rt2); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, client, idx); !about(d, want) {
		t.Fatalf("index TTL %v after a shorter grant, want about %v still", d, want)
	}
	at3, rt3 := issue("g3", "a3", "r3", time.Hour, 0)
	if err := s.SaveTokens(ctx, at3, rt3); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, client, idx); !noTTL(d) {
		t.Fatalf("index TTL %v with a refresh token that never expires, want none", d)
	}
	if enc := client.ObjectEncoding(ctx, idx).Val(); redistest.UsingRealServer() && enc != "listpack" {
		t.Fatalf("index encoding %q, want listpack", enc)
	}
	if n := client.HLen(ctx, idx).Val(); n != 3 {
		t.Fatalf("index has %d entries, want 3", n)
	}
}

// TestUserIndexPrune: past 64 entries, a write drops the expired entries
// of the user's index with probability 64/n (n entries, the draw against
// 64*65536/n); at 64 entries or fewer it never does.
func TestUserIndexPrune(t *testing.T) {
	t.Parallel()
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	future := strconv.FormatInt(time.Now().Add(48*time.Hour).UnixMilli(), 10)
	// 64*65536/71 = 59074.7: with 71 entries a draw of 59074 prunes, 59075 does not.
	tests := []struct {
		name           string
		expired, live  int // entries in the index before the write
		draw           int
		wantN          int64 // entries after the write
		wantExpiredOut bool
	}{
		{"small index, draw 0", 10, 10, 0, 21, false},
		{"64 entries after the write, draw 0", 10, 53, 0, 64, false},
		{"71 entries, draw 0", 10, 60, 0, 61, true},
		{"71 entries, last draw that prunes", 10, 60, 59074, 61, true},
		{"71 entries, first draw that does not", 10, 60, 59075, 71, false},
		{"71 entries, highest draw", 10, 60, 1<<16 - 1, 71, false},
	}
	for i, tt := range tests {
		user := "prune" + strconv.Itoa(i)
		idx := s.userIndexKey(user)
		for j := range tt.expired {
			client.HSet(ctx, idx, "old"+strconv.Itoa(j), "1000")
		}
		for j := range tt.live {
			client.HSet(ctx, idx, "live"+strconv.Itoa(j), future)
		}
		s.pruneDraw = func() int { return tt.draw }
		at, rt := issue("pr"+strconv.Itoa(i), "a-pr"+strconv.Itoa(i), "r-pr"+strconv.Itoa(i), time.Hour, 2*time.Hour)
		at.UserID, rt.UserID = user, user
		if err := s.SaveTokens(ctx, at, rt); err != nil {
			t.Fatalf("%s: SaveTokens: %v", tt.name, err)
		}
		if got := client.HLen(ctx, idx).Val(); got != tt.wantN {
			t.Errorf("%s: %d entries after the write, want %d", tt.name, got, tt.wantN)
		}
		if got := client.HExists(ctx, idx, "old0").Val(); got == tt.wantExpiredOut {
			t.Errorf("%s: expired entry still there = %v, want %v", tt.name, got, !tt.wantExpiredOut)
		}
		if !client.HExists(ctx, idx, "pr"+strconv.Itoa(i)).Val() || !client.HExists(ctx, idx, "live0").Val() {
			t.Errorf("%s: the new entry or a live one is missing", tt.name)
		}
	}
}

// TestDeleteApplicationFailedKeepsIndex: a DeleteApplication whose
// DEL+PUBLISH pipeline fails leaves the application both stored and
// listed (it used to drop the index entry first, hiding a live record).
func TestDeleteApplicationFailedKeepsIndex(t *testing.T) {
	t.Parallel()
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	if err := s.CreateApplication(ctx, &store.Application{ClientID: "live", Name: "live"}); err != nil {
		t.Fatal(err)
	}
	failPipelines(t, client)
	if err := s.DeleteApplication(ctx, "live"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("DeleteApplication with failing pipelines = %v, want ErrUnavailable", err)
	}
	listed, err := client.SIsMember(ctx, s.appsKey(), "live").Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetApplication(ctx, "live"); err != nil {
		t.Fatalf("GetApplication after the failed delete: %v", err)
	}
	if got, want := listed, true; got != want {
		t.Errorf("index lists the live application: got %v, want %v", got, want)
	}
}
