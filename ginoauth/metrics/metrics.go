// Package metrics counts what the authorization server and the
// resource-server middleware report (package observe) as Prometheus
// metrics, registered on a registry the caller owns.
//
// Nothing is registered globally and the package holds no state: each
// Metrics is its own set of collectors, so two providers in one process
// can each have theirs, on two registries, or on one with each told apart
// by a label (prometheus.WrapRegistererWith(prometheus.Labels{"provider":
// "a"}, reg), and likewise for every other one):
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg)
//	if err != nil { ... }
//	p, err := ginoauth.New(ginoauth.Config{Store: st, Observer: m})
//	...
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// docs/metrics.md lists the metrics. Label values are bounded: grant types
// registered with the provider, store method names and the fixed sets of
// package observe; never a token, a secret or a client identifier.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ginoauth/toolkit/ginoauth/observe"
)

// Metrics is an observe.Observer that keeps Prometheus metrics. Build it
// with New; it is safe for concurrent use.
type Metrics struct {
	tokensIssued *prometheus.CounterVec
	validations  *prometheus.CounterVec
	revocations  *prometheus.CounterVec
	reuses       prometheus.Counter
	replays      prometheus.Counter
	throttled    *prometheus.CounterVec
	unavailable  *prometheus.CounterVec
	storeErrors  *prometheus.CounterVec
	cacheEntries prometheus.Gauge
	cacheLag     prometheus.Histogram

	// The children of the fixed label sets, resolved once, so the hot
	// path (a validation) is an atomic add with no label hashing, and
	// the other sets, against which values are checked.
	validation        map[string]prometheus.Counter
	kinds, limits, ep []string
}

var _ observe.Observer = (*Metrics)(nil)

// other is the label value a value outside a fixed set is counted under.
const other = "other"

// New makes the metrics and registers them on reg. It fails if reg
// already has metrics of these names (the same Metrics registered twice,
// or two on one registry without prometheus.WrapRegistererWith).
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ginoauth_tokens_issued_total",
			Help: "Token endpoint answers that issued tokens, by grant type.",
		}, []string{"grant_type"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ginoauth_token_validations_total",
			Help: "Bearer tokens validated by the resource-server middleware, by result (valid, invalid, store_error); cache_hit counts those a validation cache answered, local the JWT access tokens accepted on their signature without a store read.",
		}, []string{"result"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ginoauth_revocations_total",
			Help: "Revocations done on request, by kind: token (one access token), family (a whole grant), application (deleted with its tokens).",
		}, []string{"kind"}),
		reuses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ginoauth_refresh_token_reuses_total",
			Help: "Rotated refresh tokens presented again after the grace period (their grant is revoked unless reuse protection is off).",
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ginoauth_authorization_code_replays_total",
			Help: "Authorization codes presented again (the tokens issued from them are revoked).",
		}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ginoauth_throttled_requests_total",
			Help: "Token requests answered 429, by the limit they exceeded (address or client).",
		}, []string{"limit"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ginoauth_unavailable_responses_total",
			Help: "Requests answered 503 temporarily_unavailable, by endpoint (token, revoke, introspect, authorize, resource).",
		}, []string{"endpoint"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ginoauth_store_errors_total",
			Help: "Store calls that failed because the store was unavailable (Redis down or timing out), by store operation.",
		}, []string{"operation"}),
		cacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ginoauth_validation_cache_entries",
			Help: "Entries in the validation cache.",
		}),
		cacheLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ginoauth_validation_cache_invalidation_lag_seconds",
			Help:    "Time from a revocation to the validation cache dropping the token.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1ms to 16s
		}),
	}
	// Each value of a fixed label set exists from the start, at zero, so
	// rate() and alerts see the first increment.
	m.kinds, m.limits, m.ep = observe.RevocationKinds(), observe.Limits(), observe.Endpoints()
	m.validation = make(map[string]prometheus.Counter)
	for _, r := range append(observe.ValidationResults(), other) {
		m.validation[r] = m.validations.WithLabelValues(r)
	}
	for _, k := range m.kinds {
		m.revocations.WithLabelValues(k)
	}
	for _, l := range m.limits {
		m.throttled.WithLabelValues(l)
	}
	for _, e := range m.ep {
		m.unavailable.WithLabelValues(e)
	}
	for _, c := range []prometheus.Collector{
		m.tokensIssued, m.validations, m.revocations, m.reuses, m.replays,
		m.throttled, m.unavailable, m.storeErrors, m.cacheEntries, m.cacheLag,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// oneOf returns v if it is in set, else "other": a label value outside a
// fixed set never makes a new series.
func oneOf(v string, set []string) string {
	for _, s := range set {
		if v == s {
			return v
		}
	}
	return other
}

// TokenIssued implements observe.Observer.
func (m *Metrics) TokenIssued(grantType string) { m.tokensIssued.WithLabelValues(grantType).Inc() }

// Validation implements observe.Observer.
func (m *Metrics) Validation(result string) {
	c, ok := m.validation[result]
	if !ok {
		c = m.validation[other]
	}
	c.Inc()
}

// Revocation implements observe.Observer.
func (m *Metrics) Revocation(kind string) {
	m.revocations.WithLabelValues(oneOf(kind, m.kinds)).Inc()
}

// RefreshTokenReuse implements observe.Observer.
func (m *Metrics) RefreshTokenReuse() { m.reuses.Inc() }

// CodeReplay implements observe.Observer.
func (m *Metrics) CodeReplay() { m.replays.Inc() }

// Throttled implements observe.Observer.
func (m *Metrics) Throttled(limit string) {
	m.throttled.WithLabelValues(oneOf(limit, m.limits)).Inc()
}

// Unavailable implements observe.Observer.
func (m *Metrics) Unavailable(endpoint string) {
	m.unavailable.WithLabelValues(oneOf(endpoint, m.ep)).Inc()
}

// StoreError implements observe.Observer.
func (m *Metrics) StoreError(operation string) { m.storeErrors.WithLabelValues(operation).Inc() }

// CacheSize implements observe.Observer.
func (m *Metrics) CacheSize(n int) { m.cacheEntries.Set(float64(n)) }

// CacheInvalidationLag implements observe.Observer.
func (m *Metrics) CacheInvalidationLag(lag time.Duration) { m.cacheLag.Observe(lag.Seconds()) }
