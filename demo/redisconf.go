package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTarget is the Redis the demo keeps its data in. The zero value is
// none: the embedded stores.
type redisTarget struct {
	// url is a redis:// or rediss:// URL: of one server, or, when cluster
	// is set, of a Redis Cluster in go-redis's ParseClusterURL form
	// (redis://host:port?addr=host2:port2&...).
	url     string
	cluster bool
	// source is where url came from, for messages: the flag or the
	// environment variable ("": the flag).
	source string
}

// name is the flag or environment variable the target came from.
func (t redisTarget) name() string {
	switch {
	case t.source != "":
		return t.source
	case t.cluster:
		return "--redis-cluster"
	}
	return "--redis"
}

// redisFlags are the --redis and --redis-cluster flags every command but
// routes and help takes.
type redisFlags struct {
	url, clusterURL    string
	urlSet, clusterSet bool
}

// define adds the flags to fs.
func (f *redisFlags) define(fs *flag.FlagSet) {
	fs.Func("redis", "Redis URL, as redis://host:6379/0 (default: $"+envRedisURL+", unless $"+envRedisClusterURL+" is set; none: in memory)", func(v string) error {
		f.url, f.urlSet = v, true
		return nil
	})
	fs.Func("redis-cluster", "Redis Cluster URL, as redis://host:7000?addr=host2:7001&addr=host3:7002 "+
		"(any nodes; the rest are discovered; default: $"+envRedisClusterURL+", which wins over $"+envRedisURL+"; docs/cluster.md); not with --redis", func(v string) error {
		f.clusterURL, f.clusterSet = v, true
		return nil
	})
}

// target is the Redis the flags name, or else the environment's:
// REDIS_CLUSTER_URL wins over REDIS_URL, as in the tests (redistest). A
// flag wins over both; the two flags together are a usage error.
func (f *redisFlags) target(getenv func(string) string) (redisTarget, error) {
	switch {
	case f.urlSet && f.clusterSet:
		return redisTarget{}, &usageError{"--redis and --redis-cluster do not go together: give one (--redis for a single server, --redis-cluster for a Redis Cluster)"}
	case f.clusterSet:
		return redisTarget{url: f.clusterURL, cluster: f.clusterURL != ""}, nil
	case f.urlSet:
		return redisTarget{url: f.url}, nil
	}
	if v := getenv(envRedisClusterURL); v != "" {
		return redisTarget{url: v, cluster: true, source: envRedisClusterURL}, nil
	}
	return redisTarget{url: getenv(envRedisURL), source: envRedisURL}, nil
}

// Defaults of the demo's Redis clients where the URL sets none (see
// clusterOptions; singleOptions uses the timeouts, the dialer retries and
// the name for a single server too). Redis answers the demo's commands in
// well under a millisecond; these bound what a dead or hung node costs a
// request.
const (
	// clusterDialTimeout bounds one connection attempt (go-redis: 5s). A
	// master whose host is gone answers no SYN; within a data centre a
	// connection takes milliseconds, so a second is plenty.
	clusterDialTimeout = time.Second
	// clusterDialerRetries is the connection attempts per dial (go-redis:
	// 5, each up to the dial timeout). The Cluster client already retries
	// a failed command (clusterMaxRedirects), so more attempts here only
	// multiply the stall.
	clusterDialerRetries = 1
	// clusterReadTimeout bounds the wait for a reply (go-redis: 5s), and
	// so what a hung master (stopped, or cut off without a reset) costs
	// each try. Blocking commands such as WAIT get their own timeout
	// from go-redis, whatever this is.
	clusterReadTimeout = time.Second
	// clusterWriteTimeout bounds writing a command (go-redis: the read
	// timeout); a write blocks only when the node stopped reading.
	clusterWriteTimeout = time.Second
	// clusterPoolTimeout bounds the wait for a free connection when the
	// node's pool is busy (go-redis: the read timeout + 1s): when every
	// connection waits on a hung master, a new request fails after a
	// second instead of queueing behind them.
	clusterPoolTimeout = time.Second
	// clusterMaxRedirects is how often a command is sent again after a
	// MOVED or ASK redirection or a network error (go-redis's default,
	// made explicit): enough for a slot in migration (ASK, then MOVED)
	// and one retry on a new connection. With the timeouts above a
	// command to a dead master fails within about 4 seconds, and the
	// store then reloads the slot map (redisstore, at most every 500 ms)
	// to find the replica promoted in its place.
	clusterMaxRedirects = 3
	// clusterClientName names the demo's connections in CLIENT LIST.
	clusterClientName = "ginoauth-demo"
)

