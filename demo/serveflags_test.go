package main

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestValidationCacheDefault: demo serve keeps the validation cache on by
// default on Redis (issue 9), --validation-cache=false turns it off, and
// the embedded store never gets one (it has no invalidation channel and
// needs none).
func TestValidationCacheDefault(t *testing.T) {
	t.Parallel()
	onRedis := &backend{redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})}
	t.Cleanup(func() { _ = onRedis.redis.Close() })
	embedded := &backend{embedded: true}
	for _, tc := range []struct {
		args []string
		b    *backend
		want bool
	}{
		{nil, onRedis, true},
		{[]string{"--validation-cache=false"}, onRedis, false},
		{[]string{"--validation-cache=true"}, onRedis, true},
		{nil, embedded, false},
	} {
		e := &runEnv{getenv: noEnv, prefix: defaultPrefix}
		cfg, err := e.parseServeArgs(tc.args)
		if err != nil || cfg == nil {
			t.Fatalf("serve %q: %v", tc.args, err)
		}
		if got := cfg.appOptions(tc.b, nil, &observability{}).ValidationCache; got != tc.want {
			t.Errorf("serve %q (embedded %v): ValidationCache = %v, want %v", tc.args, tc.b.embedded, got, tc.want)
		}
	}
}
