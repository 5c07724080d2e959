// Package healthcheck serves the health-check node ports of Services with externalTrafficPolicy: Local
// (spec.healthCheckNodePort), as kube-proxy does: an HTTP server on that port answers every path,
// /healthz included, with 200 and the count of this node's ready endpoints when there is at least one,
// and 503 when there is none, so an external load balancer sends traffic only to nodes that can serve
// it locally.
//
// It opens and closes one listener per such Service as Services come and go (Sync) and answers from
// the current Snapshot; it programs no rules.
package healthcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// Listen opens a listener on a port; tests replace it to listen inside a network namespace.
type Listen func(port int32) (net.Listener, error)

// Server owns the health-check listeners.
type Server struct {
	listen   Listen
	snapshot func() *proxy.Snapshot
	log      *zap.Logger

	mu        sync.Mutex
	listeners map[int32]*portServer
}

type portServer struct {
	svc proxy.ServiceKey
	srv *http.Server
}

// New returns a server that opens listeners with listen and answers from snapshot. A nil listen
// listens on every address of the node.
func New(listen Listen, snapshot func() *proxy.Snapshot, log *zap.Logger) *Server {
	if listen == nil {
		listen = func(port int32) (net.Listener, error) { return net.Listen("tcp", ":"+strconv.Itoa(int(port))) }
	}
	return &Server{listen: listen, snapshot: snapshot, log: log, listeners: map[int32]*portServer{}}
}

// Sync opens a listener for every Service in snap with externalTrafficPolicy Local and a health-check
// node port, and closes the others. A port that cannot be opened is reported and retried next Sync.
func (s *Server) Sync(snap *proxy.Snapshot) error {
	want := map[int32]proxy.ServiceKey{}
	for _, svc := range snap.Services {
		if svc.ExternalLocal && svc.HealthCheckNodePort > 0 && len(svc.ClusterIPs) > 0 {
			// Two Services on one port (briefly, within a batch): the first in name order keeps it.
			if cur, taken := want[svc.HealthCheckNodePort]; !taken || svc.Key.String() < cur.String() {
				want[svc.HealthCheckNodePort] = svc.Key
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for port, ps := range s.listeners {
		if k, ok := want[port]; !ok || k != ps.svc {
			_ = ps.srv.Close()
			delete(s.listeners, port)
		}
	}
	var errs []error
	for port, k := range want {
		if _, ok := s.listeners[port]; ok {
			continue
		}
		ln, err := s.listen(port)
		if err != nil {
			errs = append(errs, fmt.Errorf("health-check node port %d of %s: %w", port, k, err))
			continue
		}
		srv := &http.Server{Handler: s.handler(k), ReadHeaderTimeout: 5 * time.Second}
		s.listeners[port] = &portServer{svc: k, srv: srv}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("health-check node port stopped", zap.Int32("port", port), zap.Error(err))
			}
		}()
	}
	return errors.Join(errs...)
}

// Ports lists the ports being served (for tests and logs).
func (s *Server) Ports() map[int32]proxy.ServiceKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32]proxy.ServiceKey{}
	for p, ps := range s.listeners {
		out[p] = ps.svc
	}
	return out
}

// Close stops every listener.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for port, ps := range s.listeners {
		_ = ps.srv.Close()
		delete(s.listeners, port)
	}
}

// Run closes the listeners when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	s.Close()
	return nil
}

// status is kube-proxy's answer body.
type status struct {
	Service struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"service"`
	LocalEndpoints      int  `json:"localEndpoints"`
	ServiceProxyHealthy bool `json:"serviceProxyHealthy"`
}

// LocalEndpoints counts the node's ready endpoints of a Service (over all its ports, each address once).
func LocalEndpoints(snap *proxy.Snapshot, k proxy.ServiceKey) int {
	svc := snap.Services[k]
	if svc == nil {
		return 0
	}
	seen := map[string]bool{}
	for _, port := range svc.Ports {
		for _, e := range proxy.Select(snap.Endpoints(svc, port)).Local {
			if e.Ready {
				seen[e.IP.String()] = true
			}
		}
	}
	return len(seen)
}

func (s *Server) handler(k proxy.ServiceKey) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st status
		st.Service.Namespace, st.Service.Name = k.Namespace, k.Name
		st.LocalEndpoints = LocalEndpoints(s.snapshot(), k)
		st.ServiceProxyHealthy = true
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if st.LocalEndpoints == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			w.WriteHeader(http.StatusOK)
		}
		_ = json.NewEncoder(w).Encode(st)
	})
}
