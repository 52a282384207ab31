package ginoauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/store"
)

// This file holds the management pages, DOT's /o/applications/ and
// /o/authorized_tokens/ views, which Mount registers under
// Config.PathPrefix for the user Config.Sessions says is logged in:
//
//	GET       {prefix}/applications/                      the user's applications
//	GET, POST {prefix}/applications/register/             register one
//	GET       {prefix}/applications/{client_id}/          one application
//	GET, POST {prefix}/applications/{client_id}/update/   change it
//	GET, POST {prefix}/applications/{client_id}/delete/   delete it (and revoke its tokens)
//	GET       {prefix}/authorized_tokens/                 the grants the user gave
//	POST      {prefix}/authorized_tokens/{family}/delete/ revoke one
//
// A visitor who is not logged in is sent to Config.LoginURL with next=.
// A user sees and changes only their own applications and grants; anybody
// else's answers 404, as a missing one does. Every POST must carry the
// CSRF token (CSRFField) or is refused with 403.
//
// The pages are the templates below, executed with the *Data types. To
// replace one, set it in Config.PageTemplates; to restyle a page, Clone
// the default and redefine its "style", "title" or "content" template:
//
//	t := template.Must(ginoauth.ApplicationListTemplate.Clone())
//	cfg.PageTemplates.List = template.Must(t.Parse(`{{define "style"}}…{{end}}`))

// maxPageForm bounds the body of a management page's POST.
const maxPageForm = 64 << 10

// maxApplicationName is the longest application name the registration
// form takes, as DOT's Application.name.
const maxApplicationName = 255

// PageData is what every management page's data starts with (embedded).
type PageData struct {
	// User is the logged-in user; nil on an error page shown before the
	// user is known.
	User *Owner
	// ApplicationsURL, RegisterURL and AuthorizedTokensURL are the pages'
	// addresses, for navigation.
	ApplicationsURL, RegisterURL, AuthorizedTokensURL string
	// CSRFField and CSRFToken are the hidden field every form posts.
	CSRFField, CSRFToken string
}

// ApplicationView is an application as the pages show it. It never holds
// the client secret or its hash.
type ApplicationView struct {
	ClientID string
	Name     string
	// DisplayName is Name, or the client ID when the name is empty.
	DisplayName string
	ClientType  string
	// Public is whether the client is public (and so has no secret).
	Public       bool
	GrantTypes   []string
	RedirectURIs []string
	// AllowedScopes is the scope ceiling with descriptions; empty means
	// every scope.
	AllowedScopes     []ScopeDescription
	SkipAuthorization bool
	// Created is the registration time for people (UTC), CreatedISO for
	// machines (RFC 3339).
	Created, CreatedISO string
	// URL, UpdateURL and DeleteURL are the application's pages.
	URL, UpdateURL, DeleteURL string
}

// ApplicationListData is what ApplicationListTemplate is executed with.
type ApplicationListData struct {
	PageData
	// Applications are the user's, oldest first.
	Applications []ApplicationView
}

// Choice is one radio button or checkbox of a form.
type Choice struct {
	Value, Label, Description string
	Checked                   bool
}

// ApplicationFormData is what ApplicationFormTemplate is executed with,
// for the registration and the update form.
type ApplicationFormData struct {
	PageData
	// Title and Submit label the page and its button; the form posts to
	// Action; CancelURL leads back.
	Title, Action, Submit, CancelURL string
	// Application is the application being changed; nil when registering.
	Application *ApplicationView
	// Name and RedirectURIs (one a line) are the fields' values.
	Name         string
	RedirectURIs string
	// SkipAuthorization is the application's setting, shown but not
	// offered: an application that skips consent gets codes for any
	// logged-in user with a link, so only an operator may set it
	// (NewApplication, UpdateApplication, `createapplication
	// --skip-authorization`), as DOT keeps it out of its form.
	SkipAuthorization bool
	// ClientTypes, GrantTypes and Scopes are the choices, checked as the
	// application or the posted form has them.
	ClientTypes, GrantTypes, Scopes []Choice
	// Errors say why the posted form was refused.
	Errors []string
}

// ApplicationDetailData is what ApplicationDetailTemplate is executed
// with.
type ApplicationDetailData struct {
	PageData
	Application ApplicationView
	// ClientSecret is set only on the answer that created the secret (the
	// registration, or the update that made the client confidential): only
	// its hash is stored, so it can never be shown again.
	ClientSecret string
	// Notice says what just happened ("Application registered."), if
	// anything.
	Notice string
}

