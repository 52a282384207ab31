package ginoauth

import (
	"github.com/gin-gonic/gin"
)

// Owner is a resource owner as the authorization endpoint sees them: the
// user logged in to the application that mounts the provider.
type Owner struct {
	ID       string
	Username string
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
