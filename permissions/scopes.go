package permissions

import (
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
)

// Scope lists given to the constructors below are normalised once, when the
// guard is built: each entry is split on white space (so "read write" and
// "read", "write" mean the same, as in an RFC 6749 scope parameter) and
// duplicates are dropped, keeping the first occurrence. A blank entry or a
// character that RFC 6749 section 3.3 does not allow in a scope-token panics:
// such a scope can never be granted, and dropping it silently could turn a
// guard into one that any token passes.

// normalizeScopes returns scopes split on white space, without duplicates,
// in first-seen order. It panics (naming fn) on a blank entry or an invalid
// character.
func normalizeScopes(fn string, scopes []string) []string {
	out := make([]string, 0, len(scopes))
	seen := make(map[string]bool, len(scopes))
	for _, entry := range scopes {
		fields := strings.Fields(entry)
		if len(fields) == 0 {
			panic("permissions: " + fn + ": blank scope name in " + quote(entry))
		}
		for _, s := range fields {
			if !scope.Valid(s) {
				panic("permissions: " + fn + ": scope " + quote(s) +
					" has a character RFC 6749 section 3.3 does not allow")
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return slices.Clip(out)
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			b.WriteString("\\x")
			b.WriteByte("0123456789abcdef"[r>>4&0xf])
			b.WriteByte("0123456789abcdef"[r&0xf])
			continue
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// --- TokenHasScope ---

type tokenHasScope struct {
	required []string
	refusal  error
	str      string
}

// TokenHasScope allows a request whose valid token was granted every one of
// required (with none, any valid token). It mirrors DOT's
// oauth2_provider.contrib.rest_framework.TokenHasScope, with required in
// place of the view's required_scopes.
//
// A token lacking a scope is answered 403 insufficient_scope naming
// required; a request without credentials 401. A user authenticated by other
// means (a session) without a token is answered 403 permission_denied: DOT
// raises ImproperlyConfigured there; this guard refuses.
//
// Scope names are normalised (see the package documentation); it panics on
// a blank scope name.
func TokenHasScope(required ...string) Permission {
	return newTokenHasScope("TokenHasScope", required)
}

func newTokenHasScope(fn string, required []string) *tokenHasScope {
	req := normalizeScopes(fn, required)
	p := &tokenHasScope{
		required: req,
		str:      "TokenHasScope(" + strings.Join(req, " ") + ")",
	}
	if len(req) > 0 {
		p.refusal = insufficient(req)
	}
	return p
}

func (p *tokenHasScope) Check(c *gin.Context) error {
	t, ok := validToken(c)
	if !ok {
		return needToken(c)
	}
	if t.HasScopes(p.required...) {
		return nil
	}
	return p.refusal
}

func (p *tokenHasScope) String() string { return p.str }

// --- TokenHasReadWriteScope ---

// ReadWriteScope is the guard [TokenHasReadWriteScope] returns, with
// configurable scope names. It mirrors DOT's
// oauth2_provider.contrib.rest_framework.TokenHasReadWriteScope, whose scope
// names come from the READ_SCOPE and WRITE_SCOPE settings.
//
// A request with a safe method (GET, HEAD, OPTIONS: DRF's SAFE_METHODS)
// needs a token granted Read and every one of Required; any other method
// needs Write and Required. A zero Read is "read", a zero Write "write".
// Refusals are those of [TokenHasScope], naming the scopes the method
// needs.
//
// A ReadWriteScope literal is used as it is: unlike the constructor, it does
// not split or validate Required.
type ReadWriteScope struct {
	// Read is the scope safe methods need ("read" if empty).
	Read string
	// Write is the scope other methods need ("write" if empty).
	Write string
	// Required are scopes every method needs in addition.
	Required []string
}

// TokenHasReadWriteScope returns a [ReadWriteScope] with the scope names
// "read" and "write": a safe method (GET, HEAD, OPTIONS) needs "read" plus
// required, any other method "write" plus required. It mirrors DOT's
// oauth2_provider.contrib.rest_framework.TokenHasReadWriteScope, with
// required in place of the view's required_scopes.
//
// Scope names are normalised (see the package documentation); it panics on
// a blank scope name.
func TokenHasReadWriteScope(required ...string) ReadWriteScope {
	return ReadWriteScope{
		Read:     "read",
		Write:    "write",
		Required: normalizeScopes("TokenHasReadWriteScope", required),
	}
}

func (p ReadWriteScope) names() (read, write string) {
	read, write = p.Read, p.Write
	if read == "" {
		read = "read"
	}
	if write == "" {
		write = "write"
	}
	return read, write
}

// Check implements [Permission].
func (p ReadWriteScope) Check(c *gin.Context) error {
	t, ok := validToken(c)
	if !ok {
		return needToken(c)
	}
	read, write := p.names()
	scope := write
	if isSafeMethod(c.Request.Method) {
		scope = read
	}
	if t.HasScope(scope) && t.HasScopes(p.Required...) {
		return nil
	}
	need := make([]string, 0, 1+len(p.Required))
	need = append(need, scope)
	for _, s := range p.Required {
		if s != scope {
			need = append(need, s)
		}
	}
	return insufficient(need)
}

// String implements [Permission]: for example
// "TokenHasReadWriteScope(safe: read admin; unsafe: write admin)".
func (p ReadWriteScope) String() string {
	read, write := p.names()
	extra := ""
	if len(p.Required) > 0 {
		extra = " " + strings.Join(p.Required, " ")
	}
	return "TokenHasReadWriteScope(safe: " + read + extra + "; unsafe: " + write + extra + ")"
}

// --- TokenHasResourceScope ---

type resourceScope struct {
	read, write       []string
	readErr, writeErr error
	str               string
}

// TokenHasResourceScope allows a request whose valid token was granted, for
// each of resources, "<resource>:read" if the method is safe (GET, HEAD,
// OPTIONS) or "<resource>:write" otherwise. It mirrors DOT's
// oauth2_provider.contrib.rest_framework.TokenHasResourceScope, with
// resources in place of the view's required_scopes.
//
// DOT's class has a pitfall: with no required_scopes it requires no scope
// at all and lets every valid token through. TokenHasResourceScope therefore
// panics when resources is empty (a programming error, found when the
// routes are built); use [TokenHasScope]() to mean "any valid token". It also
// panics on a blank resource name. Refusals are those of [TokenHasScope],
// naming the scopes the method needs.
func TokenHasResourceScope(resources ...string) Permission {
	res := normalizeScopes("TokenHasResourceScope", resources)
	if len(res) == 0 {
		panic("permissions: TokenHasResourceScope needs at least one resource " +
			"(with none it would require no scope and allow every valid token; " +
			"use TokenHasScope() if that is what you mean)")
	}
	p := &resourceScope{
		read:  make([]string, len(res)),
		write: make([]string, len(res)),
	}
	for i, r := range res {
		p.read[i] = r + ":read"
		p.write[i] = r + ":write"
	}
	p.readErr, p.writeErr = insufficient(p.read), insufficient(p.write)
	p.str = "TokenHasResourceScope(safe: " + strings.Join(p.read, " ") +
		"; unsafe: " + strings.Join(p.write, " ") + ")"
	return p
}

func (p *resourceScope) Check(c *gin.Context) error {
	t, ok := validToken(c)
	if !ok {
		return needToken(c)
	}
	if isSafeMethod(c.Request.Method) {
		if t.HasScopes(p.read...) {
			return nil
		}
		return p.readErr
	}
	if t.HasScopes(p.write...) {
		return nil
	}
	return p.writeErr
}

func (p *resourceScope) String() string { return p.str }

// --- TokenMatchesOASRequirements ---

type oasRequirements struct {
	alts     map[string][][]string
	refusals map[string]error
	str      string
}

// errMethodNotCovered answers a method TokenMatchesOASRequirements lists no
// alternative for: no scope would help, so it is permission_denied rather
// than insufficient_scope.
var errMethodNotCovered = oautherr.ErrPermissionDenied.WithDescription(
	"No scope grants access to this resource with this request method.")

// TokenMatchesOASRequirements allows a request whose valid token satisfies
// one of the alternatives listed for the request's method: alternatives maps
// an HTTP method to a list of alternatives (OR), each a list of scopes the
// token must all hold (AND), as an OpenAPI security requirement. It mirrors
// DOT's oauth2_provider.contrib.rest_framework.TokenMatchesOASRequirements,
// with alternatives in place of the view's required_alternate_scopes:
//
//	permissions.TokenMatchesOASRequirements(map[string][][]string{
//		"GET":  {{"read"}, {"admin"}},  // read OR admin
//		"POST": {{"create", "write"}},  // create AND write
//	})
//
// Method keys are trimmed and upper-cased (keys that then coincide are
// merged in sorted key order); a key that is not an HTTP method token
// panics. Scope lists are normalised (see the package documentation). An
// empty AND-list is satisfied by any valid token, as DOT's
// token.is_valid([]) and OpenAPI's {} requirement are.
//
// A token that satisfies no alternative is answered 403 insufficient_scope
// naming the scopes of the method's first alternative. A method with no
// alternative (not listed, or listed with none) is refused for every token
// with 403 permission_denied (DOT logs a warning and refuses); a request
// without credentials is answered 401.
func TokenMatchesOASRequirements(alternatives map[string][][]string) Permission {
	const fn = "TokenMatchesOASRequirements"
	keys := make([]string, 0, len(alternatives))
	for k := range alternatives {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p := &oasRequirements{
		alts:     make(map[string][][]string, len(keys)),
		refusals: make(map[string]error, len(keys)),
	}
	for _, k := range keys {
		m := strings.ToUpper(strings.TrimSpace(k))
		if !validMethod(m) {
			panic("permissions: " + fn + ": " + quote(k) + " is not an HTTP method")
		}
		for _, alt := range alternatives[k] {
			p.alts[m] = append(p.alts[m], normalizeScopes(fn, alt))
		}
	}
	methods := make([]string, 0, len(p.alts))
	for m, alts := range p.alts {
		methods = append(methods, m)
		// The first alternative is named; an empty one is never refused.
		if len(alts[0]) > 0 {
			p.refusals[m] = insufficient(alts[0])
		} else {
			p.refusals[m] = oautherr.ErrPermissionDenied
		}
	}
	slices.Sort(methods)
	var b strings.Builder
	b.WriteString(fn + "(")
	for i, m := range methods {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(m + ":")
		for j, alt := range p.alts[m] {
			if j > 0 {
				b.WriteString(" |")
			}
			if len(alt) == 0 {
				b.WriteString(" {}")
			} else {
				b.WriteString(" " + strings.Join(alt, " "))
			}
		}
	}
	b.WriteByte(')')
	p.str = b.String()
	return p
}

// validMethod reports whether m is an RFC 9110 method token (tchar only).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func (p *oasRequirements) Check(c *gin.Context) error {
	t, ok := validToken(c)
	if !ok {
		return needToken(c)
	}
	m := c.Request.Method
	alts, ok := p.alts[m]
	if !ok {
		m = strings.ToUpper(m)
		if alts, ok = p.alts[m]; !ok {
			return errMethodNotCovered
		}
	}
	for _, alt := range alts {
		if t.HasScopes(alt...) {
			return nil
		}
	}
	return p.refusals[m]
}

func (p *oasRequirements) String() string { return p.str }

// --- IsAuthenticatedOrTokenHasScope ---

type isAuthenticatedOrTokenHasScope struct{ scope *tokenHasScope }

// IsAuthenticatedOrTokenHasScope allows a request whose user was
// authenticated by something other than a token (resource.UserFromContext
// has a user and there is no token: a session), and otherwise acts as
// [TokenHasScope](required...). It mirrors DOT's
// oauth2_provider.contrib.rest_framework.IsAuthenticatedOrTokenHasScope.
//
// Scope names are normalised (see the package documentation); it panics on
// a blank scope name.
func IsAuthenticatedOrTokenHasScope(required ...string) Permission {
	return isAuthenticatedOrTokenHasScope{newTokenHasScope("IsAuthenticatedOrTokenHasScope", required)}
}

func (p isAuthenticatedOrTokenHasScope) Check(c *gin.Context) error {
	if _, tok := resource.TokenFromContext(c); !tok {
		if _, user := resource.UserFromContext(c); user {
			return nil
		}
	}
	return p.scope.Check(c)
}

func (p isAuthenticatedOrTokenHasScope) String() string {
	return "IsAuthenticatedOrTokenHasScope(" + strings.Join(p.scope.required, " ") + ")"
}