// ApplicationDeleteData is what ApplicationDeleteTemplate is executed
// with.
type ApplicationDeleteData struct {
	PageData
	Application ApplicationView
	// Action is where the confirmation posts.
	Action string
}

// GrantView is one authorization the user gave, as the authorized-tokens
// page shows it.
type GrantView struct {
	// Family identifies the grant (the family of its tokens).
	Family          string
	ClientID        string
	ApplicationName string
	Scopes          []ScopeDescription
	// Created is when the user authorized it; Expires when its last token
	// expires, empty if never. The ISO variants are RFC 3339.
	Created, CreatedISO, Expires, ExpiresISO string
	// RevokeURL is where the revoke button posts.
	RevokeURL string
}

// AuthorizedTokensData is what AuthorizedTokensTemplate is executed with.
type AuthorizedTokensData struct {
	PageData
	// Grants are the user's live grants, newest first.
	Grants []GrantView
}

// PageErrorData is what PageErrorTemplate is executed with.
type PageErrorData struct {
	PageData
	Status         int
	Title, Message string
}

// pages serves the management pages of one Provider mounted at one base.
type pages struct {
	p                               *Provider
	appsURL, registerURL, tokensURL string
	list, form, detail, del, tokens *template.Template
	errPage                         *template.Template
}

// mountPages registers the management pages on r, each with and without
// its trailing slash.
func (p *Provider) mountPages(r gin.IRouter) {
	base := ""
	if b, ok := r.(interface{ BasePath() string }); ok {
		base = strings.TrimRight(b.BasePath(), "/")
	}
	pg := &pages{
		p:           p,
		appsURL:     base + p.prefix + "/applications/",
		registerURL: base + p.prefix + "/applications/register/",
		tokensURL:   base + p.prefix + "/authorized_tokens/",
		list:        ownCopy(orDefault(p.cfg.PageTemplates.List, ApplicationListTemplate)),
		form:        ownCopy(orDefault(p.cfg.PageTemplates.Form, ApplicationFormTemplate)),
		detail:      ownCopy(orDefault(p.cfg.PageTemplates.Detail, ApplicationDetailTemplate)),
		del:         ownCopy(orDefault(p.cfg.PageTemplates.Delete, ApplicationDeleteTemplate)),
		tokens:      ownCopy(orDefault(p.cfg.PageTemplates.AuthorizedTokens, AuthorizedTokensTemplate)),
		errPage:     ownCopy(orDefault(p.cfg.PageTemplates.Error, PageErrorTemplate)),
	}
	apps := p.prefix + "/applications"
	for _, rt := range []struct {
		method, path string
		handler      func(*gin.Context, *Owner)
	}{
		{http.MethodGet, apps, pg.listApplications},
		{http.MethodGet, apps + "/register", pg.registerForm},
		{http.MethodPost, apps + "/register", pg.register},
		{http.MethodGet, apps + "/:client_id", pg.showApplication},
		{http.MethodGet, apps + "/:client_id/update", pg.updateForm},
		{http.MethodPost, apps + "/:client_id/update", pg.update},
		{http.MethodGet, apps + "/:client_id/delete", pg.deleteForm},
		{http.MethodPost, apps + "/:client_id/delete", pg.delete},
		{http.MethodGet, p.prefix + "/authorized_tokens", pg.authorizedTokens},
		{http.MethodPost, p.prefix + "/authorized_tokens/:family/delete", pg.revoke},
	} {
		h := pg.guard(rt.handler)
		r.Handle(rt.method, rt.path+"/", h)
		r.Handle(rt.method, rt.path, h)
	}
}

// PageTemplates replaces the management pages' templates; a nil field
// keeps the default (ApplicationListTemplate and the others).
type PageTemplates struct {
	List, Form, Detail, Delete, AuthorizedTokens, Error *template.Template
}

func orDefault(t, def *template.Template) *template.Template {
	if t != nil {
		return t
	}
	return def
}

// ownCopy returns a clone of t for a Provider to execute, so that the
// package's template variables are never executed and can always be
// cloned (html/template cannot clone a template after it has run). A
// template that already ran is used as it is.
func ownCopy(t *template.Template) *template.Template {
	if c, err := t.Clone(); err == nil {
		return c
	}
	return t
}

