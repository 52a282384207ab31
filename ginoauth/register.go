package ginoauth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// This file is dynamic client registration (RFC 7591) and the client
// configuration endpoint of its management protocol (RFC 7592):
//
//	POST   {prefix}/register/             register a client (RFC 7591 section 3)
//	GET    {prefix}/register/{client_id}  read its registration (RFC 7592 section 2.1)
//	PUT    {prefix}/register/{client_id}  replace its metadata (RFC 7592 section 2.2)
//	DELETE {prefix}/register/{client_id}  delete it, revoking its tokens (RFC 7592 section 2.3)
//
// The documents go through ParseClientMetadata and CheckApplication, the
// validation of createapplication --metadata and the management pages.

// RegistrationConfig is Config.Registration.
type RegistrationConfig struct {
	// Policy decides who may register a client: RegistrationOpen,
	// RegistrationScope (an initial access token) or your own. Nil turns
	// registration off.
	Policy RegistrationPolicy
	// PerAddress bounds the registration requests (POST) one source
	// address (gin's ClientIP) may make per Window, counted in the store,
	// so across every instance sharing it: an open endpoint cannot fill
	// the store. Zero means DefaultRegistrationPerAddress; negative, no
	// limit. The configuration endpoint counts against
	// Config.TokenRateLimit.PerAddress, as the token endpoint does.
	PerAddress int
	// Window is PerAddress's sliding window. Zero means
	// DefaultRegistrationWindow.
	Window time.Duration
}

// Defaults of RegistrationConfig.
const (
	DefaultRegistrationPerAddress = 20
	DefaultRegistrationWindow     = time.Hour
)

// RegistrationPolicy decides who may register a client at the
// registration endpoint (RFC 7591 section 3).
type RegistrationPolicy interface {
	// AllowRegistration returns the ID of the user who will own the
	// client ("" for none), or why the request may not register: an
	// *oautherr.Error is answered as it is (a 401, or a 403
	// insufficient_scope, with a Bearer challenge, RFC 6750 section 3);
	// an error wrapping store.ErrUnavailable with 503. It must not read
	// the request body.
	AllowRegistration(c *gin.Context, p *Provider) (ownerUserID string, err error)
}

// RegistrationOpen lets anyone register a client: RFC 7591 section 3's
// open registration. The clients it registers have no owner. Only the
// rate limit (RegistrationConfig.PerAddress) bounds it.
type RegistrationOpen struct{}

// AllowRegistration implements RegistrationPolicy: anyone may.
func (RegistrationOpen) AllowRegistration(*gin.Context, *Provider) (string, error) { return "", nil }

// RegistrationScope requires an initial access token (RFC 7591 section
// 3): a bearer access token of this provider (Provider.Validate) that
// carries this scope, which must be one of Config.Scopes. The token's
// user, if it has one, owns the registered client. A missing, malformed
// or invalid token is 401 invalid_token; one without the scope, 403
// insufficient_scope (RFC 6750 section 3.1).
type RegistrationScope string

// AllowRegistration implements RegistrationPolicy.
func (s RegistrationScope) AllowRegistration(c *gin.Context, p *Provider) (string, error) {
	tok, ok := bearerOf(c.Request)
	if !ok {
		return "", oautherr.ErrInvalidToken.WithDescription("Registration needs an initial access token (RFC 7591 section 3).")
	}
	info, err := p.Validate(c.Request.Context(), tok)
	if err != nil {
		return "", err // invalid_token, or a store outage
	}
	if !info.HasScope(string(s)) {
		e := oautherr.ErrInsufficientScope.WithDescription("The initial access token lacks the scope registration needs.")
		e.Scope = []string{string(s)}
		return "", e
	}
	return info.UserID, nil
}

// RegistrationFunc adapts a function to RegistrationPolicy.
type RegistrationFunc func(c *gin.Context, p *Provider) (ownerUserID string, err error)

