package resource

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ginoauth/toolkit/ginoauth/dpop"
	"github.com/ginoauth/toolkit/ginoauth/oautherr"
	"github.com/ginoauth/toolkit/ginoauth/observe"
)

// TokenValidator checks a bearer access token (RFC 6750) and returns what
// it grants. The authorization server of package ginoauth validates
// against its own store; an *Introspector asks a remote authorization
// server (RFC 7662); Authenticate turns either into the middleware.
//
// The error contract, which Authenticate relies on:
//
//   - nil error: the token is valid and the *TokenInfo is not nil;
//   - an error matching oautherr.ErrInvalidToken (errors.Is): the token is
//     bad (malformed, unknown, revoked, expired, or not an access token).
//     The middleware records it with SetAuthError, and the guards of
//     package permissions answer 401 invalid_token (RFC 6750 section 3.1);
//   - any other error: the validator could not tell (its store or the
//     remote provider is unreachable). The middleware answers 503
//     temporarily_unavailable itself and never lets the request through.
//     Such errors must not contain the token.
//
// Validate is called once per request that carries a token, concurrently.
type TokenValidator interface {
	Validate(ctx context.Context, token string) (*TokenInfo, error)
}

// Options configures the middleware Authenticate returns. The zero value
// reads the token from the Authorization header only (RFC 6750 section
// 2.1) and announces the realm "api".
type Options struct {
	// Realm is the realm named in WWW-Authenticate challenges (RFC 6750
	// section 3). Empty means DefaultRealm, as DRF.
	Realm string
	// TokenFinders are where the middleware looks for the token; a request
	// that carries one by more than one of them is invalid_request (RFC
	// 6750 section 2). Nil means TokenFromHeader alone. TokenFromForm
	// (section 2.2) and TokenFromQuery (2.3) add the other two methods.
	TokenFinders []TokenFinder
	// SkipPaths are request paths (exact match on the URL path) the
	// middleware passes through without looking for a token.
	SkipPaths []string
	// UserLoader, if set, is called for every valid token that has a user
	// (TokenInfo.UserID: the introspection answer's "sub" for an
	// Introspector), and its result is put on the context for
	// UserFromContext (DOT's OAuth2Backend). It costs whatever it costs
	// per request; the token's UserID and Username are on TokenInfo
	// without it. An error matching ErrUserNotFound refuses the token
	// (invalid_token); any other error answers 503.
	UserLoader func(c *gin.Context, userID string) (any, error)
	// Logger receives a line for every request answered 503 (never the
	// token). Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock a token's ExpiresAt is checked against, so a
	// validator's answer is never used past it. Nil means time.Now.
	Now func() time.Time
	// Observer receives each validation's result and each 503 answer
	// (package ginoauth/metrics counts them). Nil reports nothing.
	Observer observe.Observer
	// Audience is this resource server's identifier (RFC 8707 section 2,
	// RFC 9728's "resource"), an absolute URI such as
	// "https://api.example.com/". When set, a token whose
	// TokenInfo.Audience does not name it, a token with no audience
	// included, is refused as invalid_token (401; RFC 6750 section 3.1,
	// RFC 9068 section 4): it was issued for another API. Empty checks no
	// audience. Provider.Middleware sets it to Config.Resource unless set.
	Audience string
	// DPoP configures DPoP-bound tokens (RFC 9449). Its zero value leaves
	// the DPoP scheme unrecognised (such a request is anonymous);
	// Provider.Middleware turns it on with the provider's verifier unless
	// Config.DPoP.Disabled. A DPoP-bound token presented as Bearer is
	// refused whatever this says.
	DPoP DPoPOptions
}

// ErrUserNotFound is what an Options.UserLoader returns (or wraps) when
// the token's user no longer exists: the token is then refused.
var ErrUserNotFound = errors.New("resource: the token's user does not exist")

// Authenticate returns resource-server middleware that validates bearer
// tokens (RFC 6750 section 2) with v. It never refuses a request for lack
// of a token, as DRF's authentication classes do not: a request with no
// token goes on as anonymous; one with a token v refuses goes on with
// AuthErrorFromContext set (the guards of package permissions answer 401);
// a valid token is put on the context (TokenFromContext), with its user
// when opts.UserLoader is set. When v cannot tell (an error that does not
// match oautherr.ErrInvalidToken) the middleware answers 503
// temporarily_unavailable with Retry-After (RFC 6749 section 4.1.2.1's
// error code) and stops the chain, so an outage never lets a request
// through.
//
// Requests on opts.SkipPaths, and requests an earlier middleware
// authenticated with SetUser (a session), pass through untouched.
//
// To trust a remote provider, as DOT's RESOURCE_SERVER_INTROSPECTION_URL
// does, pass an *Introspector (NewIntrospector).
func Authenticate(v TokenValidator, opts Options) gin.HandlerFunc {
	if v == nil {
		panic("resource: Authenticate needs a TokenValidator")
	}
	return newAuthenticator(v, opts).serve
}

