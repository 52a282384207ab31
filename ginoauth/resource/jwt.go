package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ginoauth/toolkit/ginoauth/internal/jwks"
)

// JWT access tokens (RFC 9068) checked by an Introspector with the
// authorization server's published keys (IntrospectionConfig.JWKSURL),
// without calling its introspection endpoint.

// Defaults of the JWT mode.
const (
	// DefaultJWKSCacheTTL is IntrospectionConfig.JWKSCacheTTL's default.
	DefaultJWKSCacheTTL = 5 * time.Minute
	// jwksRefetchEvery bounds the early refetches an unknown kid causes:
	// at most one per interval, so forged kids cannot make every request
	// a call to the authorization server.
	jwksRefetchEvery = 30 * time.Second
	// maxJWKS is the largest key set read.
	maxJWKS = 64 << 10
	// jwtLeeway is the clock skew allowed on nbf and iat.
	jwtLeeway = 30 * time.Second
)

// accessJWTAlgs are the signature algorithms accepted: asymmetric only, so
// "none" and HMAC (with a public key as its secret) are refused before any
// key is looked up.
var accessJWTAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// errJWTInvalid answers a JWT access token that does not verify.
var errJWTInvalid = errTokenInvalid

// isAccessJWT reports whether token has the shape of a compact JWS (three
// segments, a JSON header): what the JWT mode checks itself. Anything else
// goes to the introspection endpoint.
func isAccessJWT(token string) bool {
	return strings.HasPrefix(token, "eyJ") && strings.Count(token, ".") == 2
}

// jwtVerifier checks JWT access tokens against a remote JWK Set, cached.
type jwtVerifier struct {
	jwksURL, logURL string
	issuer          string
	ttl             time.Duration
	timeout         time.Duration
	client          *http.Client
	log             *slog.Logger
	now             func() time.Time

	mu        sync.Mutex
	keys      []jose.JSONWebKey // nil until the first fetch succeeds
	fetchedAt time.Time
	triedAt   time.Time     // last fetch attempt, successful or not
	fetching  chan struct{} // closed when the fetch under way ends; nil when none
}

// newJWTVerifier checks cfg's JWT mode; in supplies the HTTP client,
// logger, clock and timeout.
func newJWTVerifier(cfg IntrospectionConfig, in *Introspector) (*jwtVerifier, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, errors.New("resource: IntrospectionConfig.JWKSURL must be an absolute http or https URL, without credentials or fragment")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, errors.New("resource: IntrospectionConfig.JWKSURL must be https (plain http only on a loopback host)")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("resource: IntrospectionConfig.Issuer is required with JWKSURL: the iss JWT access tokens must carry")
	}
	if cfg.JWKSCacheTTL < 0 {
		return nil, errors.New("resource: IntrospectionConfig.JWKSCacheTTL must not be negative")
	}
	v := &jwtVerifier{
		jwksURL: u.String(),
		logURL:  (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(),
		issuer:  cfg.Issuer,
		ttl:     cfg.JWKSCacheTTL,
		timeout: in.timeout,
		client:  in.client,
		log:     in.log,
		now:     in.now,
	}
	if v.ttl == 0 {
		v.ttl = DefaultJWKSCacheTTL
	}
	return v, nil
}

