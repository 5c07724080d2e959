package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// RuleCounts is how many kernel objects of each type a backend programmed ("chains", "rules",
// "map_elements", "virtual_servers", ...). Types are a small fixed set per backend.
type RuleCounts map[string]int

// Backend programs Service virtual IPs into the kernel.
type Backend interface {
	// Name is the backend's --mode name ("nftables", "ipvs").
	Name() string
	// Sync makes the kernel match snap. With full set it rewrites everything it owns, repairing any
	// drift (rules deleted or added by hand, leftovers of an earlier run); otherwise it may only apply
	// the difference from its last successful Sync. It must be atomic enough that established
	// connections keep working.
	Sync(ctx context.Context, snap *Snapshot, full bool) (RuleCounts, error)
	// Cleanup removes everything the backend ever programmed on this node.
	Cleanup(ctx context.Context) error
}

// Config tunes the sync loop.
type Config struct {
	// MinSyncPeriod is the shortest time between two syncs; changes arriving sooner are batched.
	MinSyncPeriod time.Duration
	// SyncPeriod is how often a full resync runs even without changes.
	SyncPeriod time.Duration
	// AfterSync, if set, is called with the snapshot after every successful sync (the health-check
	// node ports follow the Services programmed).
	AfterSync func(*Snapshot)
}

// Proxier runs the sync loop: it waits until the informers have synced, then programs the backend on
// every batch of changes and fully every SyncPeriod.
type Proxier struct {
	cfg     Config
	store   *Store
	backend Backend
	log     *zap.Logger
	m       *metrics

	trigger  chan struct{}
	ready    chan struct{}
	once     sync.Once
	started  time.Time
	lastOK   atomic.Int64 // unix nanos of the last successful sync
	lastFull atomic.Int64 // duration of the last full sync, nanoseconds
	syncMu   sync.Mutex   // one sync at a time
	needFull bool
}

// NewProxier wires a store to a backend. Metrics are registered on reg.
func NewProxier(cfg Config, store *Store, b Backend, reg prometheus.Registerer, log *zap.Logger) (*Proxier, error) {
	if cfg.MinSyncPeriod < 0 || cfg.SyncPeriod <= 0 {
		return nil, fmt.Errorf("sync periods must be positive (min-sync-period %s, sync-period %s)", cfg.MinSyncPeriod, cfg.SyncPeriod)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	p := &Proxier{
		cfg: cfg, store: store, backend: b, log: log, m: m,
		trigger: make(chan struct{}, 1), ready: make(chan struct{}),
		started: time.Now(), needFull: true,
	}
	store.OnChange(p.Trigger)
	return p, nil
}

// Trigger asks for a sync soon (at most one per MinSyncPeriod).
func (p *Proxier) Trigger() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// SetReady tells the proxier the informers have delivered their initial lists; until then it programs
// nothing, so a restart never briefly removes the rules of Services not listed yet.
func (p *Proxier) SetReady() {
	p.once.Do(func() { close(p.ready) })
	p.Trigger()
}

// Run syncs until ctx ends. It leaves the rules in place when it returns.
func (p *Proxier) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-p.ready:
	}
	resync := time.NewTimer(p.cfg.SyncPeriod)
	defer resync.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.trigger:
		case <-resync.C:
			p.needFull = true
		}
		if wait := p.cfg.MinSyncPeriod - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		// Changes that arrived while waiting are part of this batch.
		select {
		case <-p.trigger:
		default:
		}
		last = time.Now()
		full := p.needFull
		err := p.Sync(ctx, full)
		took := time.Since(last)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			p.log.Error("sync failed, retrying with a full sync", zap.String("backend", p.backend.Name()), zap.Bool("full", full), zap.Error(err))
			p.needFull = true
			time.AfterFunc(max(p.cfg.MinSyncPeriod, time.Second), p.Trigger)
			continue
		}
		p.needFull = false
		if full {
			if !resync.Stop() {
				select {
				case <-resync.C:
				default:
				}
			}
			// A huge table can take a while to rewrite: keep full resyncs to at most a quarter of the
			// time, so partial syncs of real changes are never starved.
			next := max(p.cfg.SyncPeriod, 4*took)
			if next > p.cfg.SyncPeriod {
				p.log.Info("full sync is slow; spacing full resyncs", zap.Duration("took", took), zap.Duration("next_full_sync_in", next))
			}
			resync.Reset(next)
		}
	}
}