// authenticator is the middleware. Everything is resolved when it is
// built, so serve does no more work per request than validating the token.
type authenticator struct {
	v          TokenValidator
	realm      string // "" when it is DefaultRealm: nothing to set
	skip       map[string]bool
	finders    []TokenFinder
	userLoader func(c *gin.Context, userID string) (any, error)
	log        *slog.Logger
	now        func() time.Time
	obs        observe.Observer // nil: nothing reported
	audience   string           // "": not checked
	dpop       *dpop.Verifier   // nil: the DPoP scheme is not looked for
	dpopBase   string           // DPoPOptions.BaseURL
	// dpopOn and dpopUsed are what every request records when dpop is on
	// (DPoP on; and the DPoP scheme used), built once: a pointer in the
	// context costs no allocation per request.
	dpopOn, dpopUsed *dpopState
}

func newAuthenticator(v TokenValidator, opts Options) *authenticator {
	a := &authenticator{
		v:          v,
		finders:    opts.TokenFinders,
		userLoader: opts.UserLoader,
		log:        opts.Logger,
		now:        opts.Now,
		obs:        opts.Observer,
		audience:   opts.Audience,
		dpop:       opts.DPoP.verifier(),
		dpopBase:   strings.TrimRight(opts.DPoP.BaseURL, "/"),
	}
	if a.dpop != nil {
		algs := strings.Join(a.dpop.Algs(), " ")
		a.dpopOn, a.dpopUsed = &dpopState{algs: algs}, &dpopState{algs: algs, scheme: true}
	}
	if opts.Realm != "" && opts.Realm != DefaultRealm {
		a.realm = opts.Realm
	}
	if len(opts.SkipPaths) > 0 {
		a.skip = make(map[string]bool, len(opts.SkipPaths))
		for _, path := range opts.SkipPaths {
			a.skip[path] = true
		}
	}
	if a.finders == nil {
		a.finders = []TokenFinder{TokenFromHeader}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

func (a *authenticator) serve(c *gin.Context) {
	if a.realm != "" {
		SetRealm(c, a.realm)
	}
	if a.skip != nil && a.skip[c.Request.URL.Path] {
		c.Next()
		return
	}
	if _, ok := UserFromContext(c); ok {
		c.Next()
		return
	}
	raw, err := findToken(c.Request, a.finders)
	if err != nil {
		SetAuthError(c, err)
		c.Next()
		return
	}
	var proof *dpop.Proof
	if a.dpop != nil {
		c.Set(dpopKey, a.dpopOn)
		var done bool
		if raw, proof, done = a.dpopToken(c, raw); done {
			c.Next()
			return
		}
	}
	if raw == "" {
		c.Next()
		return
	}
	info, user, err := a.validate(c, raw)
	if err == nil {
		err = checkBinding(info, proof)
	}
	if a.obs != nil {
		a.observe(err)
	}
	switch {
	case err == nil:
		SetToken(c, info)
		if user != nil {
			SetUser(c, user)
		}
	case errors.Is(err, oautherr.ErrInvalidToken):
		SetAuthError(c, err)
	default:
		a.log.ErrorContext(c.Request.Context(), "resource: validating a bearer token", "err", err)
		AbortWithError(c, unavailable(err))
		return
	}
	c.Next()
}

// observe reports a validation's result, and the 503 it answers.
func (a *authenticator) observe(err error) {
	switch {
	case err == nil:
		a.obs.Validation(observe.ValidationValid)
	case errors.Is(err, oautherr.ErrInvalidToken):
		a.obs.Validation(observe.ValidationInvalid)
	default:
		a.obs.Validation(observe.ValidationStoreError)
		a.obs.Unavailable(observe.EndpointResource)
	}
}

// validate asks the validator about raw, checks the answer's expiry
// against the middleware's clock, and loads the token's user.
func (a *authenticator) validate(c *gin.Context, raw string) (*TokenInfo, any, error) {
	info, err := a.v.Validate(c.Request.Context(), raw)
	if err != nil {
		return nil, nil, err
	}
	if info == nil {
		return nil, nil, errNoTokenInfo
	}
	if !info.ExpiresAt.IsZero() && !a.now().Before(info.ExpiresAt) {
		return nil, nil, errExpired
	}
	if a.audience != "" && !info.HasAudience(a.audience) {
		return nil, nil, errAudience
	}
	if a.userLoader == nil || info.UserID == "" {
		return info, nil, nil
	}
	user, err := a.userLoader(c, info.UserID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return nil, nil, errNoUser
	case err != nil:
		return nil, nil, oautherr.ErrTemporarilyUnavailable.WithCause(err)
	}
	return info, user, nil
}

var (
	// errNoTokenInfo stands for a TokenValidator that broke its contract.
	errNoTokenInfo  = errors.New("resource: TokenValidator returned neither a token nor an error")
	errExpired      = oautherr.ErrInvalidToken.WithDescription("The access token expired.")
	errNoUser       = oautherr.ErrInvalidToken.WithDescription("The token's user no longer exists.")
	errAudience     = oautherr.ErrInvalidToken.WithDescription("The access token's audience does not include this resource.")
	errUpstreamDown = oautherr.ErrTemporarilyUnavailable.WithDescription("The authorization server is unavailable; try again later.")
)

// unavailable makes sure a validator's failure answers 503, whatever the
// error (TokenValidator's contract), keeping the cause for logs.
func unavailable(err error) error {
	if errors.Is(err, ErrUpstreamUnavailable) {
		return errUpstreamDown.WithCause(err)
	}
	var e *oautherr.Error
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		return e
	}
	return oautherr.ErrTemporarilyUnavailable.WithCause(err)
}

// AbortWithError answers a protected-resource request with err as RFC 6750
// section 3 says, and aborts the handler chain: a 401, a 400
// invalid_request (a malformed Authorization header, say) and a 403
// insufficient_scope carry a WWW-Authenticate: Bearer challenge with the
// request's realm (and, for an error other than a missing credential, its
// error, error_description and scope); an *oautherr.Error with status 503
// answers 503 with Retry-After; an error that is not an *oautherr.Error
// answers 500, without detail. The body is always {"error": ...,
// "error_description": ...}.
//
// With DPoP on (Options.DPoP), a request that used the DPoP scheme gets a
// DPoP challenge instead (RFC 9449 section 7.1, with algs), and a 401 to
// one that did not gets a DPoP challenge besides the Bearer one.
func AbortWithError(c *gin.Context, err error) {
	e := oautherr.As(err)
	st, on := dpopFromContext(c)
	if !on {
		oautherr.WriteBearer(c, RealmFromContext(c), e)
		return
	}
	challenge := e.Status == http.StatusUnauthorized || e.Code == oautherr.ErrInsufficientScope.Code || e.Code == oautherr.ErrInvalidRequest.Code
	if st.scheme {
		if challenge {
			c.Header("WWW-Authenticate", dpopChallenge(RealmFromContext(c), st.algs, e))
		}
		oautherr.WriteJSON(c, e)
		return
	}
	if challenge {
		h := c.Writer.Header()
		h.Set("WWW-Authenticate", oautherr.BearerChallenge(RealmFromContext(c), e))
		if e.Status == http.StatusUnauthorized {
			h.Add("WWW-Authenticate", dpopChallenge(RealmFromContext(c), st.algs, nil))
		}
	}
	oautherr.WriteJSON(c, e)
}

// dpopToken looks for a token sent with the DPoP scheme and checks its
// proof (RFC 9449 section 7.1). bearer is what the other finders found.
// It returns the token to validate and the proof, or done when the
// request's outcome is settled (recorded with SetAuthError, or answered
// 503 when the replay check could not tell).
func (a *authenticator) dpopToken(c *gin.Context, bearer string) (string, *dpop.Proof, bool) {
	tok, err := tokenFromDPoPHeader(c.Request)
	if err == nil && tok != "" && bearer != "" {
		err = errSeveralTokens
	}
	if tok == "" && err == nil {
		return bearer, nil, false
	}
	c.Set(dpopKey, a.dpopUsed)
	if err != nil {
		SetAuthError(c, err)
		return "", nil, true
	}
	proof, err := a.dpop.Verify(c.Request.Context(), c.Request.Header.Values(dpop.HeaderName), dpop.Request{
		Method: c.Request.Method, URL: a.requestURL(c.Request), AccessToken: tok,
	})
	if e, ok := dpop.IsError(err); ok {
		if a.obs != nil {
			a.obs.Validation(observe.ValidationInvalid)
		}
		if e.Code == dpop.CodeUseNonce {
			c.Header(dpop.NonceHeader, e.Nonce)
			SetAuthError(c, errUseDPoPNonce.WithDescription("%s", e.Description))
		} else {
			SetAuthError(c, errInvalidDPoPProof.WithDescription("%s", e.Description))
		}
		return "", nil, true
	}
	if err != nil {
		if a.obs != nil {
			a.obs.Unavailable(observe.EndpointResource)
		}
		a.log.ErrorContext(c.Request.Context(), "resource: checking a DPoP proof", "err", err)
		AbortWithError(c, unavailable(err))
		return "", nil, true
	}
	if proof.NextNonce != "" {
		c.Header(dpop.NonceHeader, proof.NextNonce) // RFC 9449 section 9
	}
	return tok, proof, false
}

// checkBinding checks a valid token against the scheme it came with: a
// DPoP-bound token needs a proof made with its key (RFC 9449 section 7.1),
// and is refused as Bearer (section 7.2); a bearer token is refused with
// the DPoP scheme.
func checkBinding(info *TokenInfo, proof *dpop.Proof) error {
	switch {
	case proof == nil && info.JKT != "":
		return errBoundAsBearer
	case proof != nil && info.JKT == "":
		return errNotBound
	case proof != nil && subtle.ConstantTimeCompare([]byte(proof.JKT), []byte(info.JKT)) != 1:
		return errWrongKey
	}
	return nil
}
