package ginoauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Defaults of Config.PasswordAttempts.
const (
	DefaultPasswordAttemptLimit  = 10
	DefaultPasswordAttemptWindow = 15 * time.Minute
)

// AttemptLimit bounds password checks for one username from one source
// address (Config.PasswordAttempts).
type AttemptLimit struct {
	// Limit is how many attempts a username may have from one address per
	// Window; a successful one forgets those before it, so only failures
	// add up. Zero means DefaultPasswordAttemptLimit; negative, no limit.
	Limit int
	// Window is the length of the sliding window (store.Limiter). Zero
	// means DefaultPasswordAttemptWindow.
	Window time.Duration
}

// AuthenticatePassword checks a username and password for a request from
// clientIP (gin's ClientIP), as the password grant does, under
// Config.PasswordAttempts: past the limit it answers an error that
// errors.Is ErrTooManyRequests (see RetryAfter) without checking the
// password, so guessing one user's password from one address is slow
// however the guesses are spread over clients and instances. It returns
// ErrBadCredentials for a wrong username or password, a store error
// (store.ErrUnavailable) otherwise. Use it in a login page too.
func (p *Provider) AuthenticatePassword(ctx context.Context, username, password, clientIP string) (*store.User, error) {
	lim := p.cfg.PasswordAttempts
	key := passwordAttemptKey(username, clientIP)
	if lim.Limit > 0 {
		ok, retry, err := p.store.Allow(ctx, key, lim.Limit, lim.Window)
		if err != nil {
			return nil, err
		}
		if !ok {
			p.observeThrottled("password")
			return nil, &throttled{ErrTooManyRequests.WithDescription("Too many password attempts for this user from your address; retry later."), retry}
		}
	}
	u, err := p.users.Authenticate(ctx, username, password)
	if err == nil && lim.Limit > 0 {
		if ferr := p.store.Forget(ctx, key, lim.Window); ferr != nil {
			// The attempts stay counted until they age out: the user may
			// be throttled sooner, never later.
			p.log.WarnContext(ctx, "ginoauth: could not reset the password attempts after a login", "err", ferr)
		}
	}
	return u, err
}

// passwordAttemptKey is the limiter key of a username and address: a
// digest of the username, so that the key's length is bounded and no
// username is written to the store.
func passwordAttemptKey(username, clientIP string) string {
	sum := sha256.Sum256([]byte(username))
	return "password:" + hex.EncodeToString(sum[:12]) + ":" + clientIP
}

// RetryAfter reports how long a throttled request (an error that
// errors.Is ErrTooManyRequests, from AuthenticatePassword) should wait.
func RetryAfter(err error) (time.Duration, bool) {
	var t *throttled
	if !errors.As(err, &t) {
		return 0, false
	}
	return t.retryAfter, true
}