// accessJWTClaims are the members of RFC 9068 section 2.2 read here.
type accessJWTClaims struct {
	Iss               string          `json:"iss"`
	Sub               string          `json:"sub"`
	Aud               json.RawMessage `json:"aud"`
	Exp               *json.Number    `json:"exp"`
	Nbf               *json.Number    `json:"nbf"`
	Iat               *json.Number    `json:"iat"`
	Jti               string          `json:"jti"`
	ClientID          string          `json:"client_id"`
	Scope             string          `json:"scope"`
	PreferredUsername string          `json:"preferred_username"`
	Cnf               *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// verify checks a JWT access token: its typ (RFC 9068 section 4), an
// asymmetric signature by a key of the set named by its kid, and its
// claims; it returns what the token grants. A token that fails any check
// is invalid_token; a key set that cannot be had at all is
// ErrUpstreamUnavailable.
func (v *jwtVerifier) verify(ctx context.Context, token string) (*TokenInfo, error) {
	jws, err := jose.ParseSigned(token, accessJWTAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errJWTInvalid
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenTyp(typ) {
		return nil, errJWTInvalid // an ID token, or any other JWT
	}
	key, err := v.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, errJWTInvalid
	}
	return v.claims(payload)
}

// isAccessTokenTyp reports whether a typ header names RFC 9068's media
// type, case-insensitively (RFC 7515 section 4.1.9).
func isAccessTokenTyp(typ string) bool {
	t := strings.ToLower(typ)
	return t == "at+jwt" || t == "application/at+jwt"
}

// claims checks a verified payload's claims and maps them to TokenInfo.
func (v *jwtVerifier) claims(payload []byte) (*TokenInfo, error) {
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	var c accessJWTClaims
	if err := dec.Decode(&c); err != nil {
		return nil, errJWTInvalid
	}
	if c.Iss != v.issuer || c.Sub == "" || c.ClientID == "" || c.Jti == "" || c.Exp == nil || c.Iat == nil {
		return nil, errJWTInvalid
	}
	now := v.now()
	exp, err1 := unixTime(*c.Exp)
	iat, err2 := unixTime(*c.Iat)
	if err1 != nil || err2 != nil || !now.Before(exp) || iat.After(now.Add(jwtLeeway)) {
		return nil, errJWTInvalid
	}
	if c.Nbf != nil {
		nbf, err := unixTime(*c.Nbf)
		if err != nil || nbf.After(now.Add(jwtLeeway)) {
			return nil, errJWTInvalid
		}
	}
	aud, err := parseAudience(c.Aud)
	if err != nil {
		return nil, errJWTInvalid
	}
	info := &TokenInfo{
		ClientID:  c.ClientID,
		Username:  c.PreferredUsername,
		Scopes:    strings.Fields(c.Scope),
		Audience:  aud,
		IssuedAt:  iat,
		ExpiresAt: exp,
	}
	if c.Sub != c.ClientID { // RFC 9068 2.2: sub is the client for a token with no user
		info.UserID = c.Sub
	}
	if c.Cnf != nil {
		info.JKT = c.Cnf.JKT
	}
	return info, nil
}

// key returns the public key of the set with kid (any key of alg when the
// token names none and the set has exactly one), refetching the set when
// it is stale, and early, at most once per jwksRefetchEvery, when kid is
// unknown.
func (v *jwtVerifier) key(ctx context.Context, kid, alg string) (any, error) {
	keys, err := v.current(ctx)
	if err != nil {
		return nil, err
	}
	if k, ok := pickKey(keys, kid, alg); ok {
		return k, nil
	}
	if keys, err = v.refetch(ctx); err != nil || keys == nil {
		return nil, errJWTInvalid // no new set: the kid is not the server's
	}
	if k, ok := pickKey(keys, kid, alg); ok {
		return k, nil
	}
	return nil, errJWTInvalid
}

// pickKey finds a signing key for kid and alg.
func pickKey(keys []jose.JSONWebKey, kid, alg string) (any, bool) {
	var found []jose.JSONWebKey
	for _, k := range keys {
		if k.Use == "enc" || (k.Algorithm != "" && k.Algorithm != alg) || !k.Valid() {
			continue
		}
		if kid == "" || k.KeyID == kid {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return nil, false
	}
	k := found[0]
	if !k.IsPublic() {
		k = k.Public() // a set that published a private key: use its public half
	}
	return k.Key, k.Key != nil
}

// current returns the cached set, fetching it when there is none or it is
// older than the TTL. A failed refresh of a stale set keeps using it (and
// logs); with no set at all, the failure is ErrUpstreamUnavailable.
func (v *jwtVerifier) current(ctx context.Context) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	keys, fresh := v.keys, v.keys != nil && v.now().Sub(v.fetchedAt) < v.ttl
	v.mu.Unlock()
	if fresh {
		return keys, nil
	}
	got, err := v.fetchShared(ctx)
	switch {
	case err == nil:
		return got, nil
	case keys != nil:
		return keys, nil
	}
	return nil, err
}

// refetch fetches the set again for an unknown kid, unless a fetch was
// tried within jwksRefetchEvery; nil keys mean it did not.
func (v *jwtVerifier) refetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	recent := v.now().Sub(v.triedAt) < jwksRefetchEvery
	v.mu.Unlock()
	if recent {
		return nil, nil
	}
	return v.fetchShared(ctx)
}

// fetchShared fetches the set, or waits for the fetch under way: concurrent
// callers share one request.
func (v *jwtVerifier) fetchShared(ctx context.Context) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	if ch := v.fetching; ch != nil {
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, upstreamf("gave up waiting for the JWKS: %w", ctx.Err())
		}
		v.mu.Lock()
		keys, at := v.keys, v.fetchedAt
		v.mu.Unlock()
		if keys == nil || v.now().Sub(at) >= v.ttl {
			return nil, upstreamf("the JWKS at %s could not be fetched", v.logURL)
		}
		return keys, nil
	}
	ch := make(chan struct{})
	v.fetching, v.triedAt = ch, v.now()
	v.mu.Unlock()
	keys, err := v.fetch(context.WithoutCancel(ctx))
	v.mu.Lock()
	if err == nil {
		v.keys, v.fetchedAt = keys, v.now()
	}
	v.fetching = nil
	v.mu.Unlock()
	close(ch)
	if err != nil {
		v.log.Error("resource: fetching the JWKS", "url", v.logURL, "err", err)
		return nil, err
	}
	return keys, nil
}

// fetch GETs the set: within the timeout, at most maxJWKS bytes, no
// redirect followed (the client's), a 200 with a JWK Set.
func (v *jwtVerifier) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, upstreamf("%w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := v.client.Do(req)
	if err != nil {
		return nil, upstreamf("%w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, upstreamf("the JWKS answered %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKS+1))
	if err != nil {
		return nil, upstreamf("reading the JWKS: %w", err)
	}
	if len(body) > maxJWKS {
		return nil, upstreamf("the JWKS is over %d bytes", maxJWKS)
	}
	return parseJWKS(body)
}

// parseJWKS reads a JWK Set. A key that cannot be read (a kty or curve
// go-jose does not know, a member missing) is skipped, as RFC 7517
// section 5 says, so that one key a verifier does not understand does not
// cost it the others; a set with no key left is an error.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	keys, n, err := jwks.Parse(body)
	if err != nil {
		return nil, upstreamf("the JWKS is not a JWK Set: %v", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the JWKS has no key this verifier can read (of %d)", ErrUpstreamUnavailable, n)
	}
	return keys, nil
}
