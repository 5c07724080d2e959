package storage

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus collectors. Label values are bounded: operation is one of a fixed
// set, resource is one per watch-cache prefix (the resource names the apiserver serves).
type metrics struct {
	requestDuration   *prometheus.HistogramVec // operation
	requestErrors     *prometheus.CounterVec   // operation
	cacheEvents       *prometheus.CounterVec   // resource
	cacheRevision     *prometheus.GaugeVec     // resource
	cacheWatchers     *prometheus.GaugeVec     // resource
	cacheTerminated   *prometheus.CounterVec   // resource, reason
	cacheResets       *prometheus.CounterVec   // resource
	listSource        *prometheus.CounterVec   // resource, source
	compactions       prometheus.Counter
	compactedRevision prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skiff_apiserver_etcd_request_duration_seconds",
			Help:    "Latency of etcd requests made by the apiserver's storage, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_etcd_request_errors_total",
			Help: "etcd requests that failed for a reason other than a precondition (unreachable, timeout, compacted).",
		}, []string{"operation"}),
		cacheEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_watch_cache_events_total",
			Help: "Events the watch cache received from etcd, by resource.",
		}, []string{"resource"}),
		cacheRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_apiserver_watch_cache_revision",
			Help: "The etcd revision the watch cache is known to be current to, by resource.",
		}, []string{"resource"}),
		cacheWatchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_apiserver_watch_cache_watchers",
			Help: "Watchers served by the watch cache, by resource.",
		}, []string{"resource"}),
		cacheTerminated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_watch_cache_terminated_watchers_total",
			Help: "Watchers the store ended with an error event (too_slow, expired), by resource.",
		}, []string{"resource", "reason"}),
		cacheResets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_watch_cache_resets_total",
			Help: "Times the watch cache lost its etcd watch to compaction and relisted, by resource.",
		}, []string{"resource"}),
		listSource: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_apiserver_storage_lists_total",
			Help: "List calls by resource and by where they were served from (cache, etcd).",
		}, []string{"resource", "source"}),
		compactions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_apiserver_etcd_compactions_total",
			Help: "Compactions of etcd made by this apiserver.",
		}),
		compactedRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "skiff_apiserver_etcd_compacted_revision",
			Help: "The revision this apiserver last compacted etcd to.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requestDuration, m.requestErrors, m.cacheEvents, m.cacheRevision,
		m.cacheWatchers, m.cacheTerminated, m.cacheResets, m.listSource, m.compactions, m.compactedRevision} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("registering storage metrics (one store per registry): %w", err)
			}
			return nil, fmt.Errorf("registering storage metrics: %w", err)
		}
	}
	return m, nil
}
