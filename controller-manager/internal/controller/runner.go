package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Queue is the rate-limited, de-duplicating work queue a Runner drains. Keys are namespace/name (or
// name for cluster-scoped objects).
type Queue interface {
	Add(key string)
	AddAfter(key string, d time.Duration)
	AddRateLimited(key string)
	Forget(key string)
	Get() (key string, shutdown bool)
	Done(key string)
	Len() int
	ShutDown()
}

// SyncFunc reconciles one key. It must be level-based: read the current state from caches, compare,
// act. Returning an error requeues the key with back-off.
type SyncFunc func(ctx context.Context, key string) error

// ErrTerminal wraps errors that retrying cannot fix (bad spec); the key is not requeued.
var ErrTerminal = errors.New("terminal")

// Runner drains one controller's queue.
type Runner struct {
	Name    string
	Queue   Queue
	Sync    SyncFunc
	Workers int
	Metrics *Metrics
	Log     *zap.Logger
}

// Run starts the workers and blocks until ctx ends, then shuts the queue down and waits for them.
func (r *Runner) Run(ctx context.Context) {
	workers := r.Workers
	if workers <= 0 {
		workers = 1
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.processNext(ctx) {
			}
		}()
	}
	if r.Metrics != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				r.Metrics.QueueDepth.WithLabelValues(r.Name).Set(float64(r.Queue.Len()))
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	<-ctx.Done()
	r.Queue.ShutDown()
	wg.Wait()
}

func (r *Runner) processNext(ctx context.Context) bool {
	key, shutdown := r.Queue.Get()
	if shutdown {
		return false
	}
	defer r.Queue.Done(key)
	start := time.Now()
	err := r.Sync(ctx, key)
	result := "success"
	switch {
	case err == nil:
		r.Queue.Forget(key)
	case ctx.Err() != nil:
		result = "error"
	case errors.Is(err, ErrTerminal):
		result = "error"
		r.Queue.Forget(key)
		r.Log.Warn("sync_failed_terminally", zap.String("controller", r.Name), zap.String("key", key), zap.Error(err))
	default:
		result = "requeue"
		r.Queue.AddRateLimited(key)
		r.Log.Debug("sync_failed", zap.String("controller", r.Name), zap.String("key", key), zap.Error(err))
	}
	if r.Metrics != nil {
		r.Metrics.Reconciles.WithLabelValues(r.Name, result).Inc()
		r.Metrics.Duration.WithLabelValues(r.Name).Observe(time.Since(start).Seconds())
	}
	return true
}

// Metrics are the controller-manager's reconcile metrics, registered on the component's registry.
type Metrics struct {
	Reconciles *prometheus.CounterVec
	Duration   *prometheus.HistogramVec
	QueueDepth *prometheus.GaugeVec
	Events     prometheus.Counter
	Evictions  prometheus.Counter
}

// NewMetrics registers the metrics on reg and pre-creates every controller's series with Add(0), so
// dashboards see zeros rather than gaps.
func NewMetrics(reg prometheus.Registerer, controllers []string) *Metrics {
	m := &Metrics{
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_controller_manager_reconcile_total",
			Help: "Reconciles by controller and result (success, error, requeue).",
		}, []string{"controller", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skiff_controller_manager_reconcile_duration_seconds",
			Help:    "Time spent in one reconcile, by controller.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"controller"}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_controller_manager_workqueue_depth",
			Help: "Keys waiting in each controller's work queue.",
		}, []string{"controller"}),
		Events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_controller_manager_events_dropped_total",
			Help: "Events dropped because the event queue was full.",
		}),
		Evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_controller_manager_pod_evictions_total",
			Help: "Pods deleted by the node lifecycle controller because of NoExecute taints.",
		}),
	}
	reg.MustRegister(m.Reconciles, m.Duration, m.QueueDepth, m.Events, m.Evictions)
	for _, c := range controllers {
		for _, res := range []string{"success", "error", "requeue"} {
			m.Reconciles.WithLabelValues(c, res).Add(0)
		}
		m.QueueDepth.WithLabelValues(c).Set(0)
	}
	return m
}
