package failover_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// cluster is a Redis Cluster of 3 masters and 3 replicas started by
// .ci/redis-cluster in dir on ports first..first+5.
type cluster struct {
	script, dir, url string
}

// startCluster starts a cluster for the test and stops it when the test
// ends. Unless full is set, every node is told
// cluster-require-full-coverage no, so the masters that are up keep
// serving their slots while a dead master's are uncovered.
func startCluster(t *testing.T, first int, full bool) *cluster {
	t.Helper()
	script, err := filepath.Abs("../../.ci/redis-cluster")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{script: script, dir: filepath.Join(t.TempDir(), "cluster")}
	out, err := exec.Command(script, "start", c.dir, strconv.Itoa(first)).Output()
	t.Cleanup(func() {
		if err := exec.Command(script, "stop", c.dir).Run(); err != nil {
			t.Logf("stopping the cluster: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("starting a cluster on port %d: %v %s", first, err, exitStderr(err))
	}
	c.url = strings.TrimSpace(string(out))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for p := first; p < first+6; p++ {
		if err := waitSynced(ctx, addr(p)); err != nil {
			t.Fatalf("node %d: %v", p, err)
		}
	}
	if !full {
		for p := first; p < first+6; p++ {
			rdb := redis.NewClient(&redis.Options{Addr: addr(p)})
			err := rdb.ConfigSet(context.Background(), "cluster-require-full-coverage", "no").Err()
			_ = rdb.Close()
			if err != nil {
				t.Fatalf("node %d: CONFIG SET: %v", p, err)
			}
		}
	}
	return c
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func port(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

// kill sends SIGKILL to the node at addr (its pid file).
func (c *cluster) kill(t *testing.T, addr string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, strconv.Itoa(port(addr)), "redis.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d (%s): %v", pid, addr, err)
	}
}

// restart starts the killed node at addr again, as .ci/redis-cluster did,
// with its nodes.conf: it rejoins as a replica of the master that replaced
// it.
func (c *cluster) restart(t *testing.T, addr string) {
	t.Helper()
	p := strconv.Itoa(port(addr))
	dir := filepath.Join(c.dir, p)
	out, err := exec.Command("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", p,
		"--dir", dir, "--pidfile", filepath.Join(dir, "redis.pid"), "--logfile", filepath.Join(dir, "redis.log"),
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+p+".conf",
		"--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no",
		"--save", "", "--appendonly", "no").CombinedOutput()
	if err != nil {
		t.Fatalf("restarting %s: %v %s", addr, err, out)
	}
}

// replicaOf returns the address of a replica of the master at addr.
func replicaOf(ctx context.Context, addr string) (string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "slave0:") {
			continue
		}
		for _, f := range strings.Split(strings.TrimSpace(strings.TrimPrefix(line, "slave0:")), ",") {
			if v, ok := strings.CutPrefix(f, "port="); ok {
				return "127.0.0.1:" + v, nil
			}
		}
	}
	return "", fmt.Errorf("%s has no replica", addr)
}

// waitSynced waits until the node at addr is a master or a replica whose
// link to its master is up (its first sync done): cluster_state:ok comes
// before that, and a replica that never synced refuses to fail over
// ("Disconnected from master for longer than allowed").
func waitSynced(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for {
		info, err := rdb.Info(ctx, "replication").Result()
		if err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up")) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica not in sync: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitMaster waits until the node at addr reports role:master.
func waitMaster(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for {
		if info, err := rdb.Info(ctx, "replication").Result(); err == nil && strings.Contains(info, "role:master") {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