// AllowRegistration implements RegistrationPolicy.
func (f RegistrationFunc) AllowRegistration(c *gin.Context, p *Provider) (string, error) {
	return f(c, p)
}

// ErrCodeInvalidSoftwareStatement is RFC 7591 section 3.2.2's error for a
// software statement; this server takes none.
const ErrCodeInvalidSoftwareStatement = "invalid_software_statement"

// RegistrationTokenPrefix begins every registration access token, so that
// a secret scanner recognises one.
const RegistrationTokenPrefix = "gorg_"

// ClientInformation is the client information response of RFC 7591
// section 3.2.1 and RFC 7592 section 3: the client's metadata as stored,
// with the defaults the server applied, and its credentials.
// ClientSecret and RegistrationAccessToken are sent once, when they are
// issued (registration, or an update that issues a secret); the server
// keeps only their hashes, so reading a registration returns neither.
type ClientInformation struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientIDIssuedAt is when the client was registered, in seconds since
	// the epoch.
	ClientIDIssuedAt int64 `json:"client_id_issued_at"`
	// ClientSecretExpiresAt is 0 (never) for a client with a secret, and
	// absent for one without.
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	// RegistrationAccessToken authenticates the client at
	// RegistrationClientURI (RFC 7592 section 3).
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	ClientMetadata
	// ResponseTypes is always sent: empty for a client without the
	// authorization_code grant (RFC 7591's default, "code", would be wrong).
	ResponseTypes []string `json:"response_types"`
}

// registrationOn reports whether registration is enabled.
func (p *Provider) registrationOn() bool { return p.cfg.Registration.Policy != nil }

// validRegistration checks Config.Registration: a RegistrationScope must
// be a configured scope, or no token could carry it.
func validRegistration(cfg Config) error {
	if s, ok := cfg.Registration.Policy.(RegistrationScope); ok {
		if _, known := cfg.Scopes[string(s)]; !known {
			return fmt.Errorf("ginoauth: Registration.Policy: scope %q is not in Scopes", string(s))
		}
	}
	return nil
}

// mountRegistration mounts the registration and client configuration
// endpoints when registration is enabled.
func (p *Provider) mountRegistration(r gin.IRouter, pre []gin.HandlerFunc) {
	if !p.registrationOn() {
		return
	}
	base := p.prefix + "/register"
	for _, path := range []string{base + "/", base} {
		r.POST(path, append(pre, p.RegisterHandler())...)
		r.OPTIONS(path, append(pre, preflight)...)
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			r.Handle(m, path, methodNotAllowed("POST"))
		}
	}
	item := base + "/:client_id"
	h := p.ClientConfigurationHandler()
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		r.Handle(m, item, append(pre, h)...)
	}
	r.OPTIONS(item, append(pre, func(c *gin.Context) {
		c.Header("Allow", "GET, PUT, DELETE, OPTIONS")
		c.Status(http.StatusNoContent)
	})...)
	for _, m := range []string{"POST", "PATCH"} {
		r.Handle(m, item, methodNotAllowed("GET, PUT, DELETE"))
	}
}

// registrationEndpoint is the registration endpoint's URL for an issuer.
func (p *Provider) registrationEndpoint(issuer string) string {
	return issuer + p.prefix + "/register/"
}

// RegisterHandler is the client registration endpoint of RFC 7591
// section 3, where Config.Registration.Policy lets in: it takes a client
// metadata document (Content-Type application/json, at most
// MaxClientMetadataSize bytes), validates it as createapplication
// --metadata does, registers the client and answers 201 with its client
// information (ClientInformation), its secret and registration access
// token included. A refused document is 400 invalid_redirect_uri or
// invalid_client_metadata (RFC 7591 section 3.2.2), a software statement
// 400 invalid_software_statement (this server takes none); nothing is
// stored then. Every answer is uncached.
func (p *Provider) RegisterHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		info, err := p.register(c)
		if err != nil {
			p.registrationError(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.JSON(http.StatusCreated, info)
	}
}

