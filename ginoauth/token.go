package ginoauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/internal/opaque"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// TokenResponse is the successful token answer of RFC 6749 section 5.1.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	// IssuedTokenType is RFC 8693's, for token exchange answers.
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	// IDToken is OpenID Connect's (Core section 3.1.3.3), for a grant
	// with the openid scope.
	IDToken string `json:"id_token,omitempty"`
}

// TokenHandler is the token endpoint (RFC 6749 section 3.2) for the
// authorization_code, password, client_credentials and refresh_token
// grants and those of Config.GrantTypes. Mount registers it; use it directly
// to put the endpoint elsewhere.
func (p *Provider) TokenHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		span := p.startTokenSpan(c)
		resp, err := p.token(c)
		endTokenSpan(span, err)
		if err != nil {
			p.observeError(observe.EndpointToken, err)
			p.tokenError(c, err)
			return
		}
		// RFC 6749 section 5.1's headers, the three values in one
		// allocation (the names are canonical: Header.Set's work is done).
		v := make([]string, 3)
		v[0], v[1], v[2] = "no-store", "no-cache", "application/json; charset=utf-8" // as c.JSON's
		h := c.Writer.Header()
		h["Cache-Control"], h["Pragma"], h["Content-Type"] = v[0:1:1], v[1:2:2], v[2:3:3]
		c.Writer.WriteHeader(http.StatusOK)
		_, _ = c.Writer.Write(resp.appendJSON(make([]byte, 0, 384)))
	}
}

// appendJSON appends r as encoding/json (and so gin's c.JSON) encodes it,
// byte for byte, without reflection: the token endpoint answers with it
// on every request.
func (r *TokenResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, r.AccessToken)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, r.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, r.ExpiresIn, 10)
	if r.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, r.RefreshToken)
	}
	b = append(b, `,"scope":`...)
	b = appendJSONString(b, r.Scope)
	if r.IssuedTokenType != "" {
		b = append(b, `,"issued_token_type":`...)
		b = appendJSONString(b, r.IssuedTokenType)
	}
	if r.IDToken != "" {
		b = append(b, `,"id_token":`...)
		b = appendJSONString(b, r.IDToken)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string the way encoding/json does:
// printable ASCII other than the quote, the backslash and the HTML
// characters it escapes (<, >, &) as they are; anything else through
// encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// tokenError answers a token-endpoint error (RFC 6749 section 5.2): 401
// with a Basic challenge for invalid_client, 503 for a store outage, 400
// for the rest.
func (p *Provider) tokenError(c *gin.Context, err error) {
	p.clientEndpointError(c, "ginoauth: token endpoint", err)
}

// clientEndpointError answers an error of an endpoint that authenticates
// clients as the token endpoint does, and logs a 5xx as endpoint's.
func (p *Provider) clientEndpointError(c *gin.Context, endpoint string, err error) {
	e := asError(err)
	if e.Status >= 500 {
		p.logError(c.Request.Context(), endpoint, err)
	}
	setRetryAfter(c, err)
	if e.Code == oautherr.ErrInvalidClient.Code {
		c.Header("WWW-Authenticate", p.basicChallenge)
	}
	oautherr.WriteJSON(c, e)
}

func (p *Provider) token(c *gin.Context) (*TokenResponse, error) {
	c.Request = c.Request.WithContext(withIssuer(c.Request.Context(), p.issuer(c)))
	params, resources, err := parseParams(c.Request, "resource")
	if err != nil {
		return nil, err
	}
	grant := params["grant_type"]
	if grant == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("Missing grant_type parameter.")
	}
	g, ok := p.grants[grant]
	if !ok {
		return nil, oautherr.ErrUnsupportedGrantType.WithDescription("Grant type %s is not supported.", oautherr.Quote(grant))
	}
	p.tokenGrant(c, grant, false)
	app, err := p.authenticateThrottled(c, params)
	if err != nil {
		return nil, err
	}
	// The one check that the client may use the grant: the grant handlers
	// (codeGrant, passwordGrant, ...) rely on it.
	if (!g.AnyClient && !app.AllowsGrant(grant)) || (!g.PublicClients && app.ClientType != store.Confidential) {
		return nil, oautherr.ErrUnauthorizedClient.WithDescription("The client may not use the %s grant.", grant)
	}
	// RFC 8707 section 2, for every grant: what the client may name. The
	// code and refresh_token grants check the names against their grant too.
	ctx := c.Request.Context()
	switch {
	case g.OwnResource && len(resources) > 1:
		return nil, oautherr.ErrInvalidRequest.WithDescription("Parameter %s is repeated.", oautherr.Quote("resource"))
	case g.OwnResource && len(resources) == 1:
		params["resource"], resources = resources[0], nil
	case !g.OwnResource:
		if resources, err = p.requestedResources(resources, issuerFrom(ctx)); err != nil {
			return nil, err
		}
		ctx = withResources(ctx, resources)
	}
	if ctx, err = p.tokenProof(ctx, c, app); err != nil { // RFC 9449 section 5
		return nil, err
	}
	resp, err := g.Handle(ctx, p, &TokenRequest{GrantType: grant, Client: app, Params: params, Resources: resources, HTTP: c.Request, clientIP: c.ClientIP})
	if err == nil {
		p.tokenGrant(c, grant, true)
	}
	return resp, err
}