// guard sets the pages' security headers, sends a visitor who is not
// logged in to the login page, and checks a POST's size and CSRF token
// before h runs.
func (pg *pages) guard(h func(*gin.Context, *Owner)) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.Header("X-Frame-Options", "DENY")
		c.Header("Content-Security-Policy", "frame-ancestors 'none'")
		c.Header("Referrer-Policy", "no-referrer")
		c.Header("X-Content-Type-Options", "nosniff")
		owner, err := pg.p.sessionOwner(c)
		if err != nil {
			pg.p.logError(c.Request.Context(), "ginoauth: management page: session", err)
			pg.unavailable(c, nil)
			return
		}
		if owner == nil {
			c.Redirect(http.StatusFound, pg.p.loginURL()+"?next="+url.QueryEscape(c.Request.URL.RequestURI()))
			return
		}
		if owner.ID == "" {
			// An owner without an ID would own every application that has
			// no owner.
			pg.errorPage(c, nil, http.StatusForbidden, "Forbidden", "Your account has no user id, so it cannot own applications.")
			return
		}
		if c.Request.Method == http.MethodPost {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxPageForm)
			if err := c.Request.ParseForm(); err != nil {
				pg.errorPage(c, owner, http.StatusBadRequest, "Bad request", "The form could not be read; go back and try again.")
				return
			}
			if !pg.p.CheckCSRF(c, owner.ID) {
				pg.errorPage(c, owner, http.StatusForbidden, "Forbidden",
					"The form has expired or did not come from this site (CSRF check failed); go back, reload the page and try again.")
				return
			}
		}
		h(c, owner)
	}
}

func (pg *pages) data(c *gin.Context, owner *Owner) PageData {
	d := PageData{
		User:                owner,
		ApplicationsURL:     pg.appsURL,
		RegisterURL:         pg.registerURL,
		AuthorizedTokensURL: pg.tokensURL,
		CSRFField:           CSRFField,
	}
	if owner != nil {
		d.CSRFToken = pg.p.CSRFToken(c, owner.ID)
	}
	return d
}

func (pg *pages) errorPage(c *gin.Context, owner *Owner, status int, title, msg string) {
	pg.p.render(c, status, pg.errPage, PageErrorData{PageData: pg.data(c, owner), Status: status, Title: title, Message: msg})
}

func (pg *pages) notFound(c *gin.Context, owner *Owner) {
	pg.errorPage(c, owner, http.StatusNotFound, "Not found", "There is no such page, or it is not yours.")
}

func (pg *pages) unavailable(c *gin.Context, owner *Owner) {
	c.Header("Retry-After", "1")
	pg.errorPage(c, owner, http.StatusServiceUnavailable, "Service unavailable",
		"The authorization store is unavailable; nothing was changed. Try again in a moment.")
}

// fail answers an error of the provider or the store: not found 404, a
// store outage 503, anything else 500 (logged).
func (pg *pages) fail(c *gin.Context, owner *Owner, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		pg.notFound(c, owner)
	case errors.Is(err, store.ErrUnavailable):
		pg.p.logError(c.Request.Context(), "ginoauth: management page", err)
		pg.unavailable(c, owner)
	default:
		pg.p.logError(c.Request.Context(), "ginoauth: management page", err)
		pg.errorPage(c, owner, http.StatusInternalServerError, "Server error", "The server could not complete the request.")
	}
}

// errNotYours answers, as a missing application does, a request for
// somebody else's application.
var errNotYours = fmt.Errorf("ginoauth: not the user's application: %w", store.ErrNotFound)

// ownApplication returns the application of the route's client_id if owner
// owns it, and otherwise an error wrapping store.ErrNotFound.
func (pg *pages) ownApplication(ctx context.Context, c *gin.Context, owner *Owner) (*store.Application, error) {
	app, err := pg.p.store.GetApplication(ctx, c.Param("client_id"))
	if err != nil {
		return nil, err
	}
	if app.UserID != owner.ID {
		return nil, errNotYours
	}
	return app, nil
}

func (pg *pages) appURL(clientID string) string {
	return pg.appsURL + url.PathEscape(clientID) + "/"
}