func (p *Provider) register(c *gin.Context) (*ClientInformation, error) {
	if !p.registrationOn() {
		return nil, errRegistrationOff
	}
	if err := p.allowRegistration(c); err != nil {
		return nil, err
	}
	owner, err := p.cfg.Registration.Policy.AllowRegistration(c, p)
	if err != nil {
		return nil, err
	}
	doc, err := readMetadataBody(c.Request)
	if err != nil {
		return nil, err
	}
	m, _, err := p.parseRegistration(doc)
	if err != nil {
		return nil, err
	}
	regToken, regHash, err := newRegistrationToken()
	if err != nil {
		return nil, err
	}
	na := m.NewApplication()
	na.UserID = owner
	na.RegistrationTokenHash = regHash
	app, secret, err := p.CreateApplication(c.Request.Context(), na)
	if err != nil {
		return nil, registrationErr(err)
	}
	p.log.InfoContext(c.Request.Context(), "ginoauth: client registered", "client_id", app.ClientID, "owner", owner)
	info := p.clientInformation(c, app)
	info.ClientSecret = secret
	info.RegistrationAccessToken = regToken
	return info, nil
}

// ClientConfigurationHandler is the client configuration endpoint of RFC
// 7592 at {prefix}/register/{client_id}, authenticated by the client's
// registration access token (Authorization: Bearer): GET answers its
// ClientInformation (without its secret or registration access token,
// which the server keeps only as hashes), PUT replaces its metadata with
// the document sent (section 2.2: it must name the client_id, may repeat
// the current client_secret, and members left out go back to their
// defaults) and answers the new ClientInformation, DELETE deletes it and
// every token issued to it and answers 204. The registration access token
// stays the same until the client is deleted. A missing or wrong token
// and an unknown client get the same 401 invalid_token.
func (p *Provider) ClientConfigurationHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		if !p.registrationOn() {
			p.registrationError(c, errRegistrationOff)
			return
		}
		if limit := p.cfg.TokenRateLimit.PerAddress; limit > 0 {
			if err := p.allow(c, "addr", c.ClientIP(), limit); err != nil {
				p.registrationError(c, err)
				return
			}
		}
		app, err := p.registeredClient(c)
		if err != nil {
			p.registrationError(c, err)
			return
		}
		switch c.Request.Method {
		case http.MethodGet:
			c.JSON(http.StatusOK, p.clientInformation(c, app))
		case http.MethodPut:
			info, err := p.updateRegistration(c, app)
			if err != nil {
				p.registrationError(c, err)
				return
			}
			c.JSON(http.StatusOK, info)
		case http.MethodDelete:
			err := p.DeleteApplication(c.Request.Context(), app.ClientID)
			if errors.Is(err, store.ErrNotFound) {
				err = errRegistrationToken // deleted meanwhile
			}
			if err != nil {
				p.registrationError(c, err)
				return
			}
			p.log.InfoContext(c.Request.Context(), "ginoauth: client deleted its registration", "client_id", app.ClientID)
			c.Status(http.StatusNoContent)
		}
	}
}

// errRegistrationOff answers a handler mounted by hand while
// Config.Registration has no Policy.
var errRegistrationOff = &oautherr.Error{Code: "not_found", Status: http.StatusNotFound, Description: "Client registration is not enabled on this server."}

// errRegistrationToken is the one answer to a configuration request
// whose registration access token is missing or wrong, or whose client
// does not exist (RFC 7592 section 2.1), so that none tells which.
var errRegistrationToken = oautherr.ErrInvalidToken.WithDescription("The registration access token is missing or invalid, or the client does not exist.")

