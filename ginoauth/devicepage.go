package ginoauth

import (
	_ "embed"
	"errors"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

//go:embed templates/device.html
var deviceHTML string

// deviceTemplate is the verification page: the user code form, and the
// answer after the decision. The decision itself is the consent page.
var deviceTemplate = template.Must(template.New("device").Parse(deviceHTML))

// DevicePageData is what the verification page template gets.
type DevicePageData struct {
	User      *Owner
	Action    string
	CSRFField string
	CSRFToken string
	UserCode  string
	Error     string
	// Done and Approved: the decision was recorded.
	Done, Approved bool
}

// deviceDecisionField marks a consent form answer at the verification page.
const deviceDecisionField = "device_decision"

// mountDevice registers the device endpoints when the store backs them.
func (p *Provider) mountDevice(r gin.IRouter, pre []gin.HandlerFunc) {
	if p.deviceCodes() == nil {
		return
	}
	for _, path := range []string{p.prefix + "/device_authorization/", p.prefix + "/device_authorization"} {
		r.POST(path, append(pre, p.DeviceAuthorizationHandler())...)
		r.OPTIONS(path, append(pre, preflight)...)
	}
	for _, path := range []string{p.prefix + "/device/", p.prefix + "/device"} {
		r.GET(path, p.DeviceVerificationHandler())
		r.POST(path, p.DeviceVerificationHandler())
	}
}

// DeviceVerificationHandler is the verification page (RFC 8628 section
// 3.3) for a logged-in user: GET shows the user code form (prefilled from
// ?user_code=), POST of a user code shows the consent page of its
// authorization, and POST of the consent form records the decision.
// Every POST naming a user code counts against
// Config.Device.UserCodeAttempts*.
func (p *Provider) DeviceVerificationHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("X-Frame-Options", "DENY")
		c.Header("Content-Security-Policy", "frame-ancestors 'none'")
		c.Header("Referrer-Policy", "no-referrer")
		owner, err := p.SessionOwner(c)
		if err != nil {
			p.devicePageFail(c, err)
			return
		}
		if owner == nil {
			next := c.Request.URL.RequestURI()
			if c.Request.Method != http.MethodGet {
				next = c.Request.URL.Path
			}
			p.RedirectToLogin(c, next)
			return
		}
		if c.Request.Method == http.MethodGet {
			p.renderDeviceForm(c, owner, c.Query("user_code"), "", http.StatusOK)
			return
		}
		p.devicePost(c, owner)
	}
}

func (p *Provider) devicePost(c *gin.Context, owner *Owner) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBody)
	if err := c.Request.ParseForm(); err != nil {
		p.authorizeErrorPage(c, oautherr.ErrInvalidRequest.WithDescription("The form could not be read."))
		return
	}
	if !p.CheckCSRF(c, owner.ID) {
		p.authorizeErrorPage(c, (&oautherr.Error{Code: "csrf_failed", Status: http.StatusForbidden}).
			WithDescription("The form has expired or did not come from this site; go back and try again."))
		return
	}
	typed := c.Request.PostFormValue("user_code")
	if err := p.allowUserCode(c, owner); err != nil {
		var t *throttled
		if errors.As(err, &t) {
			setRetryAfter(c, err)
			p.renderDeviceForm(c, owner, typed, "Too many codes entered; try again later.", http.StatusTooManyRequests)
			return
		}
		p.devicePageFail(c, err)
		return
	}
	code := NormalizeUserCode(typed)
	if code == "" {
		p.renderDeviceForm(c, owner, typed, "That code is not valid or has expired.", http.StatusBadRequest)
		return
	}
	if c.Request.PostFormValue(deviceDecisionField) != "" {
		p.deviceDecide(c, owner, typed, code)
		return
	}
	p.deviceConsent(c, owner, typed, code)
}

