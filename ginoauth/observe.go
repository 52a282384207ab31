package ginoauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// observeError reports an endpoint's error answer to Config.Observer: a
// 503 (store outage). 429s are reported where they are decided (allow).
func (p *Provider) observeError(endpoint string, err error) {
	if p.obs == nil || err == nil {
		return
	}
	if asError(err).Status == http.StatusServiceUnavailable {
		p.obs.Unavailable(endpoint)
	}
}

// observedStore counts the calls of the provider's store that fail with
// store.ErrUnavailable, by method. Methods it does not override go to the
// store as they are (and are not counted). New uses it only when an
// Observer is configured; Provider.Store returns the store itself.
type observedStore struct {
	store.Store
	obs observe.Observer
}

func newObservedStore(s store.Store, obs observe.Observer) store.Store {
	if obs == nil {
		return s
	}
	return &observedStore{Store: s, obs: obs}
}

// observedRotator is observedStore's store.RefreshRotator, kept apart
// because a store need not implement it.
type observedRotator struct {
	r   store.RefreshRotator
	obs observe.Observer
}

// newObservedRotator returns s's store.RefreshRotator (observed when obs is
// set), or nil when s has none.
func newObservedRotator(s store.Store, obs observe.Observer) store.RefreshRotator {
	r, ok := s.(store.RefreshRotator)
	if !ok || obs == nil {
		return r
	}
	return &observedRotator{r: r, obs: obs}
}

func (o *observedRotator) RotateRefresh(ctx context.Context, old store.Key, req store.RotateRefresh) (*store.RefreshToken, error) {
	rt, err := o.r.RotateRefresh(ctx, old, req)
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		o.obs.StoreError("RotateRefresh")
	}
	return rt, err
}

// observedFreshSaver is observedStore's store.FreshTokenSaver, kept apart
// because a store need not implement it.
type observedFreshSaver struct {
	s   store.FreshTokenSaver
	obs observe.Observer
}

// newObservedFreshSaver returns s's store.FreshTokenSaver (observed when
// obs is set), or nil when s has none.
func newObservedFreshSaver(s store.Store, obs observe.Observer) store.FreshTokenSaver {
	f, ok := s.(store.FreshTokenSaver)
	if !ok || obs == nil {
		return f
	}
	return &observedFreshSaver{s: f, obs: obs}
}

func (o *observedFreshSaver) SaveFreshTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	err := o.s.SaveFreshTokens(ctx, at, rt)
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		o.obs.StoreError("SaveFreshTokens")
	}
	return err
}

// check reports err if it is an outage, and returns it.
func (s *observedStore) check(op string, err error) error {
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		s.obs.StoreError(op)
	}
	return err
}

func (s *observedStore) GetApplication(ctx context.Context, clientID string) (*store.Application, error) {
	a, err := s.Store.GetApplication(ctx, clientID)
	return a, s.check("GetApplication", err)
}

func (s *observedStore) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := s.Store.GetUser(ctx, id)
	return u, s.check("GetUser", err)
}

func (s *observedStore) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	u, err := s.Store.GetUserByUsername(ctx, username)
	return u, s.check("GetUserByUsername", err)
}

func (s *observedStore) SaveTokens(ctx context.Context, at *store.AccessToken, rt *store.RefreshToken) error {
	return s.check("SaveTokens", s.Store.SaveTokens(ctx, at, rt))
}

func (s *observedStore) GetAccessToken(ctx context.Context, k store.Key) (*store.AccessToken, error) {
	at, err := s.Store.GetAccessToken(ctx, k)
	return at, s.check("GetAccessToken", err)
}

func (s *observedStore) GetRefreshToken(ctx context.Context, k store.Key) (*store.RefreshToken, error) {
	rt, err := s.Store.GetRefreshToken(ctx, k)
	return rt, s.check("GetRefreshToken", err)
}

func (s *observedStore) RotateRefreshToken(ctx context.Context, old *store.RefreshToken, retired *store.RetiredRefreshToken, at *store.AccessToken, rt *store.RefreshToken) error {
	return s.check("RotateRefreshToken", s.Store.RotateRefreshToken(ctx, old, retired, at, rt))
}

func (s *observedStore) GetRetiredRefreshToken(ctx context.Context, k store.Key) (*store.RetiredRefreshToken, error) {
	r, err := s.Store.GetRetiredRefreshToken(ctx, k)
	return r, s.check("GetRetiredRefreshToken", err)
}

func (s *observedStore) RevokeAccessToken(ctx context.Context, k store.Key) error {
	return s.check("RevokeAccessToken", s.Store.RevokeAccessToken(ctx, k))
}

