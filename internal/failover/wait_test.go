package failover_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
	"github.com/ginoauth/toolkit/ginoauth/store/redisstore"
	"github.com/ginoauth/toolkit/internal/redistest"
)

// TestWaitReplicasWithoutReplicas: on a Redis without replicas (REDIS_URL,
// else miniredis), WithWaitReplicas(1, 50ms) makes the token endpoint
// answer 503, and without the option it answers 200. It runs without
// GINOAUTH_FAILOVER.
func TestWaitReplicasWithoutReplicas(t *testing.T) {
	t.Parallel()
	if redistest.UsingCluster() {
		t.Skip("the cluster's masters have replicas; TestFailover covers WAIT on Cluster")
	}
	tests := []struct {
		name string
		opts []redisstore.Option
		want int
	}{
		{"no WAIT", nil, http.StatusOK},
		{"WAIT 1", []redisstore.Option{redisstore.WithWaitReplicas(1, 50*time.Millisecond)}, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, prefix := redistest.Client(t)
			st, err := redisstore.New(client, append([]redisstore.Option{redisstore.WithPrefix(prefix)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ginoauth.New(ginoauth.Config{Store: st, SecretKey: []byte(randomHex(t) + randomHex(t)), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			a, secret, err := p.CreateApplication(t.Context(), ginoauth.NewApplication{
				Name: "wait", ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
			})
			if err != nil {
				t.Fatal(err)
			}
			gin.SetMode(gin.TestMode)
			r := gin.New()
			p.Mount(r)
			srv := httptest.NewServer(r)
			defer srv.Close()
			f := &fixture{srv: srv, httpc: srv.Client()}
			if got, _ := f.issue(t.Context(), app{id: a.ClientID, secret: secret}); got != tt.want {
				t.Errorf("token request: status %d, want %d", got, tt.want)
			}
		})
	}
}