// allowUserCode counts one user code entry per user and per address.
func (p *Provider) allowUserCode(c *gin.Context, owner *Owner) error {
	cfg := p.cfg.Device.withDefaults()
	checks := []struct {
		key   string
		limit int
	}{
		{"device:user:" + owner.ID, cfg.UserCodeAttemptsPerUser},
		{"device:addr:" + c.ClientIP(), cfg.UserCodeAttemptsPerAddress},
	}
	for _, ch := range checks {
		if ch.limit < 0 {
			continue
		}
		ok, retry, err := p.store.Allow(c.Request.Context(), ch.key, ch.limit, cfg.UserCodeAttemptsWindow)
		if err != nil {
			return err
		}
		if !ok {
			return &throttled{ErrTooManyRequests.WithDescription("Too many user codes entered."), retry}
		}
	}
	return nil
}

// deviceConsent shows the consent page of the authorization of code.
func (p *Provider) deviceConsent(c *gin.Context, owner *Owner, typed, code string) {
	d, app, err := p.deviceLookup(c, code)
	if errors.Is(err, store.ErrNotFound) {
		p.renderDeviceForm(c, owner, typed, "That code is not valid or has expired.", http.StatusBadRequest)
		return
	}
	if err != nil {
		p.devicePageFail(c, err)
		return
	}
	if d.Status != store.DevicePending {
		p.renderDeviceForm(c, owner, typed, "That code was already used.", http.StatusBadRequest)
		return
	}
	data := ConsentData{
		Application: app,
		User:        owner,
		Action:      c.Request.URL.Path,
		Hidden:      map[string]string{"user_code": FormatUserCode(code), deviceDecisionField: "1"},
		CSRFField:   CSRFField,
		CSRFToken:   p.CSRFToken(c, owner.ID),
	}
	for _, s := range d.Scopes {
		data.Scopes = append(data.Scopes, ScopeDescription{s, p.scopes[s]})
	}
	p.render(c, http.StatusOK, p.consentTpl, data)
}

// deviceLookup finds a live authorization and its (current) application.
func (p *Provider) deviceLookup(c *gin.Context, code string) (*store.DeviceAuthorization, *store.Application, error) {
	d, err := p.deviceCodes().GetDeviceAuthorizationByUserCode(c.Request.Context(), code)
	if err != nil {
		return nil, nil, err
	}
	app, err := p.store.GetApplication(c.Request.Context(), d.ClientID)
	if err != nil {
		return nil, nil, err
	}
	if app.Generation != d.Generation {
		return nil, nil, store.ErrNotFound
	}
	return d, app, nil
}

// deviceDecide records the consent page's answer.
func (p *Provider) deviceDecide(c *gin.Context, owner *Owner, typed, code string) {
	approve := c.Request.PostFormValue("allow") != ""
	err := p.deviceCodes().DecideDeviceAuthorization(c.Request.Context(), code, approve, owner.ID, owner.Username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		p.renderDeviceForm(c, owner, typed, "That code is not valid or has expired.", http.StatusBadRequest)
	case errors.Is(err, store.ErrConsumed):
		p.renderDeviceForm(c, owner, typed, "That code was already used.", http.StatusBadRequest)
	case err != nil:
		p.devicePageFail(c, err)
	default:
		p.render(c, http.StatusOK, deviceTemplate, DevicePageData{User: owner, Done: true, Approved: approve})
	}
}

func (p *Provider) renderDeviceForm(c *gin.Context, owner *Owner, userCode, msg string, status int) {
	p.render(c, status, deviceTemplate, DevicePageData{
		User:      owner,
		Action:    c.Request.URL.Path,
		CSRFField: CSRFField,
		CSRFToken: p.CSRFToken(c, owner.ID),
		UserCode:  userCode,
		Error:     msg,
	})
}

// devicePageFail answers a server-side failure with the error page.
func (p *Provider) devicePageFail(c *gin.Context, err error) {
	e := asError(err)
	if e.Status >= 500 {
		p.logError(c.Request.Context(), "ginoauth: device verification page", err)
	}
	p.authorizeErrorPage(c, e)
}