// passwordGrant is RFC 6749 section 4.3.
func (p *Provider) passwordGrant(ctx context.Context, app *store.Application, params map[string]string, clientIP string) (*TokenResponse, error) {
	username, password := params["username"], params["password"]
	if username == "" || password == "" {
		return nil, oautherr.ErrInvalidRequest.WithDescription("The password grant needs username and password.")
	}
	scopes, err := p.grantScopes(params["scope"], app.AllowedScopes)
	if err != nil {
		return nil, err
	}
	u, err := p.AuthenticatePassword(ctx, username, password, clientIP)
	if errors.Is(err, ErrBadCredentials) {
		return nil, oautherr.ErrInvalidGrant.WithDescription("Invalid credentials given.")
	}
	if err != nil {
		return nil, err
	}
	return p.issue(ctx, app, u.ID, u.Username, scopes, true)
}

// clientCredentialsGrant is RFC 6749 section 4.4: no refresh token
// (section 4.4.3). Public clients never get here (its GrantType has no
// PublicClients).
func (p *Provider) clientCredentialsGrant(ctx context.Context, app *store.Application, params map[string]string) (*TokenResponse, error) {
	scopes, err := p.grantScopes(params["scope"], app.AllowedScopes)
	if err != nil {
		return nil, err
	}
	return p.issue(ctx, app, "", "", scopes, false)
}

// tokenAudience is what the tokens of one issuance are for (RFC 8707), as
// stored (empty: the default resource): access is the access token's
// Audience, grant the refresh token's Resources, what later refreshes may
// ask for.
type tokenAudience struct{ access, grant []string }

// requestAudience is the audience of a new grant's tokens: the token
// request's resource parameters (checked by the token endpoint), or the
// default resource.
func (p *Provider) requestAudience(ctx context.Context) tokenAudience {
	r := p.storedResources(resourcesFrom(ctx), issuerFrom(ctx))
	return tokenAudience{access: r, grant: r}
}

// issue mints and stores a new grant's tokens, for the token request's
// resources (requestAudience).
func (p *Provider) issue(ctx context.Context, app *store.Application, userID, username string, scopes []string, withRefresh bool) (*TokenResponse, error) {
	family, err := opaque.NewFamily()
	if err != nil {
		return nil, err
	}
	return p.issueTokens(ctx, family, true, app, userID, username, scopes, withRefresh, p.requestAudience(ctx))
}

// issueInFamily mints and stores tokens in a given family (that of the
// authorization code they are exchanged for).
func (p *Provider) issueInFamily(ctx context.Context, family string, app *store.Application, userID, username string, scopes []string, withRefresh bool, aud tokenAudience) (*TokenResponse, error) {
	return p.issueTokens(ctx, family, false, app, userID, username, scopes, withRefresh, aud)
}

// issueTokens mints and stores tokens in family; fresh says the family
// was generated for them (no revocation can name it: see
// store.FreshTokenSaver).
func (p *Provider) issueTokens(ctx context.Context, family string, fresh bool, app *store.Application, userID, username string, scopes []string, withRefresh bool, aud tokenAudience) (*TokenResponse, error) {
	scopes, err := p.narrowScopes(ctx, app, userID, scopes) // Config.NarrowScopes
	if err != nil {
		return nil, err
	}
	at, rt, resp, err := p.mint(ctx, family, app, userID, username, scopes, withRefresh, aud)
	if err != nil {
		return nil, err
	}
	if fresh && p.fresh != nil {
		err = p.fresh.SaveFreshTokens(ctx, at, rt)
	} else {
		err = p.store.SaveTokens(ctx, at, rt)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// mint makes an access token (and a refresh token, if asked) in family,
// returning the records to store and the answer to send. The access token
// is opaque, or a JWT (RFC 9068) for an application that gets them.
func (p *Provider) mint(ctx context.Context, family string, app *store.Application, userID, username string, scopes []string, withRefresh bool, aud tokenAudience) (*store.AccessToken, *store.RefreshToken, *TokenResponse, error) {
	clientID := app.ClientID
	now := p.now().UTC()
	at := &store.AccessToken{
		Key:        store.Key{Family: family},
		ClientID:   clientID,
		UserID:     userID,
		Username:   username,
		Scopes:     scopes,
		Audience:   aud.access,
		Generation: app.Generation,
		IssuedAt:   now,
		ExpiresAt:  now.Add(p.accessTTL),
	}
	at.JKT = jktFrom(ctx) // DPoP (RFC 9449): before a JWT is signed, whose cnf names it
	var access string
	var err error
	if p.jwtAccess(app) {
		// iat and exp are whole seconds in a JWT: the record says the same.
		at.IssuedAt, at.ExpiresAt = at.IssuedAt.Truncate(time.Second), at.ExpiresAt.Truncate(time.Second)
		access, err = p.mintJWT(ctx, at)
	} else {
		access, err = p.codec.Mint(opaque.AccessPrefix, family)
		at.Key.Signature = opaque.Signature(access)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	resp := &TokenResponse{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   int64(p.accessTTL.Seconds()),
		Scope:       scope.Format(scopes),
	}
	if !withRefresh {
		bindDPoP(ctx, app, at, nil, resp)
		return at, nil, resp, nil
	}
	refresh, err := p.codec.Mint(opaque.RefreshPrefix, family)
	if err != nil {
		return nil, nil, nil, err
	}
	rt := &store.RefreshToken{
		Key:        store.Key{Family: family, Signature: opaque.Signature(refresh)},
		ClientID:   clientID,
		UserID:     userID,
		Username:   username,
		Scopes:     scopes,
		Resources:  aud.grant,
		Generation: app.Generation,
		IssuedAt:   now,
	}
	if p.refreshTTL > 0 {
		rt.ExpiresAt = now.Add(p.refreshTTL)
	}
	resp.RefreshToken = refresh
	bindDPoP(ctx, app, at, rt, resp)
	return at, rt, resp, nil
}
