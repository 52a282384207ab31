package resource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/scope"
)

// IntrospectionConfig configures an Introspector: the resource-server mode
// of Django OAuth Toolkit, where an API that does not share the
// authorization server's store validates each bearer token by asking the
// authorization server's introspection endpoint (RFC 7662).
//
// The caller authenticates to the endpoint (RFC 7662 section 2.1) either
// as a client, with ClientID and ClientSecret (DOT's
// RESOURCE_SERVER_INTROSPECTION_CREDENTIALS), or with a bearer token
// (DOT's RESOURCE_SERVER_AUTH_TOKEN), never both.
type IntrospectionConfig struct {
	// URL is the introspection endpoint (DOT's
	// RESOURCE_SERVER_INTROSPECTION_URL), an absolute http or https URL
	// such as "https://auth.example.com/o/introspect/". It may not carry
	// credentials (user:password@); use ClientID and ClientSecret.
	URL string

	// ClientID and ClientSecret authenticate with HTTP Basic, each
	// form-encoded first as RFC 6749 section 2.3.1 requires (DOT's
	// RESOURCE_SERVER_INTROSPECTION_CREDENTIALS). On a ginoauth provider
	// the client must be confidential.
	ClientID, ClientSecret string
	// BearerToken authenticates with "Authorization: Bearer" instead (DOT's
	// RESOURCE_SERVER_AUTH_TOKEN); on a ginoauth or DOT provider it needs
	// the "introspection" scope.
	BearerToken string

	// CacheTTL is how long an answer is reused (DOT's
	// RESOURCE_SERVER_TOKEN_CACHING_SECONDS). It is also how long a revoked
	// token may go on working here. A positive answer is never reused past
	// the token's exp; a negative one ("active": false) is reused for
	// min(CacheTTL, 5s). Zero means no cache: every request asks (though
	// concurrent requests with one token still share one call). Failures
	// are never cached.
	CacheTTL time.Duration
	// Timeout bounds each call to the endpoint. Zero means 5 seconds.
	Timeout time.Duration
	// HTTPClient makes the calls. Nil means a client that does not follow
	// redirects (a redirect is answered as a failure, so the token and the
	// credentials go nowhere but URL).
	HTTPClient *http.Client
	// Logger receives a line for every failed call (the status or the
	// network error; never the token, the credentials or the body). Nil
	// means slog.Default().
	Logger *slog.Logger
	// Now is the clock for the cache and for exp. Nil means time.Now.
	Now func() time.Time
	// MaxCacheEntries bounds the cache. Zero means 10000. When it is full,
	// expired answers are dropped first, then a tenth of the rest.
	MaxCacheEntries int

	// JWKSURL, when set, turns on the JWT mode: a JWT access token (RFC
	// 9068: a compact JWS whose typ is at+jwt) is checked here, against the
	// authorization server's published keys at JWKSURL (its metadata's
	// jwks_uri, such as "https://auth.example.com/o/.well-known/jwks.json"),
	// and never sent to URL: an asymmetric signature (RS*, PS*, ES*,
	// EdDSA) by the key its kid names, iss equal to Issuer, exp in the
	// future, and sub, client_id and jti present. The key set is cached for
	// JWKSCacheTTL and fetched again early, at most every 30 s, when a
	// token names a kid it lacks (a rotation). Other tokens go to URL as
	// before; with URL empty (a resource server that takes JWTs only) they
	// are invalid_token.
	//
	// A JWT access token is accepted on its signature: a revocation at the
	// authorization server is not seen here before the token expires. Use
	// introspection (leave JWKSURL empty, or have the server issue opaque
	// tokens) where that bound is too long.
	JWKSURL string
	// Issuer is the iss that JWT access tokens must carry (the
	// authorization server's issuer identifier); required with JWKSURL.
	Issuer string
	// JWKSCacheTTL is how long the key set is used before it is fetched
	// again. Zero means DefaultJWKSCacheTTL (5 minutes).
	JWKSCacheTTL time.Duration
}

// The defaults of IntrospectionConfig.
const (
	// DefaultIntrospectionTimeout is IntrospectionConfig.Timeout's default.
	DefaultIntrospectionTimeout = 5 * time.Second
	// DefaultMaxCacheEntries is IntrospectionConfig.MaxCacheEntries's
	// default.
	DefaultMaxCacheEntries = 10000
	// maxNegativeTTL caps how long an inactive answer is reused.
	maxNegativeTTL = 5 * time.Second
	// maxIntrospectionBody is the largest answer read; a bigger one is a
	// failure.
	maxIntrospectionBody = 64 << 10
	// maxRemoteToken is the longest token sent to the endpoint; a longer
	// one is refused without a call, so a client cannot make this server
	// post megabytes upstream.
	maxRemoteToken = 16 << 10
)

