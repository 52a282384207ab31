package redisstore

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/storetest"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestWaitReplicas: with WithWaitReplicas(1, 50ms), every write that issues
// tokens or a code fails with ErrUnavailable and ErrTooFewReplicas on a
// server without replicas (a single node, miniredis), and succeeds on a
// Redis Cluster whose masters each have a replica.
func TestWaitReplicas(t *testing.T) {
	t.Parallel()
	client, prefix := redistest.Client(t)
	s, err := New(client, WithPrefix(prefix), WithWaitReplicas(1, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	replicated := redistest.UsingCluster()
	at, rt := issue("w1", "a1", "r1", time.Hour, 0)
	rt.UserID, at.UserID = "u", "u"
	at2, rt2 := issue("w1", "a2", "r2", time.Hour, 0)
	at2.UserID, rt2.UserID = "u", "u"
	code := &store.AuthorizationCode{Key: store.Key{Family: "w2", Signature: signature("c1")}, ClientID: "app", ExpiresAt: time.Now().Add(time.Minute)}
	steps := []struct {
		name string
		run  func() error
	}{
		{"SaveTokens", func() error { return s.SaveTokens(ctx, at, rt) }},
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, rt, nil, at2, rt2) }},
		{"SaveAuthorizationCode", func() error { return s.SaveAuthorizationCode(ctx, code) }},
	}
	for _, st := range steps {
		err := st.run()
		if replicated {
			if err != nil {
				t.Errorf("%s on a cluster with replicas: %v", st.name, err)
			}
			continue
		}
		if got, want := errors.Is(err, store.ErrUnavailable) && errors.Is(err, ErrTooFewReplicas), true; got != want {
			t.Errorf("%s without replicas: err = %v; want ErrUnavailable and ErrTooFewReplicas", st.name, err)
		}
	}
	if !replicated {
		return
	}
	// The writes happened: the tokens read back, the user index lists them.
	if _, err := s.GetAccessToken(ctx, at2.Key); err != nil {
		t.Errorf("GetAccessToken after the durable rotation: %v", err)
	}
	grants, err := s.ListGrants(ctx, store.GrantFilter{UserID: "u"})
	if err != nil || len(grants) != 1 {
		t.Errorf("ListGrants = %d grants, %v; want 1", len(grants), err)
	}
}

// TestWaitReplicasOff: n < 1 turns WAIT off, and a timeout under a
// millisecond counts as one.
func TestWaitReplicasOff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n        int
		timeout  time.Duration
		wantN    int
		wantWait time.Duration
	}{
		{0, time.Second, 0, time.Second},
		{-3, time.Second, 0, time.Second},
		{2, 0, 2, time.Millisecond},
		{1, 250 * time.Millisecond, 1, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		s := &Store{}
		WithWaitReplicas(tt.n, tt.timeout)(s)
		if s.waitReplicas != tt.wantN || s.waitTimeout != tt.wantWait {
			t.Errorf("WithWaitReplicas(%d, %v): got %d, %v; want %d, %v", tt.n, tt.timeout, s.waitReplicas, s.waitTimeout, tt.wantN, tt.wantWait)
		}
	}
}

// TestContractWaitReplicas runs the store contract with WithWaitReplicas(1)
// on a Redis Cluster, whose masters each have a replica.
func TestContractWaitReplicas(t *testing.T) {
	t.Parallel()
	if !redistest.UsingCluster() {
		t.Skip("needs replicas: runs with REDIS_CLUSTER_URL")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		client, prefix := redistest.Client(t)
		s, err := New(client, WithPrefix(prefix), WithWaitReplicas(1, 500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// BenchmarkSaveTokensWait measures what WithWaitReplicas(1) adds to an
// issuance; it needs replicas (REDIS_CLUSTER_URL).
func BenchmarkSaveTokensWait(b *testing.B) {
	if !redistest.UsingCluster() {
		b.Skip("needs replicas: runs with REDIS_CLUSTER_URL")
	}
	for _, n := range []int{0, 1} {
		b.Run("replicas="+strconv.Itoa(n), func(b *testing.B) {
			client, prefix := redistest.Client(b)
			s, err := New(client, WithPrefix(prefix), WithWaitReplicas(n, 500*time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			i := 0
			for b.Loop() {
				i++
				at, _ := issue("b"+strconv.Itoa(i), "a"+strconv.Itoa(i), "r", time.Minute, 0)
				if err := s.SaveTokens(ctx, at, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
