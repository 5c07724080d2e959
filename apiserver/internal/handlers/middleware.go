package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
)

// Metrics are the apiserver's request metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	watchers *prometheus.GaugeVec
}

// NewMetrics registers the request metrics on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_request_total",
			Help: "API requests by verb, resource and HTTP code.",
		}, []string{"verb", "resource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skiff_apiserver_request_duration_seconds",
			Help:    "API request latency by verb and resource (watches excluded).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"verb", "resource"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_apiserver_watchers",
			Help: "Open watch streams by resource.",
		}, []string{"resource"}),
	}
	reg.MustRegister(m.requests, m.duration, m.watchers)
	return m
}

// statusRecorder remembers the status code and keeps Flush and Hijack working through the wrapper.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.written {
		s.code, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.written {
		s.code, s.written = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		if !s.written {
			s.code, s.written = http.StatusOK, true
		}
		f.Flush()
	}
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot be hijacked")
	}
	s.code, s.written = http.StatusSwitchingProtocols, true
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Instrument wraps the API with panic recovery (a panic becomes a 500 Status, never a crash), request
// metrics, a body size limit and one structured access log line per request.
func Instrument(next http.Handler, m *Metrics, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		info := parseRequestInfo(r)
		verb, resource := info.Verb, info.Resource
		if !info.IsResource {
			verb, resource = "get", ""
			if r.Method != http.MethodGet {
				verb = r.Method
			}
		}
		if info.Subresource != "" {
			resource += "/" + info.Subresource
		}
		if resource == "" {
			resource = "nonresource"
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(rec, r.Body, MaxBodyBytes+1)
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
				if !rec.written {
					writeStatus(rec, apierrors.NewInternalError(fmt.Errorf("the server panicked handling the request: %v", p)), apierrors.Target{})
				}
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			elapsed := time.Since(start)
			m.requests.WithLabelValues(verb, resource, strconv.Itoa(code)).Inc()
			if verb != "watch" {
				m.duration.WithLabelValues(verb, resource).Observe(elapsed.Seconds())
			}
			// Reads that succeed are Debug (controllers poll and watch constantly); writes and errors are Info.
			lvl := log.Info
			switch {
			case code >= 500:
				lvl = log.Warn
			case code < 400 && (verb == "get" || verb == "list" || verb == "watch"):
				lvl = log.Debug
			}
			lvl("request",
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("query", r.URL.RawQuery),
				zap.String("verb", verb), zap.String("resource", resource), zap.String("namespace", info.Namespace),
				zap.Int("code", code), zap.Duration("latency", elapsed),
				zap.String("user_agent", r.UserAgent()), zap.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(rec, r)
	})
}

// Limits bound concurrent requests (Kubernetes's --max-requests-inflight and
// --max-mutating-requests-inflight); watches and streams are not counted.
type Limits struct {
	MaxInflight         int
	MaxMutatingInflight int
}

// DefaultLimits are Kubernetes's defaults.
func DefaultLimits() Limits { return Limits{MaxInflight: 400, MaxMutatingInflight: 200} }

// Limit answers 429 TooManyRequests (with Retry-After) once a limit is reached, so an overload sheds
// requests instead of queueing them until every client times out.
func Limit(next http.Handler, l Limits) http.Handler {
	reads := make(chan struct{}, max(l.MaxInflight, 1))
	writes := make(chan struct{}, max(l.MaxMutatingInflight, 1))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := parseRequestInfo(r)
		if longRunning(r, info) {
			next.ServeHTTP(w, r)
			return
		}
		slots := reads
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			slots = writes
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			st := apierrors.NewTooManyRequests("Too many requests, please try again later.", 1)
			writeStatus(w, st, apierrors.Target{})
		}
	})
}
