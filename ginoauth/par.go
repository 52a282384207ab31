package ginoauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// Pushed authorization requests (RFC 9126).
const (
	// RequestURIPrefix starts every request_uri the pushed authorization
	// request endpoint gives (RFC 9126 section 2.2); the authorization
	// endpoint refuses any other request_uri, since it does not fetch
	// request objects (RFC 9101).
	RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// PushedRequestExpire is how long a request_uri works: once, within
	// this time (RFC 9126 section 2.2's expires_in).
	PushedRequestExpire = 60 * time.Second
	// pushedResumeExpire bounds how long the authorization endpoint carries
	// a pushed request it has taken through the login and consent pages.
	pushedResumeExpire = 10 * time.Minute
	// pushedField carries that request, sealed, in the login page's next=
	// URL and the consent form (pushedResume).
	pushedField = "ginoauth_pushed"
)

// Errors of the authorization endpoint for a request_uri (RFC 9101
// section 6.2, OpenID Connect Core section 3.1.2.6).
var (
	ErrInvalidRequestURI      = &oautherr.Error{Code: "invalid_request_uri", Status: http.StatusBadRequest}
	ErrRequestURINotSupported = &oautherr.Error{Code: "request_uri_not_supported", Status: http.StatusBadRequest}
)

// PushedAuthorizationResponse is RFC 9126 section 2.2's answer.
type PushedAuthorizationResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// pushedRequests is the store's store.PushedRequests, or nil.
func (p *Provider) pushedRequests() store.PushedRequests { return pushedStore(p.cfg) }

func pushedStore(cfg Config) store.PushedRequests {
	ps, _ := cfg.Store.(store.PushedRequests)
	return ps
}

// clientCredentialParams are the parameters of client authentication,
// which a pushed request is not kept with.
var clientCredentialParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// PushedAuthorizationHandler is the pushed authorization request endpoint
// (RFC 9126 section 2): a client authenticated as at the token endpoint
// posts its authorization request, which is validated at once as the
// authorization endpoint would (errors are JSON, section 2.3) and kept for
// PushedRequestExpire; the answer, 201, is the request_uri to send the
// user's browser to the authorization endpoint with. A DPoP proof sent
// with it binds the code to the proof's key, as dpop_jkt would (RFC 9449
// section 10.1).
func (p *Provider) PushedAuthorizationHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		resp, err := p.pushAuthorization(c)
		if err != nil {
			p.observeError(observe.EndpointAuthorize, err)
			p.parError(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.JSON(http.StatusCreated, resp)
	}
}

// parError answers as the token endpoint does (RFC 9126 section 2.3):
// 401 with a Basic challenge for invalid_client, 503 for a store outage,
// 400 for the rest.
func (p *Provider) parError(c *gin.Context, err error) {
	p.clientEndpointError(c, "ginoauth: pushed authorization request endpoint", err)
}

func (p *Provider) pushAuthorization(c *gin.Context) (*PushedAuthorizationResponse, error) {
	ps := p.pushedRequests()
	if ps == nil {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Pushed authorization requests are not available.")
	}
	params, resources, err := parseParams(c.Request, "resource") // RFC 8707: resource may repeat
	if err != nil {
		return nil, err
	}
	app, err := p.authenticateThrottled(c, params)
	if err != nil {
		return nil, err
	}
	if _, ok := params["request_uri"]; ok {
		return nil, oautherr.ErrInvalidRequest.WithDescription("A pushed request may not hold a request_uri (RFC 9126 section 2.1).")
	}
	if id, ok := params["client_id"]; ok && id != app.ClientID {
		return nil, oautherr.ErrInvalidRequest.WithDescription("client_id is not the authenticated client.")
	}
	authz := make(url.Values, len(params)+1)
	for k, v := range params {
		authz[k] = []string{v}
	}
	if len(resources) > 0 {
		authz["resource"] = resources
	}
	for _, k := range clientCredentialParams {
		delete(authz, k)
	}
	delete(authz, pushedField)
	authz.Set("client_id", app.ClientID)
	// RFC 9449 section 10.1: a DPoP proof sent with the pushed request
	// binds the code to its key, as dpop_jkt does; both must then agree.
	jkt, err := p.requestProof(c.Request.Context(), c, p.issuer(c))
	if err != nil {
		return nil, err
	}
	if jkt != "" {
		if v, ok := authz["dpop_jkt"]; ok && (len(v) != 1 || v[0] != jkt) {
			return nil, errInvalidDPoPProof.WithDescription("The dpop_jkt parameter is not the thumbprint of the DPoP proof's key.")
		}
		authz.Set("dpop_jkt", jkt)
	}
	if _, err := p.parseAuthorize(c, authz, true); err != nil {
		return nil, err
	}
	family, err := opaque.NewFamily()
	if err != nil {
		return nil, err
	}
	ref, err := p.codec.Mint(opaque.PushedPrefix, family)
	if err != nil {
		return nil, err
	}
	rec := &store.PushedRequest{
		Key:       store.Key{Family: family, Signature: opaque.Signature(ref)},
		ClientID:  app.ClientID,
		Params:    authz,
		ExpiresAt: p.now().Add(PushedRequestExpire),
	}
	if err := ps.SavePushedRequest(c.Request.Context(), rec); err != nil {
		return nil, err
	}
	return &PushedAuthorizationResponse{RequestURI: RequestURIPrefix + ref, ExpiresIn: int64(PushedRequestExpire / time.Second)}, nil
}