// ErrUpstreamUnavailable is wrapped by every error an Introspector returns
// when it cannot tell whether a token is valid: the introspection endpoint
// is unreachable, slow (Timeout), refuses this server's credentials, or
// answers anything other than a 200 carrying an RFC 7662 section 2.2 JSON
// object of at most 64 KiB. The middleware answers it 503
// temporarily_unavailable with Retry-After, and never lets the request
// through.
var ErrUpstreamUnavailable = errors.New("resource: the introspection endpoint is unavailable")

// errTokenInvalid answers a token the endpoint does not vouch for.
var errTokenInvalid = oautherr.ErrInvalidToken.WithDescription("The access token is invalid, expired or revoked.")

// upstreamf returns an error wrapping ErrUpstreamUnavailable.
func upstreamf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUpstreamUnavailable}, a...)...)
}

// Introspector validates bearer tokens by RFC 7662 introspection against a
// remote authorization server, with a short cache; it implements
// TokenValidator, so Authenticate(introspector, opts) is the middleware of
// an API that trusts that server. Build it with NewIntrospector; it is safe
// for concurrent use.
//
// The cache is keyed by the SHA-256 of the token (the token itself is
// never cached, logged or put in an error), and concurrent requests with a
// token that is not cached share one call to the endpoint.
type Introspector struct {
	endpoint   string
	logURL     string // endpoint without its query, for logs
	authHeader string
	ttl        time.Duration
	negTTL     time.Duration
	timeout    time.Duration
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time
	maxEntries int
	jwt        *jwtVerifier // nil without IntrospectionConfig.JWKSURL

	mu       sync.Mutex
	cache    map[[sha256.Size]byte]cacheEntry // nil when CacheTTL is 0
	inflight map[[sha256.Size]byte]*introspection
}

// cacheEntry is a remembered answer: info for an active access token, nil
// for one that is not.
type cacheEntry struct {
	info  *TokenInfo
	until time.Time
}

// introspection is a call to the endpoint that concurrent Validate calls
// for one token wait for (a hand-written singleflight).
type introspection struct {
	done chan struct{}
	info *TokenInfo
	err  error
}