// registeredClient reads the client of the request's path and checks the
// request's registration access token against its hash, in constant time.
func (p *Provider) registeredClient(c *gin.Context) (*store.Application, error) {
	tok, ok := bearerOf(c.Request)
	clientID := c.Param("client_id")
	app, err := p.store.GetApplication(c.Request.Context(), clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// An unknown client is compared with zeros: it costs what a wrong
	// token costs.
	want := make([]byte, sha256.Size)
	if app != nil {
		if h, err := hex.DecodeString(app.RegistrationTokenHash); err == nil && len(h) == sha256.Size {
			want = h
		}
	}
	got := sha256.Sum256([]byte(tok))
	match := subtle.ConstantTimeCompare(want, got[:]) == 1
	if !ok || app == nil || app.RegistrationTokenHash == "" || !match {
		return nil, errRegistrationToken
	}
	return app, nil
}

// updateRegistration is RFC 7592 section 2.2's update: the document
// replaces the client's metadata, through UpdateApplication's checks. A
// client that comes to need a secret gets a new one, sent in the answer.
func (p *Provider) updateRegistration(c *gin.Context, app *store.Application) (*ClientInformation, error) {
	doc, err := readMetadataBody(c.Request)
	if err != nil {
		return nil, err
	}
	m, members, err := p.parseRegistration(doc)
	if err != nil {
		return nil, err
	}
	var l problemList
	var id string
	if raw, ok := members["client_id"]; !ok || json.Unmarshal(raw, &id) != nil || id != app.ClientID {
		l.add("", "The document must name the client's client_id (RFC 7592 section 2.2).")
	}
	if raw, ok := members["client_secret"]; ok && string(raw) != "null" {
		var secret string
		if json.Unmarshal(raw, &secret) != nil || !secretMatches(app.SecretHash, secret) {
			l.add("", "The client_secret, if sent, must be the client's current secret: a client cannot choose its secret (RFC 7592 section 2.2).")
		}
	}
	for _, name := range []string{"registration_access_token", "registration_client_uri", "client_secret_expires_at", "client_id_issued_at"} {
		if _, ok := members[name]; ok {
			l.add("", "The document may not hold %s (RFC 7592 section 2.2).", name)
		}
	}
	if err := l.err(); err != nil {
		return nil, registrationErr(err)
	}
	na := m.NewApplication()
	var secret string
	updated, err := p.UpdateApplication(c.Request.Context(), app.ClientID, func(a *store.Application) error {
		if a.RegistrationTokenHash != app.RegistrationTokenHash {
			return errRegistrationToken // deleted and registered again meanwhile
		}
		replaceMetadata(a, na)
		if a.UsesSecret() && a.SecretHash == "" {
			var err error
			if secret, a.SecretHash, err = NewClientSecret(); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errRegistrationToken
	}
	if err != nil {
		return nil, registrationErr(err)
	}
	info := p.clientInformation(c, updated)
	info.ClientSecret = secret
	return info, nil
}

// replaceMetadata sets every client metadata field of a from na, the
// defaults included: an update replaces the registration, it does not
// merge into it (RFC 7592 section 2.2). The client's identity, owner,
// secret, creation time, generation, skip_authorization and registration
// access token are kept. (TestReplaceMetadataCoversApplication lists the
// fields of store.Application each way.)
func replaceMetadata(a *store.Application, na NewApplication) {
	a.Name = na.Name
	a.ClientType = na.ClientType
	a.GrantTypes = slices.Clone(na.GrantTypes)
	a.RedirectURIs = slices.Clone(na.RedirectURIs)
	a.AllowedScopes = slices.Clone(na.AllowedScopes)
	a.PostLogoutRedirectURIs = slices.Clone(na.PostLogoutRedirectURIs)
	a.TokenEndpointAuthMethod = na.TokenEndpointAuthMethod
	a.JWKS = slices.Clone(na.JWKS)
	a.JWKSURI = na.JWKSURI
	a.IDTokenSignedResponseAlg = na.IDTokenSignedResponseAlg
	a.AccessTokenFormat = na.AccessTokenFormat
	a.RequirePushedAuthorizationRequests = na.RequirePushedAuthorizationRequests
	a.DPoPBoundAccessTokens = na.DPoPBoundAccessTokens
}

// readMetadataBody reads a registration request's body: JSON
// (application/json, RFC 7591 section 3.1), read up to one byte past
// MaxClientMetadataSize so that ParseClientMetadata refuses a larger one.
func readMetadataBody(r *http.Request) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, metadataError(ErrCodeInvalidClientMetadata, "The client metadata document must be sent as application/json (RFC 7591 section 3.1).")
	}
	if cs, ok := params["charset"]; ok && !equalFoldASCII(cs, "utf-8") {
		return nil, metadataError(ErrCodeInvalidClientMetadata, "The client metadata document must be UTF-8.")
	}
	doc, err := io.ReadAll(io.LimitReader(r.Body, MaxClientMetadataSize+1))
	if err != nil {
		return nil, metadataError(ErrCodeInvalidClientMetadata, "The client metadata document could not be read.")
	}
	return doc, nil
}

// equalFoldASCII compares two ASCII strings without case.
func equalFoldASCII(a, b string) bool {
	return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b))
}

