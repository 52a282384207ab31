package permissions

import (
	"cmp"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/gin-gonic/gin"
)

// Route is one route registered through a [Registry]: its method, its full
// path (as gin sees it) and the String of every Permission it requires,
// outermost first (enclosing groups, then the group, then per-endpoint
// guards added with [Group.With]), which is the order they run in. The
// counterpart in DRF is a view's permission_classes, as listed by tools
// such as drf-spectacular.
type Route struct {
	Method      string
	Path        string
	Permissions []string
}

// Registry registers routes on gin and records which Permissions each one
// requires, for documentation and audits: it answers "what guards POST
// /api/orders?" without reading the code. DRF keeps the answer on each view
// (permission_classes); a Gin route has no such attribute, so the Registry
// keeps it.
//
// Routes registered on gin directly, not through a [Group] of the Registry,
// are not recorded. A Registry is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	routes []Route
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

// Group creates router.Group(relativePath, Require(perms...)) and returns
// it as a [Group] that records the routes registered through it, each
// requiring perms. It mirrors setting permission_classes on every DRF view
// of a router. With no perms, the group adds no guard.
//
// router is usually a *gin.Engine or a *gin.RouterGroup; guards it already
// enforces are not known to the Registry.
func (r *Registry) Group(router gin.IRouter, relativePath string, perms ...Permission) *Group {
	return newGroup(r, router, relativePath, nil, perms)
}

func newGroup(r *Registry, router gin.IRouter, relativePath string, outer []string, perms []Permission) *Group {
	var handlers []gin.HandlerFunc
	if len(perms) > 0 {
		handlers = append(handlers, Require(perms...))
	}
	return &Group{
		reg:   r,
		rg:    router.Group(relativePath, handlers...),
		guard: appendStrings(slices.Clip(outer), perms),
	}
}

// Routes returns the routes registered so far, sorted by path then method.
// The result is a copy.
func (r *Registry) Routes() []Route {
	r.mu.RLock()
	out := make([]Route, len(r.routes))
	for i, rt := range r.routes {
		rt.Permissions = slices.Clone(rt.Permissions)
		out[i] = rt
	}
	r.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	return out
}

// WriteTable writes [Registry.Routes] to w as an aligned text table with
// the columns METHOD, PATH and PERMISSIONS. A route's permissions are
// joined with " & " (all must pass); a route without any shows "(none)".
func (r *Registry) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if _, err := io.WriteString(tw, "METHOD\tPATH\tPERMISSIONS\n"); err != nil {
		return err
	}
	for _, rt := range r.Routes() {
		perms := "(none)"
		if len(rt.Permissions) > 0 {
			perms = strings.Join(rt.Permissions, " & ")
		}
		if _, err := io.WriteString(tw, rt.Method+"\t"+rt.Path+"\t"+perms+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func (r *Registry) add(rt Route) {
	r.mu.Lock()
	r.routes = append(r.routes, rt)
	r.mu.Unlock()
}

// Group is a gin route group whose routes a [Registry] records. Create one
// with [Registry.Group]. It mirrors a set of DRF views sharing
// permission_classes.
type Group struct {
	reg *Registry
	rg  *gin.RouterGroup
	// guard describes what rg enforces, outermost first.
	guard []string
	// with are per-endpoint guards (see With), run after rg's.
	with        []Permission
	withHandler gin.HandlerFunc
}

// RouterGroup returns the gin group routes are registered on, for
// middleware (Use) and routes that need not be recorded.
func (g *Group) RouterGroup() *gin.RouterGroup { return g.rg }

// BasePath returns the group's path prefix.
func (g *Group) BasePath() string { return g.rg.BasePath() }

// With returns a view of g that registers its routes on the same gin group
// and records them, but requires perms on each of them in addition (after
// g's own guards): a per-endpoint guard, like permission_classes on a single
// DRF view (or an action's permission_classes override, with the group's
// guards still applying). Calls chain: g.With(a).With(b) requires a then b.
// g itself is unchanged.
//
// It panics if any of perms is nil.
func (g *Group) With(perms ...Permission) *Group {
	v := *g
	v.with = append(slices.Clip(g.with), perms...)
	if len(v.with) > 0 {
		v.withHandler = Require(v.with...)
	}
	return &v
}

// Group creates a gin subgroup at relativePath requiring perms (and the
// per-endpoint guards of g, if g was made by With) in addition to g's
// guards, and returns it as a Group of the same Registry.
//
// It panics if any of perms is nil.
func (g *Group) Group(relativePath string, perms ...Permission) *Group {
	all := append(slices.Clip(g.with), perms...)
	return newGroup(g.reg, g.rg, relativePath, g.guard, all)
}

// Handle registers handlers for method and relativePath on the gin group,
// behind g's per-endpoint guards, and records the route. Like gin's Handle,
// it panics on an invalid method or a conflicting route (and then records
// nothing).
func (g *Group) Handle(method, relativePath string, handlers ...gin.HandlerFunc) *Group {
	if g.withHandler != nil {
		handlers = append([]gin.HandlerFunc{g.withHandler}, handlers...)
	}
	g.rg.Handle(method, relativePath, handlers...)
	g.reg.add(Route{
		Method:      method,
		Path:        joinPaths(g.rg.BasePath(), relativePath),
		Permissions: appendStrings(slices.Clip(g.guard), g.with),
	})
	return g
}

// GET registers a GET route; see [Group.Handle].
func (g *Group) GET(relativePath string, handlers ...gin.HandlerFunc) *Group {
	return g.Handle(http.MethodGet, relativePath, handlers...)
}

// POST registers a POST route; see [Group.Handle].
func (g *Group) POST(relativePath string, handlers ...gin.HandlerFunc) *Group {
	return g.Handle(http.MethodPost, relativePath, handlers...)
}

// PUT registers a PUT route; see [Group.Handle].
func (g *Group) PUT(relativePath string, handlers ...gin.HandlerFunc) *Group {
	return g.Handle(http.MethodPut, relativePath, handlers...)
}

// PATCH registers a PATCH route; see [Group.Handle].
func (g *Group) PATCH(relativePath string, handlers ...gin.HandlerFunc) *Group {
	return g.Handle(http.MethodPatch, relativePath, handlers...)
}

// DELETE registers a DELETE route; see [Group.Handle].
func (g *Group) DELETE(relativePath string, handlers ...gin.HandlerFunc) *Group {
	return g.Handle(http.MethodDelete, relativePath, handlers...)
}

// HEAD registers a HEAD route; see [Group.Handle].
func (g *Group) HEAD(relativePath string, handlers ...gin.HandlerFunc) *Group {
	return g.Handle(http.MethodHead, relativePath, handlers...)
}

// OPTIONS registers an OPTIONS route; see [Group.Handle].
func (g *Group) OPTIONS(relativePath string, handlers ...gin.HandlerFunc) *Group {
	return g.Handle(http.MethodOptions, relativePath, handlers...)
}

func appendStrings(dst []string, perms []Permission) []string {
	for _, p := range perms {
		if p != nil {
			dst = append(dst, p.String())
		}
	}
	return dst
}

// joinPaths joins paths as gin's RouterGroup does, keeping a trailing slash
// of relativePath.
func joinPaths(absolutePath, relativePath string) string {
	if relativePath == "" {
		return absolutePath
	}
	p := path.Join(absolutePath, relativePath)
	if strings.HasSuffix(relativePath, "/") && !strings.HasSuffix(p, "/") {
		return p + "/"
	}
	return p
}
