package ginoauth

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
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
	// make per Window. A public client, identified by its client_id alone,
	// which anyone may send, has this budget per source address: one
	// address spending it does not throttle the client's users elsewhere.
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

// allowClient counts one request of an authenticated client against
// PerClient: per client for a confidential client, which proved its
// secret; per client and source address for a public one, whose client_id
// anyone may send, so that one address cannot spend the budget of every
// user of the client (the per-address budget, counted before, still bounds
// that address).
func (p *Provider) allowClient(c *gin.Context, app *store.Application) error {
	if app.ClientType != store.Confidential {
		// An address holds no "|": the key is unambiguous.
		return p.allow(c, "client_addr", c.ClientIP()+"|"+app.ClientID, p.cfg.TokenRateLimit.PerClient)
	}
	return p.allow(c, "client", app.ClientID, p.cfg.TokenRateLimit.PerClient)
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
