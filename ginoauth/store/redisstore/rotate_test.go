package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestRotateRefreshRecords: the records the rotation script derives from
// the old refresh token are, byte for byte, what encodeAccess,
// encodeRefresh and encodeRetired would write.
func TestRotateRefreshRecords(t *testing.T) {
	t.Parallel()
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	n := time.Now().UTC().Truncate(time.Millisecond)
	for _, tc := range []struct {
		name  string
		mod   func(at *store.AccessToken, rt *store.RefreshToken)
		rtTTL time.Duration
	}{
		{"user, scopes, generation, earlier grant", func(at *store.AccessToken, rt *store.RefreshToken) {
			at.Generation, rt.Generation = 300, 300 // a two-byte varint
			c := n.Add(-40 * 24 * time.Hour)
			at.GrantCreatedAt, rt.GrantCreatedAt = c, c
		}, 30 * 24 * time.Hour},
		{"no scopes, no username", func(at *store.AccessToken, rt *store.RefreshToken) {
			at.Scopes, rt.Scopes, at.Username, rt.Username = nil, nil, "", ""
		}, time.Hour},
		{"refresh token that never expires", nil, 0},
		{"resources", func(at *store.AccessToken, rt *store.RefreshToken) {
			at.Audience, rt.Resources = []string{"https://a.example/"}, []string{"https://a.example/", "https://b.example/"}
		}, time.Hour},
		// A confidential client's DPoP-bound access token beside an unbound
		// refresh token (RFC 9449 section 5): the new access token, made
		// without a proof, is unbound. (A bound refresh token is refused:
		// storetest's Rotation/Refusals.)
		{"bound access token", func(at *store.AccessToken, rt *store.RefreshToken) {
			at.JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
		}, time.Hour},
	} {
		fam := "f" + strconv.Itoa(len(tc.name))
		at, rt := issue(fam, tc.name+"a", tc.name+"r", time.Hour, time.Hour)
		at.IssuedAt, rt.IssuedAt = n.Add(-time.Minute), n.Add(-time.Minute)
		at.ExpiresAt, rt.ExpiresAt = n.Add(time.Hour), n.Add(2*time.Hour)
		if tc.rtTTL == 0 {
			rt.ExpiresAt = time.Time{}
		}
		if tc.mod != nil {
			tc.mod(at, rt)
		}
		if err := s.SaveTokens(ctx, at, rt); err != nil {
			t.Fatalf("%s: SaveTokens: %v", tc.name, err)
		}
		// Twice: the second rotation's old record has a grant creation
		// time apart from its issue time.
		cur := rt.Key
		for round, now := range []time.Time{n, n.Add(90 * time.Second)} {
			old, err := s.GetRefreshToken(ctx, cur)
			if err != nil {
				t.Fatalf("%s: GetRefreshToken: %v", tc.name, err)
			}
			req := store.RotateRefresh{
				ClientID: old.ClientID, Generation: old.Generation, Now: now,
				Access: store.Key{Family: fam, Signature: signature(tc.name + "a" + strconv.Itoa(round))}, AccessExpiresAt: now.Add(10 * time.Hour),
				Refresh: store.Key{Family: fam, Signature: signature(tc.name + "r" + strconv.Itoa(round))},
			}
			if tc.rtTTL != 0 {
				req.RefreshExpiresAt = now.Add(tc.rtTTL)
			}
			if _, err := s.RotateRefresh(ctx, cur, req); err != nil {
				t.Fatalf("%s: RotateRefresh: %v", tc.name, err)
			}
			created := ms(old.GrantCreatedAt)
			newRT := *old
			newRT.Key, newRT.IssuedAt, newRT.ExpiresAt = req.Refresh, now, req.RefreshExpiresAt
			newAT := store.AccessToken{
				Key: req.Access, ClientID: old.ClientID, UserID: old.UserID, Username: old.Username, Scopes: old.Scopes, Audience: old.Resources,
				Generation: old.Generation, IssuedAt: now, ExpiresAt: req.AccessExpiresAt,
			}
			wantRT, err1 := encodeRefresh(&newRT, created)
			wantAT, err2 := encodeAccess(&newAT, created)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			gotRT, _ := client.Get(ctx, s.familyKey(fam, kindRefresh)).Bytes()
			gotAT, _ := client.Get(ctx, s.familyKey(fam, kindAccess)).Bytes()
			if n := client.Exists(ctx, s.familyKey(fam, kindRetired)).Val(); n != 0 {
				t.Errorf("%s, rotation %d: the rotation filed a retired record", tc.name, round+1)
			}
			for _, c := range []struct {
				what      string
				got, want []byte
			}{{"refresh", gotRT, wantRT}, {"access", gotAT, wantAT}} {
				if !bytes.Equal(c.got, c.want) {
					t.Errorf("%s, rotation %d: %s record:\n got  %x\n want %x", tc.name, round+1, c.what, c.got, c.want)
				}
			}
			cur = req.Refresh
		}
	}
}

