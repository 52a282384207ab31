package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ginoauth/toolkit/ginoauth/metrics"
	"github.com/ginoauth/toolkit/ginoauth/observe"
)

// observability is what serve's --metrics-addr and --trace set up: the
// provider's Observer and TracerProvider, and what to stop on exit.
type observability struct {
	observer observe.Observer     // nil without --metrics-addr
	tracer   trace.TracerProvider // a no-op one without --trace
	stops    []func(context.Context) error
}

// startObservability starts the metrics listener (--metrics-addr), with
// a registry of the demo's own, and the tracer (--trace), which prints
// spans to stderr and traces the Redis client's commands (redisotel). It
// never exports over the network.
func (e *runEnv) startObservability(cfg *serveConfig, b *backend, log *slog.Logger) (*observability, error) {
	o := &observability{tracer: noop.NewTracerProvider()}
	if cfg.trace {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(e.stderr))
		if err != nil {
			return nil, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
		o.tracer = tp
		o.stops = append(o.stops, tp.Shutdown)
		if b.redis != nil {
			// Without the commands' arguments: they hold records (hashes
			// only, but user details too), which do not belong in traces.
			if err := redisotel.InstrumentTracing(b.redis, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false)); err != nil {
				_ = o.stop(context.Background())
				return nil, fmt.Errorf("tracing Redis: %w", err)
			}
		}
	}
	if cfg.metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m, err := metrics.New(reg)
		if err != nil {
			_ = o.stop(context.Background())
			return nil, err
		}
		o.observer = m
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			_ = o.stop(context.Background())
			return nil, fmt.Errorf("cannot listen on %s for metrics: %w", cfg.metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := newHTTPServer(mux, log)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "err", err)
			}
		}()
		o.stops = append(o.stops, srv.Shutdown)
		log.Info("serving metrics", "url", baseURL(ln.Addr())+"/metrics")
	}
	return o, nil
}

// stop shuts down the metrics listener and flushes the spans.
func (o *observability) stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var errs []error
	for i := len(o.stops) - 1; i >= 0; i-- {
		errs = append(errs, o.stops[i](ctx))
	}
	return errors.Join(errs...)
}
