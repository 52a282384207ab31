package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// The demo client: a web application that signs its users in with the
// provider (the authorization code grant with PKCE), as the client
// application of DOT's tutorial and of the seed articles. It lives in the
// demo's process for convenience, but talks to the provider only over
// HTTP, as any other client: the browser goes to /o/authorize/ and back to
// /client/callback, and the client calls /o/token/ and /user_details/.
const (
	clientPath         = "/client/"
	clientStartPath    = "/client/start"
	clientCallbackPath = "/client/callback"
	clientMePath       = "/client/me"
)

// demoClientName is the application's name, shown on the consent page.
const demoClientName = "Demo client"

// demoClientScopes are the scopes the demo client asks for.
var demoClientScopes = []string{"read", "write"}

// clientFlowTTL is how long a sign-in may take, from /client/start to the
// callback; clientTokenTTL how long the client keeps the access token in
// its cookie.
const (
	clientFlowTTL  = 10 * time.Minute
	clientTokenTTL = time.Hour
)

// Values of the client's session (clientCookie).
const (
	cliState    = "state"
	cliVerifier = "verifier"
	cliStarted  = "started"
	cliToken    = "token"
	cliScope    = "scope"
)

// demoClient is the demo client's configuration.
type demoClient struct {
	// base is the provider's base URL, where the client's own pages are.
	base string
	// issuer is the provider's issuer identifier, which the client
	// expects as RFC 9207's iss: serve's --issuer, else base.
	issuer string
	conf   *oauth2.Config
	// http calls the provider's token endpoint and API.
	http *http.Client
}

// newDemoClient configures the demo client for the application app on the
// provider at base, whose issuer identifier is issuer (base if empty).
func newDemoClient(app *store.Application, base, issuer string) *demoClient {
	if issuer == "" {
		issuer = base
	}
	return &demoClient{
		base:   base,
		issuer: issuer,
		conf: &oauth2.Config{
			ClientID: app.ClientID,
			Endpoint: oauth2.Endpoint{
				AuthURL:  base + "/o/authorize/",
				TokenURL: base + tokenPath,
				// A public client: client_id in the body, no secret.
				AuthStyle: oauth2.AuthStyleInParams,
			},
			RedirectURL: base + clientCallbackPath,
			Scopes:      demoClientScopes,
		},
		http: &http.Client{Timeout: 15 * time.Second},
	}
}

// clientIDKey is the Redis key (after the demo's prefix) that keeps the
// demo client's client_id, so that restarts reuse the application.
const clientIDKey = "demo_client_id"

// setupDemoClient registers the demo client's application (public,
// authorization_code, redirect URI <base>/client/callback, consent
// required) and enables the /client/ pages, before the server serves.
// With kv (Redis), the client_id is kept at <prefix>demo_client_id and the
// application is created once and reused on later starts, adding this
// base's redirect URI if it listens elsewhere now.
func (a *app) setupDemoClient(ctx context.Context, base string, kv redis.UniversalClient, prefix string) (*store.Application, error) {
	callback := base + clientCallbackPath
	if err := ginoauth.ValidateRedirectURI(callback); err != nil {
		return nil, fmt.Errorf("the demo client cannot use %s as its redirect URI: %w", callback, err)
	}
	na := ginoauth.NewApplication{
		Name:         demoClientName,
		ClientType:   store.Public,
		GrantTypes:   []string{store.GrantAuthorizationCode},
		RedirectURIs: []string{callback},
	}
	var app *store.Application
	if kv == nil {
		var err error
		if app, _, err = a.provider.CreateApplication(ctx, na); err != nil {
			return nil, fmt.Errorf("creating the demo client: %w", err)
		}
	} else {
		var err error
		if app, err = a.persistentDemoClient(ctx, na, kv, prefix+clientIDKey); err != nil {
			return nil, err
		}
	}
	a.client = newDemoClient(app, base, a.issuer)
	return app, nil
}

