package workqueue

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the work queue measurements of one component, labelled by queue name:
// skiff_workqueue_depth, skiff_workqueue_adds_total, skiff_workqueue_retries_total,
// skiff_workqueue_queue_duration_seconds and skiff_workqueue_work_duration_seconds.
type Metrics struct {
	depth    *prometheus.GaugeVec
	adds     *prometheus.CounterVec
	retries  *prometheus.CounterVec
	queueDur *prometheus.HistogramVec
	workDur  *prometheus.HistogramVec
}

// NewMetrics registers the work queue metrics on reg. Calling it again with the same registry returns
// metrics bound to the collectors already registered.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	buckets := prometheus.ExponentialBuckets(0.0001, 4, 11) // 100µs .. ~105s
	m := &Metrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_workqueue_depth", Help: "Items ready in the work queue.",
		}, []string{"name"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_workqueue_adds_total", Help: "Items added to the work queue (after deduplication).",
		}, []string{"name"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_workqueue_retries_total", Help: "Rate-limited re-adds of failed items.",
		}, []string{"name"}),
		queueDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_workqueue_queue_duration_seconds", Help: "Time an item waited in the queue before a worker took it.", Buckets: buckets,
		}, []string{"name"}),
		workDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_workqueue_work_duration_seconds", Help: "Time a worker spent on an item, Get to Done.", Buckets: buckets,
		}, []string{"name"}),
	}
	var err error
	if m.depth, err = register(reg, m.depth); err != nil {
		return nil, err
	}
	if m.adds, err = register(reg, m.adds); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.queueDur, err = register(reg, m.queueDur); err != nil {
		return nil, err
	}
	if m.workDur, err = register(reg, m.workDur); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// queueMetrics are the children of one queue; a nil *queueMetrics records nothing.
type queueMetrics struct {
	depthG prometheus.Gauge
	addsC  prometheus.Counter
	retryC prometheus.Counter
	queueH prometheus.Observer
	workH  prometheus.Observer
}

func (m *Metrics) forQueue(name string) *queueMetrics {
	if m == nil {
		return nil
	}
	qm := &queueMetrics{
		depthG: m.depth.WithLabelValues(name),
		addsC:  m.adds.WithLabelValues(name),
		retryC: m.retries.WithLabelValues(name),
		queueH: m.queueDur.WithLabelValues(name),
		workH:  m.workDur.WithLabelValues(name),
	}
	qm.addsC.Add(0)
	qm.retryC.Add(0)
	return qm
}

func (m *queueMetrics) add() {
	if m != nil {
		m.addsC.Inc()
	}
}

func (m *queueMetrics) retry() {
	if m != nil {
		m.retryC.Inc()
	}
}

func (m *queueMetrics) depth(n int) {
	if m != nil {
		m.depthG.Set(float64(n))
	}
}

func (m *queueMetrics) queued(d time.Duration) {
	if m != nil {
		m.queueH.Observe(d.Seconds())
	}
}

func (m *queueMetrics) worked(d time.Duration) {
	if m != nil {
		m.workH.Observe(d.Seconds())
	}
}
