package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Paths of the demo's login pages, as Django's auth URLs.
const (
	loginPath  = ginoauth.DefaultLoginURL // "/accounts/login/"
	logoutPath = "/accounts/logout/"
	csrfPath   = "/accounts/csrf/"
)

// Cookies of the demo. Both are signed and encrypted by the session
// store (gorilla/securecookie), with keys derived from the secret key.
const (
	// sessionCookie holds the logged-in user (Django's SESSION_COOKIE_NAME).
	sessionCookie = "sessionid"
	// clientCookie is the demo client's own session: the state and PKCE
	// verifier of a sign-in in progress, then the access token it got.
	clientCookie = "democlient"
)

// sessionMaxAge is how long a login lasts (Django's SESSION_COOKIE_AGE):
// the cookie's Max-Age, and the age past which the store refuses a cookie
// whatever the browser does, as the timestamp inside it is signed.
const sessionMaxAge = 14 * 24 * time.Hour

// Session values.
const (
	sessUserID   = "uid"
	sessAuthHash = "auth"
	// sessAuthTime is when the user logged in, Unix seconds (OpenID
	// Connect's auth_time, for max_age).
	sessAuthTime = "at"
)

// csrfHeader is the header an API client sends the CSRF token in with a
// session (Django's CSRF_HEADER_NAME).
const csrfHeader = "X-CSRFToken"

// Login throttling: attempts per client address and window, counted in
// the store so that every instance shares the count.
const (
	defaultLoginLimit = 30
	loginWindow       = time.Minute
)

// maxFormBytes bounds a login or logout form.
const maxFormBytes = 64 << 10