// pushedParams returns the parameters of an authorization request that
// names a request_uri, taken from the store (single-use), or that resumes
// one through the login and consent pages (pushedField), and whether it
// was either; every other parameter is ignored (RFC 9126 section 4). An
// error is never redirected: the redirect URI is not known yet.
func (p *Provider) pushedParams(c *gin.Context, params url.Values) (url.Values, bool, error) {
	ref, hasRef := params["request_uri"]
	sealed, hasSealed := params[pushedField]
	if !hasRef && !hasSealed {
		return params, false, nil
	}
	for _, k := range []string{"client_id", "request_uri", pushedField} {
		if len(params[k]) > 1 {
			return nil, true, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote(k))
		}
	}
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, true, oautherr.ErrInvalidRequest.WithDescription("Missing client_id parameter.")
	}
	if !hasRef {
		out, err := p.openPushedResume(c, clientID, sealed[0])
		return out, true, err
	}
	ps := p.pushedRequests()
	raw, ok := strings.CutPrefix(ref[0], RequestURIPrefix)
	if !ok || ps == nil {
		return nil, true, ErrRequestURINotSupported.WithDescription("Only a request_uri from this server's pushed authorization request endpoint is accepted.")
	}
	gone := ErrInvalidRequestURI.WithDescription("The request_uri is unknown, expired or already used; start again from the application.")
	family, err := p.codec.Parse(opaque.PushedPrefix, raw)
	if err != nil {
		return nil, true, gone
	}
	rec, err := ps.TakePushedRequest(c.Request.Context(), store.Key{Family: family, Signature: opaque.Signature(raw)})
	if errors.Is(err, store.ErrNotFound) {
		return nil, true, gone
	}
	if err != nil {
		return nil, true, err
	}
	if !p.now().Before(rec.ExpiresAt) {
		return nil, true, gone
	}
	if rec.ClientID != clientID {
		return nil, true, ErrInvalidRequestURI.WithDescription("The request_uri was not pushed by this client_id.")
	}
	out := url.Values(rec.Params)
	out.Set("client_id", rec.ClientID)
	return out, true, nil
}

// pushedResume is what pushedField seals: a pushed request the
// authorization endpoint took from the store, carried through the login
// page and the consent form.
type pushedResume struct {
	ClientID  string `json:"c"`
	Params    string `json:"q"` // form-encoded
	ExpiresAt int64  `json:"e"` // Unix seconds
}

// pushedBinding binds a sealed pushed request to the browser it was
// given to: a MAC of its CSRF cookie, set now when create and the browser
// has none.
func (p *Provider) pushedBinding(c *gin.Context, create bool) string {
	const purpose = "\x00pushed request"
	if create {
		return p.CSRFToken(c, purpose)
	}
	secret, err := c.Cookie(csrfCookie)
	if err != nil || len(secret) < 32 {
		return ""
	}
	return p.csrfMAC(secret, purpose)
}

// sealPushed seals params (a pushed request's, with client_id) for
// pushedField, bound to the browser and valid for pushedResumeExpire.
func (p *Provider) sealPushed(c *gin.Context, params url.Values) (string, error) {
	plain, err := json.Marshal(pushedResume{
		ClientID:  params.Get("client_id"),
		Params:    params.Encode(),
		ExpiresAt: p.now().Add(pushedResumeExpire).Unix(),
	})
	if err != nil {
		return "", err
	}
	sealed, err := p.seal(plain, []byte("pushed\x00"+p.pushedBinding(c, true)))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openPushedResume reverses sealPushed for the browser that sent it and
// the client_id beside it.
func (p *Provider) openPushedResume(c *gin.Context, clientID, v string) (url.Values, error) {
	bad := ErrInvalidRequestURI.WithDescription("The authorization request has expired or is not valid; start again from the application.")
	binding := p.pushedBinding(c, false)
	if binding == "" || len(v) > maxFormBody {
		return nil, bad
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, bad
	}
	plain, err := p.open(sealed, []byte("pushed\x00"+binding))
	if err != nil {
		return nil, bad
	}
	var r pushedResume
	if json.Unmarshal(plain, &r) != nil || r.ClientID != clientID || p.now().Unix() >= r.ExpiresAt {
		return nil, bad
	}
	params, err := url.ParseQuery(r.Params)
	if err != nil || params.Get("client_id") != clientID {
		return nil, bad
	}
	return params, nil
}

// resumeValues are the parameters that resume req, a pushed request,
// after the login page or from the consent form.
func (p *Provider) resumeValues(c *gin.Context, params url.Values) (url.Values, error) {
	sealed, err := p.sealPushed(c, params)
	if err != nil {
		return nil, err
	}
	return url.Values{"client_id": {params.Get("client_id")}, pushedField: {sealed}}, nil
}
