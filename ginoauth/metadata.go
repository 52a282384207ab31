package ginoauth

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ServerMetadata is RFC 8414's authorization server metadata.
type ServerMetadata struct {
	Issuer                      string `json:"issuer"`
	AuthorizationEndpoint       string `json:"authorization_endpoint,omitempty"`
	TokenEndpoint               string `json:"token_endpoint"`
	RevocationEndpoint          string `json:"revocation_endpoint"`
	IntrospectionEndpoint       string `json:"introspection_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// PushedAuthorizationRequestEndpoint and
	// RequirePushedAuthorizationRequests are RFC 9126 section 5's.
	PushedAuthorizationRequestEndpoint        string   `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests        bool     `json:"require_pushed_authorization_requests"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	// The JWS algorithms of client assertions (private_key_jwt and
	// client_secret_jwt) at each endpoint (RFC 8414 section 2).
	TokenEndpointAuthSigningAlgValuesSupported         []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	CodeChallengeMethodsSupported                      []string `json:"code_challenge_methods_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported: answers carry iss (RFC 9207).
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`

	// RegistrationEndpoint is RFC 7591's, when Config.Registration is on.
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`
	// JWKSURI is the provider's JWK Set (RFC 8414 section 2), which
	// verifies its ID tokens and JWT access tokens (RFC 9068 section 4).
	JWKSURI string `json:"jwks_uri,omitempty"`

	// DPoPSigningAlgValuesSupported are the JWS algorithms of DPoP proofs
	// (RFC 9449 section 5.1), absent when Config.DPoP.Disabled.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// ResourceMetadata is RFC 9728's protected resource metadata.
type ResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// DPoPSigningAlgValuesSupported and DPoPBoundAccessTokensRequired are
	// RFC 9728 section 2's DPoP members.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// issuer is Config.Issuer, or the scheme and host the request came to.
func (p *Provider) issuer(c *gin.Context) string {
	if p.cfg.Issuer != "" {
		return strings.TrimRight(p.cfg.Issuer, "/")
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// Metadata returns the authorization server metadata for an issuer (RFC
// 8414 section 2). The slices are the caller's own.
func (p *Provider) Metadata(issuer string) ServerMetadata {
	base := issuer + p.prefix
	m := ServerMetadata{
		Issuer:                                     issuer,
		AuthorizationEndpoint:                      base + "/authorize/",
		TokenEndpoint:                              base + "/token/",
		RevocationEndpoint:                         base + "/revoke_token/",
		IntrospectionEndpoint:                      base + "/introspect/",
		ScopesSupported:                            slices.Clone(p.scopeNames),
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        p.GrantTypes(),
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
		TokenEndpointAuthMethodsSupported:          []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethodsSupported:     []string{"client_secret_basic", "client_secret_post", "none"},
		// A bearer token with the introspection scope is accepted too, but
		// the IANA registry of these methods has no value for it.
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
	}
	// Client assertions need their jti remembered: store.Store
	// includes store.Replays, so every Provider offers them.
	jwtMethods := []string{store.AuthPrivateKeyJWT, store.AuthClientSecretJWT}
	m.TokenEndpointAuthMethodsSupported = append(m.TokenEndpointAuthMethodsSupported, jwtMethods...)
	m.RevocationEndpointAuthMethodsSupported = append(m.RevocationEndpointAuthMethodsSupported, jwtMethods...)
	m.IntrospectionEndpointAuthMethodsSupported = append(m.IntrospectionEndpointAuthMethodsSupported, jwtMethods...)
	m.TokenEndpointAuthSigningAlgValuesSupported = ClientAssertionAlgs()
	m.RevocationEndpointAuthSigningAlgValuesSupported = ClientAssertionAlgs()
	m.IntrospectionEndpointAuthSigningAlgValuesSupported = ClientAssertionAlgs()
	if p.deviceCodes() != nil {
		m.DeviceAuthorizationEndpoint = base + "/device_authorization/"
	}
	if p.pushedRequests() != nil {
		m.PushedAuthorizationRequestEndpoint = base + "/par/"
		m.RequirePushedAuthorizationRequests = p.cfg.RequirePushedAuthorizationRequests
	}
	if p.registrationOn() {
		m.RegistrationEndpoint = p.registrationEndpoint(issuer)
	}
	if p.keys != nil {
		m.JWKSURI = base + "/.well-known/jwks.json"
	}
	if p.cfg.InsecureAllowPlainPKCE {
		m.CodeChallengeMethodsSupported = append(m.CodeChallengeMethodsSupported, "plain")
	}
	m.DPoPSigningAlgValuesSupported = p.DPoPAlgs()
	return m
}

// MetadataHandler serves RFC 8414 metadata at
// /.well-known/oauth-authorization-server.
//
// The metadata documents are public, so both handlers answer any origin
// (Access-Control-Allow-Origin: *, without credentials): a browser app
// discovers the endpoints before it knows anything else.
func (p *Provider) MetadataHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Access-Control-Allow-Origin", "*")
		c.JSON(http.StatusOK, p.Metadata(p.issuer(c)))
	}
}

// ResourceMetadataHandler serves RFC 9728 metadata at
// /.well-known/oauth-protected-resource, for the APIs behind Middleware.
// bearer_methods_supported names the methods Config.Middleware's token
// finders accept.
func (p *Provider) ResourceMetadataHandler() gin.HandlerFunc {
	methods := resource.BearerMethods(p.cfg.Middleware.TokenFinders)
	return func(c *gin.Context) {
		c.Header("Access-Control-Allow-Origin", "*")
		iss := p.issuer(c)
		id := p.cfg.Resource
		if id == "" {
			id = iss
		}
		c.JSON(http.StatusOK, ResourceMetadata{
			Resource:               id,
			AuthorizationServers:   []string{iss},
			ScopesSupported:        slices.Clone(p.scopeNames),
			BearerMethodsSupported: slices.Clone(methods),

			DPoPSigningAlgValuesSupported: p.DPoPAlgs(),
			DPoPBoundAccessTokensRequired: p.dpop != nil && p.cfg.DPoP.Required,
		})
	}
}