// clusterOptions parses a Cluster URL (redis.ParseClusterURL) and fills
// in the demo's defaults for what its query does not set: a value in the
// URL, such as ?read_timeout=3s, wins. Reads from replicas (read_only,
// route_by_latency, route_randomly) are refused: a replica may not have a
// token issued a moment ago yet, and so is a database number but 0. Errors
// never quote the URL, which may hold a password.
func clusterOptions(clusterURL string) (*redis.ClusterOptions, error) {
	opt, err := redis.ParseClusterURL(clusterURL)
	if err != nil {
		return nil, redactURLError(err)
	}
	u, err := url.Parse(clusterURL) // parsed above: no error
	if err != nil {
		return nil, redactURLError(err)
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		// ParseClusterURL ignores the path: say so rather than use db 0.
		return nil, fmt.Errorf("a Redis Cluster has database 0 only: drop /%s from the URL", db)
	}
	q := u.Query()
	if opt.ReadOnly || opt.RouteByLatency || opt.RouteRandomly {
		return nil, errors.New("read_only, route_by_latency and route_randomly are refused: the demo reads from masters only, " +
			"as a replica may not yet have what was just written (a token issued a moment ago)")
	}
	setDefaults(q, []urlDefault{
		{"dial_timeout", func() { opt.DialTimeout = clusterDialTimeout }},
		{"dialer_retries", func() { opt.DialerRetries = clusterDialerRetries }},
		{"read_timeout", func() { opt.ReadTimeout = clusterReadTimeout }},
		{"write_timeout", func() { opt.WriteTimeout = clusterWriteTimeout }},
		{"pool_timeout", func() { opt.PoolTimeout = clusterPoolTimeout }},
		{"max_redirects", func() { opt.MaxRedirects = clusterMaxRedirects }},
		{"client_name", func() { opt.ClientName = clusterClientName }},
	})
	return opt, nil
}

// singleMaxRetries is how often a command to a single server is sent
// again after a network error or a timeout (go-redis: 3). One retry, on a
// new connection, covers an idle connection the server closed; more
// would multiply what a hung server costs each request.
const singleMaxRetries = 1

// singleOptions parses a single server's URL (redis.ParseURL) and, as
// clusterOptions does, fills in the demo's defaults where the query sets
// none (the Cluster's timeouts, one retry, the client name), so that a
// hung or unreachable server costs a request a few seconds, answered 503,
// rather than go-redis's 5 s dials (5 attempts), 5 s reads and 3 retries. A
// connection attempt is made once (ParseURL has no dialer_retries to
// change it). The error is ParseURL's, which may quote the URL.
func singleOptions(rawURL string) (*redis.Options, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL) // parsed above: no error
	if err != nil {
		return nil, err
	}
	opt.DialerRetries = clusterDialerRetries
	setDefaults(u.Query(), []urlDefault{
		{"dial_timeout", func() { opt.DialTimeout = clusterDialTimeout }},
		{"read_timeout", func() { opt.ReadTimeout = clusterReadTimeout }},
		{"write_timeout", func() { opt.WriteTimeout = clusterWriteTimeout }},
		{"pool_timeout", func() { opt.PoolTimeout = clusterPoolTimeout }},
		{"max_retries", func() { opt.MaxRetries = singleMaxRetries }},
		{"client_name", func() { opt.ClientName = clusterClientName }},
	})
	return opt, nil
}

// urlDefault is a client option the demo sets unless the URL's query
// names param.
type urlDefault struct {
	param string
	set   func()
}

// setDefaults applies each default whose param q does not have.
func setDefaults(q url.Values, defaults []urlDefault) {
	for _, d := range defaults {
		if !q.Has(d.param) {
			d.set()
		}
	}
}