// TestRotateRefreshIndex: a rotation writes the user index entry only when
// the new tokens outlive the day it records, or when the old record
// predates the rounding (version 1).
func TestRotateRefreshIndex(t *testing.T) {
	if redistest.UsingCluster() {
		t.Skip("counts commands on one client; on a cluster the index is another node's")
	}
	t.Parallel()
	s, client, prefix := newStore(t)
	ctx := testCtx(t)
	cnt := &counter{}
	client.AddHook(cnt)
	day := time.UnixMilli(indexExpiry(time.Now().Add(48 * time.Hour).UnixMilli())) // a midnight, 1-2 days ahead
	newReq := func(fam, name string, exp time.Time) store.RotateRefresh {
		return store.RotateRefresh{
			ClientID: "client", Now: time.Now(),
			Access: store.Key{Family: fam, Signature: signature(name + "a2")}, AccessExpiresAt: time.Now().Add(time.Hour),
			Refresh: store.Key{Family: fam, Signature: signature(name + "r2")}, RefreshExpiresAt: exp,
		}
	}
	// A first rotation loads the scripts.
	at0, rt0 := issue("warm", "wa", "wr", time.Hour, time.Hour)
	if err := s.SaveTokens(ctx, at0, rt0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, rt0.Key, newReq("warm", "w", day.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		oldExp, newExp time.Time
		v1             bool
		wantIndex      bool
	}{
		{"same day", day.Add(-3 * time.Hour), day.Add(-2 * time.Hour), false, false},
		{"next day", day.Add(-3 * time.Hour), day.Add(2 * time.Hour), false, true},
		{"version 1 record", day.Add(-3 * time.Hour), day.Add(-2 * time.Hour), true, true},
	} {
		fam := "g" + strconv.Itoa(len(tc.name))
		at, rt := issue(fam, tc.name+"a", tc.name+"r", time.Hour, time.Hour)
		rt.ExpiresAt = tc.oldExp
		if err := s.SaveTokens(ctx, at, rt); err != nil {
			t.Fatal(err)
		}
		if tc.v1 {
			key := s.familyKey(fam, kindRefresh)
			v, _ := client.Get(ctx, key).Bytes()
			v[0] = 1
			if err := client.Set(ctx, key, v, time.Until(tc.oldExp)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		cnt.reset()
		if _, err := s.RotateRefresh(ctx, rt.Key, newReq(fam, tc.name, tc.newExp)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		cmds, pipes := cnt.get()
		wrote := slices.Contains(cmds, "evalsha") || slices.Contains(cmds, "eval")
		if wrote != tc.wantIndex || len(pipes) != 1 {
			t.Errorf("%s: commands %q, pipelines %q; want an index write: %v", tc.name, cmds, pipes, tc.wantIndex)
		}
		got, _ := client.HGet(ctx, prefix+"u:u1", fam).Int64()
		if want := indexExpiry(tc.newExp.UnixMilli()); got < want {
			t.Errorf("%s: index entry %d after the rotation, want at least %d (the new expiry's day)", tc.name, got, want)
		}
	}
}

// BenchmarkRotateRefreshRedisTime reports the Redis time of one
// RotateRefresh (redis-µs/op: the EVALSHA time in INFO commandstats over
// b.N, the scripts with every command they call: the rotation's, and the
// user index's when a rotation moves the index entry's day, which these
// rotations, all with one expiry, never do after the first), on a real
// single node (REDIS_URL); the client's round trips do not count. Each
// rotation names the old refresh token's signature as the new one's, so
// one grant rotates b.N times. docs/benchmarks.md quotes it.
func BenchmarkRotateRefreshRedisTime(b *testing.B) {
	if !redistest.UsingRealServer() || redistest.UsingCluster() {
		b.Skip("needs one real Redis node (REDIS_URL): it reads INFO commandstats")
	}
	s, client, _ := newStore(b)
	ctx := context.Background()
	at, rt := issue("bench-rotate", "a", "r", time.Hour, 30*24*time.Hour)
	at.UserID, rt.UserID, at.Username, rt.Username = "u1", "u1", "alice", "alice"
	at.Scopes, rt.Scopes = []string{"read", "write"}, []string{"read", "write"}
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		b.Fatal(err)
	}
	req := store.RotateRefresh{
		ClientID: rt.ClientID, Now: time.Now(), Access: at.Key, AccessExpiresAt: time.Now().Add(time.Hour),
		Refresh: rt.Key, RefreshExpiresAt: time.Now().Add(30 * 24 * time.Hour),
	}
	if _, err := s.RotateRefresh(ctx, rt.Key, req); err != nil { // loads the script
		b.Fatal(err)
	}
	if err := client.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.RotateRefresh(ctx, rt.Key, req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(evalshaMicros(b, client)/float64(b.N), "redis-µs/op")
}

// evalshaMicros returns the microseconds Redis spent in EVALSHA since the
// last CONFIG RESETSTAT, from INFO commandstats.
func evalshaMicros(b *testing.B, client redis.UniversalClient) float64 {
	b.Helper()
	stats := client.Info(context.Background(), "commandstats").Val()
	_, line, ok := strings.Cut(stats, "cmdstat_evalsha:")
	_, v, ok2 := strings.Cut(line, "usec=")
	v, _, _ = strings.Cut(v, ",")
	us, err := strconv.ParseFloat(v, 64)
	if !ok || !ok2 || err != nil {
		b.Fatalf("no EVALSHA in INFO commandstats: %q", stats)
	}
	return us
}

// BenchmarkIndexWriteRedisTime measures the Redis time of SaveTokens for a
// user who already holds n live grants, with the index pruned on every
// write past 64 entries (the draw fixed at 0, as before) and with
// probability 64/n (random draws, as now). Needs one real node.
func BenchmarkIndexWriteRedisTime(b *testing.B) {
	if !redistest.UsingRealServer() || redistest.UsingCluster() {
		b.Skip("needs one real Redis node (REDIS_URL): it reads INFO commandstats")
	}
	for _, n := range []int{10, 1000, 10000} {
		for _, mode := range []string{"every-write", "random"} {
			b.Run(fmt.Sprintf("grants=%d/%s", n, mode), func(b *testing.B) {
				s, client, _ := newStore(b)
				if mode == "every-write" {
					s.pruneDraw = func() int { return 0 }
				}
				ctx := context.Background()
				user := "bench-index-" + strconv.Itoa(n)
				future := strconv.FormatInt(time.Now().Add(48*time.Hour).UnixMilli(), 10)
				p := client.Pipeline()
				for i := range n {
					p.HSet(ctx, s.userIndexKey(user), "live"+strconv.Itoa(i), future)
				}
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
				save := func(i int) {
					// One family, new tokens: the index keeps n+1 entries.
					at, rt := issue("bench-index", "a"+strconv.Itoa(i), "r"+strconv.Itoa(i), time.Hour, 2*time.Hour)
					at.UserID, rt.UserID = user, user
					if err := s.SaveTokens(ctx, at, rt); err != nil {
						b.Fatal(err)
					}
				}
				save(-1) // loads the scripts
				if err := client.ConfigResetStat(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				i := 0
				for b.Loop() {
					save(i)
					i++
				}
				b.StopTimer()
				b.ReportMetric(evalshaMicros(b, client)/float64(b.N), "redis-µs/op")
			})
		}
	}
}

// TestRotateRefreshSentTwice: the same rotation run a second time, as
// go-redis does when it sends a pipeline again after a read timeout, is
// the first one's outcome (its user and scopes, the records unchanged,
// the user index entry written again), not a reuse of the old refresh
// token; the old token presented in any
// other rotation (new tokens of its own) still is a reuse.
func TestRotateRefreshSentTwice(t *testing.T) {
	t.Parallel()
	s, client, _ := newStore(t)
	ctx := testCtx(t)
	at, rt := issue("twice", "twice-a", "twice-r", time.Hour, time.Hour)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rotation := func(n string) store.RotateRefresh {
		return store.RotateRefresh{
			ClientID: rt.ClientID, Generation: rt.Generation, Now: now,
			Access: store.Key{Family: "twice", Signature: signature("twice-a" + n)}, AccessExpiresAt: now.Add(time.Hour),
			Refresh: store.Key{Family: "twice", Signature: signature("twice-r" + n)}, RefreshExpiresAt: now.Add(2 * time.Hour),
		}
	}
	req := rotation("1")
	first, err := s.RotateRefresh(ctx, rt.Key, req)
	if err != nil {
		t.Fatalf("first rotation: %v", err)
	}
	records := func() [2][]byte {
		a, _ := client.Get(ctx, s.familyKey("twice", kindAccess)).Bytes()
		r, _ := client.Get(ctx, s.familyKey("twice", kindRefresh)).Bytes()
		return [2][]byte{a, r}
	}
	before := records()
	// As if the first send's index write had been lost with its reply.
	client.Del(ctx, s.userIndexKey(rt.UserID))
	again, err := s.RotateRefresh(ctx, rt.Key, req)
	if err != nil {
		t.Fatalf("the same rotation sent again: %v, want its outcome", err)
	}
	if again.UserID != first.UserID || again.ClientID != first.ClientID || !slices.Equal(again.Scopes, first.Scopes) {
		t.Errorf("the same rotation sent again: user %q, client %q, scopes %q; want %q, %q, %q",
			again.UserID, again.ClientID, again.Scopes, first.UserID, first.ClientID, first.Scopes)
	}
	if after := records(); !bytes.Equal(after[0], before[0]) || !bytes.Equal(after[1], before[1]) {
		t.Error("the same rotation sent again changed the family's records")
	}
	if !client.HExists(ctx, s.userIndexKey(rt.UserID), "twice").Val() {
		t.Error("the same rotation sent again: the user index has no entry for the family, want it written again")
	}
	if _, err := s.RotateRefresh(ctx, rt.Key, rotation("2")); !errors.Is(err, store.ErrRotated) {
		t.Errorf("the old refresh token in another rotation: %v, want store.ErrRotated (a reuse)", err)
	}
}

// TestRotateRefreshTokenSentTwice: RotateRefreshToken (the rotation with a
// scope parameter, a lowered ceiling or a grace period) run a second time
// with the same records, as go-redis does after a read timeout, succeeds
// again when it issues a new refresh token; the old token in another
// rotation still finds nothing (store.ErrNotFound). (A rotation that
// issues none finds nothing the second time, as storetest's
// Rotation/WithoutNewRefresh wants.)
func TestRotateRefreshTokenSentTwice(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testCtx(t)
	at, rt := issue("twice2", "twice2a", "twice2r", time.Hour, time.Hour)
	if err := s.SaveTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	at2, rt2 := issue("twice2", "twice2a2", "twice2r2", time.Hour, time.Hour)
	for try := range 2 {
		if err := s.RotateRefreshToken(ctx, rt, nil, at2, rt2); err != nil {
			t.Fatalf("rotation, try %d: %v, want nil", try+1, err)
		}
	}
	at3, rt3 := issue("twice2", "twice2a3", "twice2r3", time.Hour, time.Hour)
	if err := s.RotateRefreshToken(ctx, rt, nil, at3, rt3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old token in another rotation: %v, want store.ErrNotFound", err)
	}
	if _, err := s.GetRefreshToken(ctx, rt2.Key); err != nil {
		t.Errorf("the rotation's refresh token: %v, want it stored", err)
	}
}

// TestConsumeCodeSentTwice: the consume script run a second time with the
// same arguments, as go-redis does when the first reply was lost, answers
// as the first run did; another consumption of the code is still a replay
// (store.ErrConsumed), and the consumption time is the first one's.
func TestConsumeCodeSentTwice(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testCtx(t)
	k := store.Key{Family: "twice3", Signature: signature("twice3c")}
	first := time.Now().UTC().Truncate(time.Millisecond)
	code := &store.AuthorizationCode{Key: k, ClientID: "c", ExpiresAt: first.Add(time.Minute)}
	if err := s.SaveAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := s.consumeCode(ctx, k, first, "n1"); err != nil {
		t.Fatalf("first consumption: %v", err)
	}
	if err := s.consumeCode(ctx, k, first, "n1"); err != nil {
		t.Errorf("the same consumption sent again: %v, want nil", err)
	}
	if err := s.consumeCode(ctx, k, first.Add(time.Second), "n2"); !errors.Is(err, store.ErrConsumed) {
		t.Errorf("another consumption: %v, want store.ErrConsumed", err)
	}
	if err := s.ConsumeAuthorizationCode(ctx, k, time.Time{}); !errors.Is(err, store.ErrConsumed) {
		t.Errorf("ConsumeAuthorizationCode after it: %v, want store.ErrConsumed", err)
	}
	got, err := s.GetAuthorizationCode(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ConsumedAt.Equal(first) {
		t.Errorf("ConsumedAt %v, want the first consumption's %v", got.ConsumedAt, first)
	}
}