func (pg *pages) view(a *store.Application) ApplicationView {
	v := ApplicationView{
		ClientID:          a.ClientID,
		Name:              a.Name,
		DisplayName:       cmp.Or(a.Name, a.ClientID),
		ClientType:        string(a.ClientType),
		Public:            a.ClientType == store.Public,
		GrantTypes:        a.GrantTypes,
		RedirectURIs:      a.RedirectURIs,
		SkipAuthorization: a.SkipAuthorization,
		Created:           humanTime(a.CreatedAt),
		CreatedISO:        isoTime(a.CreatedAt),
		URL:               pg.appURL(a.ClientID),
		UpdateURL:         pg.appURL(a.ClientID) + "update/",
		DeleteURL:         pg.appURL(a.ClientID) + "delete/",
	}
	v.AllowedScopes = pg.describe(a.AllowedScopes)
	return v
}

func (pg *pages) describe(scopes []string) []ScopeDescription {
	var out []ScopeDescription
	for _, s := range scopes {
		out = append(out, ScopeDescription{s, pg.p.scopes[s]})
	}
	return out
}

func humanTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// --- applications ---

func (pg *pages) listApplications(c *gin.Context, owner *Owner) {
	apps, err := pg.p.ListApplications(c.Request.Context(), owner.ID)
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	slices.SortStableFunc(apps, func(a, b *store.Application) int { return a.CreatedAt.Compare(b.CreatedAt) })
	data := ApplicationListData{PageData: pg.data(c, owner), Applications: []ApplicationView{}}
	for _, a := range apps {
		data.Applications = append(data.Applications, pg.view(a))
	}
	pg.p.render(c, http.StatusOK, pg.list, data)
}

func (pg *pages) showApplication(c *gin.Context, owner *Owner) {
	app, err := pg.ownApplication(c.Request.Context(), c, owner)
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	pg.p.render(c, http.StatusOK, pg.detail, ApplicationDetailData{PageData: pg.data(c, owner), Application: pg.view(app)})
}

// appForm is the registration and update form's values.
type appForm struct {
	name, clientType, redirectURIs string
	grantTypes, scopes             []string
}

func readAppForm(v url.Values) appForm {
	return appForm{
		name:         strings.TrimSpace(v.Get("name")),
		clientType:   v.Get("client_type"),
		redirectURIs: v.Get("redirect_uris"),
		grantTypes:   v["grant_type"],
		scopes:       v["scope"],
	}
}

func appFormOf(a *store.Application) appForm {
	return appForm{
		name:         a.Name,
		clientType:   string(a.ClientType),
		redirectURIs: strings.Join(a.RedirectURIs, "\n"),
		grantTypes:   a.GrantTypes,
		scopes:       a.AllowedScopes,
	}
}

// problems checks what applicationProblems does not: the name.
func (f appForm) problems() []string {
	var out []string
	if utf8.RuneCountInString(f.name) > maxApplicationName {
		out = append(out, fmt.Sprintf("The name is too long: %d characters at most.", maxApplicationName))
	}
	if !utf8.ValidString(f.name) || strings.IndexFunc(f.name, unicode.IsControl) >= 0 {
		out = append(out, "The name must be plain text on one line.")
	}
	return out
}

// apply sets a's settings from the form.
func (f appForm) apply(a *store.Application) {
	a.Name = f.name
	a.ClientType = store.ClientType(f.clientType)
	a.GrantTypes = dedupe(f.grantTypes)
	a.RedirectURIs = dedupe(strings.Fields(f.redirectURIs))
	a.AllowedScopes = dedupe(f.scopes)
}

// formGrantTypes are the grant types the form offers, as DOT's (without
// the implicit grant, which RFC 9700 retires).
var formGrantTypes = []Choice{
	{Value: store.GrantAuthorizationCode, Label: "Authorization code", Description: "users log in and consent in a browser (with PKCE)"},
	{Value: store.GrantPassword, Label: "Resource owner password-based", Description: "the application collects the user's password"},
	{Value: store.GrantClientCredentials, Label: "Client credentials", Description: "the application acts on its own behalf (confidential clients only)"},
}

var formClientTypes = []Choice{
	{Value: string(store.Confidential), Label: "Confidential", Description: "runs on a server and can keep a client secret"},
	{Value: string(store.Public), Label: "Public", Description: "a browser or native app: no secret, PKCE required"},
}

