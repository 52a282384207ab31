package ginoauth

import (
	"context"
	_ "embed"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Authorization-endpoint errors of RFC 6749 4.1.2.1 and OpenID Connect's
// prompt=none answers, which DOT also gives.
var (
	ErrUnsupportedResponseType = &oautherr.Error{Code: "unsupported_response_type", Status: http.StatusBadRequest}
	ErrLoginRequired           = &oautherr.Error{Code: "login_required", Status: http.StatusBadRequest}
	ErrConsentRequired         = &oautherr.Error{Code: "consent_required", Status: http.StatusBadRequest}
)

// authzRequest is a validated authorization request.
type authzRequest struct {
	app *store.Application
	// redirectURI is where the answer goes; redirectGiven is whether the
	// request named it (then the token request must repeat it, 4.1.3).
	redirectURI   string
	redirectGiven bool
	scopes        []string
	state         string
	challenge     string
	method        string
	prompt        string
	approval      string
	// nonce and maxAge are OpenID Connect's (Core section 3.1.2.1);
	// maxAge is -1 when absent. loginAfter is the signed time prompt=login
	// sent the user to log in again (loginAfterParam), zero if none.
	nonce      string
	maxAge     int64
	loginAfter time.Time
	// resources are RFC 8707's resource parameters, checked; nil if none.
	resources []string
	// dpopJKT is RFC 9449 section 10's dpop_jkt, "" if none.
	dpopJKT string
	// params are the request's parameters, posted back by the consent form.
	params url.Values
	// pushed: the request came through a request_uri (RFC 9126), so it
	// is carried sealed (pushedField), not as params, through the login
	// page and the consent form.
	pushed bool
}

// AuthorizeHandler is the authorization endpoint (RFC 6749 3.1, 4.1) for
// the code grant with PKCE (RFC 7636), DOT's /o/authorize/. GET shows the
// consent page to the logged-in user (or sends them to Config.LoginURL
// with next=, or skips consent as DOT's skip_authorization and
// approval_prompt=auto do); POST is the consent form's answer. Errors
// about the client or the redirect URI are shown as a page and never
// redirected; every other error goes back to the registered redirect URI
// with error and state.
func (p *Provider) AuthorizeHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.Header("X-Frame-Options", "DENY")
		c.Header("Content-Security-Policy", "frame-ancestors 'none'")
		c.Header("Referrer-Policy", "no-referrer")
		params, perr := authorizeParams(c)
		if perr != nil {
			p.authorizeErrorPage(c, perr)
			return
		}
		params, pushed, err := p.pushedParams(c, params)
		if err != nil {
			p.authorizeFail(c, nil, err)
			return
		}
		req, err := p.parseAuthorize(c, params, pushed)
		if err != nil {
			p.authorizeFail(c, req, err)
			return
		}
		owner, err := p.SessionOwner(c)
		if err != nil {
			p.authorizeFail(c, nil, err)
			return
		}
		if owner == nil {
			if req.prompt == "none" {
				p.authorizeFail(c, req, ErrLoginRequired.WithDescription("The user is not logged in."))
				return
			}
			p.redirectToLogin(c, req, nil)
			return
		}
		if !p.loggedInAgain(req, owner) {
			p.redirectToLogin(c, req, nil)
			return
		}
		if p.loginTooOld(req, owner) {
			if req.prompt == "none" {
				p.authorizeFail(c, req, ErrLoginRequired.WithDescription("The login is older than max_age."))
				return
			}
			req.prompt = "login"
		}
		if req.prompt == "login" && c.Request.Method == http.MethodGet {
			// OpenID Connect's prompt=login, as DOT's handle_prompt_login:
			// through the login page again, then back without the prompt.
			q := c.Request.URL.Query()
			if req.pushed {
				q = maps.Clone(req.params)
			}
			q.Del("prompt")
			q.Set(loginAfterParam, p.signLoginAfter(p.now()))
			p.redirectToLogin(c, req, q)
			return
		}
		// Config.NarrowScopes, before the user sees (or skips) consent.
		if req.scopes, err = p.narrowScopes(c.Request.Context(), req.app, owner.ID, req.scopes); err != nil {
			p.authorizeFail(c, req, err) // a store outage: a page, no redirect
			return
		}
		if c.Request.Method == http.MethodPost {
			p.consentAnswer(c, req, owner)
			return
		}
		skip, err := p.canSkipConsent(c.Request.Context(), req, owner, p.issuer(c))
		if err != nil {
			p.authorizeFail(c, nil, err)
			return
		}
		if skip {
			p.grantCode(c, req, owner)
			return
		}
		if req.prompt == "none" {
			p.authorizeFail(c, req, ErrConsentRequired.WithDescription("The user has not approved this application."))
			return
		}
		p.renderConsent(c, req, owner)
	}
}

