package ginoauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ginoauth/toolkit/ginoauth"
)

// passwordFrom posts a password grant for username with password from the
// source address addr (X-Forwarded-For: gin trusts every proxy by
// default).
func (e *env) passwordFrom(addr, username, password string) resp {
	e.t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	req, _ := http.NewRequest("POST", e.srv.URL+"/o/token/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	req.SetBasicAuth(e.confID, e.secret)
	return e.do(req)
}

// TestPasswordAttempts: past Config.PasswordAttempts failed passwords for
// one username from one address, the password grant answers 429 with
// Retry-After without checking the password (the right one included), on
// every store; another address, or another username from that address,
// still gets its answer, and a success forgets the failures before it.
func TestPasswordAttempts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *ginoauth.Config) {
			c.PasswordAttempts = ginoauth.AttemptLimit{Limit: 3, Window: time.Minute}
		})
		const a, b = "192.0.2.1", "192.0.2.2"
		for i := range 3 {
			wantError(t, fmt.Sprintf("wrong password #%d", i+1), e.passwordFrom(a, e.username, "guess"), 400, "invalid_grant")
		}
		wantThrottled(t, "the right password after 3 failures", e.passwordFrom(a, e.username, e.password))
		wantThrottled(t, "a 5th guess", e.passwordFrom(a, e.username, "guess"))
		wantError(t, "another username from the address", e.passwordFrom(a, "bob", "guess"), 400, "invalid_grant")
		wantStatus(t, "the right password from another address", e.passwordFrom(b, e.username, e.password), 200)

		// A success forgets the failures: two, a success, three more.
		for i := range 2 {
			wantError(t, fmt.Sprintf("from b, wrong password #%d", i+1), e.passwordFrom(b, e.username, "guess"), 400, "invalid_grant")
		}
		wantStatus(t, "from b, the right password", e.passwordFrom(b, e.username, e.password), 200)
		for i := range 3 {
			wantError(t, fmt.Sprintf("from b after a success, wrong password #%d", i+1), e.passwordFrom(b, e.username, "guess"), 400, "invalid_grant")
		}
		wantThrottled(t, "from b, a 4th failure in a row", e.passwordFrom(b, e.username, "guess"))
	})
}

// TestAuthenticatePassword: the method behind the password grant, for a
// login page: ErrBadCredentials, then an error that errors.Is
// ErrTooManyRequests with its RetryAfter; a negative Limit turns it off.
func TestAuthenticatePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "memory", func(c *ginoauth.Config) {
		c.PasswordAttempts = ginoauth.AttemptLimit{Limit: 2, Window: time.Minute}
	})
	for range 2 {
		if _, err := e.p.AuthenticatePassword(ctx, e.username, "guess", "198.51.100.7"); !errors.Is(err, ginoauth.ErrBadCredentials) {
			t.Fatalf("wrong password: got %v, want ErrBadCredentials", err)
		}
	}
	_, err := e.p.AuthenticatePassword(ctx, e.username, e.password, "198.51.100.7")
	retry, ok := ginoauth.RetryAfter(err)
	if !errors.Is(err, ginoauth.ErrTooManyRequests) || !ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("3rd attempt: got %v (RetryAfter %v, %v), want ErrTooManyRequests within a minute", err, retry, ok)
	}

	off := newEnv(t, "memory", func(c *ginoauth.Config) { c.PasswordAttempts.Limit = -1 })
	for i := range 20 {
		if _, err := off.p.AuthenticatePassword(ctx, off.username, "guess", "198.51.100.7"); !errors.Is(err, ginoauth.ErrBadCredentials) {
			t.Fatalf("no limit, wrong password #%d: got %v, want ErrBadCredentials", i+1, err)
		}
	}
	if u, err := off.p.AuthenticatePassword(ctx, off.username, off.password, "198.51.100.7"); err != nil || u.Username != off.username {
		t.Fatalf("no limit, the right password: got %v, %v", u, err)
	}
}
