package ginoauth

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// OpenIDMetadata is OpenID Connect Discovery 1.0 section 3's provider
// metadata: RFC 8414's, and the OpenID Connect endpoints and algorithms.
type OpenIDMetadata struct {
	ServerMetadata
	UserinfoEndpoint                 string   `json:"userinfo_endpoint"`
	EndSessionEndpoint               string   `json:"end_session_endpoint"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
	PromptValuesSupported            []string `json:"prompt_values_supported"`
}

// OpenIDMetadata returns the discovery document for an issuer.
func (p *Provider) OpenIDMetadata(issuer string) OpenIDMetadata {
	base := issuer + p.prefix
	return OpenIDMetadata{
		ServerMetadata:                   p.Metadata(issuer),
		UserinfoEndpoint:                 base + "/userinfo/",
		EndSessionEndpoint:               base + "/logout/",
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{"RS256", "ES256"},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp",
			"name", "given_name", "family_name", "preferred_username", "email", "email_verified"},
		PromptValuesSupported: []string{"none", "login", "consent"},
	}
}

// mountOIDC registers the OpenID Connect endpoints (with OIDC enabled).
// Every endpoint is published as the issuer followed by its path, so r is
// the router at the issuer's path (a group when the issuer has one); the
// discovery document is then at the issuer followed by
// /.well-known/openid-configuration, as OIDC Discovery section 4 says.
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  {prefix}/.well-known/jwks.json                    the JWK Set
//	GET, POST {prefix}/userinfo/                           userinfo (Core 5.3)
//	GET, POST {prefix}/logout/                             RP-initiated logout
//
// The JWK Set is mounted without OpenID Connect too, for JWT access
// tokens (RFC 9068), whenever the store keeps signing keys.
func (p *Provider) mountOIDC(r gin.IRouter) {
	if p.keys == nil {
		return
	}
	r.GET(p.prefix+"/.well-known/jwks.json", p.JWKSHandler())
	if !p.cfg.OIDC.Enabled {
		return
	}
	r.GET("/.well-known/openid-configuration", p.OpenIDMetadataHandler())
	for _, path := range []string{p.prefix + "/userinfo/", p.prefix + "/userinfo"} {
		r.GET(path, p.UserinfoHandler())
		r.POST(path, p.UserinfoHandler())
	}
	for _, path := range []string{p.prefix + "/logout/", p.prefix + "/logout"} {
		r.GET(path, p.EndSessionHandler())
		r.POST(path, p.EndSessionHandler())
	}
}

// OpenIDMetadataHandler serves the discovery document.
func (p *Provider) OpenIDMetadataHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Access-Control-Allow-Origin", "*")
		c.JSON(http.StatusOK, p.OpenIDMetadata(p.issuer(c)))
	}
}

// JWKSHandler serves the published signing keys (RFC 7517 section 5):
// the current keys, keys about to sign and retired keys whose tokens may
// still be live.
func (p *Provider) JWKSHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		set, err := p.keys.JWKS(c.Request.Context())
		if err != nil {
			p.logError(c.Request.Context(), "ginoauth: jwks", err)
			oautherr.WriteJSON(c, asError(err))
			return
		}
		c.Header("Access-Control-Allow-Origin", "*")
		c.Header("Cache-Control", "public, max-age=60")
		c.JSON(http.StatusOK, set)
	}
}

// UserinfoHandler is OIDC Core section 5.3's userinfo endpoint: the
// claims of the bearer token's user for its scopes, as in the id_token.
// The token must have the openid scope (403 insufficient_scope without).
func (p *Provider) UserinfoHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		tok, err := userinfoToken(c.Request)
		if err != nil {
			oautherr.WriteBearer(c, p.realm, asError(err))
			return
		}
		info, err := p.Validate(c.Request.Context(), tok)
		if err == nil && !info.HasScope("openid") {
			err = oautherr.ErrInsufficientScope.WithDescription("The token lacks the openid scope.")
		}
		if err == nil && info.UserID == "" {
			err = oautherr.ErrInvalidToken.WithDescription("The token has no user.")
		}
		var claims map[string]any
		if err == nil {
			claims, err = p.userClaims(c.Request.Context(), info.UserID, info.ClientID, slices.Clone(info.Scopes), "userinfo")
		}
		if err != nil {
			e := asError(err)
			if e.Status >= 500 {
				p.logError(c.Request.Context(), "ginoauth: userinfo", err)
			}
			oautherr.WriteBearer(c, p.realm, e)
			return
		}
		c.JSON(http.StatusOK, claims)
	}
}

// userinfoToken finds the access token in the Authorization header or,
// on POST, the form body (RFC 6750 sections 2.1 and 2.2); exactly one.
func userinfoToken(r *http.Request) (string, error) {
	finders := []resource.TokenFinder{resource.TokenFromHeader}
	if r.Method == http.MethodPost {
		finders = append(finders, resource.TokenFromForm)
	}
	var found string
	for _, find := range finders {
		tok, err := find(r)
		if err != nil {
			return "", err
		}
		if tok != "" && found != "" {
			return "", oautherr.ErrInvalidRequest.WithDescription("More than one access token was sent.")
		}
		if tok != "" {
			found = tok
		}
	}
	if found == "" {
		return "", oautherr.ErrNotAuthenticated
	}
	return found, nil
}
