package ginoauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// SessionEnder is implemented by a SessionSource that can end the login
// session, for RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0). Without it the logout endpoint cannot log anyone out and answers
// an error page.
type SessionEnder interface {
	EndSession(c *gin.Context) error
}

// idTokenHint is what the logout endpoint needs from an id_token_hint.
type idTokenHint struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
}

// parseHint verifies an id_token_hint's signature against the published
// keys (an expired token is accepted, as RP-Initiated Logout section 4
// allows) and returns its issuer, subject and single audience.
func (p *Provider) parseHint(ctx context.Context, raw string) (*idTokenHint, string, error) {
	bad := oautherr.ErrInvalidRequest.WithDescription("The id_token_hint is not an id_token of this server.")
	payload, err := p.keys.Verify(ctx, raw)
	if errors.Is(err, store.ErrUnavailable) {
		return nil, "", err
	}
	if err != nil {
		return nil, "", bad
	}
	var h idTokenHint
	if json.Unmarshal(payload, &h) != nil || h.Sub == "" {
		return nil, "", bad
	}
	aud, err := singleAudience(h.Aud)
	if err != nil {
		return nil, "", bad
	}
	return &h, aud, nil
}

// singleAudience reads aud, a string or an array of one (OIDC Core
// section 2); this provider issues id_tokens to one client.
func singleAudience(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) == 1 && list[0] != "" {
		return list[0], nil
	}
	return "", errors.New("aud is not one client")
}

// EndSessionHandler is RP-Initiated Logout 1.0's end_session_endpoint
// (DOT's /o/logout/), GET or POST (a form of at most 64 KiB): with a valid id_token_hint of this
// issuer (and a client_id, if sent, that is its audience), it ends the
// login session and sends the user to post_logout_redirect_uri with state
// when that URI is one of the client's registered
// PostLogoutRedirectURIs, exactly; otherwise it says so on a page. A bad
// hint, a client mismatch or an unregistered URI is an error page, never a
// redirect. A request without id_token_hint is refused (no confirmation
// page yet), so a cross-site link cannot log a user out.
func (p *Provider) EndSessionHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("X-Frame-Options", "DENY")
		c.Header("Referrer-Policy", "no-referrer")
		target, err := p.endSession(c)
		if err != nil {
			e := asError(err)
			if e.Status >= 500 {
				p.logError(c.Request.Context(), "ginoauth: logout", err)
			}
			p.authorizeErrorPage(c, e)
			return
		}
		if target != "" {
			c.Redirect(http.StatusFound, target)
			return
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", []byte("<!doctype html><title>Logged out</title><p>You are logged out.</p>\n"))
	}
}

// endSession checks the request, ends the session and returns where to
// redirect ("" for none).
func (p *Provider) endSession(c *gin.Context) (string, error) {
	if err := parseBoundedForm(c); err != nil {
		return "", err
	}
	q := c.Request.Form
	for k, v := range q {
		if len(v) > 1 {
			return "", oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(k))
		}
	}
	raw := q.Get("id_token_hint")
	if raw == "" {
		return "", oautherr.ErrInvalidRequest.WithDescription("Missing id_token_hint parameter.")
	}
	hint, aud, err := p.parseHint(c.Request.Context(), raw)
	if err != nil {
		return "", err
	}
	if hint.Iss != p.issuer(c) {
		return "", oautherr.ErrInvalidRequest.WithDescription("The id_token_hint was issued by another issuer.")
	}
	if cid := q.Get("client_id"); cid != "" && cid != aud {
		return "", oautherr.ErrInvalidRequest.WithDescription("The client_id is not the id_token_hint's audience.")
	}
	target, err := p.postLogoutTarget(c.Request.Context(), aud, q.Get("post_logout_redirect_uri"), q.Get("state"))
	if err != nil {
		return "", err
	}
	ender, ok := p.cfg.Sessions.(SessionEnder)
	if !ok {
		return "", oautherr.ErrServerError.WithDescription("This server cannot end login sessions.")
	}
	if err := ender.EndSession(c); err != nil {
		return "", err
	}
	return target, nil
}

// postLogoutTarget checks uri against the client's registered list
// (exact match) and adds state.
func (p *Provider) postLogoutTarget(ctx context.Context, clientID, uri, state string) (string, error) {
	if uri == "" {
		return "", nil
	}
	app, err := p.store.GetApplication(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return "", oautherr.ErrInvalidRequest.WithDescription("The id_token_hint's client no longer exists.")
	}
	if err != nil {
		return "", err
	}
	if !slices.Contains(app.PostLogoutRedirectURIs, uri) {
		return "", oautherr.ErrInvalidRequest.WithDescription("The post_logout_redirect_uri is not registered for this client.")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", oautherr.ErrInvalidRequest.WithDescription("The post_logout_redirect_uri is malformed.")
	}
	if state != "" {
		v := u.Query()
		v.Set("state", state)
		u.RawQuery = v.Encode()
	}
	return u.String(), nil
}
