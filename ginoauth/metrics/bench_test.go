package metrics_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/metrics"
	"github.com/ginoauth/toolkit/ginoauth/observe"
	"github.com/ginoauth/toolkit/ginoauth/resource"
	"github.com/ginoauth/toolkit/ginoauth/store"
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

// BenchmarkProviderMiddlewareObserver is a protected request with a valid
// token through Provider.Middleware on the memory store, with no Observer
// and with Prometheus metrics (which also wrap the store to count its
// failures): the observer's whole cost on the provider's hot path.
//
//	go test -run '^$' -bench ProviderMiddlewareObserver -benchmem ./ginoauth/metrics/
func BenchmarkProviderMiddlewareObserver(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		name := "nil"
		cfg := ginoauth.Config{SecretKey: testKey}
		if withMetrics {
			name = "prometheus"
			m, err := metrics.New(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			cfg.Observer = m
		}
		b.Run(name, func(b *testing.B) {
			p, err := ginoauth.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			app, secret, err := p.CreateApplication(context.Background(), ginoauth.NewApplication{
				ClientType: store.Confidential, GrantTypes: []string{store.GrantClientCredentials},
			})
			if err != nil {
				b.Fatal(err)
			}
			r := gin.New()
			p.Mount(r)
			r.GET("/api", p.Middleware(), func(c *gin.Context) { c.Status(http.StatusNoContent) })
			req := httptest.NewRequest("POST", "/o/token/", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(app.ClientID, secret)
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			var tok ginoauth.TokenResponse
			if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
				b.Fatalf("token: %d %s", w.Code, w.Body)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/api", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				w := httptest.NewRecorder()
				for pb.Next() {
					r.ServeHTTP(w, req)
					if w.Code != http.StatusNoContent {
						b.Fatalf("api: got %d, want 204", w.Code)
					}
				}
			})
		})
	}
}
