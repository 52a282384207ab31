package ginoauth

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// RateLimit throttles the token endpoint, counted in the store so the
// limits hold across every instance sharing it (Redis). A zero limit is no
// limit.
type RateLimit struct {
	// PerAddress is how many token requests one source address (gin's
	// ClientIP, so configure the engine's trusted proxies) may make per
	// Window, counted before the client is authenticated: it slows down
	// guessing of client secrets and passwords.
	PerAddress int
	// PerClient is how many token requests one authenticated client may
	// make per Window.
	PerClient int
	// Window is the length of the sliding window: no interval of this
	// length holds more than the limit (store.Limiter). Zero means one
	// minute.
	Window time.Duration
}

// ErrTooManyRequests is the answer to a throttled request: 429 with
// Retry-After.
var ErrTooManyRequests = &oautherr.Error{Code: "too_many_requests", Status: http.StatusTooManyRequests}

// throttled is returned by allow for a request over its limit.
type throttled struct {
	err        *oautherr.Error
	retryAfter time.Duration
}

func (t *throttled) Error() string { return t.err.Error() }
func (t *throttled) Unwrap() error { return t.err }

// allow counts one request against a limit; an error is a *throttled, or
// a store error (a store outage fails closed: 503).
func (p *Provider) allow(c *gin.Context, kind, key string, limit int) error {
	if limit <= 0 {
		return nil
	}
	window := p.cfg.TokenRateLimit.Window
	if window <= 0 {
		window = time.Minute
	}
	ok, retry, err := p.store.Allow(c.Request.Context(), "token:"+kind+":"+key, limit, window)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	p.observeThrottled(kind)
	return &throttled{ErrTooManyRequests.WithDescription("Too many token requests; retry later."), retry}
}

// setRetryAfter adds Retry-After (whole seconds, at least 1) for a
// throttled answer.
func setRetryAfter(c *gin.Context, err error) {
	var t *throttled
	if !errors.As(err, &t) {
		return
	}
	secs := int(math.Ceil(t.retryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Header("Retry-After", strconv.Itoa(secs))
}
