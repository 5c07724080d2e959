// Package server wires the apiserver together: storage (embedded or external etcd), the registry of
// resources, the HTTP API with its middleware, health and metrics endpoints, the start-up bootstrap
// (system namespaces, the kubernetes Service) and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiffhq/skiff/apiserver/internal/admission"
	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/handlers"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	"github.com/skiffhq/skiff/apiserver/internal/storage"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/component"
)

// SystemNamespaces exist from the start.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Server is a running apiserver.
type Server struct {
	cfg      Config
	log      *zap.Logger
	store    storage.Store
	registry *registry.Registry
	http     *component.Server
	stop     context.CancelFunc
	stopCtx  context.Context
	// background holds goroutines (the endpoint reconciler) that must end before storage closes.
	background sync.WaitGroup
}

// New opens storage, builds the API and bootstraps the system objects. The caller must Run or Close it.
func New(ctx context.Context, cfg Config, log *zap.Logger, reg *prometheus.Registry) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cidr, _ := cfg.clusterIPRange()
	ports, _ := cfg.nodePortRange()
	compaction := cfg.EtcdCompactionInterval
	if compaction <= 0 {
		compaction = -1
	}
	store, err := storage.NewEtcd(ctx, storage.Config{
		Endpoints:          cfg.EtcdServers,
		DataDir:            cfg.DataDir,
		ListenClientURL:    cfg.EtcdListenClientURL,
		ListenPeerURL:      cfg.EtcdListenPeerURL,
		UnsafeNoFsync:      cfg.UnsafeNoFsync,
		CompactionInterval: compaction,
		WatchCacheSize:     cfg.WatchCacheSize,
		Logger:             log.Named("storage"),
		Registerer:         reg,
	})
	if err != nil {
		return nil, fmt.Errorf("opening storage: %w", err)
	}
	s, err := newWithStore(ctx, cfg, log, reg, store, cidr, ports)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return s, nil
}

func newWithStore(ctx context.Context, cfg Config, log *zap.Logger, reg *prometheus.Registry, store storage.Store, cidr any, ports [2]int) (*Server, error) {
	prefix, _ := cfg.clusterIPRange()
	objects := &registryObjects{}
	chain, err := admission.New(admission.Config{
		Objects:                             objects,
		Enable:                              cfg.EnableAdmissionPlugins,
		Disable:                             cfg.DisableAdmissionPlugins,
		DefaultNotReadyTolerationSeconds:    cfg.DefaultNotReadyTolerationSeconds,
		DefaultUnreachableTolerationSeconds: cfg.DefaultUnreachableTolerationSeconds,
	})
	if err != nil {
		return nil, err
	}
	rg, err := registry.New(registry.Config{
		Store:     store,
		Validator: sharedValidator{},
		Admission: chain,
		Log:       log.Named("registry"),
		Services:  registry.ServiceConfig{ClusterIPRange: prefix, NodePortRange: ports},
	}, append(registry.FromTable(resources.All()), registry.LocalResources()...))
	if err != nil {
		return nil, err
	}
	objects.reg = rg
	log.Info("admission plugins", zap.Strings("plugins", chain.Names()))
	stopCtx, stop := context.WithCancel(context.Background())
	metrics := handlers.NewMetrics(reg)
	api := handlers.New(handlers.Config{
		Registry:                    rg,
		Log:                         log.Named("api"),
		Metrics:                     metrics,
		BookmarkInterval:            cfg.BookmarkInterval,
		MinWatchTimeout:             cfg.MinWatchTimeout,
		Stop:                        stopCtx,
		TooLargeResourceVersionWait: cfg.TooLargeResourceVersionWait,
	})
	hs := component.NewServer(cfg.Address(), reg, log)
	hs.Mux.Handle("/", handlers.Instrument(handlers.Limit(api, handlers.DefaultLimits()), metrics, log.Named("access")))
	hs.AddReadyCheck(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := store.Healthy(ctx); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		return nil
	})
	s := &Server{cfg: cfg, log: log, store: store, registry: rg, http: hs, stop: stop, stopCtx: stopCtx}
	if err := s.bootstrap(ctx); err != nil {
		stop()
		return nil, err
	}
	if n, err := rg.RepairAllocations(ctx, time.Minute); err != nil {
		log.Warn("repairing service address allocations", zap.Error(err))
	} else if n > 0 {
		log.Info("released leaked service address allocations", zap.Int("count", n))
	}
	return s, nil
}

// bootstrap creates the system namespaces, the system priority classes and the kubernetes Service if
// they are missing.
func (s *Server) bootstrap(ctx context.Context) error {
	nsRes, ok := s.registry.Lookup("", "v1", "namespaces")
	if !ok {
		return errors.New("namespaces are not in the resource table")
	}
	for _, name := range SystemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.registry.Create(ctx, nsRes, ns, registry.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	if pcRes, ok := s.registry.Lookup("scheduling.k8s.io", "v1", "priorityclasses"); ok {
		for _, pc := range admission.SystemPriorityClasses() {
			if _, err := s.registry.Create(ctx, pcRes, pc, registry.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating priority class %s: %w", pc.Name, err)
			}
		}
	}
	svcRes, ok := s.registry.Lookup("", "v1", "services")
	if !ok {
		return nil
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: s.registry.KubernetesServiceIP(),
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(s.cfg.Port))}},
			SessionAffinity: "None",
		},
	}
	if _, err := s.registry.Create(ctx, svcRes, svc, registry.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		// The address may be held by a Service created before; the cluster works without this one.
		s.log.Warn("creating the kubernetes service", zap.Error(err))
	}
	return nil
}

// Listen binds the API port now (port 0 picks a free one); Addr then reports it.
func (s *Server) Listen() error { return s.http.Listen() }

// Addr is the API's host:port once listening.
func (s *Server) Addr() string { return s.http.Addr }

// URL is the API's base URL once listening.
func (s *Server) URL() string { return "http://" + s.http.Addr }

// Registry is the server's registry (for tests and benchmarks).
func (s *Server) Registry() *registry.Registry { return s.registry }

// Store is the server's storage (for tests and benchmarks).
func (s *Server) Store() storage.Store { return s.store }

// Run serves until ctx ends, then ends every watch, drains requests and closes storage.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		_ = s.Close()
		return err
	}
	s.log.Info("apiserver serving", zap.String("addr", s.Addr()), zap.String("url", s.URL()))
	if err := s.startEndpointReconciler(); err != nil {
		_ = s.Close()
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Run(runCtx) }()
	var err error
	select {
	case <-ctx.Done():
		// Watches end first so that the HTTP server's drain does not wait for them.
		s.stop()
		cancel()
		err = <-errc
	case err = <-errc:
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// startEndpointReconciler keeps the kubernetes Service's Endpoints at this apiserver's address until
// shutdown.
func (s *Server) startEndpointReconciler() error {
	ip, port, err := advertise(s.cfg, s.Addr())
	if err != nil {
		return err
	}
	interval := s.cfg.EndpointReconcileInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	e := &endpointReconciler{reg: s.registry, log: s.log.Named("endpoints"), ip: ip, port: port,
		interval: interval, minGap: time.Second}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		e.run(s.stopCtx)
	}()
	return nil
}

// Close stops watches and background work, then closes storage.
func (s *Server) Close() error {
	s.stop()
	s.background.Wait()
	return s.store.Close()
}

// Handler returns the whole HTTP handler (for in-process tests).
func (s *Server) Handler() http.Handler { return s.http.Mux }
