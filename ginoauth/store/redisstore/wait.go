package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrTooFewReplicas is wrapped, with store.ErrUnavailable, in the error of
// a write that fewer replicas acknowledged than WithWaitReplicas asks for.
var ErrTooFewReplicas = errors.New("redisstore: too few replicas acknowledged the write")

// WithWaitReplicas makes every write that issues or rotates tokens or saves
// an authorization code (SaveTokens, RotateRefreshToken,
// SaveAuthorizationCode) wait until n replicas of the master that took it
// acknowledge it, for at most timeout, with Redis's WAIT sent right after
// the write on the same connection (WAIT counts the writes of its own
// connection). If fewer acknowledge in time, the method fails with an
// error wrapping store.ErrUnavailable and ErrTooFewReplicas, and the
// provider answers 503: the client never receives the tokens. What was
// written is not undone: the master holds it and the replicas may still
// get it; no client holds a token of a failed SaveTokens (an orphan that
// expires by its TTL), and a client that retries a refresh token whose
// rotation failed this way is treated as after any rotation whose answer
// was lost: the new pair again within the provider's
// RefreshTokenGracePeriod, else invalid_grant (a reuse). Undoing would
// cost another write to a master whose replicas are already late. n < 1 turns it off (the
// default); a timeout under a millisecond counts as one (WAIT's 0 would
// block forever).
//
// The cost is one replication round trip per issuance (the write's answer
// waits for the slowest of the n replicas), and issuance fails whenever
// fewer than n replicas are connected. The gain: a master that dies right
// after answering no longer takes the tokens it just issued with it, as
// long as the replica that acknowledged is the one promoted (Redis Cluster
// promotes the most up-to-date replica). WAIT does not make Redis strongly
// consistent: a write acknowledged by WAIT can still be lost when the
// acknowledging replica is not the one promoted, or all the nodes holding
// it fail; and with n below the number of replicas, an unlucky promotion
// loses it.
//
// timeout must be shorter than the client's ReadTimeout, or the client gives
// up reading WAIT's answer first. On a Redis Cluster the write and WAIT go
// to the master of the write's slot (ClusterClient.MasterForKey); on
// another redis.UniversalClient, in one pipeline on the client (one
// connection), which a redis.Ring does not guarantee: do not use a Ring.
// The user's grant index of a password or code grant, a best-effort write,
// then goes out on its own, after the tokens, without WAIT.
func WithWaitReplicas(n int, timeout time.Duration) Option {
	return func(s *Store) {
		s.waitReplicas, s.waitTimeout = max(n, 0), max(timeout, time.Millisecond)
	}
}

// scriptCall is how a script is sent in a pipeline: EvalSha or Eval.
type scriptCall func(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd

// runDurable runs script on the connection of its keys' master followed
// by WAIT, and fails if fewer than s.waitReplicas replicas acknowledged.
func (s *Store) runDurable(ctx context.Context, script *redis.Script, keys []string, args []any) (*redis.Cmd, error) {
	var w redis.Cmdable = s.rdb
	cc, cluster := s.rdb.(*redis.ClusterClient)
	if cluster {
		node, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		w = node
	}
	cmd, wait := s.evalWait(ctx, w, script.EvalSha, keys, args)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd, wait = s.evalWait(ctx, w, script.Eval, keys, args)
	}
	err := cmd.Err()
	if err == nil {
		err = wait.Err()
	}
	if err != nil {
		if cluster && ctx.Err() == nil && !isScriptReply(err) {
			s.gets.reloadSlots(cc) // the node may have died or lost the slot (MOVED)
		}
		return cmd, err
	}
	got, err := wait.Int64()
	if err != nil {
		return cmd, err
	}
	if got < int64(s.waitReplicas) {
		return cmd, fmt.Errorf("%w: %d of %d within %v", ErrTooFewReplicas, got, s.waitReplicas, s.waitTimeout)
	}
	return cmd, nil
}

// evalWait sends the script and WAIT in one pipeline on w.
func (s *Store) evalWait(ctx context.Context, w redis.Cmdable, call scriptCall, keys []string, args []any) (cmd, wait *redis.Cmd) {
	_, _ = w.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmd = call(ctx, p, keys, args...)
		wait = p.Do(ctx, "wait", s.waitReplicas, s.waitTimeout.Milliseconds())
		return nil
	})
	return cmd, wait
}

// isScriptReply reports whether err is an error reply of the script itself
// (NOSCRIPT, or one raised by Lua), which says nothing of the slot map.
func isScriptReply(err error) bool {
	return redis.HasErrorPrefix(err, "NOSCRIPT") || redis.HasErrorPrefix(err, "ERR")
}

// runIndex writes the user index entry on its own, best effort (the
// durable path's index write).
func (s *Store) runIndex(ctx context.Context, userID, family string, exp int64) {
	_ = indexScript.Run(ctx, s.rdb, []string{s.userIndexKey(userID)}, s.indexArgs(family, indexExpiry(exp))...).Err()
}