// persistentDemoClient finds or creates the demo client whose client_id
// Redis keeps at key. Concurrent starts agree: the first SET NX wins and
// creating an application that another start created is not an error.
func (a *app) persistentDemoClient(ctx context.Context, na ginoauth.NewApplication, kv redis.UniversalClient, key string) (*store.Application, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := kv.SetNX(ctx, key, base64.RawURLEncoding.EncodeToString(b), 0).Err(); err != nil {
		return nil, fmt.Errorf("storing the demo client's client_id in Redis: %w", err)
	}
	id, err := kv.Get(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the demo client's client_id from Redis: %w", err)
	}
	st := a.provider.Store()
	app, err := st.GetApplication(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		na.ClientID = id
		app, _, err = a.provider.CreateApplication(ctx, na)
		if errors.Is(err, store.ErrDuplicate) {
			app, err = st.GetApplication(ctx, id)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the demo client %q: %w", id, err)
	}
	if app.ClientType != store.Public || !app.AllowsGrant(store.GrantAuthorizationCode) {
		return nil, fmt.Errorf("the application %q named at %s is not a public authorization-code client; delete that key to get a new demo client", id, key)
	}
	if !slices.Contains(app.RedirectURIs, na.RedirectURIs[0]) {
		app.RedirectURIs = append(app.RedirectURIs, na.RedirectURIs[0])
		if err := st.UpdateApplication(ctx, app); err != nil {
			return nil, fmt.Errorf("adding %s to the demo client's redirect URIs: %w", na.RedirectURIs[0], err)
		}
	}
	return app, nil
}

// clientData is what the client's home page shows.
type clientData struct {
	Base, ClientID     string
	TokenPrefix, Scope string
}

// tokenPrefix is the part of a token the pages show: its first 8
// characters, never the whole token.
func tokenPrefix(tok string) string {
	if len(tok) > 8 {
		return tok[:8]
	}
	return tok
}

// clientReady answers 503 when the demo client is not set up (it is, by
// serve, once the server knows its URL).
func (a *app) clientReady(c *gin.Context) bool {
	if a.client != nil {
		return true
	}
	a.messagePage(c, http.StatusServiceUnavailable, "Demo client not configured",
		"The demo client is set up by 'demo serve' when it starts; this server has none.")
	return false
}

// clientHome is GET /client/: the client's page, with its sign-in link.
func (a *app) clientHome(c *gin.Context) {
	if !a.clientReady(c) {
		return
	}
	d := clientData{Base: a.client.base, ClientID: a.client.conf.ClientID}
	if s := session(c, clientCookie); s != nil {
		if tok, _ := s.Get(cliToken).(string); tok != "" {
			d.TokenPrefix = tokenPrefix(tok)
			d.Scope, _ = s.Get(cliScope).(string)
		}
	}
	a.page(c, http.StatusOK, "client", d)
}

// clientStart is GET /client/start: a fresh state and PKCE verifier, kept
// in the client's short-lived cookie, and a redirect to the provider's
// authorization endpoint with the S256 challenge.
func (a *app) clientStart(c *gin.Context) {
	if !a.clientReady(c) {
		return
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		a.messagePage(c, http.StatusInternalServerError, "Server error", "No randomness.")
		return
	}
	state := base64.RawURLEncoding.EncodeToString(b)
	verifier := oauth2.GenerateVerifier()
	s := session(c, clientCookie)
	s.Clear()
	s.Set(cliState, state)
	s.Set(cliVerifier, verifier)
	s.Set(cliStarted, time.Now().Unix())
	if !a.saveSession(c, s, clientPath, clientFlowTTL) {
		a.messagePage(c, http.StatusInternalServerError, "Server error", "The sign-in could not be started.")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, a.client.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
}

// clientError shows why a sign-in failed.
func (a *app) clientError(c *gin.Context, status int, code, description string) {
	a.page(c, status, "client-error", struct{ Base, Error, Description string }{a.client.base, code, description})
}

// clientCallback is GET /client/callback, the redirect URI: it checks the
// state against the cookie (once: the cookie's flow is consumed), shows an
// error the provider sent back (access_denied, ...), requires and checks
// the issuer (RFC 9207), exchanges the code with the PKCE verifier at the provider's
// token endpoint, keeps the access token in the client's cookie and shows
// the result, with the first 8 characters of the token only.
func (a *app) clientCallback(c *gin.Context) {
	if !a.clientReady(c) {
		return
	}
	ctx := c.Request.Context()
	s := session(c, clientCookie)
	want, _ := s.Get(cliState).(string)
	verifier, _ := s.Get(cliVerifier).(string)
	started, _ := s.Get(cliStarted).(int64)
	// The flow is used once, whatever the answer.
	fail := func(status int, code, description string) {
		if want != "" {
			a.saveSession(c, s, clientPath, clientTokenTTL)
		}
		a.clientError(c, status, code, description)
	}
	if want != "" {
		s.Delete(cliState)
		s.Delete(cliVerifier)
		s.Delete(cliStarted)
	}
	q := c.Request.URL.Query()
	if want == "" || verifier == "" || time.Since(time.Unix(started, 0)) > clientFlowTTL {
		fail(http.StatusBadRequest, "no_sign_in_in_progress",
			"This browser has no sign-in in progress (or it took more than 10 minutes). Start again from the demo client's page.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(want)) != 1 {
		fail(http.StatusBadRequest, "state_mismatch",
			"The state parameter does not match the one this browser started with: the answer may be forged. Start again.")
		return
	}
	// RFC 9207: the provider names itself in every answer, an error
	// included; an answer without iss may come from another server the
	// browser was sent to (a mix-up attack), so it is refused too.
	if iss := q.Get("iss"); iss == "" {
		fail(http.StatusBadRequest, "issuer_missing",
			fmt.Sprintf("The answer does not say which server sent it (no iss parameter, RFC 9207); this client expects %q.", a.client.issuer))
		return
	} else if iss != a.client.issuer {
		fail(http.StatusBadRequest, "issuer_mismatch",
			fmt.Sprintf("The answer comes from issuer %q, not %q (RFC 9207).", iss, a.client.issuer))
		return
	}
	if code := q.Get("error"); code != "" {
		desc := q.Get("error_description")
		if desc == "" && code == oautherr.ErrAccessDenied.Code {
			desc = "The user denied the request."
		}
		a.log.InfoContext(ctx, "demo client: authorization refused", "error", code)
		fail(http.StatusBadRequest, code, desc)
		return
	}
	code := q.Get("code")
	if code == "" {
		fail(http.StatusBadRequest, "invalid_request", "The answer has neither a code nor an error.")
		return
	}
	xctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, a.client.http), 15*time.Second)
	defer cancel()
	tok, err := a.client.conf.Exchange(xctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			a.log.WarnContext(ctx, "demo client: token exchange refused", "error", re.ErrorCode)
			fail(http.StatusBadGateway, re.ErrorCode, re.ErrorDescription)
			return
		}
		a.log.ErrorContext(ctx, "demo client: token exchange failed", "err", redactErr(err))
		fail(http.StatusBadGateway, "token_exchange_failed", "The token endpoint could not be reached or gave no token.")
		return
	}
	scope, _ := tok.Extra("scope").(string)
	s.Set(cliToken, tok.AccessToken)
	s.Set(cliScope, scope)
	a.saveSession(c, s, clientPath, clientTokenTTL)
	a.log.InfoContext(ctx, "demo client: token exchange succeeded", "client_id", a.client.conf.ClientID, "scope", scope)
	a.page(c, http.StatusOK, "client-result", struct{ Base, Scope, TokenPrefix string }{a.client.base, scope, tokenPrefix(tok.AccessToken)})
}

