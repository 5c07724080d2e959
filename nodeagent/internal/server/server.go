// Package server is the node agent's API on --port (10250), the endpoints the apiserver proxies to and
// operators call: /containerLogs/<namespace>/<pod>/<container> (follow, tailLines, timestamps, previous,
// sinceSeconds, sinceTime, limitBytes), /pods (the pods bound to this node, as a PodList), /stats/summary
// (per-pod CPU and memory from cgroups, as JSON: per-pod labels would make /metrics unbounded),
// /healthz and /metrics.
//
// /exec/<namespace>/<pod>/<container> and /attach/... stream over the v5.channel.k8s.io WebSocket
// protocol (package streaming), proxied by the apiserver for kubectl exec and attach.
//
// It has no authentication yet (the apiserver only reaches it on the node's private address).
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/nodeagent/internal/logs"
	"github.com/skiffhq/skiff/nodeagent/internal/pods"
)

// Pods is what the server needs from the pod manager.
type Pods interface {
	Pods() []*corev1.Pod
	ContainerLog(namespace, name, container string, previous bool) (path string, done func() bool, err error)
	Stats() []pods.PodStats
	Streams
}

// Server is the agent API.
type Server struct {
	addr    string
	pods    Pods
	streams Streams
	reg     *prometheus.Registry
	log     *zap.Logger
	ln      net.Listener
}

// New returns a server for addr ("0.0.0.0:10250").
func New(addr string, p Pods, reg *prometheus.Registry, log *zap.Logger) *Server {
	return &Server{addr: addr, pods: p, streams: p, reg: reg, log: log}
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.containerLogs)
	mux.HandleFunc("GET /exec/{namespace}/{pod}/{container}", s.exec)
	mux.HandleFunc("POST /exec/{namespace}/{pod}/{container}", s.exec)
	mux.HandleFunc("GET /attach/{namespace}/{pod}/{container}", s.attach)
	mux.HandleFunc("POST /attach/{namespace}/{pod}/{container}", s.attach)
	mux.HandleFunc("GET /pods", s.listPods)
	mux.HandleFunc("GET /stats/summary", s.stats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	if s.reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	}
	return mux
}

// Listen binds the address now, so that a port in use fails start-up.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("agent API: listening on %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Info("agent API listening", zap.String("addr", s.ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("agent API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   "Failure", Message: msg, Reason: reason, Code: int32(code),
	})
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	boolParam := func(k string) (bool, error) {
		v := q.Get(k)
		if v == "" {
			return false, nil
		}
		return strconv.ParseBool(v)
	}
	opts := logs.ReadOptions{TailLines: -1}
	var err error
	var follow, previous bool
	if follow, err = boolParam("follow"); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "follow: "+err.Error())
		return
	}
	if previous, err = boolParam("previous"); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "previous: "+err.Error())
		return
	}
	if opts.Timestamps, err = boolParam("timestamps"); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "timestamps: "+err.Error())
		return
	}
	intParam := func(k string) (int64, bool, error) {
		v := q.Get(k)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("%s: must be a non-negative integer", k)
		}
		return n, true, nil
	}
	if n, ok, err := intParam("tailLines"); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	} else if ok {
		opts.TailLines = n
	}
	if n, ok, err := intParam("limitBytes"); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	} else if ok {
		opts.LimitBytes = n
	}
	if n, ok, err := intParam("sinceSeconds"); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	} else if ok {
		opts.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "sinceTime: "+err.Error())
			return
		}
		opts.Since = t
	}
	path, done, err := s.pods.ContainerLog(ns, name, container, previous)
	switch {
	case errors.Is(err, pods.ErrNotStarted):
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	case errors.Is(err, pods.ErrNotFound):
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, err.Error())
		return
	case err != nil:
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
		return
	}
	opts.Follow = follow
	opts.Done = done
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok && follow {
		fw.f = f
	}
	if err := logs.Read(r.Context(), path, opts, fw); err != nil && !fw.wrote {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
	}
}

type flushWriter struct {
	w     http.ResponseWriter
	f     http.Flusher
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	if f.f != nil {
		f.f.Flush()
	}
	return n, err
}

func (s *Server) listPods(w http.ResponseWriter, _ *http.Request) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.pods.Pods() {
		list.Items = append(list.Items, *p)
	}
	if list.Items == nil {
		list.Items = []corev1.Pod{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	st := s.pods.Stats()
	if st == nil {
		st = []pods.PodStats{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"pods": st})
}
