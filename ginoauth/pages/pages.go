// Package pages serves the HTML pages where users manage what they gave an
// authorization server of package ginoauth: Django OAuth Toolkit's
// /o/applications/ and /o/authorized_tokens/ views. An API that wants only
// the token endpoint does not mount them. Mount registers them under the
// provider's PathPrefix (below the router's base path), for the user the
// provider's ginoauth.Config.Sessions says is logged in:
//
//	GET       {prefix}/applications/                      the user's applications
//	GET, POST {prefix}/applications/register/             register one
//	GET       {prefix}/applications/{client_id}/          one application
//	GET, POST {prefix}/applications/{client_id}/update/   change it
//	GET, POST {prefix}/applications/{client_id}/delete/   delete it (and revoke its tokens)
//	GET       {prefix}/authorized_tokens/                 the grants the user gave
//	POST      {prefix}/authorized_tokens/{family}/delete/ revoke one
//
// A visitor who is not logged in is sent to the provider's login URL
// (ginoauth.Config.LoginURL) with next= set to the page asked for. A user sees and changes only their own applications and grants;
// anybody else's answers 404, as a missing one does. Every POST must carry
// the CSRF token (ginoauth.CSRFField) or is refused with 403.
//
// The pages are templates embedded from templates/*.html, executed with the
// *Data types. To replace one, set it in Config.Templates; to restyle a
// page, take DefaultTemplates and redefine a page's "style", "title" or
// "content" template:
//
//	t := pages.DefaultTemplates()
//	t.List = template.Must(t.List.Parse(`{{define "style"}}…{{end}}`))
//	pages.Mount(r, provider, pages.Config{Templates: t})
package pages

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// maxPageForm bounds the body of a management page's POST.
const maxPageForm = 64 << 10

// PageData is what every management page's data starts with (embedded).
type PageData struct {
	// User is the logged-in user; nil on an error page shown before the
	// user is known.
	User *ginoauth.Owner
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
	AllowedScopes     []ginoauth.ScopeDescription
	SkipAuthorization bool
	// Created is the registration time for people (UTC), CreatedISO for
	// machines (RFC 3339).
	Created, CreatedISO string
	// URL, UpdateURL and DeleteURL are the application's pages.
	URL, UpdateURL, DeleteURL string
}

// ApplicationListData is what Templates.List is executed with.
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

// ApplicationFormData is what Templates.Form is executed with, for the
// registration and the update form.
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

// ApplicationDetailData is what Templates.Detail is executed with.
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

// ApplicationDeleteData is what Templates.Delete is executed with.
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
	Scopes          []ginoauth.ScopeDescription
	// Created is when the user authorized it; Expires when its last token
	// expires, empty if never. The ISO variants are RFC 3339.
	Created, CreatedISO, Expires, ExpiresISO string
	// RevokeURL is where the revoke button posts.
	RevokeURL string
}

// AuthorizedTokensData is what Templates.AuthorizedTokens is executed with.
type AuthorizedTokensData struct {
	PageData
	// Grants are the user's live grants, newest first.
	Grants []GrantView
}

// PageErrorData is what Templates.Error is executed with.
type PageErrorData struct {
	PageData
	Status         int
	Title, Message string
}