// parseRegistration parses a registration or update document: the
// metadata, and its top-level members for the checks of the caller. A
// software statement is refused (this server takes none), as is a scope
// ceiling naming the introspection scope, which would let a client
// introspect other clients' tokens.
func (p *Provider) parseRegistration(doc []byte) (*ClientMetadata, map[string]json.RawMessage, error) {
	m, err := ParseClientMetadata(doc)
	if err != nil {
		return nil, nil, registrationErr(err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(doc, &members); err != nil { // checked by ParseClientMetadata
		return nil, nil, registrationErr(err)
	}
	if _, ok := members["software_statement"]; ok {
		return nil, nil, metadataError(ErrCodeInvalidSoftwareStatement, "This server does not accept software statements (RFC 7591 section 2.3): register without one.")
	}
	scopes, _ := scope.Parse(m.Scope) // checked by ParseClientMetadata
	reserved := p.reservedScopes()
	for _, s := range reserved {
		if slices.Contains(scopes, s) {
			return nil, nil, metadataError(ErrCodeInvalidClientMetadata, "The scope %s is not open to registration: an administrator grants it.", oautherr.Quote(s))
		}
	}
	if len(scopes) == 0 {
		// No ceiling would mean every scope, the reserved ones too: a
		// client registered with a user's registration token could then
		// give itself that scope by client_credentials and register more.
		var open []string
		for _, s := range p.scopeNames {
			if !slices.Contains(reserved, s) {
				open = append(open, s)
			}
		}
		m.Scope = scope.Format(open)
	}
	return m, members, nil
}

// reservedScopes are the scopes a registration document may not name and
// a registered client does not get by default: the introspection scope,
// and the registration scope of a RegistrationScope policy.
func (p *Provider) reservedScopes() []string {
	reserved := []string{p.introspectionScope()}
	if s, ok := p.cfg.Registration.Policy.(RegistrationScope); ok && string(s) != "" {
		reserved = append(reserved, string(s))
	}
	return reserved
}

// metadataError is a 400 registration error (RFC 7591 section 3.2.2).
func metadataError(code, format string, args ...any) *oautherr.Error {
	e := &oautherr.Error{Code: code, Status: http.StatusBadRequest}
	return e.WithDescription(format, args...)
}

// registrationErr maps a refused document (*InvalidApplicationError) to
// its RFC 7591 section 3.2.2 error; other errors pass unchanged.
func registrationErr(err error) error {
	var invalid *InvalidApplicationError
	if errors.As(err, &invalid) {
		msg := "The client metadata are invalid."
		if len(invalid.Problems) > 0 {
			msg = invalid.Problems[0]
			if n := len(invalid.Problems) - 1; n > 0 {
				msg += fmt.Sprintf(" (and %d more problems)", n)
			}
		}
		return metadataError(invalid.RegistrationErrorCode(), "%s", msg)
	}
	return err
}

// registrationError answers a failed registration or configuration
// request: as a protected resource answers (RFC 6750 section 3, a Bearer
// challenge on 401 and insufficient_scope), uncached.
func (p *Provider) registrationError(c *gin.Context, err error) {
	e := asError(err)
	if e.Status >= 500 {
		p.logError(c.Request.Context(), "ginoauth: registration endpoint", err)
	}
	setRetryAfter(c, err)
	oautherr.WriteBearer(c, p.realm, e)
}

// allowRegistration counts a registration request against
// Registration.PerAddress; a store outage fails closed (503).
func (p *Provider) allowRegistration(c *gin.Context) error {
	cfg := p.cfg.Registration
	limit, window := cfg.PerAddress, cfg.Window
	if limit == 0 {
		limit = DefaultRegistrationPerAddress
	}
	if limit < 0 {
		return nil
	}
	if window <= 0 {
		window = DefaultRegistrationWindow
	}
	ok, retry, err := p.store.Allow(c.Request.Context(), "register:addr:"+c.ClientIP(), limit, window)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	p.observeThrottled("addr")
	return &throttled{ErrTooManyRequests.WithDescription("Too many registration requests; retry later."), retry}
}

// bearerOf returns the request's bearer token: one Authorization header
// with the Bearer scheme and a well-formed token.
func bearerOf(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	tok, err := resource.ParseBearer(h[0])
	return tok, err == nil && tok != ""
}

// newRegistrationToken makes a registration access token (256 random
// bits after RegistrationTokenPrefix) and the hash the store keeps.
func newRegistrationToken() (token, hash string, err error) {
	r, err := randomID(32)
	if err != nil {
		return "", "", err
	}
	token = RegistrationTokenPrefix + r
	return token, HashClientSecret(token), nil
}

// clientInformation is app's ClientInformation, without credentials.
func (p *Provider) clientInformation(c *gin.Context, app *store.Application) *ClientInformation {
	info := &ClientInformation{
		ClientID:              app.ClientID,
		ClientIDIssuedAt:      app.CreatedAt.Unix(),
		RegistrationClientURI: p.registrationEndpoint(p.issuer(c)) + app.ClientID,
		ClientMetadata:        p.clientMetadata(app),
		ResponseTypes:         []string{},
	}
	if app.AllowsGrant(store.GrantAuthorizationCode) {
		info.ResponseTypes = []string{"code"}
	}
	if app.UsesSecret() {
		var never int64
		info.ClientSecretExpiresAt = &never
	}
	return info
}

// clientMetadata is app's client metadata document, with the defaults
// the server applies filled in. An empty scope ceiling, which means every
// scope the server offers, is left out.
func (p *Provider) clientMetadata(app *store.Application) ClientMetadata {
	m := ClientMetadata{
		RedirectURIs:            slices.Clone(app.RedirectURIs),
		PostLogoutRedirectURIs:  slices.Clone(app.PostLogoutRedirectURIs),
		GrantTypes:              slices.Clone(app.GrantTypes),
		TokenEndpointAuthMethod: app.AuthMethod(),
		JWKS:                    slices.Clone(app.JWKS),
		JWKSURI:                 app.JWKSURI,
		Scope:                   scope.Format(app.AllowedScopes),
		ClientName:              app.Name,
		AccessTokenFormat:       p.AccessTokenFormat(app),

		RequirePushedAuthorizationRequests: app.RequirePushedAuthorizationRequests,
		DPoPBoundAccessTokens:              app.DPoPBoundAccessTokens,
	}
	if p.cfg.OIDC.Enabled || app.IDTokenSignedResponseAlg != "" {
		m.IDTokenSignedResponseAlg = app.IDTokenAlg()
	}
	return m
}