// newClusterClient is redis.NewClusterClient, whose node clients ask it
// to reload the slot map when a node does not answer (reloadHook).
func newClusterClient(opt *redis.ClusterOptions) *redis.ClusterClient {
	cc := redis.NewClusterClient(opt)
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(reloadHook{cc}) })
	return cc
}

// reloadHook makes the Cluster client reload its slot map in the
// background (ReloadState: one at a time, at most every 200 ms) when a
// command to a node fails without an answer: a dead or hung master. Else
// the client keeps sending to it for as long as it is down, after a
// replica took its place, until a MOVED (from the old master, once back)
// or the periodic reload (a minute); the store reloads after failed reads
// only, and writes (issuing tokens, the rate limits) would fail meanwhile.
type reloadHook struct{ cc *redis.ClusterClient }

// DialHook implements redis.Hook.
func (h reloadHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(ctx, err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(ctx, err)
		return err
	}
}

// check reloads the slot map after err, unless err is a reply of the
// node (redis.Nil, MOVED, a script error) or the caller gave up.
func (h reloadHook) check(ctx context.Context, err error) {
	var reply redis.Error
	if err == nil || errors.As(err, &reply) || ctx.Err() != nil {
		return
	}
	h.cc.ReloadState(context.WithoutCancel(ctx))
}

// dialRedis makes a client for t, or uses the test's dialer. where names
// the server or the cluster's seed nodes, without a password.
func (e *runEnv) dialRedis(t redisTarget) (client redis.UniversalClient, where string, closeFn func(), err error) {
	var newClient func() redis.UniversalClient
	if t.cluster {
		opt, err := clusterOptions(t.url)
		if err != nil {
			return nil, "", nil, &usageError{t.name() + ": " + err.Error()}
		}
		where = "Redis Cluster at " + strings.Join(opt.Addrs, ",")
		newClient = func() redis.UniversalClient { return newClusterClient(opt) }
	} else {
		opt, err := singleOptions(t.url)
		if err != nil {
			msg := t.name() + ": " + redactURLError(err).Error()
			if strings.Contains(err.Error(), "unexpected option: addr") {
				msg += " (a Redis Cluster URL? use --redis-cluster or " + envRedisClusterURL + ")"
			}
			return nil, "", nil, &usageError{msg}
		}
		where = fmt.Sprintf("Redis at %s db %d", opt.Addr, opt.DB)
		newClient = func() redis.UniversalClient { return redis.NewClient(opt) }
	}
	if e.dial != nil {
		c, err := e.dial(t.url)
		if err != nil {
			return nil, "", nil, err
		}
		return c, where, func() {}, nil
	}
	c := newClient()
	return c, where, func() { _ = c.Close() }, nil
}

// checkRedis checks that Redis answers, within five seconds: every master
// of a Cluster. A single server that is a Cluster node is refused: it
// would answer MOVED for most keys.
func checkRedis(ctx context.Context, client redis.UniversalClient, t redisTarget, where string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if cc, ok := client.(*redis.ClusterClient); ok {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.Ping(ctx).Err()
		})
		if err != nil {
			return fmt.Errorf("cannot reach %s (every master must answer PING): %w", where, err)
		}
		return nil
	}
	if err := client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cannot reach %s: %w", where, err)
	}
	// INFO cluster: an error (a server without the section, a user not
	// allowed INFO) is no answer, and no reason to refuse.
	c, ok := client.(*redis.Client)
	if !ok {
		return nil
	}
	if info, err := c.Info(ctx, "cluster").Result(); err == nil && strings.Contains(info, "cluster_enabled:1") {
		return &usageError{fmt.Sprintf("%s: %s is a node of a Redis Cluster; use --redis-cluster (or %s) with the same URL",
			t.name(), c.Options().Addr, envRedisClusterURL)}
	}
	return nil
}

// sameRedisHint tells the management commands where serve's data is.
func sameRedisHint(cluster bool) string {
	if cluster {
		return "same --redis-cluster URL or " + envRedisClusterURL
	}
	return "same --redis URL or " + envRedisURL
}