func (pg *pages) formData(c *gin.Context, owner *Owner, f appForm, app *store.Application, errs []string) ApplicationFormData {
	d := ApplicationFormData{
		PageData:     pg.data(c, owner),
		Title:        "Register a new application",
		Action:       pg.registerURL,
		Submit:       "Register",
		CancelURL:    pg.appsURL,
		Name:         f.name,
		RedirectURIs: f.redirectURIs,
		Errors:       errs,
	}
	if app != nil {
		v := pg.view(app)
		d.Application = &v
		d.SkipAuthorization = app.SkipAuthorization
		d.Title = "Edit " + v.DisplayName
		d.Action = v.UpdateURL
		d.Submit = "Save"
		d.CancelURL = v.URL
	}
	for _, ch := range formClientTypes {
		ch.Checked = ch.Value == f.clientType
		d.ClientTypes = append(d.ClientTypes, ch)
	}
	for _, ch := range formGrantTypes {
		ch.Checked = slices.Contains(f.grantTypes, ch.Value)
		d.GrantTypes = append(d.GrantTypes, ch)
	}
	for _, s := range pg.p.scopeNames {
		d.Scopes = append(d.Scopes, Choice{Value: s, Label: s, Description: pg.p.scopes[s], Checked: slices.Contains(f.scopes, s)})
	}
	return d
}

func (pg *pages) registerForm(c *gin.Context, owner *Owner) {
	f := appForm{clientType: string(store.Confidential), grantTypes: []string{store.GrantAuthorizationCode}}
	pg.p.render(c, http.StatusOK, pg.form, pg.formData(c, owner, f, nil, nil))
}

func (pg *pages) register(c *gin.Context, owner *Owner) {
	f := readAppForm(c.Request.PostForm)
	cand := &store.Application{UserID: owner.ID}
	f.apply(cand)
	if errs := append(f.problems(), pg.p.applicationProblems(cand)...); len(errs) > 0 {
		pg.p.render(c, http.StatusBadRequest, pg.form, pg.formData(c, owner, f, nil, errs))
		return
	}
	app, secret, err := pg.p.CreateApplication(c.Request.Context(), NewApplication{
		Name:          cand.Name,
		ClientType:    cand.ClientType,
		GrantTypes:    cand.GrantTypes,
		RedirectURIs:  cand.RedirectURIs,
		AllowedScopes: cand.AllowedScopes,
		UserID:        owner.ID,
	})
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	pg.p.render(c, http.StatusCreated, pg.detail, ApplicationDetailData{
		PageData: pg.data(c, owner), Application: pg.view(app), ClientSecret: secret,
		Notice: "Application registered.",
	})
}

func (pg *pages) updateForm(c *gin.Context, owner *Owner) {
	app, err := pg.ownApplication(c.Request.Context(), c, owner)
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	pg.p.render(c, http.StatusOK, pg.form, pg.formData(c, owner, appFormOf(app), app, nil))
}

func (pg *pages) update(c *gin.Context, owner *Owner) {
	f := readAppForm(c.Request.PostForm)
	var (
		old    *store.Application
		secret string
	)
	app, err := pg.p.UpdateApplication(c.Request.Context(), c.Param("client_id"), func(a *store.Application) error {
		if a.UserID != owner.ID {
			return errNotYours
		}
		o := *a
		old = &o
		keepRefresh := a.AllowsGrant(store.GrantRefreshToken) // not on the form
		f.apply(a)
		if keepRefresh && !a.AllowsGrant(store.GrantRefreshToken) {
			a.GrantTypes = append(a.GrantTypes, store.GrantRefreshToken)
		}
		if errs := f.problems(); len(errs) > 0 {
			return &InvalidApplicationError{Problems: append(errs, pg.p.applicationProblems(a)...)}
		}
		if a.ClientType == store.Confidential && a.SecretHash == "" {
			// A public client made confidential: it needs a secret.
			s, err := randomID(32)
			if err != nil {
				return err
			}
			secret, a.SecretHash = s, HashClientSecret(s)
		}
		return nil
	})
	var invalid *InvalidApplicationError
	switch {
	case errors.As(err, &invalid) && old != nil:
		pg.p.render(c, http.StatusBadRequest, pg.form, pg.formData(c, owner, f, old, invalid.Problems))
	case err != nil:
		pg.fail(c, owner, err)
	case secret != "":
		pg.p.render(c, http.StatusOK, pg.detail, ApplicationDetailData{
			PageData: pg.data(c, owner), Application: pg.view(app), ClientSecret: secret,
			Notice: "Application saved. It is now confidential, with a new client secret.",
		})
	default:
		c.Redirect(http.StatusSeeOther, pg.appURL(app.ClientID))
	}
}