// Config configures the pages.
type Config struct {
	// Templates replaces pages; a nil field keeps the built-in page.
	Templates Templates
	// Logger receives a line for every page answered 5xx (never a secret).
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Templates are the pages' templates, each executed with its *Data type.
type Templates struct {
	// List is the page listing the user's applications (DOT's
	// application_list.html), executed with an ApplicationListData.
	List *template.Template
	// Form is the registration and the update form (DOT's
	// application_registration_form.html and application_form.html),
	// executed with an ApplicationFormData.
	Form *template.Template
	// Detail is the page of one application (DOT's
	// application_detail.html), executed with an ApplicationDetailData. It
	// shows the client secret only when the data carries it, right after
	// it was created.
	Detail *template.Template
	// Delete asks to confirm deleting an application (DOT's
	// application_confirm_delete.html), executed with an
	// ApplicationDeleteData.
	Delete *template.Template
	// AuthorizedTokens lists the grants the user gave, with a revoke
	// button each (DOT's authorized-tokens.html), executed with an
	// AuthorizedTokensData.
	AuthorizedTokens *template.Template
	// Error is the pages' error page (not found, CSRF failure, store
	// outage), executed with a PageErrorData.
	Error *template.Template
}

//go:embed templates/*.html
var templateFiles embed.FS

// DefaultTemplates returns new copies of the built-in pages, each the
// layout (templates/layout.html, which runs the "title", "style" and
// "content" templates a page defines) with the page's own file, for a
// caller to restyle.
func DefaultTemplates() Templates {
	return Templates{
		List:             pageTemplate("application_list"),
		Form:             pageTemplate("application_form"),
		Detail:           pageTemplate("application_detail"),
		Delete:           pageTemplate("application_delete"),
		AuthorizedTokens: pageTemplate("authorized_tokens"),
		Error:            pageTemplate("page_error"),
	}
}

func pageTemplate(name string) *template.Template {
	t := template.Must(template.New(name).Parse(mustRead("templates/layout.html")))
	return template.Must(t.Parse(mustRead("templates/" + name + ".html")))
}

// mustRead returns an embedded file, which is there by construction.
func mustRead(name string) string {
	b, err := templateFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// pages serves the management pages of one provider.
type pages struct {
	p                               *ginoauth.Provider
	appsURL, registerURL, tokensURL string
	list, form, detail, del, tokens *template.Template
	errPage                         *template.Template
	scopes                          map[string]string
	scopeNames                      []string // sorted, those the form offers
	// introspection is the introspection scope, which the form does not
	// offer: it makes an application a resource server.
	introspection string
	log           *slog.Logger
}

// Mount registers the management pages of p on r, under p's PathPrefix,
// each with and without its trailing slash. When r is a group (anything
// with a BasePath method, such as *gin.RouterGroup), the pages' links and
// redirects start with its base path.
func Mount(r gin.IRouter, p *ginoauth.Provider, cfg Config) {
	pg := newPages(r, p, cfg)
	apps := p.PathPrefix() + "/applications"
	for _, rt := range []struct {
		method, path string
		handler      func(*gin.Context, *ginoauth.Owner)
	}{
		{http.MethodGet, apps, pg.listApplications},
		{http.MethodGet, apps + "/register", pg.registerForm},
		{http.MethodPost, apps + "/register", pg.register},
		{http.MethodGet, apps + "/:client_id", pg.showApplication},
		{http.MethodGet, apps + "/:client_id/update", pg.updateForm},
		{http.MethodPost, apps + "/:client_id/update", pg.update},
		{http.MethodGet, apps + "/:client_id/delete", pg.deleteForm},
		{http.MethodPost, apps + "/:client_id/delete", pg.delete},
		{http.MethodGet, p.PathPrefix() + "/authorized_tokens", pg.authorizedTokens},
		{http.MethodPost, p.PathPrefix() + "/authorized_tokens/:family/delete", pg.revoke},
	} {
		h := pg.guard(rt.handler)
		r.Handle(rt.method, rt.path+"/", h)
		r.Handle(rt.method, rt.path, h)
	}
}

func newPages(r gin.IRouter, p *ginoauth.Provider, cfg Config) *pages {
	base := ""
	if b, ok := r.(interface{ BasePath() string }); ok {
		base = strings.TrimRight(b.BasePath(), "/")
	}
	def := DefaultTemplates()
	pg := &pages{
		p:           p,
		appsURL:     base + p.PathPrefix() + "/applications/",
		registerURL: base + p.PathPrefix() + "/applications/register/",
		tokensURL:   base + p.PathPrefix() + "/authorized_tokens/",
		list:        cmp.Or(cfg.Templates.List, def.List),
		form:        cmp.Or(cfg.Templates.Form, def.Form),
		detail:      cmp.Or(cfg.Templates.Detail, def.Detail),
		del:         cmp.Or(cfg.Templates.Delete, def.Delete),
		tokens:      cmp.Or(cfg.Templates.AuthorizedTokens, def.AuthorizedTokens),
		errPage:     cmp.Or(cfg.Templates.Error, def.Error),
		scopes:      p.Scopes(),
		log:         cmp.Or(cfg.Logger, slog.Default()),
	}
	pg.introspection = p.IntrospectionScope()
	pg.scopeNames = slices.DeleteFunc(slices.Sorted(maps.Keys(pg.scopes)), func(s string) bool { return s == pg.introspection })
	return pg
}

// problemsOf lists the problems of an error from CheckApplication.
func problemsOf(err error) []string {
	var invalid *ginoauth.InvalidApplicationError
	if errors.As(err, &invalid) {
		return invalid.Problems
	}
	return nil
}

// render executes tpl with data and answers it with status.
func (pg *pages) render(c *gin.Context, status int, tpl *template.Template, data any) {
	var b strings.Builder
	if err := tpl.Execute(&b, data); err != nil {
		pg.log.ErrorContext(c.Request.Context(), "pages: rendering a page", "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("The page could not be rendered."))
		return
	}
	c.Data(status, "text/html; charset=utf-8", []byte(b.String()))
}

// guard sets the pages' security headers, sends a visitor who is not
// logged in to the login page, and checks a POST's size and CSRF token
// before h runs.
func (pg *pages) guard(h func(*gin.Context, *ginoauth.Owner)) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.Header("X-Frame-Options", "DENY")
		c.Header("Content-Security-Policy", "frame-ancestors 'none'")
		c.Header("Referrer-Policy", "no-referrer")
		c.Header("X-Content-Type-Options", "nosniff")
		owner, err := pg.p.SessionOwner(c)
		if err != nil {
			pg.log.ErrorContext(c.Request.Context(), "pages: management page: session", "err", err)
			pg.unavailable(c, nil)
			return
		}
		if owner == nil {
			pg.p.RedirectToLogin(c, c.Request.URL.RequestURI())
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

func (pg *pages) data(c *gin.Context, owner *ginoauth.Owner) PageData {
	d := PageData{
		User:                owner,
		ApplicationsURL:     pg.appsURL,
		RegisterURL:         pg.registerURL,
		AuthorizedTokensURL: pg.tokensURL,
		CSRFField:           ginoauth.CSRFField,
	}
	if owner != nil {
		d.CSRFToken = pg.p.CSRFToken(c, owner.ID)
	}
	return d
}

func (pg *pages) errorPage(c *gin.Context, owner *ginoauth.Owner, status int, title, msg string) {
	pg.render(c, status, pg.errPage, PageErrorData{PageData: pg.data(c, owner), Status: status, Title: title, Message: msg})
}

func (pg *pages) notFound(c *gin.Context, owner *ginoauth.Owner) {
	pg.errorPage(c, owner, http.StatusNotFound, "Not found", "There is no such page, or it is not yours.")
}

func (pg *pages) unavailable(c *gin.Context, owner *ginoauth.Owner) {
	c.Header("Retry-After", "1")
	pg.errorPage(c, owner, http.StatusServiceUnavailable, "Service unavailable",
		"The authorization store is unavailable; nothing was changed. Try again in a moment.")
}

// fail answers an error of the provider or the store: not found 404, a
// store outage 503, anything else 500 (logged).
func (pg *pages) fail(c *gin.Context, owner *ginoauth.Owner, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		pg.notFound(c, owner)
	case errors.Is(err, store.ErrUnavailable):
		pg.log.ErrorContext(c.Request.Context(), "pages: management page", "err", err)
		pg.unavailable(c, owner)
	default:
		pg.log.ErrorContext(c.Request.Context(), "pages: management page", "err", err)
		pg.errorPage(c, owner, http.StatusInternalServerError, "Server error", "The server could not complete the request.")
	}
}

// errNotYours answers, as a missing application does, a request for
// somebody else's application.
var errNotYours = fmt.Errorf("pages: not the user's application: %w", store.ErrNotFound)

// ownApplication returns the application of the route's client_id if owner
// owns it, and otherwise an error wrapping store.ErrNotFound.
func (pg *pages) ownApplication(ctx context.Context, c *gin.Context, owner *ginoauth.Owner) (*store.Application, error) {
	app, err := pg.p.Store().GetApplication(ctx, c.Param("client_id"))
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

func (pg *pages) describe(scopes []string) []ginoauth.ScopeDescription {
	var out []ginoauth.ScopeDescription
	for _, s := range scopes {
		out = append(out, ginoauth.ScopeDescription{Name: s, Description: pg.scopes[s]})
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

func (pg *pages) listApplications(c *gin.Context, owner *ginoauth.Owner) {
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
	pg.render(c, http.StatusOK, pg.list, data)
}

func (pg *pages) showApplication(c *gin.Context, owner *ginoauth.Owner) {
	app, err := pg.ownApplication(c.Request.Context(), c, owner)
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	pg.render(c, http.StatusOK, pg.detail, ApplicationDetailData{PageData: pg.data(c, owner), Application: pg.view(app)})
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

// problems is the form's problems, and a request for the introspection
// scope, which the form does not offer: it would let the application see
// every client's access tokens at the introspection endpoint. Only an
// operator gives it.
func (pg *pages) problems(f appForm) []string {
	out := f.problems()
	if slices.Contains(f.scopes, pg.introspection) {
		out = append(out, fmt.Sprintf("The form does not offer the scope %q: it lets an application read other applications' tokens, and only an administrator can grant it.", pg.introspection))
	}
	return out
}

// problems checks what Provider.CheckApplication (which checks the name,
// the redirect URIs and the scopes) does not: that the grant types are
// among those the form offers (CheckApplication accepts any the server
// has, refresh_token and custom grants included, which only an operator
// may give).
func (f appForm) problems() []string {
	var out []string
	for _, g := range f.grantTypes {
		if !slices.ContainsFunc(formGrantTypes, func(c Choice) bool { return c.Value == g }) {
			out = append(out, fmt.Sprintf("The form does not offer the grant type %q: choose among authorization code, password and client credentials.", g))
		}
	}
	return out
}

// apply sets a's settings from the form.
func (f appForm) apply(a *store.Application) {
	a.Name = f.name
	if a.ClientType != store.ClientType(f.clientType) {
		// The form offers no token_endpoint_auth_method: a new client
		// type takes its default one (none, or client_secret_basic).
		a.TokenEndpointAuthMethod = ""
	}
	a.ClientType = store.ClientType(f.clientType)
	a.GrantTypes = f.grantTypes
	a.RedirectURIs = strings.Fields(f.redirectURIs)
	a.AllowedScopes = f.scopes
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

func (pg *pages) formData(c *gin.Context, owner *ginoauth.Owner, f appForm, app *store.Application, errs []string) ApplicationFormData {
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
	for _, s := range pg.scopeNames {
		d.Scopes = append(d.Scopes, Choice{Value: s, Label: s, Description: pg.scopes[s], Checked: slices.Contains(f.scopes, s)})
	}
	return d
}

func (pg *pages) registerForm(c *gin.Context, owner *ginoauth.Owner) {
	f := appForm{clientType: string(store.Confidential), grantTypes: []string{store.GrantAuthorizationCode}}
	pg.render(c, http.StatusOK, pg.form, pg.formData(c, owner, f, nil, nil))
}

func (pg *pages) register(c *gin.Context, owner *ginoauth.Owner) {
	f := readAppForm(c.Request.PostForm)
	cand := &store.Application{UserID: owner.ID}
	f.apply(cand)
	if errs := append(pg.problems(f), problemsOf(pg.p.CheckApplication(cand))...); len(errs) > 0 {
		pg.render(c, http.StatusBadRequest, pg.form, pg.formData(c, owner, f, nil, errs))
		return
	}
	app, secret, err := pg.p.CreateApplication(c.Request.Context(), ginoauth.NewApplication{
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
	pg.render(c, http.StatusCreated, pg.detail, ApplicationDetailData{
		PageData: pg.data(c, owner), Application: pg.view(app), ClientSecret: secret,
		Notice: "Application registered.",
	})
}

func (pg *pages) updateForm(c *gin.Context, owner *ginoauth.Owner) {
	app, err := pg.ownApplication(c.Request.Context(), c, owner)
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	pg.render(c, http.StatusOK, pg.form, pg.formData(c, owner, appFormOf(app), app, nil))
}

func (pg *pages) update(c *gin.Context, owner *ginoauth.Owner) {
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
		keepRefresh := a.AllowsGrant(store.GrantRefreshToken)                   // not on the form
		keepIntrospection := slices.Contains(a.AllowedScopes, pg.introspection) // nor this
		f.apply(a)
		if keepRefresh && !a.AllowsGrant(store.GrantRefreshToken) {
			a.GrantTypes = append(a.GrantTypes, store.GrantRefreshToken)
		}
		if errs := pg.problems(f); len(errs) > 0 {
			return &ginoauth.InvalidApplicationError{Problems: append(errs, problemsOf(pg.p.CheckApplication(a))...)}
		}
		if keepIntrospection && !slices.Contains(a.AllowedScopes, pg.introspection) {
			if len(a.AllowedScopes) == 0 { // every scope: name them, to keep the one not on the form
				a.AllowedScopes = slices.Clone(pg.scopeNames)
			}
			a.AllowedScopes = append(a.AllowedScopes, pg.introspection)
		}
		if a.UsesSecret() && a.SecretHash == "" {
			// A public client made confidential: it needs a secret.
			var err error
			if secret, a.SecretHash, err = ginoauth.NewClientSecret(); err != nil {
				return err
			}
		}
		return nil
	})
	var invalid *ginoauth.InvalidApplicationError
	switch {
	case errors.As(err, &invalid) && old != nil:
		pg.render(c, http.StatusBadRequest, pg.form, pg.formData(c, owner, f, old, invalid.Problems))
	case err != nil:
		pg.fail(c, owner, err)
	case secret != "":
		pg.render(c, http.StatusOK, pg.detail, ApplicationDetailData{
			PageData: pg.data(c, owner), Application: pg.view(app), ClientSecret: secret,
			Notice: "Application saved. It is now confidential, with a new client secret.",
		})
	default:
		c.Redirect(http.StatusSeeOther, pg.appURL(app.ClientID))
	}
}

func (pg *pages) deleteForm(c *gin.Context, owner *ginoauth.Owner) {
	app, err := pg.ownApplication(c.Request.Context(), c, owner)
	if err != nil {
		pg.fail(c, owner, err)
		return
	}
	v := pg.view(app)
	pg.render(c, http.StatusOK, pg.del, ApplicationDeleteData{PageData: pg.data(c, owner), Application: v, Action: v.DeleteURL})
}

func (pg *pages) delete(c *gin.Context, owner *ginoauth.Owner) {
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

func (pg *pages) authorizedTokens(c *gin.Context, owner *ginoauth.Owner) {
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
			app, err := pg.p.Store().GetApplication(ctx, g.ClientID)
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
	pg.render(c, http.StatusOK, pg.tokens, data)
}

func (pg *pages) revoke(c *gin.Context, owner *ginoauth.Owner) {
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
	if err := pg.p.Store().RevokeFamily(ctx, family); err != nil {
		pg.fail(c, owner, err)
		return
	}
	c.Redirect(http.StatusSeeOther, pg.tokensURL)
}
