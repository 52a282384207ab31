package ginoauth

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
)

// Resource indicators (RFC 8707): a client names, with one or more
// resource parameters at the authorization and token endpoints, the
// protected resources a token is for; the token's audience is those
// resources. The server accepts Config.Resource and Config.Resources.
//
// What is stored is lean: nothing for the default audience (Config.Resource
// alone, or no resource requested), the explicit resources otherwise
// (store.AccessToken.Audience, store.RefreshToken.Resources,
// store.AuthorizationCode.Resources). An empty stored audience means the
// default, so a token issued before audiences existed stays valid.

// validResourceURI reports whether s may be a resource indicator (RFC 8707
// section 2): an absolute URI (RFC 3986 section 4.3, with a scheme) without
// a fragment, holding no space or control character. It says nothing about
// whether this server serves it.
func validResourceURI(s string) bool {
	if s == "" || len(s) > 2048 || strings.ContainsAny(s, "# ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] == 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Opaque == "" && u.Host == "" && u.Path == "") {
		return false
	}
	return true
}

// validResources checks Config.Resource and Config.Resources.
func validResources(cfg Config) error {
	if cfg.Resource != "" && !validResourceURI(cfg.Resource) {
		return fmt.Errorf("ginoauth: Resource %q is not an absolute URI without a fragment (RFC 8707 section 2)", cfg.Resource)
	}
	for _, r := range cfg.Resources {
		if !validResourceURI(r) {
			return fmt.Errorf("ginoauth: Resources: %q is not an absolute URI without a fragment (RFC 8707 section 2)", r)
		}
	}
	// Without Config.Resource the default resource is the issuer, which
	// without Config.Issuer comes from the request's Host header, and the
	// middleware checks no audience: a token for one of Resources would
	// pass it, and a forged Host could name any API beside them.
	if len(cfg.Resources) > 0 && cfg.Resource == "" {
		return fmt.Errorf("ginoauth: Resources needs Resource: the default audience, and the one Provider.Middleware requires")
	}
	return nil
}

// defaultResource is the resource a token is for when none is asked for:
// Config.Resource, or, when it is empty, the issuer iss, which the RFC
// 9728 metadata then publishes as the resource (its tokens have no
// audience).
func (p *Provider) defaultResource(iss string) string {
	if p.cfg.Resource != "" {
		return p.cfg.Resource
	}
	return iss
}

// requestedResources checks the resource parameters of a request (RFC
// 8707 section 2): each an absolute URI without a fragment that this
// server serves (the default resource or one of Config.Resources). It
// returns them without repeats, in order; nil when there are none.
func (p *Provider) requestedResources(values []string, iss string) ([]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		if !validResourceURI(v) {
			return nil, oautherr.ErrInvalidTarget.WithDescription("The resource parameter must be an absolute URI without a fragment.")
		}
		if v != p.defaultResource(iss) && !slices.Contains(p.cfg.Resources, v) {
			return nil, oautherr.ErrInvalidTarget.WithDescription("The resource %s is not served by this authorization server.", oautherr.Quote(v))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// storedResources is what a record keeps of resources: nothing for none
// or the default resource alone.
func (p *Provider) storedResources(resources []string, iss string) []string {
	if len(resources) == 0 || (len(resources) == 1 && resources[0] == p.defaultResource(iss)) {
		return nil
	}
	return resources
}

// narrowResources decides the audience of an access token issued from a
// grant (a code or a refresh token) that allows stored (as kept; empty:
// the default), given the token request's resources: those asked for, each
// of which the grant must allow (RFC 8707 section 2.2: invalid_target
// otherwise), or, when none is, all the grant allows. It returns what to
// store.
func (p *Provider) narrowResources(requested, stored []string, iss string) ([]string, error) {
	if len(requested) == 0 {
		return stored, nil
	}
	allowed := stored
	if len(allowed) == 0 {
		allowed = []string{p.defaultResource(iss)}
	}
	for _, r := range requested {
		if !slices.Contains(allowed, r) {
			return nil, oautherr.ErrInvalidTarget.WithDescription("The resource %s was not granted.", oautherr.Quote(r))
		}
	}
	return p.storedResources(requested, iss), nil
}

// audience is the audience a stored one stands for: itself, or
// Config.Resource when it is empty (the default), or none.
func (p *Provider) audience(stored []string) []string {
	if len(stored) > 0 {
		return stored
	}
	if p.cfg.Resource != "" {
		return []string{p.cfg.Resource}
	}
	return nil
}

// resourcesKey carries a token request's checked resource parameters to
// the grant handlers and to issue.
type resourcesKey struct{}

func withResources(ctx context.Context, resources []string) context.Context {
	if len(resources) == 0 {
		return ctx
	}
	return context.WithValue(ctx, resourcesKey{}, resources)
}

func resourcesFrom(ctx context.Context) []string {
	r, _ := ctx.Value(resourcesKey{}).([]string)
	return r
}