// redactErr keeps an error's message short of anything a response body
// could have put in it: x/oauth2 quotes the body of a bad token response.
func redactErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "Response:"); i >= 0 {
		msg = msg[:i] + "Response: (omitted)"
	}
	return msg
}

// clientMe is GET /client/me: the client calls the provider's
// /user_details/ with its access token, server-side, and shows the user.
func (a *app) clientMe(c *gin.Context) {
	if !a.clientReady(c) {
		return
	}
	ctx := c.Request.Context()
	s := session(c, clientCookie)
	tok, _ := s.Get(cliToken).(string)
	if tok == "" {
		a.clientError(c, http.StatusUnauthorized, "not_signed_in", "The demo client has no access token: sign in first.")
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, a.client.base+userDetailsPath, nil)
	if err != nil {
		a.clientError(c, http.StatusInternalServerError, "server_error", "The request could not be made.")
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := a.client.http.Do(req)
	if err != nil {
		a.log.ErrorContext(ctx, "demo client: calling /user_details/", "err", err)
		a.clientError(c, http.StatusBadGateway, "unreachable", "The API could not be reached.")
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Username, Email, Error string
		Description            string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &out)
	switch {
	case resp.StatusCode == http.StatusOK && out.Username != "":
		a.page(c, http.StatusOK, "client-me", struct{ Base, Username, Email string }{a.client.base, out.Username, out.Email})
	case resp.StatusCode == http.StatusUnauthorized:
		s.Delete(cliToken)
		s.Delete(cliScope)
		a.saveSession(c, s, clientPath, -1)
		a.clientError(c, http.StatusUnauthorized, out.Error, "The access token is no longer valid (expired or revoked): sign in again.")
	default:
		a.clientError(c, http.StatusBadGateway, out.Error, fmt.Sprintf("/user_details/ answered %d. %s", resp.StatusCode, out.Description))
	}
}