// authorizeParams are the request's parameters: the query of a GET, the
// form of a POST (bounded as the token endpoint's body is, 64 KiB).
func authorizeParams(c *gin.Context) (url.Values, *oautherr.Error) {
	if c.Request.Method != http.MethodPost {
		return c.Request.URL.Query(), nil
	}
	if err := parseBoundedForm(c); err != nil {
		return nil, err
	}
	return c.Request.PostForm, nil
}

// parseBoundedForm parses the request's query and form body, reading at
// most 64 KiB of the body: more is invalid_request with status 413.
func parseBoundedForm(c *gin.Context) *oautherr.Error {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBody)
	}
	if err := c.Request.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			e := oautherr.ErrInvalidRequest.WithDescription("The form is larger than 64 KiB.")
			e.Status = http.StatusRequestEntityTooLarge
			return e
		}
		return oautherr.ErrInvalidRequest.WithDescription("The form could not be read.")
	}
	return nil
}

// redirectToLogin sends the visitor to the login page, to come back to
// this endpoint with params, or nil for the request as it came; a pushed
// request comes back sealed (pushedField), its request_uri being used.
func (p *Provider) redirectToLogin(c *gin.Context, req *authzRequest, params url.Values) {
	if !req.pushed {
		back := *c.Request.URL
		if params != nil {
			back.RawQuery = params.Encode()
		}
		p.RedirectToLogin(c, back.RequestURI())
		return
	}
	if params == nil {
		params = req.params
	}
	q, err := p.resumeValues(c, params)
	if err != nil {
		p.authorizeFail(c, nil, err)
		return
	}
	p.RedirectToLogin(c, c.Request.URL.Path+"?"+q.Encode())
}

// parseAuthorize validates an authorization request; pushed says it came
// through a request_uri (RFC 9126). A nil *authzRequest with the error
// means the error must not be redirected.
func (p *Provider) parseAuthorize(c *gin.Context, params url.Values, pushed bool) (*authzRequest, error) {
	for k, v := range params {
		if len(v) > 1 && k != CSRFField && k != "resource" { // RFC 8707: resource may repeat
			return nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(k))
		}
	}
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing client_id parameter.")
	}
	app, err := p.store.GetApplication(c.Request.Context(), clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oautherr.ErrInvalidClient.WithDescription("Unknown client_id.")
	}
	if err != nil {
		return nil, err
	}
	req := &authzRequest{app: app, params: params, pushed: pushed}
	if ru, ok := params["redirect_uri"]; ok {
		if !redirectAllowed(app, ru[0]) {
			return nil, oautherr.ErrInvalidRequest.WithDescription("The redirect_uri is not registered for this client.")
		}
		req.redirectURI, req.redirectGiven = ru[0], true
	} else {
		if len(app.RedirectURIs) != 1 {
			return nil, oautherr.ErrInvalidRequest.WithDescription("Missing redirect_uri parameter.")
		}
		req.redirectURI = app.RedirectURIs[0]
	}
	// From here on errors go back to the client.
	req.state = params.Get("state")
	req.prompt = params.Get("prompt")
	req.approval = params.Get("approval_prompt")
	if !pushed && (p.cfg.RequirePushedAuthorizationRequests || app.RequirePushedAuthorizationRequests) {
		// RFC 9126 section 5 and 6: refused with invalid_request.
		return req, oautherr.ErrInvalidRequest.WithDescription("This client must push its authorization requests (RFC 9126): send client_id and request_uri.")
	}
	switch rt := params.Get("response_type"); rt {
	case "code":
	case "":
		return req, oautherr.ErrInvalidRequest.WithDescription("Missing response_type parameter.")
	default:
		return req, ErrUnsupportedResponseType.WithDescription("Only response_type=code is supported (no implicit grant, RFC 9700).")
	}
	if !app.AllowsGrant(store.GrantAuthorizationCode) {
		return req, oautherr.ErrUnauthorizedClient.WithDescription("The client may not use the authorization code grant.")
	}
	if err := p.parseOIDCParams(req, params); err != nil {
		return req, err
	}
	if req.scopes, err = p.grantScopes(params.Get("scope"), app.AllowedScopes); err != nil {
		return req, err
	}
	if req.resources, err = p.requestedResources(params["resource"], p.issuer(c)); err != nil {
		return req, err
	}
	if req.dpopJKT, err = p.dpopJKTParam(params); err != nil {
		return req, err
	}
	req.challenge = params.Get("code_challenge")
	req.method = params.Get("code_challenge_method")
	if req.challenge == "" {
		if req.method != "" {
			return req, oautherr.ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge.")
		}
		if app.ClientType == store.Public || !p.cfg.InsecureAllowNoPKCE {
			return req, oautherr.ErrInvalidRequest.WithDescription("PKCE is required: send code_challenge and code_challenge_method=S256.")
		}
		return req, nil
	}
	if req.method == "" {
		req.method = "plain" // RFC 7636 4.3's default
	}
	switch req.method {
	case "S256":
	case "plain":
		if !p.cfg.InsecureAllowPlainPKCE {
			return req, oautherr.ErrInvalidRequest.WithDescription("code_challenge_method must be S256.")
		}
	default:
		return req, oautherr.ErrInvalidRequest.WithDescription("Unsupported code_challenge_method.")
	}
	if !validVerifier(req.challenge) {
		return req, oautherr.ErrInvalidRequest.WithDescription("The code_challenge is malformed.")
	}
	return req, nil
}