// NewIntrospector builds an Introspector from cfg, filling in the
// documented defaults. It fails when URL is not an absolute http or https
// URL, when neither or both ways of authenticating (RFC 7662 section 2.1)
// are configured, or on a negative duration or size; with JWKSURL, URL
// may be empty, and JWKSURL must be https (or http on a loopback host)
// and Issuer set.
func NewIntrospector(cfg IntrospectionConfig) (*Introspector, error) {
	if cfg.URL == "" && cfg.JWKSURL != "" {
		return newJWTOnly(cfg)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("resource: IntrospectionConfig.URL is not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("resource: IntrospectionConfig.URL must be an absolute http or https URL, not %q", u.Redacted())
	}
	if u.User != nil {
		return nil, errors.New("resource: IntrospectionConfig.URL may not carry credentials; use ClientID and ClientSecret")
	}
	if u.Fragment != "" {
		return nil, errors.New("resource: IntrospectionConfig.URL may not have a fragment")
	}
	in := &Introspector{
		endpoint:   u.String(),
		logURL:     (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(),
		ttl:        cfg.CacheTTL,
		timeout:    cfg.Timeout,
		client:     cfg.HTTPClient,
		log:        cfg.Logger,
		now:        cfg.Now,
		maxEntries: cfg.MaxCacheEntries,
		inflight:   make(map[[sha256.Size]byte]*introspection),
	}
	basic := cfg.ClientID != "" || cfg.ClientSecret != ""
	switch {
	case basic && cfg.BearerToken != "":
		return nil, errors.New("resource: IntrospectionConfig: set ClientID and ClientSecret, or BearerToken, not both")
	case basic && (cfg.ClientID == "" || cfg.ClientSecret == ""):
		return nil, errors.New("resource: IntrospectionConfig: ClientID and ClientSecret go together")
	case basic:
		// RFC 6749 2.3.1: form-encode each, then Basic (RFC 7617).
		in.authHeader = "Basic " + base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(cfg.ClientID)+":"+url.QueryEscape(cfg.ClientSecret)))
	case cfg.BearerToken != "":
		if !isB64Token(cfg.BearerToken) {
			return nil, errors.New("resource: IntrospectionConfig.BearerToken is not an RFC 6750 b64token")
		}
		in.authHeader = "Bearer " + cfg.BearerToken
	default:
		return nil, errors.New("resource: IntrospectionConfig needs ClientID and ClientSecret, or BearerToken (RFC 7662 2.1)")
	}
	if in.ttl < 0 || in.timeout < 0 || in.maxEntries < 0 {
		return nil, errors.New("resource: IntrospectionConfig: CacheTTL, Timeout and MaxCacheEntries must not be negative")
	}
	in.defaults()
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		in.log.Warn("resource: the introspection endpoint is plain http; tokens and credentials cross the network in clear",
			"endpoint", in.logURL)
	}
	if cfg.JWKSURL != "" {
		if in.jwt, err = newJWTVerifier(cfg, in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// defaults fills in the documented defaults of what cfg left unset.
func (in *Introspector) defaults() {
	if in.timeout == 0 {
		in.timeout = DefaultIntrospectionTimeout
	}
	if in.maxEntries == 0 {
		in.maxEntries = DefaultMaxCacheEntries
	}
	if in.ttl > 0 {
		in.negTTL = min(in.ttl, maxNegativeTTL)
		in.cache = make(map[[sha256.Size]byte]cacheEntry)
	}
	if in.client == nil {
		in.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if in.log == nil {
		in.log = slog.Default()
	}
	if in.now == nil {
		in.now = time.Now
	}
}

// newJWTOnly builds an Introspector with the JWT mode and no introspection
// endpoint.
func newJWTOnly(cfg IntrospectionConfig) (*Introspector, error) {
	if cfg.ClientID != "" || cfg.ClientSecret != "" || cfg.BearerToken != "" {
		return nil, errors.New("resource: IntrospectionConfig: credentials without URL")
	}
	if cfg.CacheTTL < 0 || cfg.Timeout < 0 || cfg.MaxCacheEntries < 0 {
		return nil, errors.New("resource: IntrospectionConfig: CacheTTL, Timeout and MaxCacheEntries must not be negative")
	}
	in := &Introspector{
		ttl: cfg.CacheTTL, timeout: cfg.Timeout, client: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now,
		maxEntries: cfg.MaxCacheEntries, inflight: make(map[[sha256.Size]byte]*introspection),
	}
	in.defaults()
	var err error
	if in.jwt, err = newJWTVerifier(cfg, in); err != nil {
		return nil, err
	}
	return in, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate implements TokenValidator: it returns what the remote
// authorization server says token grants, from the cache when it can.
//
// A token the endpoint answers {"active": false} for (RFC 7662 section
// 2.2), one whose token_type is not an access token's (a refresh token
// presented as a bearer token), one whose exp has passed by this server's
// clock, an empty one and one over 16 KiB give an error matching
// oautherr.ErrInvalidToken. Any failure to get a usable answer gives an error
// wrapping ErrUpstreamUnavailable, as does ctx
// ending while it waits.
func (in *Introspector) Validate(ctx context.Context, token string) (*TokenInfo, error) {
	if token == "" || len(token) > maxRemoteToken {
		return nil, errTokenInvalid
	}
	if err := ctx.Err(); err != nil {
		return nil, upstreamf("%w", err)
	}
	key := sha256.Sum256([]byte(token))
	now := in.now()
	in.mu.Lock()
	if e, ok := in.cache[key]; ok {
		if now.Before(e.until) {
			in.mu.Unlock()
			return answer(e.info, nil)
		}
		delete(in.cache, key)
	}
	if in.jwt != nil && isAccessJWT(token) {
		in.mu.Unlock()
		return in.validateJWT(ctx, key, token)
	}
	if in.endpoint == "" {
		in.mu.Unlock()
		return nil, errTokenInvalid // JWT-only: an opaque token is not for us
	}
	call := in.inflight[key]
	if call == nil {
		call = &introspection{done: make(chan struct{})}
		in.inflight[key] = call
		// The call runs on its own, so that one waiter giving up (its
		// client went away) does not fail the others; Timeout bounds it.
		go in.run(context.WithoutCancel(ctx), key, token, call)
	}
	in.mu.Unlock()
	select {
	case <-call.done:
		return answer(call.info, call.err)
	case <-ctx.Done():
		return nil, upstreamf("gave up waiting: %w", ctx.Err())
	}
}

// answer returns a copy of a shared answer, so that a handler changing its
// TokenInfo changes nobody else's.
func answer(info *TokenInfo, err error) (*TokenInfo, error) {
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, errTokenInvalid
	}
	c := *info
	c.Scopes = slices.Clip(c.Scopes)
	c.Audience = slices.Clip(c.Audience)
	return &c, nil
}

// validateJWT checks a JWT access token with the key set (JWT mode), and
// caches the answer as an introspection answer is.
func (in *Introspector) validateJWT(ctx context.Context, key [sha256.Size]byte, token string) (*TokenInfo, error) {
	info, err := in.jwt.verify(ctx, token)
	if err != nil && !errors.Is(err, oautherr.ErrInvalidToken) {
		return nil, err // no key set to check it with: 503, not cached
	}
	if in.cache != nil {
		now := in.now()
		e := cacheEntry{info: info, until: now.Add(in.negTTL)}
		if info != nil {
			e.until = now.Add(in.ttl)
			if info.ExpiresAt.Before(e.until) {
				e.until = info.ExpiresAt
			}
		}
		in.mu.Lock()
		in.remember(key, e, now)
		in.mu.Unlock()
	}
	return answer(info, err)
}

// run makes one call for the waiters of call, remembers its answer and
// wakes them.
func (in *Introspector) run(ctx context.Context, key [sha256.Size]byte, token string, call *introspection) {
	info, err := in.introspect(ctx, token)
	now := in.now()
	if info != nil && !info.ExpiresAt.IsZero() && !now.Before(info.ExpiresAt) {
		info = nil // active by the server's clock, expired by ours
	}
	call.info, call.err = info, err
	if info == nil && err == nil {
		call.err = errTokenInvalid
	}
	in.mu.Lock()
	delete(in.inflight, key)
	if in.cache != nil && err == nil {
		e := cacheEntry{info: info, until: now.Add(in.negTTL)}
		if info != nil {
			e.until = now.Add(in.ttl)
			if !info.ExpiresAt.IsZero() && info.ExpiresAt.Before(e.until) {
				e.until = info.ExpiresAt
			}
		}
		in.remember(key, e, now)
	}
	in.mu.Unlock()
	close(call.done)
}

// remember caches e under key; in.mu is held. A full cache first loses
// its expired entries, then, if still full, a tenth of the rest in map
// order (about random), so the cost of making room is spread over many
// insertions.
func (in *Introspector) remember(key [sha256.Size]byte, e cacheEntry, now time.Time) {
	if _, ok := in.cache[key]; !ok && len(in.cache) >= in.maxEntries {
		for k, old := range in.cache {
			if !now.Before(old.until) {
				delete(in.cache, k)
			}
		}
		for k := range in.cache {
			if len(in.cache) < in.maxEntries-in.maxEntries/10 {
				break
			}
			delete(in.cache, k)
		}
	}
	in.cache[key] = e
}

// introspectionAnswer is what is read of RFC 7662 section 2.2's answer.
// exp and iat are JSON numbers: some servers send them with a fraction.
type introspectionAnswer struct {
	Active    *bool       `json:"active"` // REQUIRED
	Scope     string      `json:"scope"`
	ClientID  string      `json:"client_id"`
	Username  string      `json:"username"`
	TokenType string      `json:"token_type"`
	Exp       json.Number `json:"exp"`
	Iat       json.Number `json:"iat"`
	Sub       string      `json:"sub"`
	// Aud is a string or an array of strings (RFC 7662 section 2.2,
	// RFC 7519 section 4.1.3).
	Aud json.RawMessage `json:"aud"`
	// Cnf is RFC 7800's confirmation; its jkt names the key a DPoP-bound
	// token is bound to (RFC 9449 section 6.2).
	Cnf *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// introspect makes the call of RFC 7662 section 2.1: it returns the
// token's info, nil (and no error) when the token is not an active access
// token, or an error wrapping ErrUpstreamUnavailable.
func (in *Introspector) introspect(ctx context.Context, token string) (*TokenInfo, error) {
	start := time.Now()
	info, status, err := in.call(ctx, token)
	if err != nil {
		attrs := []any{"endpoint", in.logURL, "err", err, "elapsed", time.Since(start).Round(time.Millisecond)}
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			attrs = append(attrs, "hint", "the endpoint refused this resource server's credentials (ClientID and ClientSecret, or BearerToken)")
		}
		in.log.WarnContext(ctx, "resource: token introspection failed", attrs...)
	}
	return info, err
}

// call does the HTTP exchange. The errors it returns name no token, no
// credential and nothing of the body.
func (in *Introspector) call(ctx context.Context, token string) (*TokenInfo, int, error) {
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form))
	if err != nil {
		return nil, 0, upstreamf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", in.authHeader)
	res, err := in.client.Do(req)
	if err != nil {
		// *url.Error names the method and URL (which carries no
		// credentials), and the cause: a timeout, a refused connection.
		return nil, 0, upstreamf("%w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10)) // let the connection be reused
		return nil, res.StatusCode, upstreamf("the endpoint answered %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxIntrospectionBody+1))
	if err != nil {
		return nil, res.StatusCode, upstreamf("reading the answer: %w", err)
	}
	if len(body) > maxIntrospectionBody {
		return nil, res.StatusCode, upstreamf("the answer is over %d bytes", maxIntrospectionBody)
	}
	var a introspectionAnswer
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &a) != nil || a.Active == nil {
		// Not an RFC 7662 2.2 object with its REQUIRED "active" member:
		// the URL is wrong, or a proxy answered. Do not take it for
		// "inactive", which would hide the misconfiguration as 401s.
		return nil, res.StatusCode, upstreamf("the answer is not an RFC 7662 JSON object")
	}
	info, err := a.tokenInfo()
	return info, res.StatusCode, err
}

// tokenInfo turns an answer into a TokenInfo: nil for an inactive token or
// one that is not an access token, an error for an answer that cannot be
// trusted.
func (a *introspectionAnswer) tokenInfo() (*TokenInfo, error) {
	if !*a.Active || !isAccessTokenType(a.TokenType) {
		return nil, nil
	}
	var jkt string
	if a.Cnf != nil {
		jkt = a.Cnf.JKT
	}
	if strings.EqualFold(a.TokenType, "DPoP") && jkt == "" {
		return nil, nil // bound, but to no key we are told of: unusable
	}
	scopes, err := scope.Parse(a.Scope)
	if err != nil {
		return nil, upstreamf("the answer's scope is malformed")
	}
	exp, err := unixTime(a.Exp)
	if err != nil {
		return nil, upstreamf("the answer's exp is not a number")
	}
	iat, err := unixTime(a.Iat)
	if err != nil {
		return nil, upstreamf("the answer's iat is not a number")
	}
	aud, err := parseAudience(a.Aud)
	if err != nil {
		return nil, upstreamf("the answer's aud is malformed")
	}
	return &TokenInfo{
		ClientID:  a.ClientID,
		UserID:    a.Sub,
		Username:  a.Username,
		Scopes:    scopes,
		Audience:  aud,
		JKT:       jkt,
		IssuedAt:  iat,
		ExpiresAt: exp,
	}, nil
}

// parseAudience reads an "aud" member (RFC 7519 section 4.1.3): absent or
// null is none, a string is one, an array of strings is several; anything
// else, and an empty string anywhere, is an error.
func parseAudience(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &one); err != nil || one == "" {
			return nil, errors.New("not a string")
		}
		return []string{one}, nil
	}
	var many []string
	if raw[0] != '[' || json.Unmarshal(raw, &many) != nil {
		return nil, errors.New("neither a string nor an array of strings")
	}
	if slices.Contains(many, "") {
		return nil, errors.New("an empty audience")
	}
	return many, nil
}

// isAccessTokenType reports whether an answer's token_type (RFC 7662
// section 2.2; optional) names an access token: absent, "Bearer" (RFC
// 6750, as ginoauth and DOT answer), "DPoP" (RFC 9449 section 6.2: bound
// to the key of its cnf.jkt, which the middleware then requires),
// "access_token" or RFC 8693's access-token URN. Anything else
// ("refresh_token") is refused.
func isAccessTokenType(t string) bool {
	return t == "" || strings.EqualFold(t, "bearer") || strings.EqualFold(t, "access_token") ||
		strings.EqualFold(t, "DPoP") || t == "urn:ietf:params:oauth:token-type:access_token"
}

// unixTime reads a NumericDate (seconds since the epoch, RFC 7519 2);
// absent is the zero time.
func unixTime(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0), nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/2 || f < math.MinInt64/2 {
		return time.Time{}, errors.New("not a NumericDate")
	}
	return time.Unix(int64(math.Floor(f)), 0), nil
}

// Introspector satisfies TokenValidator.
var _ TokenValidator = (*Introspector)(nil)