// deriveKey derives a key for one purpose from the secret key, so that the
// session keys are never the token checksum key or each other.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// newSessionStore is the cookie store of the demo's sessions: signed with
// HMAC-SHA256(secret, "demo session") and encrypted (AES-256) with
// HMAC-SHA256(secret, "demo session encryption"); HttpOnly, SameSite=Lax,
// Path=/ and a two-week Max-Age unless a session sets its own options.
func newSessionStore(secret []byte) (sessions.Store, error) {
	st := cookie.NewStore(deriveKey(secret, "demo session"), deriveKey(secret, "demo session encryption"))
	age := int(sessionMaxAge / time.Second)
	st.Options(sessions.Options{Path: "/", MaxAge: age, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	// gin-contrib's Options sets only the cookie attributes; the signed
	// timestamp's limit is gorilla's CookieStore.MaxAge.
	ma, ok := st.(interface{ MaxAge(int) })
	if !ok {
		return nil, errors.New("the session cookie store cannot limit the age of its cookies")
	}
	ma.MaxAge(age)
	return st, nil
}

// cookieOptions are the attributes of a demo cookie on path, living
// maxAge (negative: delete it now). It is Secure when the request came over
// TLS or serve was started with --secure-cookies.
func (a *app) cookieOptions(c *gin.Context, path string, maxAge time.Duration) sessions.Options {
	age := int(maxAge / time.Second)
	if maxAge < 0 {
		age = -1
	}
	return sessions.Options{
		Path:     path,
		MaxAge:   age,
		HttpOnly: true,
		Secure:   a.secureCookies || c.Request.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	}
}

// session returns the request's session of that cookie name, or nil when
// the route has no session middleware.
func session(c *gin.Context, name string) sessions.Session {
	v, ok := c.Get(sessions.DefaultKey)
	if !ok {
		return nil
	}
	m, _ := v.(map[string]sessions.Session)
	return m[name]
}

// sessionAuthHash binds a session to the user's password hash, as
// Django's get_session_auth_hash: changing the password (or the user
// record's ID) ends every session.
func (a *app) sessionAuthHash(u *store.User) string {
	m := hmac.New(sha256.New, a.sessionHashKey)
	m.Write([]byte(u.ID))
	m.Write([]byte{0})
	m.Write([]byte(u.PasswordHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionUserID is the user ID the session cookie names, unchecked: for
// binding CSRF tokens, which needs no store round trip.
func sessionUserID(c *gin.Context) string {
	s := session(c, sessionCookie)
	if s == nil {
		return ""
	}
	id, _ := s.Get(sessUserID).(string)
	return id
}

// SessionOwner implements ginoauth.SessionSource: the user the session
// cookie names, if that user still exists, is active and has the password
// they logged in with; nil otherwise. A request without a session cookie
// costs no store round trip. A store failure is returned (503).
func (a *app) SessionOwner(c *gin.Context) (*ginoauth.Owner, error) {
	s := session(c, sessionCookie)
	if s == nil {
		return nil, nil
	}
	id, _ := s.Get(sessUserID).(string)
	hash, _ := s.Get(sessAuthHash).(string)
	if id == "" || hash == "" {
		return nil, nil
	}
	u, err := a.provider.Store().GetUser(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !u.IsActive || !hmac.Equal([]byte(hash), []byte(a.sessionAuthHash(u))) {
		return nil, nil
	}
	o := &ginoauth.Owner{ID: u.ID, Username: u.Username}
	if at, _ := s.Get(sessAuthTime).(int64); at > 0 {
		o.AuthTime = time.Unix(at, 0)
	}
	return o, nil
}

// sessionAuth is DRF's SessionAuthentication for the API routes it is
// mounted on, before the token middleware: a request with a valid session
// and no bearer token is authenticated as the session's user
// (resource.SetUser, with a *ginoauth.Owner), so that IsAuthenticated and
// IsAuthenticatedOrTokenHasScope pass and the token middleware leaves it
// alone. As in DRF, such a request with an unsafe method needs the CSRF
// token of GET /accounts/csrf/ (header X-CSRFToken, or the form field
// csrfmiddlewaretoken), else 403. A request with a bearer token is left to
// the token middleware, as DRF tries OAuth2Authentication first.
func (a *app) sessionAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if tok, err := resource.ParseBearer(c.GetHeader("Authorization")); tok != "" || err != nil {
			c.Next()
			return
		}
		owner, err := a.SessionOwner(c)
		if err != nil {
			a.storeError(c, err)
			return
		}
		if owner == nil {
			c.Next()
			return
		}
		if !safeMethod(c.Request.Method) && !a.checkAPICSRF(c, owner.ID) {
			resource.AbortWithError(c, oautherr.ErrPermissionDenied.WithDescription(
				"CSRF Failed: CSRF token missing or incorrect."))
			return
		}
		resource.SetUser(c, owner)
		c.Next()
	}
}

// safeMethod reports whether m is one of DRF's SAFE_METHODS.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkAPICSRF checks the CSRF token of an API request: from the
// X-CSRFToken header if there is one, else from the form field, with
// ginoauth's CheckCSRF (same cookie, same user, and an Origin, if sent,
// of this host).
func (a *app) checkAPICSRF(c *gin.Context, owner string) bool {
	tok := c.GetHeader(csrfHeader)
	if tok == "" {
		return a.provider.CheckCSRF(c, owner)
	}
	return a.provider.CheckCSRFToken(c, owner, tok)
}

// csrfToken is GET /accounts/csrf/: the CSRF token for the session's user
// (or for an anonymous visitor), for scripts that call the API with the
// session cookie. Same-origin only: no CORS headers are sent for it.
func (a *app) csrfToken(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{
		"csrf_token":  a.provider.CSRFToken(c, sessionUserID(c)),
		"header_name": csrfHeader,
		"field_name":  ginoauth.CSRFField,
	})
}

// safeNext returns next if it is a path on this site, else "": no scheme,
// no host, not protocol-relative ("//host" or "/\host", which browsers read
// as a host), no control characters (which browsers drop).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return ""
	}
	if strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return ""
	}
	for i := 0; i < len(next); i++ {
		if next[i] < 0x20 || next[i] == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return next
}

// loginData is what the login page shows.
type loginData struct {
	Next      string
	Username  string
	Error     string
	User      string // already signed in as
	CSRFField string
	CSRFToken string
}

// loginPage is GET /accounts/login/: the sign-in form, as Django's
// LoginView.
func (a *app) loginPage(c *gin.Context) {
	d := loginData{Next: safeNext(c.Query("next"))}
	if owner, err := a.SessionOwner(c); err == nil && owner != nil {
		d.User = owner.Username
	}
	a.renderLogin(c, http.StatusOK, d)
}

func (a *app) renderLogin(c *gin.Context, status int, d loginData) {
	d.CSRFField = ginoauth.CSRFField
	d.CSRFToken = a.provider.CSRFToken(c, "")
	a.page(c, status, "login", d)
}

// login is POST /accounts/login/: check the CSRF token and the
// credentials, start a session and go to next (a local path) or "/".
// Wrong credentials show the form again (400); a missing or wrong CSRF
// token is 403.
func (a *app) login(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if err := c.Request.ParseForm(); err != nil {
		a.messagePage(c, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if !a.provider.CheckCSRF(c, "") {
		a.csrfFailure(c)
		return
	}
	next := safeNext(c.PostForm("next"))
	username, password := c.PostForm("username"), c.PostForm("password")
	d := loginData{Next: next, Username: username}
	if username == "" || password == "" {
		d.Error = "Enter a username and a password."
		a.renderLogin(c, http.StatusBadRequest, d)
		return
	}
	ctx := c.Request.Context()
	if a.loginLimit > 0 {
		ok, retry, err := a.provider.Store().Allow(ctx, "demo_login:"+c.ClientIP(), a.loginLimit, loginWindow)
		if err != nil {
			a.unavailablePage(c, err)
			return
		}
		if !ok {
			c.Header("Retry-After", strconv.Itoa(max(1, int(retry.Round(time.Second)/time.Second))))
			d.Error = "Too many sign-in attempts from your address; wait a minute and try again."
			a.renderLogin(c, http.StatusTooManyRequests, d)
			return
		}
	}
	// The provider's password check, under its limit of attempts per
	// username and address (ginoauth.Config.PasswordAttempts), as at the
	// token endpoint.
	u, err := a.provider.AuthenticatePassword(ctx, username, password, c.ClientIP())
	if retry, ok := ginoauth.RetryAfter(err); ok {
		c.Header("Retry-After", strconv.Itoa(max(1, int(retry.Round(time.Second)/time.Second))))
		d.Error = "Too many failed sign-in attempts for this user; wait a few minutes and try again."
		a.renderLogin(c, http.StatusTooManyRequests, d)
		return
	}
	if errors.Is(err, ginoauth.ErrBadCredentials) {
		a.log.InfoContext(ctx, "login failed", "remote", c.ClientIP())
		d.Error = "Please enter a correct username and password. Note that both fields may be case-sensitive."
		a.renderLogin(c, http.StatusBadRequest, d)
		return
	}
	if err != nil {
		a.unavailablePage(c, err)
		return
	}
	s := session(c, sessionCookie)
	s.Clear()
	s.Set(sessUserID, u.ID)
	s.Set(sessAuthHash, a.sessionAuthHash(u))
	s.Set(sessAuthTime, time.Now().Unix())
	if !a.saveSession(c, s, "/", sessionMaxAge) {
		a.messagePage(c, http.StatusInternalServerError, "Server error", "The session could not be saved.")
		return
	}
	a.log.InfoContext(ctx, "login", "user", u.Username, "remote", c.ClientIP())
	if next == "" {
		next = "/"
	}
	c.Redirect(http.StatusFound, next)
}

// logoutData is what the logout page shows.
type logoutData struct {
	User      string
	Done      bool
	CSRFField string
	CSRFToken string
}

// logoutPage is GET /accounts/logout/: a form that posts the logout, as
// Django 5's LogoutView takes POST only.
func (a *app) logoutPage(c *gin.Context) {
	d := logoutData{CSRFField: ginoauth.CSRFField, CSRFToken: a.provider.CSRFToken(c, sessionUserID(c))}
	if owner, err := a.SessionOwner(c); err == nil && owner != nil {
		d.User = owner.Username
	}
	a.page(c, http.StatusOK, "logout", d)
}

// logout is POST /accounts/logout/: with a valid CSRF token, it ends the
// session (the cookie is deleted) and shows that, or goes to next.
func (a *app) logout(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if err := c.Request.ParseForm(); err != nil {
		a.messagePage(c, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if !a.provider.CheckCSRF(c, sessionUserID(c)) {
		a.csrfFailure(c)
		return
	}
	s := session(c, sessionCookie)
	s.Clear()
	a.saveSession(c, s, "/", -1)
	if next := safeNext(c.PostForm("next")); next != "" {
		c.Redirect(http.StatusFound, next)
		return
	}
	a.page(c, http.StatusOK, "logout", logoutData{Done: true})
}

// csrfFailure is Django's 403 page for a form without a valid CSRF token.
func (a *app) csrfFailure(c *gin.Context) {
	a.messagePage(c, http.StatusForbidden, "Forbidden (403)",
		"CSRF verification failed. Request aborted. Reload the form and try again.")
}

// unavailablePage answers a store failure on a page: 503 when the store is
// unreachable, 500 otherwise, logged without details for the visitor.
func (a *app) unavailablePage(c *gin.Context, err error) {
	a.log.ErrorContext(c.Request.Context(), "store failure", "path", c.Request.URL.Path, "err", err)
	if errors.Is(err, store.ErrUnavailable) {
		c.Header("Retry-After", "5")
		a.messagePage(c, http.StatusServiceUnavailable, "Temporarily unavailable", "The service is temporarily unavailable; try again in a moment.")
		return
	}
	a.messagePage(c, http.StatusInternalServerError, "Server error", fmt.Sprintf("Something went wrong (%s).", http.StatusText(http.StatusInternalServerError)))
}

// saveSession writes s's cookie with the demo's attributes on path,
// living maxAge (negative: deleted). It reports whether that worked; a
// failure is logged.
func (a *app) saveSession(c *gin.Context, s sessions.Session, path string, maxAge time.Duration) bool {
	s.Options(a.cookieOptions(c, path, maxAge))
	if err := s.Save(); err != nil {
		a.log.ErrorContext(c.Request.Context(), "saving a session cookie", "err", err)
		return false
	}
	return true
}

// EndSession implements ginoauth.SessionEnder, for OpenID Connect
// RP-initiated logout (/o/logout/): the session cookie is deleted, as
// POST /accounts/logout/ does.
func (a *app) EndSession(c *gin.Context) error {
	s := session(c, sessionCookie)
	if s == nil {
		return nil
	}
	s.Clear()
	if !a.saveSession(c, s, "/", -1) {
		return errors.New("demo: the session could not be ended")
	}
	return nil
}