func (s *observedStore) RevokeRefreshToken(ctx context.Context, k store.Key) error {
	return s.check("RevokeRefreshToken", s.Store.RevokeRefreshToken(ctx, k))
}

func (s *observedStore) RevokeFamily(ctx context.Context, family string) error {
	return s.check("RevokeFamily", s.Store.RevokeFamily(ctx, family))
}

func (s *observedStore) ListGrants(ctx context.Context, f store.GrantFilter) ([]*store.Grant, error) {
	g, err := s.Store.ListGrants(ctx, f)
	return g, s.check("ListGrants", err)
}

func (s *observedStore) SaveAuthorizationCode(ctx context.Context, c *store.AuthorizationCode) error {
	return s.check("SaveAuthorizationCode", s.Store.SaveAuthorizationCode(ctx, c))
}

func (s *observedStore) GetAuthorizationCode(ctx context.Context, k store.Key) (*store.AuthorizationCode, error) {
	c, err := s.Store.GetAuthorizationCode(ctx, k)
	return c, s.check("GetAuthorizationCode", err)
}

func (s *observedStore) ConsumeAuthorizationCode(ctx context.Context, k store.Key, at time.Time) error {
	return s.check("ConsumeAuthorizationCode", s.Store.ConsumeAuthorizationCode(ctx, k, at))
}

func (s *observedStore) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	ok, retry, err := s.Store.Allow(ctx, key, limit, window)
	return ok, retry, s.check("Allow", err)
}

func (s *observedStore) Forget(ctx context.Context, key string, window time.Duration) error {
	return s.check("Forget", s.Store.Forget(ctx, key, window))
}

func (s *observedStore) FirstUse(ctx context.Context, key string, exp time.Time) (bool, error) {
	ok, err := s.Store.FirstUse(ctx, key, exp)
	return ok, s.check("FirstUse", err)
}

// The one-line hooks the endpoints call; each costs a nil check without
// an Observer.

func (p *Provider) observeRevocation(kind string) {
	if p.obs != nil {
		p.obs.Revocation(kind)
	}
}

func (p *Provider) observeRefreshReuse() {
	if p.obs != nil {
		p.obs.RefreshTokenReuse()
	}
}

func (p *Provider) observeCodeReplay() {
	if p.obs != nil {
		p.obs.CodeReplay()
	}
}

// observeThrottled reports a 429 of allow's kind ("addr" or "client") or
// of AuthenticatePassword ("password").
func (p *Provider) observeThrottled(kind string) {
	if p.obs == nil {
		return
	}
	switch kind {
	case "addr":
		p.obs.Throttled(observe.LimitAddress)
	case "password":
		p.obs.Throttled(observe.LimitPassword)
	default:
		p.obs.Throttled(observe.LimitClient)
	}
}

// tokenTracer is the tracer of Config.TracerProvider (the global one when
// nil).
func tokenTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer("github.com/ginoauth/toolkit/ginoauth")
}

// startTokenSpan starts the token endpoint's span and puts it on the
// request's context, so the store's calls (redisotel) are its children.
func (p *Provider) startTokenSpan(c *gin.Context) trace.Span {
	ctx, span := p.tracer.Start(c.Request.Context(), "ginoauth.token")
	if span.SpanContext().IsValid() {
		c.Request = c.Request.WithContext(ctx)
	}
	return span
}

// tokenGrant notes a registered grant type: on the span (the request's
// grant_type only once it is known to be registered, so bounded) and, when
// tokens were issued, to the Observer.
func (p *Provider) tokenGrant(c *gin.Context, grant string, issued bool) {
	if !issued {
		if span := trace.SpanFromContext(c.Request.Context()); span.IsRecording() {
			span.SetAttributes(attribute.String("oauth.grant_type", grant))
		}
		return
	}
	if p.obs != nil {
		p.obs.TokenIssued(grant)
	}
}

// endTokenSpan ends the token endpoint's span with its outcome: the OAuth
// error code (never a token or secret), and an error status for a 5xx.
func endTokenSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		e := asError(err)
		span.SetAttributes(attribute.String("oauth.error", e.Code), attribute.Int("http.response.status_code", e.Status))
		if e.Status >= 500 {
			span.SetStatus(codes.Error, e.Code)
		}
	}
	span.End()
}

// observeValidation reports a validation result the provider decided
// itself (a validation cache hit).
func (p *Provider) observeValidation(result string) {
	if p.obs != nil {
		p.obs.Validation(result)
	}
}