func (pg *pages) deleteForm(c *gin.Context, owner *Owner) {
	app, err := pg.ownApplication(c.Request.Context(), c, owner)
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	v := pg.view(app)
	pg.p.render(c, http.StatusOK, pg.del, ApplicationDeleteData{PageData: pg.data(c, owner), Application: v, Action: v.DeleteURL})
}

func (pg *pages) delete(c *gin.Context, owner *Owner) {
	ctx := c.Request.Context()
	app, err := pg.ownApplication(ctx, c, owner)
	if err == nil {
		err = pg.p.DeleteApplication(ctx, app.ClientID)
	}
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	c.Redirect(http.StatusSeeOther, pg.appsURL)
}

// --- authorized tokens ---

func (pg *pages) authorizedTokens(c *gin.Context, owner *Owner) {
	ctx := c.Request.Context()
	grants, err := pg.p.ListGrants(ctx, store.GrantFilter{UserID: owner.ID})
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	names := map[string]string{}
	data := AuthorizedTokensData{PageData: pg.data(c, owner), Grants: []GrantView{}}
	for _, g := range grants {
		name, ok := names[g.ClientID]
		if !ok {
			app, err := pg.p.store.GetApplication(ctx, g.ClientID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				name = g.ClientID + " (deleted)"
			case err != nil:
				pg.fail(c, owner, err)
				return
			default:
				name = cmp.Or(app.Name, app.ClientID)
			}
			names[g.ClientID] = name
		}
		data.Grants = append(data.Grants, GrantView{
			Family:          g.Family,
			ClientID:        g.ClientID,
			ApplicationName: name,
			Scopes:          pg.describe(g.Scopes),
			Created:         humanTime(g.CreatedAt),
			CreatedISO:      isoTime(g.CreatedAt),
			Expires:         humanTime(g.ExpiresAt),
			ExpiresISO:      isoTime(g.ExpiresAt),
			RevokeURL:       pg.tokensURL + url.PathEscape(g.Family) + "/delete/",
		})
	}
	pg.p.render(c, http.StatusOK, pg.tokens, data)
}

func (pg *pages) revoke(c *gin.Context, owner *Owner) {
	ctx := c.Request.Context()
	family := c.Param("family")
	grants, err := pg.p.ListGrants(ctx, store.GrantFilter{UserID: owner.ID})
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	i := slices.IndexFunc(grants, func(g *store.Grant) bool { return g.Family == family && g.UserID == owner.ID })
	if i < 0 {
		pg.notFound(c, owner)
		return
	}
	if err := pg.p.store.RevokeFamily(ctx, family); err != nil {
		pg.fail(c, owner, err)
		return
	}
	c.Redirect(http.StatusSeeOther, pg.tokensURL)
}

// --- templates ---

