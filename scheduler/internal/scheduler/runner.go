package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/leaderelection"

	"github.com/skiffhq/skiff/scheduler/internal/metrics"
)

// podFieldSelector is kube-scheduler's: finished pods hold no resources and need no node.
const podFieldSelector = "status.phase!=Succeeded,status.phase!=Failed"

// Runner is a Scheduler wired to an apiserver: informers on pods, nodes and priority classes feed it,
// ClientAPI carries its writes, and leader election decides when it schedules. Standbys keep their
// caches warm, so a new leader schedules at once.
type Runner struct {
	Scheduler *Scheduler
	api       *ClientAPI
	log       *zap.Logger
	leases    leaderelection.LeaseClient
	election  leaderelection.Options

	pods    *informer.Informer[v1.Pod]
	nodes   *informer.Informer[v1.Node]
	classes *informer.Informer[schedulingv1.PriorityClass]
	synced  atomic.Bool
}

// NewRunner builds the wiring. reg may be nil (no metrics); obs may be nil.
func NewRunner(cs *client.Clientset, cfg Config, election leaderelection.Options, reg prometheus.Registerer, log *zap.Logger, obs Observer) *Runner {
	r := &Runner{log: log, leases: cs.Leases, election: election}
	var m *metrics.Metrics
	var sched *Scheduler
	if reg != nil {
		m = metrics.New(reg, func() map[string]int { return sched.Pending() }, func() map[string]int { return sched.CacheSizes() })
	}
	identity := election.Identity
	if identity == "" {
		identity = leaderelection.DefaultIdentity()
		r.election.Identity = identity
	}
	r.api = NewClientAPI(cs, cfg.SchedulerName, identity, log, m)
	sched = New(cfg, r.api, log, m, obs)
	r.Scheduler = sched

	r.pods = informer.New[v1.Pod](cs.Pods, informer.Options{FieldSelector: podFieldSelector, Logger: log, Name: "pods"})
	r.pods.AddHandler(informer.Handler[v1.Pod]{OnAdd: sched.OnPodAdd, OnUpdate: sched.OnPodUpdate, OnDelete: sched.OnPodDelete})
	r.nodes = informer.New[v1.Node](cs.Nodes, informer.Options{Logger: log, Name: "nodes"})
	r.nodes.AddHandler(informer.Handler[v1.Node]{OnAdd: sched.OnNodeAdd, OnUpdate: sched.OnNodeUpdate, OnDelete: sched.OnNodeDelete})
	r.classes = informer.New[schedulingv1.PriorityClass](cs.PriorityClasses, informer.Options{Logger: log, Name: "priorityclasses"})
	r.classes.AddHandler(informer.Handler[schedulingv1.PriorityClass]{
		OnAdd:    sched.OnPriorityClass,
		OnUpdate: func(_, pc *schedulingv1.PriorityClass) { sched.OnPriorityClass(pc) },
		OnDelete: sched.OnPriorityClassDelete,
	})
	return r
}

// Ready reports whether the caches have synced (the /readyz check).
func (r *Runner) Ready() error {
	if !r.synced.Load() {
		return errors.New("scheduler caches not synced")
	}
	return nil
}

// Run runs the informers and the event workers, and schedules while leading. It returns nil when ctx
// ends, leaderelection.ErrLeadershipLost when leadership is lost (the process should exit), or an error.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 5)
	run := func(f func(context.Context) error) {
		go func() { errc <- f(ctx) }()
	}
	// The priority classes sync first, so the first pods get their priorities right.
	run(r.classes.Run)
	if !informer.WaitForCacheSync(ctx, r.classes) {
		return ctx.Err()
	}
	run(r.nodes.Run)
	run(r.pods.Run)
	run(func(ctx context.Context) error { return r.api.RunEvents(ctx, 8) })
	if !informer.WaitForCacheSync(ctx, r.nodes, r.pods) {
		cancel()
		return nil
	}
	r.synced.Store(true)
	r.log.Info("caches synced", zap.Int("nodes", len(r.nodes.List())), zap.Int("pods", len(r.pods.List())))
	err := leaderelection.RunOrLead(ctx, r.leases, r.election, r.log, func(ctx context.Context) error {
		r.log.Info("scheduling", zap.String("identity", r.election.Identity))
		return r.Scheduler.Run(ctx)
	})
	cancel()
	for range 4 {
		select {
		case <-errc:
		case <-time.After(5 * time.Second):
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("scheduling: %w", err)
	}
	return nil
}
