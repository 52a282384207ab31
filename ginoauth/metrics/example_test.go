package metrics_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/metrics"
)

// Metrics go on a registry of your own, served apart from the API.
func Example() {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	p, err := ginoauth.New(ginoauth.Config{Observer: m})
	if err != nil {
		log.Fatal(err)
	}
	r := gin.New()
	p.Mount(r)
	r.GET("/api", p.Middleware(), func(c *gin.Context) { c.String(http.StatusOK, "ok") })

	// Your public server serves r; /metrics goes on another listener:
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// go http.ListenAndServe("127.0.0.1:9100", mux)

	req := httptest.NewRequest("GET", "/api", nil)
	req.Header.Set("Authorization", "Bearer goat_forged")
	r.ServeHTTP(httptest.NewRecorder(), req)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, "ginoauth_token_validations_total{") {
			fmt.Print(line)
		}
	}
	// Output:
	// ginoauth_token_validations_total{result="cache_hit"} 0
	// ginoauth_token_validations_total{result="invalid"} 1
	// ginoauth_token_validations_total{result="local"} 0
	// ginoauth_token_validations_total{result="other"} 0
	// ginoauth_token_validations_total{result="store_error"} 0
	// ginoauth_token_validations_total{result="valid"} 0
}
