package ginoauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ClientCredentials are the client credentials a request carried.
type ClientCredentials struct {
	ID     string
	Secret string
	// Basic is true when they came in an HTTP Basic Authorization header.
	Basic bool
}

// errTwoAuthorizationHeaders answers a request that repeats the
// Authorization header: which one counts would be a guess.
var errTwoAuthorizationHeaders = oautherr.ErrInvalidRequest.WithDescription("More than one Authorization header.")

// ParseClientCredentials extracts client credentials from r's Authorization
// header (HTTP Basic, whose id and secret are form-urlencoded before
// encoding as RFC 6749 section 2.3.1 says, so "%3A" is a colon) or from
// the client_id and client_secret parameters. Using both is
// invalid_request (section 2.3: one method per request), unless the
// client_id parameter repeats the Basic id; so is a request with more than
// one Authorization header. found is false when the request names no
// client at all.
func ParseClientCredentials(r *http.Request, params map[string]string) (creds ClientCredentials, found bool, err error) {
	headers := r.Header.Values("Authorization")
	if len(headers) > 1 {
		return creds, false, errTwoAuthorizationHeaders
	}
	if len(headers) == 1 && headers[0] != "" {
		h := headers[0]
		scheme, rest, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Basic") {
			raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
			if derr != nil {
				return creds, false, oautherr.ErrInvalidClient.WithDescription("The Basic credentials are not valid base64.")
			}
			id, secret, ok := strings.Cut(string(raw), ":")
			if !ok {
				return creds, false, oautherr.ErrInvalidClient.WithDescription("The Basic credentials have no colon.")
			}
			if id, derr = url.QueryUnescape(id); derr != nil {
				return creds, false, oautherr.ErrInvalidClient.WithDescription("The Basic client id is not form-encoded.")
			}
			if secret, derr = url.QueryUnescape(secret); derr != nil {
				return creds, false, oautherr.ErrInvalidClient.WithDescription("The Basic client secret is not form-encoded.")
			}
			if _, ok := params["client_secret"]; ok {
				return creds, false, oautherr.ErrInvalidRequest.WithDescription("Use one client authentication method, not both.")
			}
			if pid, ok := params["client_id"]; ok && pid != id {
				return creds, false, oautherr.ErrInvalidRequest.WithDescription("client_id does not match the Basic credentials.")
			}
			return ClientCredentials{ID: id, Secret: secret, Basic: true}, true, nil
		}
	}
	id, ok := params["client_id"]
	if !ok || id == "" {
		return creds, false, nil
	}
	return ClientCredentials{ID: id, Secret: params["client_secret"]}, true, nil
}

// NewClientSecret makes a client secret (256 random bits, base64url) and
// its hash for store.Application.SecretHash.
func NewClientSecret() (secret, hash string, err error) {
	if secret, err = randomID(32); err != nil {
		return "", "", err
	}
	return secret, HashClientSecret(secret), nil
}

// HashClientSecret returns what store.Application.SecretHash keeps for a
// client secret.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// authenticateThrottled is the client authentication of the endpoints
// that take client credentials (token, revocation, device authorization,
// PAR) under Config.TokenRateLimit: the per-address budget before the
// client is known (secrets can be guessed at any of them), the per-client
// one after.
func (p *Provider) authenticateThrottled(c *gin.Context, params map[string]string) (*store.Application, error) {
	if limit := p.cfg.TokenRateLimit.PerAddress; limit > 0 { // ClientIP only when it counts
		if err := p.allow(c, "addr", c.ClientIP(), limit); err != nil {
			return nil, err
		}
	}
	app, err := p.authenticateClient(c, params)
	if err != nil {
		return nil, err
	}
	if err := p.allowClient(c, app); err != nil {
		return nil, err
	}
	return app, nil
}

// authenticateClient resolves and authenticates the requesting client by
// the method it registered (token_endpoint_auth_method). A
// client_secret_basic or client_secret_post client presents its secret,
// in either form (as most servers accept); a private_key_jwt or
// client_secret_jwt client presents a JWT assertion (RFC 7523 section
// 2.2, see authenticateAssertion) and never its secret; a public client
// presents only its id (no secret, no assertion). Failures are
// invalid_client (401), never telling an unknown client from a wrong
// secret or signature.
func (p *Provider) authenticateClient(c *gin.Context, params map[string]string) (*store.Application, error) {
	if usesAssertion(params) {
		return p.authenticateAssertion(c, params)
	}
	creds, found, err := ParseClientCredentials(c.Request, params)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, oautherr.ErrInvalidClient.WithDescription("Client authentication failed: no client credentials.")
	}
	app, err := p.apps.get(c.Request.Context(), creds.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oautherr.ErrInvalidClient.WithDescription("Client authentication failed.")
	}
	if err != nil {
		return nil, err
	}
	switch app.ClientType {
	case store.Public:
		if creds.Secret != "" {
			return nil, oautherr.ErrInvalidClient.WithDescription("Client authentication failed.")
		}
	default:
		switch app.AuthMethod() {
		case store.AuthClientSecretBasic, store.AuthClientSecretPost:
		default: // private_key_jwt, client_secret_jwt: an assertion only
			return nil, oautherr.ErrInvalidClient.WithDescription("Client authentication failed.")
		}
		if creds.Secret == "" || !secretMatches(app.SecretHash, creds.Secret) {
			return nil, oautherr.ErrInvalidClient.WithDescription("Client authentication failed.")
		}
	}
	return app, nil
}

// secretMatches compares secret with a stored hash in constant time.
func secretMatches(storedHash, secret string) bool {
	want, err := hex.DecodeString(storedHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(want, got[:]) == 1
}
