package component

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/shared/version"
)

// Check reports nil when healthy, or why not.
type Check func() error

// Server is a component's health and metrics endpoint. Components add their own handlers to Mux.
type Server struct {
	Addr     string
	Mux      *http.ServeMux
	Registry *prometheus.Registry

	log *zap.Logger

	mu      sync.Mutex
	healthy []Check
	ready   []Check
	ln      net.Listener
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewServer builds the health server for addr ("127.0.0.1:10259"). It serves /healthz and /livez (all
// liveness checks pass), /readyz (liveness and readiness checks pass), /metrics and /version.
func NewServer(addr string, reg *prometheus.Registry, log *zap.Logger) *Server {
	s := &Server{Addr: addr, Mux: http.NewServeMux(), Registry: reg, log: log}
	s.Mux.HandleFunc("/healthz", s.serveChecks(false))
	s.Mux.HandleFunc("/livez", s.serveChecks(false))
	s.Mux.HandleFunc("/readyz", s.serveChecks(true))
	s.Mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.Mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(version.Get())
	})
	return s
}

// AddHealthCheck adds a liveness check (served by /healthz, /livez and /readyz).
func (s *Server) AddHealthCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthy = append(s.healthy, c)
}

// AddReadyCheck adds a readiness check (served by /readyz only).
func (s *Server) AddReadyCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = append(s.ready, c)
}

func (s *Server) serveChecks(includeReady bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		checks := append([]Check(nil), s.healthy...)
		if includeReady {
			checks = append(checks, s.ready...)
		}
		s.mu.Unlock()
		for _, c := range checks {
			if err := c(); err != nil {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ok: %v\n", err)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
}

// Listen binds the address now, so that start-up fails early on a port in use. Run calls it if needed.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	return nil
}

// Run serves until ctx is cancelled, then shuts down gracefully within 5 seconds.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Info("health server listening", zap.String("addr", s.Addr))
	select {
	case err := <-errc:
		return fmt.Errorf("health server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down health server: %w", err)
	}
	return nil
}
