package ginoauth_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ginoauth/toolkit/internal/redistest"
)

// tripCounter is a go-redis hook that records each round trip: a command
// alone, or a pipeline, by the names of the commands it carried.
type tripCounter struct {
	mu    sync.Mutex
	trips []string
}

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, cmd := range cmds {
			names[i] = cmd.Name()
		}
		c.add("[" + strings.Join(names, " ") + "]")
		return next(ctx, cmds)
	}
}

func (c *tripCounter) add(s string) {
	c.mu.Lock()
	c.trips = append(c.trips, s)
	c.mu.Unlock()
}

// take returns the round trips recorded since the last take.
func (c *tripCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.trips
	c.trips = nil
	return t
}

// TestIssuanceRoundTrips counts, on Redis, the round trips of a token
// request through the HTTP token endpoint once its application is cached
// (as it is on a busy server): one for client_credentials (the new
// grant's write), one for a refresh (the rotation script), as the issue
// asks; five for the password grant, which also counts the attempt,
// reads the user (its name, then its record) and takes the attempt back
// before the write.
func TestIssuanceRoundTrips(t *testing.T) {
	if redistest.UsingCluster() {
		t.Skip("counts round trips on one node; on a cluster a script is loaded per master, so a first EVALSHA may miss")
	}
	t.Parallel()
	ce, client, _ := newRedisCodeEnv(t, nil)
	e := ce.env
	cnt := &tripCounter{}
	client.AddHook(cnt)
	conf := []string{e.confID, e.secret}
	for _, tc := range []struct {
		name string
		want int // round trips
		do   func() resp
	}{
		{"client_credentials", 1, func() resp {
			return e.token(url.Values{"grant_type": {"client_credentials"}}, conf)
		}},
		{"refresh_token", 1, func() resp {
			rt := e.passwordToken("read").str("refresh_token")
			cnt.take()
			return e.refresh(rt)
		}},
		{"password", 5, func() resp { return e.passwordToken("read") }},
	} {
		tc.do() // warm-up: the application cached, the scripts loaded
		cnt.take()
		if r := tc.do(); r.status != 200 {
			t.Fatalf("%s: status %d, want 200 (%v)", tc.name, r.status, r.body)
		}
		trips := cnt.take()
		if len(trips) != tc.want {
			t.Errorf("%s: %d round trips %q, want %d", tc.name, len(trips), trips, tc.want)
		}
		t.Logf("%s: %d round trips %q", tc.name, len(trips), trips)
	}
}
