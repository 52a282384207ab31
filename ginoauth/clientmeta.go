package ginoauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth/scope"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// MaxClientMetadataSize bounds a client metadata document, in bytes: room
// for a JWK Set of a few RSA keys.
const MaxClientMetadataSize = 64 << 10

// maxMetadataDepth bounds the nesting of a client metadata document.
const maxMetadataDepth = 16

// ClientMetadata is a client metadata document of RFC 7591 section 2 and
// OpenID Connect Dynamic Client Registration 1.0 section 2, with the
// members this server keeps, and access_token_format, its extension
// ("opaque" or "jwt", RFC 9068).
type ClientMetadata struct {
	RedirectURIs             []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes               []string        `json:"grant_types,omitempty"`
	ResponseTypes            []string        `json:"response_types,omitempty"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method,omitempty"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                  string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg,omitempty"`
	Scope                    string          `json:"scope,omitempty"`
	ClientName               string          `json:"client_name,omitempty"`
	AccessTokenFormat        string          `json:"access_token_format,omitempty"`
	// RequirePushedAuthorizationRequests is RFC 9126 section 6's.
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	// DPoPBoundAccessTokens is RFC 9449 section 5.2's.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
}

// ParseClientMetadata reads a client metadata document: a JSON object of
// at most MaxClientMetadataSize bytes, in UTF-8, with no member given
// twice (at any depth). Members it does not know are ignored (RFC 7591
// section 2 lets a server ignore them); a null member is as if absent.
// Omitted members take RFC 7591's defaults: grant_types
// ["authorization_code"] and token_endpoint_auth_method
// "client_secret_basic".
//
// It checks what the document alone decides: each member's JSON type, the
// scope's syntax and response_types against grant_types (RFC 7591 section
// 2.1). Provider.CheckApplication, which CreateApplication runs on
// NewApplication's result, checks the rest. A refused document is an
// *InvalidApplicationError.
func ParseClientMetadata(doc []byte) (*ClientMetadata, error) {
	var l problemList
	switch {
	case len(doc) > MaxClientMetadataSize:
		l.add("", "The client metadata document is larger than %d bytes.", MaxClientMetadataSize)
	case !utf8.Valid(doc):
		l.add("", "The client metadata document is not UTF-8 text.")
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	if err := checkJSONObject(doc); err != nil {
		l.add("", "The client metadata document is not a JSON object with each member once: %v.", err)
		return nil, l.err()
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(doc, &members); err != nil {
		l.add("", "The client metadata document is not a JSON object: %v.", err)
		return nil, l.err()
	}
	m := &ClientMetadata{GrantTypes: []string{store.GrantAuthorizationCode}, TokenEndpointAuthMethod: store.AuthClientSecretBasic}
	m.decodeMembers(&l, members)
	if _, err := scope.Parse(m.Scope); err != nil {
		l.add("scope", "The scope %q is not a list of scopes separated by spaces.", m.Scope)
	}
	checkResponseTypes(&l, m)
	if err := l.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeMembers sets m's fields from the document's members, adding a
// problem for each member of the wrong JSON type.
func (m *ClientMetadata) decodeMembers(l *problemList, members map[string]json.RawMessage) {
	const strs, str = "an array of strings", "a string"
	for _, f := range []struct {
		name, want string
		dst        any
	}{
		{"redirect_uris", strs, &m.RedirectURIs},
		{"post_logout_redirect_uris", strs, &m.PostLogoutRedirectURIs},
		{"grant_types", strs, &m.GrantTypes},
		{"response_types", strs, &m.ResponseTypes},
		{"token_endpoint_auth_method", str, &m.TokenEndpointAuthMethod},
		{"jwks_uri", str, &m.JWKSURI},
		{"id_token_signed_response_alg", str, &m.IDTokenSignedResponseAlg},
		{"scope", str, &m.Scope},
		{"client_name", str, &m.ClientName},
		{"access_token_format", str, &m.AccessTokenFormat},
		{"require_pushed_authorization_requests", "true or false", &m.RequirePushedAuthorizationRequests},
		{"dpop_bound_access_tokens", "true or false", &m.DPoPBoundAccessTokens},
	} {
		raw, ok := members[f.name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			l.add(f.name, "The client metadata member %q must be %s.", f.name, f.want)
		}
	}
	if raw, ok := members["jwks"]; ok && string(raw) != "null" {
		var buf bytes.Buffer
		if raw[0] != '{' || json.Compact(&buf, raw) != nil {
			l.add("jwks", "The client metadata member \"jwks\" must be a JWK Set, a JSON object.")
		} else {
			m.JWKS = buf.Bytes()
		}
	}
}

// checkResponseTypes checks response_types, when given, against
// grant_types (RFC 7591 section 2.1): this server's one response type is
// "code", which goes with the authorization_code grant.
func checkResponseTypes(l *problemList, m *ClientMetadata) {
	if m.ResponseTypes == nil {
		return
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			l.add("response_types", "This server does not offer the response type %q: its one response type is \"code\".", rt)
		}
	}
	code := slices.Contains(m.ResponseTypes, "code")
	if ac := slices.Contains(m.GrantTypes, store.GrantAuthorizationCode); code != ac {
		l.add("response_types", "The response type \"code\" and the grant type authorization_code go together (RFC 7591 section 2.1): give both or neither.")
	}
}

// NewApplication returns what CreateApplication needs to register the
// client m describes: a public client for token_endpoint_auth_method
// "none", a confidential one otherwise.
func (m *ClientMetadata) NewApplication() NewApplication {
	ct := store.Confidential
	if m.TokenEndpointAuthMethod == store.AuthNone {
		ct = store.Public
	}
	scopes, _ := scope.Parse(m.Scope) // checked by ParseClientMetadata
	return NewApplication{
		Name:                     m.ClientName,
		ClientType:               ct,
		GrantTypes:               slices.Clone(m.GrantTypes),
		RedirectURIs:             slices.Clone(m.RedirectURIs),
		AllowedScopes:            scopes,
		PostLogoutRedirectURIs:   slices.Clone(m.PostLogoutRedirectURIs),
		TokenEndpointAuthMethod:  m.TokenEndpointAuthMethod,
		JWKS:                     slices.Clone(m.JWKS),
		JWKSURI:                  m.JWKSURI,
		IDTokenSignedResponseAlg: m.IDTokenSignedResponseAlg,
		AccessTokenFormat:        m.AccessTokenFormat,

		RequirePushedAuthorizationRequests: m.RequirePushedAuthorizationRequests,
		DPoPBoundAccessTokens:              m.DPoPBoundAccessTokens,
	}
}

// checkJSONObject's findings.
var (
	errNotObject       = errors.New("not an object")
	errTooDeep         = fmt.Errorf("nested more than %d deep", maxMetadataDepth)
	errTrailing        = errors.New("data after the object")
	errDuplicateMember = errors.New("a member given twice")
)

// checkJSONObject checks that doc is one JSON object, nested at most
// maxMetadataDepth deep, whose objects name each member once.
func checkJSONObject(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if !bytes.HasPrefix(bytes.TrimLeft(doc, " \t\r\n"), []byte("{")) {
		return errNotObject
	}
	if err := checkJSONValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err == nil {
		return errTrailing
	}
	return nil
}

// checkJSONValue reads one value from dec, as checkJSONObject checks.
func checkJSONValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxMetadataDepth {
		return errTooDeep
	}
	seen := map[string]bool{}
	for dec.More() {
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := k.(string) // always a string in an object
			if seen[name] {
				return fmt.Errorf("%w: %q", errDuplicateMember, name)
			}
			seen[name] = true
		}
		if err := checkJSONValue(dec, depth+1); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// checkKeys checks the client's keys: jwks and jwks_uri are exclusive,
// private_key_jwt needs one of them, a jwks is a JWK Set of valid public
// keys, and a jwks_uri an https URL.
func checkKeys(l *problemList, app *store.Application) {
	if len(app.JWKS) > 0 && app.JWKSURI != "" {
		l.add("jwks", "Give jwks or jwks_uri, not both (OpenID Connect Dynamic Client Registration section 2).")
	}
	if app.TokenEndpointAuthMethod == store.AuthPrivateKeyJWT && len(app.JWKS) == 0 && app.JWKSURI == "" {
		l.add("jwks", "The private_key_jwt method needs the client's public keys: give jwks or jwks_uri.")
	}
	if len(app.JWKS) > 0 {
		if problem := jwksProblem(app.JWKS); problem != "" {
			l.add("jwks", "%s", problem)
		}
	}
	if app.JWKSURI != "" {
		u, err := url.Parse(app.JWKSURI)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || !validPort(u) {
			l.add("jwks_uri", "The jwks_uri %q must be an https URL with a host, and no user name, password or fragment.", app.JWKSURI)
		}
	}
}

// jwksProblem says what is wrong with raw as a client's JWK Set, or "".
func jwksProblem(raw json.RawMessage) string {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Sprintf("The jwks is not a JWK Set (RFC 7517 section 5): %v.", err)
	}
	if len(set.Keys) == 0 {
		return "The jwks has no keys."
	}
	for i, k := range set.Keys {
		switch {
		case !k.IsPublic():
			return fmt.Sprintf("Key %d of the jwks (kid %q) is not a public key: give public keys only, never private or symmetric ones.", i+1, k.KeyID)
		case !k.Valid():
			return fmt.Sprintf("Key %d of the jwks (kid %q) is not a valid key.", i+1, k.KeyID)
		}
	}
	return ""
}