// Sync programs the backend once, now. Run calls it; tests and benchmarks call it directly.
func (p *Proxier) Sync(ctx context.Context, full bool) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	kind := "partial"
	if full {
		kind = "full"
	}
	pending := p.store.TakePending()
	snap := p.store.Snapshot()
	start := time.Now()
	counts, err := p.backend.Sync(ctx, snap, full)
	took := time.Since(start)
	p.m.syncDuration.WithLabelValues(kind).Observe(took.Seconds())
	if err != nil {
		p.m.syncs.WithLabelValues(kind, "error").Inc()
		p.store.restorePending(pending)
		return fmt.Errorf("%s sync of %d services with %s: %w", kind, len(snap.Services), p.backend.Name(), err)
	}
	p.m.syncs.WithLabelValues(kind, "success").Inc()
	if full {
		p.lastFull.Store(int64(took))
	}
	done := time.Now()
	p.lastOK.Store(done.UnixNano())
	p.m.lastSync.Set(float64(done.Unix()))
	for _, t := range pending {
		p.m.programming.Observe(done.Sub(t).Seconds())
	}
	for typ, n := range counts {
		p.m.rules.WithLabelValues(p.backend.Name(), typ).Set(float64(n))
	}
	if p.cfg.AfterSync != nil {
		p.cfg.AfterSync(snap)
	}
	p.log.Debug("synced", zap.String("backend", p.backend.Name()), zap.String("kind", kind),
		zap.Int("services", len(snap.Services)), zap.Duration("took", took))
	return nil
}

// Healthy reports an error when the rules may be stale: no successful sync within twice the sync
// period (after the informers synced) although one should have run.
func (p *Proxier) Healthy() error {
	limit := 2*max(p.cfg.SyncPeriod, 4*time.Duration(p.lastFull.Load())) + p.cfg.MinSyncPeriod
	last := p.lastOK.Load()
	if last == 0 {
		if since := time.Since(p.started); since > limit {
			return fmt.Errorf("no successful sync in the %s since start", since.Round(time.Second))
		}
		return nil
	}
	if since := time.Since(time.Unix(0, last)); since > limit {
		return fmt.Errorf("last successful sync was %s ago (limit %s)", since.Round(time.Second), limit)
	}
	return nil
}

// Ready reports an error until the first successful sync.
func (p *Proxier) Ready() error {
	if p.lastOK.Load() == 0 {
		return errors.New("rules not programmed yet")
	}
	return nil
}

type metrics struct {
	syncDuration *prometheus.HistogramVec
	programming  prometheus.Histogram
	rules        *prometheus.GaugeVec
	syncs        *prometheus.CounterVec
	lastSync     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skiff_netproxy_sync_duration_seconds",
			Help:    "Time to compute and apply the rules, by kind of sync (full or partial).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"kind"}),
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "skiff_netproxy_network_programming_duration_seconds",
			Help:    "Time from an endpoint change (EndpointSlice last-change-trigger-time, else its arrival) to the rules being applied.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 15),
		}),
		rules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_netproxy_rules",
			Help: "Kernel objects programmed by the last successful sync, by backend and type.",
		}, []string{"backend", "type"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_netproxy_syncs_total",
			Help: "Syncs run, by kind and result.",
		}, []string{"kind", "result"}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "skiff_netproxy_last_sync_timestamp_seconds",
			Help: "Unix time of the last successful sync.",
		}),
	}
	for _, kind := range []string{"full", "partial"} {
		for _, res := range []string{"success", "error"} {
			m.syncs.WithLabelValues(kind, res).Add(0)
		}
	}
	for _, c := range []prometheus.Collector{m.syncDuration, m.programming, m.rules, m.syncs, m.lastSync} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering netproxy metrics: %w", err)
		}
	}
	return m, nil
}
