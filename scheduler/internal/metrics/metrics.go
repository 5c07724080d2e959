// Package metrics defines skiff-scheduler's Prometheus metrics on a registry passed in. It does not decide
// when to record them; the scheduler package does.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The values of the result label of skiff_scheduler_schedule_attempts_total.
const (
	ResultScheduled     = "scheduled"
	ResultUnschedulable = "unschedulable"
	ResultError         = "error"
)

// Metrics are the scheduler's metrics.
type Metrics struct {
	// Attempts counts scheduling attempts by result.
	Attempts *prometheus.CounterVec
	// SchedulingDuration is the end-to-end latency of a pod: from the scheduler first seeing it to the
	// successful binding, across attempts.
	SchedulingDuration prometheus.Histogram
	// AttemptDuration is the latency of one attempt (snapshot, filters, scores, assume) by result.
	AttemptDuration *prometheus.HistogramVec
	// BindingDuration is the latency of the binding call.
	BindingDuration prometheus.Histogram
	// PreemptionVictims counts pods evicted to make room; PreemptionAttempts the attempts that preempted.
	PreemptionVictims  prometheus.Counter
	PreemptionAttempts prometheus.Counter
	// EventsDropped counts events not sent because the event queue was full.
	EventsDropped prometheus.Counter
}

// New creates the metrics and registers them, with the pending-pods and cache gauges reading from the
// given functions.
func New(reg prometheus.Registerer, pending func() map[string]int, cacheSizes func() map[string]int) *Metrics {
	m := &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_scheduler_schedule_attempts_total",
			Help: "Scheduling attempts by result (scheduled, unschedulable, error).",
		}, []string{"result"}),
		SchedulingDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "skiff_scheduler_scheduling_duration_seconds",
			Help:    "End-to-end pod scheduling latency: from first seen pending to bound, across attempts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		AttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skiff_scheduler_scheduling_attempt_duration_seconds",
			Help:    "Latency of one scheduling attempt (filter, score, assume) by result.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 20),
		}, []string{"result"}),
		BindingDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "skiff_scheduler_binding_duration_seconds",
			Help:    "Latency of the pods/binding call.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		PreemptionVictims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_scheduler_preemption_victims_total",
			Help: "Pods evicted by preemption.",
		}),
		PreemptionAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_scheduler_preemption_attempts_total",
			Help: "Scheduling attempts that preempted pods.",
		}),
		EventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "skiff_scheduler_events_dropped_total",
			Help: "Events not sent because the event queue was full.",
		}),
	}
	for _, r := range []string{ResultScheduled, ResultUnschedulable, ResultError} {
		m.Attempts.WithLabelValues(r).Add(0)
	}
	reg.MustRegister(m.Attempts, m.SchedulingDuration, m.AttemptDuration, m.BindingDuration,
		m.PreemptionVictims, m.PreemptionAttempts, m.EventsDropped)
	for _, q := range []string{"active", "backoff", "unschedulable", "gated"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "skiff_scheduler_pending_pods",
			Help:        "Pending pods by sub-queue (active, backoff, unschedulable, gated).",
			ConstLabels: prometheus.Labels{"queue": q},
		}, func() float64 { return float64(pending()[q]) }))
	}
	for _, k := range []string{"nodes", "pods", "assumed_pods"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "skiff_scheduler_cache_size",
			Help:        "Objects in the scheduler cache by type (nodes, pods, assumed_pods).",
			ConstLabels: prometheus.Labels{"type": k},
		}, func() float64 { return float64(cacheSizes()[k]) }))
	}
	return m
}