// redirectAllowed reports whether uri is one of app's redirect URIs: for a
// public (native) client as MatchRedirectURI says, with RFC 8252's
// any-port loopback exception; for a confidential client exactly, since
// the exception is for native apps, which cannot know their port in
// advance, and would let a local process on another port take a web
// client's codes.
func redirectAllowed(app *store.Application, uri string) bool {
	if app.ClientType == store.Public {
		return MatchRedirectURI(app.RedirectURIs, uri)
	}
	return slices.Contains(app.RedirectURIs, uri)
}

// validVerifier checks RFC 7636's 43 to 128 unreserved characters (a
// code_verifier; an S256 challenge is 43 of them).
func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// canSkipConsent applies DOT's skip_authorization and approval_prompt=auto
// (an earlier, still live approval of this client covering these scopes):
// Config.RequestApprovalPrompt, or the request's approval_prompt as
// Config.AllowApprovalPromptParameter permits.
func (p *Provider) canSkipConsent(ctx context.Context, req *authzRequest, owner *Owner, iss string) (bool, error) {
	if req.prompt == "consent" {
		return false, nil
	}
	if req.app.SkipAuthorization {
		return true, nil
	}
	// The request's approval_prompt may always ask for consent (force),
	// but may skip it (auto) only with AllowApprovalPromptParameter.
	approval := p.cfg.RequestApprovalPrompt
	if req.approval == "force" || (req.approval != "" && p.cfg.AllowApprovalPromptParameter) {
		approval = req.approval
	}
	if approval != "auto" {
		return false, nil
	}
	// A grant records its scopes but not which resources (RFC 8707) the
	// user saw: a request for any but the default resource asks again.
	if len(p.storedResources(req.resources, iss)) > 0 {
		return false, nil
	}
	grants, err := p.ListGrants(ctx, store.GrantFilter{UserID: owner.ID, ClientID: req.app.ClientID})
	if err != nil {
		return false, err
	}
	for _, g := range grants {
		if subset(req.scopes, g.Scopes) {
			return true, nil
		}
	}
	return false, nil
}

// consentAnswer handles the consent form's POST.
func (p *Provider) consentAnswer(c *gin.Context, req *authzRequest, owner *Owner) {
	if !p.CheckCSRF(c, owner.ID) {
		p.authorizeErrorPage(c, (&oautherr.Error{Code: "csrf_failed", Status: http.StatusForbidden}).
			WithDescription("The form has expired or did not come from this site; go back and try again."))
		return
	}
	if c.Request.PostFormValue("allow") == "" {
		p.authorizeFail(c, req, oautherr.ErrAccessDenied.WithDescription("The user denied the request."))
		return
	}
	p.grantCode(c, req, owner)
}

// grantCode issues an authorization code and redirects with it.
func (p *Provider) grantCode(c *gin.Context, req *authzRequest, owner *Owner) {
	family, err := opaque.NewFamily()
	if err != nil {
		p.authorizeFail(c, nil, err)
		return
	}
	code, err := p.codec.Mint(opaque.CodePrefix, family)
	if err != nil {
		p.authorizeFail(c, nil, err)
		return
	}
	now := p.now().UTC()
	rec := &store.AuthorizationCode{
		Key:                 store.Key{Family: family, Signature: opaque.Signature(code)},
		ClientID:            req.app.ClientID,
		UserID:              owner.ID,
		Username:            owner.Username,
		Scopes:              req.scopes,
		Generation:          req.app.Generation,
		CodeChallenge:       req.challenge,
		CodeChallengeMethod: req.method,
		Nonce:               req.nonce,
		Resources:           p.storedResources(req.resources, p.issuer(c)),
		DPoPJKT:             req.dpopJKT,
		AuthTime:            owner.AuthTime.UTC(),
		IssuedAt:            now,
		ExpiresAt:           now.Add(p.codeTTL),
	}
	if req.redirectGiven {
		rec.RedirectURI = req.redirectURI
	}
	if err := p.store.SaveAuthorizationCode(c.Request.Context(), rec); err != nil {
		p.authorizeFail(c, nil, err)
		return
	}
	p.redirectTo(c, req, url.Values{"code": {code}})
}