// pageLayout is the frame of every management page: a template that runs
// the "title", "style" and "content" templates each page defines.
const pageLayout = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{block "title" .}}{{end}}</title>
<style>{{block "style" .}}
body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:1.5rem auto;padding:0 1rem;color:#222}
nav{border-bottom:1px solid #ddd;padding-bottom:.5rem;margin-bottom:1rem}
code{background:#f3f3f3;padding:0 .2em;word-break:break-all}
fieldset{border:1px solid #ddd;margin:1rem 0}
dt{font-weight:600;margin-top:.5rem}
small{color:#555}
.alert{border:1px solid #b33;background:#fdecec;padding:.5rem 1rem}
.once{border:2px solid #c80;background:#fff6dc;padding:.5rem 1rem}
.notice{border:1px solid #393;background:#eef8ee;padding:.5rem 1rem}
.danger{background:#b33;color:#fff;border:0;padding:.3rem .8rem;cursor:pointer}
li.grant{margin-bottom:1rem}
{{end}}</style></head>
<body>
<nav id="nav">{{with .User}}Signed in as <strong id="username">{{.Username}}</strong> · {{end}}<a id="nav-applications" href="{{.ApplicationsURL}}">Your applications</a> · <a id="nav-authorized-tokens" href="{{.AuthorizedTokensURL}}">Authorized tokens</a></nav>
<main>{{block "content" .}}{{end}}</main>
</body></html>
`

func pageTemplate(name, body string) *template.Template {
	return template.Must(template.Must(template.New(name).Parse(pageLayout)).Parse(body))
}

// ApplicationListTemplate is the page listing the user's applications
// (DOT's oauth2_provider/application_list.html), executed with an
// ApplicationListData.
var ApplicationListTemplate = pageTemplate("application_list", `
{{define "title"}}Your applications{{end}}
{{define "content"}}<h1>Your applications</h1>
{{if .Applications}}<ul id="applications">{{range .Applications}}
<li data-client-id="{{.ClientID}}"><a href="{{.URL}}">{{.DisplayName}}</a> <small>{{.ClientType}} · {{range $i, $g := .GrantTypes}}{{if $i}}, {{end}}{{$g}}{{end}}</small></li>{{end}}
</ul>
{{else}}<p id="no-applications">You have no applications yet.</p>
{{end}}<p><a id="register" href="{{.RegisterURL}}">Register a new application</a></p>
{{end}}`)

// ApplicationFormTemplate is the registration and the update form (DOT's
// application_registration_form.html and application_form.html),
// executed with an ApplicationFormData.
var ApplicationFormTemplate = pageTemplate("application_form", `
{{define "title"}}{{.Title}}{{end}}
{{define "content"}}<h1>{{.Title}}</h1>
{{if .Errors}}<div id="errors" class="alert" role="alert"><p>The application was not saved:</p>
<ul>{{range .Errors}}<li>{{.}}</li>{{end}}</ul></div>
{{end}}<form id="application-form" method="post" action="{{.Action}}">
<input type="hidden" name="{{.CSRFField}}" value="{{.CSRFToken}}">
{{with .Application}}<p>Client id: <code id="client_id">{{.ClientID}}</code></p>
{{end}}<p><label for="name">Name</label><br><input id="name" name="name" value="{{.Name}}" maxlength="255" size="40"></p>
<fieldset id="client_type"><legend>Client type</legend>
{{range .ClientTypes}}<label><input type="radio" id="client_type_{{.Value}}" name="client_type" value="{{.Value}}"{{if .Checked}} checked{{end}}> {{.Label}}</label> <small>{{.Description}}</small><br>
{{end}}</fieldset>
<fieldset id="grant_types"><legend>Authorization grant types</legend>
{{range .GrantTypes}}<label><input type="checkbox" id="grant_type_{{.Value}}" name="grant_type" value="{{.Value}}"{{if .Checked}} checked{{end}}> {{.Label}}</label> <small>{{.Description}}</small><br>
{{end}}</fieldset>
<p><label for="redirect_uris">Redirect URIs</label> <small>separated by spaces or new lines; https, http on loopback, or a reverse-DNS scheme for native apps</small><br>
<textarea id="redirect_uris" name="redirect_uris" rows="3" cols="60">{{.RedirectURIs}}</textarea></p>
<fieldset id="allowed_scopes"><legend>Allowed scopes</legend><small>Tokens for this application carry only these scopes; none checked means every scope.</small><br>
{{range .Scopes}}<label><input type="checkbox" id="scope_{{.Value}}" name="scope" value="{{.Value}}"{{if .Checked}} checked{{end}}> <code>{{.Value}}</code>{{with .Description}} {{.}}{{end}}</label><br>
{{end}}</fieldset>
{{if .SkipAuthorization}}<p id="skip_authorization">Users are not asked to consent (skip authorization, set by an operator).</p>
{{end}}<p><button type="submit" id="submit">{{.Submit}}</button> <a id="cancel" href="{{.CancelURL}}">Cancel</a></p>
</form>
{{end}}`)

// ApplicationDetailTemplate is the page of one application (DOT's
// application_detail.html), executed with an ApplicationDetailData. It
// shows the client secret only when the data carries it, right after it
// was created.
var ApplicationDetailTemplate = pageTemplate("application_detail", `
{{define "title"}}{{.Application.DisplayName}}{{end}}
{{define "content"}}{{with .Notice}}<p id="notice" class="notice">{{.}}</p>
{{end}}<h1 id="name">{{.Application.DisplayName}}</h1>
{{if .ClientSecret}}<div id="secret-once" class="once" role="alert">
<p><strong>Copy the client secret now: it is shown only this once.</strong> Only its hash is stored, so nobody can show it again; if it is lost, the application must be registered anew.</p>
<p>Client secret: <code id="client_secret">{{.ClientSecret}}</code></p>
</div>
{{end}}{{with .Application}}<dl>
<dt>Client id</dt><dd><code id="client_id">{{.ClientID}}</code></dd>
<dt>Client secret</dt><dd id="client_secret_note">{{if .Public}}None: a public client has no secret.{{else if $.ClientSecret}}Shown above, this once.{{else}}Hidden: only its hash is stored.{{end}}</dd>
<dt>Client type</dt><dd id="client_type">{{.ClientType}}</dd>
<dt>Authorization grant types</dt><dd id="grant_types">{{range .GrantTypes}}<code>{{.}}</code> {{end}}</dd>
<dt>Redirect URIs</dt><dd id="redirect_uris">{{range .RedirectURIs}}<code>{{.}}</code><br>{{else}}none{{end}}</dd>
<dt>Allowed scopes</dt><dd id="allowed_scopes">{{range .AllowedScopes}}<code>{{.Name}}</code> {{else}}every scope{{end}}</dd>
<dt>Skip authorization</dt><dd id="skip_authorization">{{if .SkipAuthorization}}yes{{else}}no{{end}}</dd>
<dt>Created</dt><dd id="created"><time datetime="{{.CreatedISO}}">{{.Created}}</time></dd>
</dl>
<p><a id="edit" href="{{.UpdateURL}}">Edit</a> · <a id="delete" href="{{.DeleteURL}}">Delete</a> · <a id="back" href="{{$.ApplicationsURL}}">Back to your applications</a></p>
{{end}}{{end}}`)

// ApplicationDeleteTemplate asks to confirm deleting an application (DOT's
// application_confirm_delete.html), executed with an
// ApplicationDeleteData.
var ApplicationDeleteTemplate = pageTemplate("application_delete", `
{{define "title"}}Delete {{.Application.DisplayName}}{{end}}
{{define "content"}}<h1>Delete {{.Application.DisplayName}}?</h1>
<p id="delete-warning">This deletes the application <code>{{.Application.ClientID}}</code> and revokes every token issued to it: whatever uses it stops working at once. This cannot be undone.</p>
<form id="delete-form" method="post" action="{{.Action}}">
<input type="hidden" name="{{.CSRFField}}" value="{{.CSRFToken}}">
<button type="submit" id="confirm-delete" class="danger">Delete</button> <a id="cancel" href="{{.Application.URL}}">Cancel</a>
</form>
{{end}}`)

// AuthorizedTokensTemplate lists the grants the user gave, with a revoke
// button each (DOT's authorized-tokens.html), executed with an
// AuthorizedTokensData.
var AuthorizedTokensTemplate = pageTemplate("authorized_tokens", `
{{define "title"}}Authorized tokens{{end}}
{{define "content"}}<h1>Authorized tokens</h1>
{{if .Grants}}<p>These applications can act on your behalf. Revoking one stops its access and refresh tokens at once.</p>
<ul id="authorized-tokens">{{range .Grants}}
<li id="grant-{{.Family}}" class="grant" data-client-id="{{.ClientID}}"><strong class="application">{{.ApplicationName}}</strong>
<ul class="scopes">{{range .Scopes}}<li><code>{{.Name}}</code>{{with .Description}} {{.}}{{end}}</li>{{else}}<li>no scopes</li>{{end}}</ul>
<small>Authorized <time class="created" datetime="{{.CreatedISO}}">{{.Created}}</time>; {{if .Expires}}expires <time class="expires" datetime="{{.ExpiresISO}}">{{.Expires}}</time>{{else}}does not expire{{end}}.</small>
<form method="post" action="{{.RevokeURL}}"><input type="hidden" name="{{$.CSRFField}}" value="{{$.CSRFToken}}"><button type="submit" id="revoke-{{.Family}}" class="danger">Revoke</button></form></li>{{end}}
</ul>
{{else}}<p id="no-authorized-tokens">You have not authorized any application.</p>
{{end}}{{end}}`)

// PageErrorTemplate is the management pages' error page (not found,
// CSRF failure, store outage), executed with a PageErrorData.
var PageErrorTemplate = pageTemplate("page_error", `
{{define "title"}}{{.Title}}{{end}}
{{define "content"}}<h1 id="error-title">{{.Title}}</h1>
<p id="error-message">{{.Message}}</p>
{{end}}`)
