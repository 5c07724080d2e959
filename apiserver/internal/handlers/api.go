// Package handlers is the apiserver's HTTP layer: it routes Kubernetes API paths to resources and verbs,
// decodes bodies (JSON, YAML; protobuf refused with 415), applies patches (strategic merge, JSON merge,
// JSON patch), evaluates label and field selectors, streams watches, renders Tables, serves discovery and
// a minimal OpenAPI v3, and proxies pod logs and exec to the nodeagent.
//
// It holds no state of its own beyond open watches; object rules live in registry and error codes in
// apierrors.
package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
)

// Config holds the API's dependencies and tunables.
type Config struct {
	Registry *registry.Registry
	Log      *zap.Logger
	Metrics  *Metrics
	// BookmarkInterval is how often a watch with allowWatchBookmarks gets a BOOKMARK (default 1m).
	BookmarkInterval time.Duration
	// MinWatchTimeout is the shortest lifetime of a watch without timeoutSeconds; each such watch lasts
	// a random time between it and twice it (default 30m, as Kubernetes's --min-request-timeout).
	MinWatchTimeout time.Duration
	// TooLargeResourceVersionWait is how long a watch from a resourceVersion etcd has not reached waits
	// for it before failing with 504 ResourceVersionTooLarge (default 3s, as Kubernetes).
	TooLargeResourceVersionWait time.Duration
	// RequestTimeout bounds every request except watches and streams (default 60s).
	RequestTimeout time.Duration
	// NodeTransport carries pod log and exec requests to nodeagents (default http.DefaultTransport).
	NodeTransport http.RoundTripper
	// Stop ends every open watch when it is cancelled (graceful shutdown).
	Stop context.Context
}

// API is the http.Handler of every /api, /apis and /openapi path.
type API struct {
	cfg Config
	reg *registry.Registry
	log *zap.Logger

	discovery *discoveryDocs
	openapi   *openAPIDocs
}

// New builds the API handler.
func New(cfg Config) *API {
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = time.Minute
	}
	if cfg.MinWatchTimeout <= 0 {
		cfg.MinWatchTimeout = 30 * time.Minute
	}
	if cfg.TooLargeResourceVersionWait <= 0 {
		cfg.TooLargeResourceVersionWait = 3 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Stop == nil {
		cfg.Stop = context.Background()
	}
	if cfg.NodeTransport == nil {
		cfg.NodeTransport = http.DefaultTransport
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	a := &API{cfg: cfg, reg: cfg.Registry, log: cfg.Log}
	for _, res := range cfg.Registry.Resources() {
		cfg.Metrics.watchers.WithLabelValues(res.Plural).Add(0) // export every series from the start
	}
	a.discovery = buildDiscovery(cfg.Registry)
	a.openapi = buildOpenAPI(cfg.Registry)
	return a
}

// ServeHTTP routes one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/openapi/v3" || strings.HasPrefix(path, "/openapi/v3/"):
		a.serveOpenAPI(w, r)
		return
	case strings.HasPrefix(path, "/openapi/"):
		writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	info := parseRequestInfo(r)
	if info.Prefix != "api" && info.Prefix != "apis" {
		writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	if !info.IsResource {
		a.serveDiscovery(w, r, info)
		return
	}
	a.serveResource(w, r, info)
}

// longRunning reports whether a request streams (watch, follow logs, exec): those get no timeout.
func longRunning(r *http.Request, info requestInfo) bool {
	if info.Verb == "watch" {
		return true
	}
	switch info.Subresource {
	case "exec", "attach", "portforward", "proxy":
		return true
	case "log":
		return r.URL.Query().Get("follow") == "true"
	}
	return false
}
