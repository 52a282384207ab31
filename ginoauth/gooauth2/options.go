package gooauth2

import (
	"fmt"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// DefaultPrefix is the key prefix of the TokenStore unless WithPrefix says
// otherwise.
const DefaultPrefix = "gooauth2:"

// Option configures a TokenStore or a LegacyValidator.
type Option func(*options)

type options struct {
	prefix   string
	legacyNS *string
	now      func() time.Time
}

func newOptions(opts []Option) options {
	o := options{prefix: DefaultPrefix, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithPrefix sets the prefix of every key the TokenStore writes (default
// "gooauth2:"), so it can share a Redis with other data. The
// LegacyValidator ignores it: its keys are named by keyNamespace, as
// go-oauth2/redis names them.
func WithPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// WithLegacyNamespace makes the TokenStore also read the tokens that
// go-oauth2/redis v4 stored under namespace ns (its keyNamespace; "" when
// none was given), so that switching a go-oauth2 server's store to the
// TokenStore logs nobody out. A lookup tries the TokenStore's layout, then
// go-oauth2/redis's, in one round trip (one Lua script). Refreshing a
// legacy refresh token stores the new pair in the TokenStore's layout and
// deletes the legacy pair in the same step; removals delete legacy keys
// too. Nothing new is ever written in the legacy layout, so once the last
// legacy refresh token has expired the option can go. NewLegacyValidator
// ignores it.
func WithLegacyNamespace(ns string) Option {
	return func(o *options) { o.legacyNS = &ns }
}

// WithClock sets the clock used to check expiries (default time.Now), for
// tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// unavailable wraps a failure of Redis so that errors.Is(err,
// store.ErrUnavailable) holds: ginoauth answers it with 503. go-redis
// errors never carry the command's arguments, so no token leaks into it.
func unavailable(op string, err error) error {
	return fmt.Errorf("gooauth2: %s: %w: %w", op, store.ErrUnavailable, err)
}
