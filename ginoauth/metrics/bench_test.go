package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ginoauth/toolkit/ginoauth/metrics"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/resource"
)

// staticValidator accepts one token, with no store, so the benchmark
// measures the middleware and its observer alone.
type staticValidator struct{}

func (staticValidator) Validate(_ context.Context, token string) (*resource.TokenInfo, error) {
	return &resource.TokenInfo{ClientID: "c", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

// BenchmarkMiddlewareObserver is the hot path (a protected request whose
// token is valid) through resource.Authenticate, with no Observer and with
// Prometheus metrics: the difference is the observer's cost per request.
//
//	go test -run '^$' -bench MiddlewareObserver -benchmem ./ginoauth/metrics/
func BenchmarkMiddlewareObserver(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		obs  observe.Observer
	}{
		{"nil", nil},
		{"prometheus", m},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := gin.New()
			r.GET("/api", resource.Authenticate(staticValidator{}, resource.Options{Observer: bc.obs}), func(c *gin.Context) {
				c.Status(http.StatusNoContent)
			})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/api", nil)
				req.Header.Set("Authorization", "Bearer goat_x")
				w := httptest.NewRecorder()
				for pb.Next() {
					r.ServeHTTP(w, req)
				}
			})
		})
	}
}

// BenchmarkValidationEvent is one Observer.Validation call alone: nothing
// (a nil check) against a Prometheus counter increment.
func BenchmarkValidationEvent(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		obs  observe.Observer
	}{
		{"nil", nil},
		{"prometheus", m},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			obs := bc.obs
			for b.Loop() {
				if obs != nil {
					obs.Validation(observe.ValidationValid)
				}
			}
		})
	}
}