// redirectTo sends the authorization answer to the client's redirect URI,
// with state and the issuer (RFC 9207) added to its query.
func (p *Provider) redirectTo(c *gin.Context, req *authzRequest, vals url.Values) {
	u, err := url.Parse(req.redirectURI)
	if err != nil { // registered URIs were validated; this cannot happen
		p.authorizeErrorPage(c, oautherr.ErrServerError)
		return
	}
	q := u.Query()
	for k, v := range vals {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	q.Set("iss", p.issuer(c))
	u.RawQuery = q.Encode()
	c.Redirect(http.StatusFound, u.String())
}

// authorizeFail answers an authorization error: redirected to the client
// when req is known and the error is the client's business, else a page.
func (p *Provider) authorizeFail(c *gin.Context, req *authzRequest, err error) {
	e := asError(err)
	p.observeError(observe.EndpointAuthorize, e)
	if req == nil || e.Status >= 500 {
		if e.Status >= 500 {
			p.logError(c.Request.Context(), "ginoauth: authorization endpoint", err)
		}
		p.authorizeErrorPage(c, e)
		return
	}
	vals := url.Values{"error": {e.Code}}
	if e.Description != "" {
		vals.Set("error_description", e.SentDescription()) // RFC 6749 4.1.2.1: the 5.2 set
	}
	p.redirectTo(c, req, vals)
}

// ConsentData is what the consent template is executed with.
type ConsentData struct {
	// Application is the client asking for access.
	Application *store.Application
	// User is the logged-in user asked to consent.
	User *Owner
	// Scopes requested, with their descriptions from Config.Scopes.
	Scopes []ScopeDescription
	// Resources are the resources (RFC 8707) the request names, if any:
	// the form must post each back as a resource field (Hidden holds the
	// other fields, each once).
	Resources []string
	// Action is the URL the form posts to; Hidden are the fields to post
	// back unchanged, CSRFField and CSRFToken the CSRF field.
	Action    string
	Hidden    map[string]string
	CSRFField string
	CSRFToken string
}

// ScopeDescription is a scope and its description.
type ScopeDescription struct{ Name, Description string }

// ErrorPageData is what the error template is executed with.
type ErrorPageData struct {
	Error       string
	Description string
}

func (p *Provider) renderConsent(c *gin.Context, req *authzRequest, owner *Owner) {
	data := ConsentData{
		Application: req.app,
		User:        owner,
		Action:      c.Request.URL.Path,
		Hidden:      map[string]string{},
		CSRFField:   CSRFField,
		CSRFToken:   p.CSRFToken(c, owner.ID),
		Resources:   req.resources,
	}
	for _, s := range req.scopes {
		data.Scopes = append(data.Scopes, ScopeDescription{s, p.scopes[s]})
	}
	params := req.params
	if req.pushed {
		var err error
		if params, err = p.resumeValues(c, req.params); err != nil {
			p.authorizeFail(c, nil, err)
			return
		}
	}
	for k, v := range params {
		if k != CSRFField && k != "allow" && k != "resource" { // resources: data.Resources
			data.Hidden[k] = v[0]
		}
	}
	p.render(c, http.StatusOK, p.consentTpl, data)
}

func (p *Provider) authorizeErrorPage(c *gin.Context, e *oautherr.Error) {
	status := e.Status
	if status == http.StatusUnauthorized {
		status = http.StatusBadRequest // no WWW-Authenticate challenge fits a page
	}
	p.render(c, status, p.errorTpl, ErrorPageData{Error: e.Code, Description: e.Description})
}

func (p *Provider) render(c *gin.Context, status int, tpl *template.Template, data any) {
	var b strings.Builder
	if err := tpl.Execute(&b, data); err != nil {
		p.logError(c.Request.Context(), "ginoauth: rendering a page", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("The page could not be rendered."))
		return
	}
	c.Data(status, "text/html; charset=utf-8", []byte(b.String()))
}

// The built-in pages of the authorization endpoint: the consent page
// (Config.ConsentTemplate replaces it, executed with a ConsentData) and the
// page for errors that must not be redirected (Config.ErrorTemplate,
// executed with an ErrorPageData).
var (
	//go:embed templates/consent.html
	consentHTML string
	//go:embed templates/error.html
	errorHTML string

	defaultConsentTemplate = template.Must(template.New("consent").Parse(consentHTML))
	defaultErrorTemplate   = template.Must(template.New("error").Parse(errorHTML))
)
