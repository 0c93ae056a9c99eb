package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/api/auth"
)

// metricsFlags are --metrics-addr and --pprof of a long-running process.
type metricsFlags struct {
	addr  string
	pprof bool
}

func addMetricsFlags(cmd *cobra.Command, f *metricsFlags) {
	cmd.Flags().StringVar(&f.addr, "metrics-addr", "", "host:port of a separate HTTP listener serving Prometheus metrics at /metrics (empty: no metrics), e.g. 127.0.0.1:9101")
	cmd.Flags().BoolVar(&f.pprof, "pprof", false, "also serve Go's profiler at /debug/pprof/ on the --metrics-addr listener (never on the API listeners); keep that address private")
}

// validate reports every bad metrics flag at once (a usage error). taken
// are the process's other listen addresses by flag name, which the metrics
// listener must not reuse.
func (f metricsFlags) validate(cmd *cobra.Command, taken map[string]string) error {
	var errs []error
	if f.pprof && f.addr == "" {
		errs = append(errs, errors.New("--pprof needs --metrics-addr: the profiler is served on the metrics listener only"))
	}
	if f.addr != "" {
		host, port, err := net.SplitHostPort(f.addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("--metrics-addr %q: want host:port, e.g. 127.0.0.1:9101", f.addr))
		} else if host == "" {
			errs = append(errs, fmt.Errorf("--metrics-addr %q: name the host to listen on, e.g. 127.0.0.1%s (metrics and pprof should not face the clients)", f.addr, f.addr))
		}
		for name, addr := range taken {
			if addr != "" && addr == f.addr {
				errs = append(errs, fmt.Errorf("--metrics-addr %s is also %s: the metrics need a listener of their own", f.addr, name))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return usageError(cmd, err)
	}
	return nil
}

// metricsRegistry is the registry the process's components register with
// for --metrics-addr: its own, with the Go runtime's and the process's
// metrics; nil (no metrics) without --metrics-addr.
func metricsRegistry(f metricsFlags) *prometheus.Registry {
	if f.addr == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// registerer is reg as a Registerer, nil (not a nil pointer) when reg is.
func registerer(reg *prometheus.Registry) prometheus.Registerer {
	if reg == nil {
		return nil
	}
	return reg
}

// startMetrics serves reg on --metrics-addr (nothing without it). With
// certificates the listener is HTTPS: /metrics for any certificate of the
// cluster, pprof (which shows the command line) for operators only; every
// refusal is logged and counted.
func startMetrics(f metricsFlags, reg *prometheus.Registry, sec *auth.Security, logger *slog.Logger) (*metricsServer, error) {
	if reg == nil {
		return nil, nil
	}
	return serveMetrics(f, reg, sec, logger)
}

// metricsServer serves a registry (and pprof, if asked) on its own listener.
type metricsServer struct {
	srv  *http.Server
	done chan struct{}
}

// serveMetrics listens on f.addr and serves reg at /metrics. The pprof
// handlers are added to this mux only: importing net/http/pprof also puts
// them on http.DefaultServeMux, which no cellpay server uses.
func serveMetrics(f metricsFlags, reg *prometheus.Registry, sec *auth.Security, logger *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	if tlsCfg := sec.HTTPServerTLS(); tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	authz := sec.Authorizer("metrics-http")
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", authz.HTTP(auth.Any, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)})))
	if f.pprof {
		operators := func(h http.HandlerFunc) http.Handler { return authz.HTTP([]auth.Role{auth.RoleOperator}, h) }
		mux.Handle("/debug/pprof/", operators(pprof.Index)) // also serves the named profiles (heap, goroutine, ...)
		mux.Handle("/debug/pprof/cmdline", operators(pprof.Cmdline))
		mux.Handle("/debug/pprof/profile", operators(pprof.Profile))
		mux.Handle("/debug/pprof/symbol", operators(pprof.Symbol))
		mux.Handle("/debug/pprof/trace", operators(pprof.Trace))
	}
	m := &metricsServer{done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "error", err)
		}
	}()
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics", "pprof", f.pprof)
	return m, nil
}

// close stops the server (nil: nothing to stop), letting a scrape in
// progress finish for up to a second (a CPU profile in progress is cut
// short).
func (m *metricsServer) close() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		_ = m.srv.Close()
	}
	<-m.done
}
