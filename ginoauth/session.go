package ginoauth

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
)

// Owner is a resource owner as the authorization endpoint sees them: the
// user logged in to the application that mounts the provider.
type Owner struct {
	ID       string
	Username string
	// AuthTime is when the user logged in (OpenID Connect's auth_time);
	// zero when the session does not know, and then max_age is not
	// enforced and id_tokens carry no auth_time.
	AuthTime time.Time
}

// SessionSource tells the authorization endpoint who is logged in. The
// provider has no login of its own: an application plugs in its own
// sessions (the demo uses a signed cookie), as DOT relies on Django's.
type SessionSource interface {
	// SessionOwner returns the logged-in user of the request, or nil when
	// nobody is logged in. An error (such as a store outage) answers 503.
	SessionOwner(c *gin.Context) (*Owner, error)
}

// SessionFunc adapts a function to SessionSource.
type SessionFunc func(c *gin.Context) (*Owner, error)

// SessionOwner implements SessionSource.
func (f SessionFunc) SessionOwner(c *gin.Context) (*Owner, error) { return f(c) }

// DefaultLoginURL is Config.LoginURL's default, as Django's LOGIN_URL.
const DefaultLoginURL = "/accounts/login/"

// SessionOwner returns the request's logged-in user as Config.Sessions
// tells, or nil when nobody is logged in (always, without Sessions).
func (p *Provider) SessionOwner(c *gin.Context) (*Owner, error) {
	if p.cfg.Sessions == nil {
		return nil, nil
	}
	return p.cfg.Sessions.SessionOwner(c)
}

// RedirectToLogin sends the visitor to Config.LoginURL with next= set to
// next, the local URL to come back to after logging in. A query that
// LoginURL already has is kept.
func (p *Provider) RedirectToLogin(c *gin.Context, next string) {
	c.Redirect(http.StatusFound, p.loginURL.withNext(next))
}

// loginURL is Config.LoginURL, parsed once.
type loginURL struct {
	base  string // without its query
	query url.Values
}

func parseLoginURL(raw string) (loginURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return loginURL{}, fmt.Errorf("ginoauth: LoginURL: %w", err)
	}
	q := u.Query()
	u.RawQuery, u.ForceQuery = "", false
	return loginURL{base: u.String(), query: q}, nil
}

func (l loginURL) withNext(next string) string {
	q := url.Values{}
	for k, v := range l.query {
		if k != "next" {
			q[k] = v
		}
	}
	q.Set("next", next)
	return l.base + "?" + q.Encode()
}

// PathPrefix is Config.PathPrefix: where Mount puts the endpoints.
func (p *Provider) PathPrefix() string { return p.prefix }
