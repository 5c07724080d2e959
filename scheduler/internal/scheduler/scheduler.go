// Package scheduler is skiff-scheduler's control loop: it feeds the cache and the queue from cluster
// events, runs one scheduling cycle per pod (snapshot, framework.Algorithm, assume, bind asynchronously),
// and handles failures (preemption, the PodScheduled condition, FailedScheduling events, requeueing).
//
// Everything it writes goes through the API interface; apiclient.go implements it over shared/client
// and informers.go wires the shared informers to the event handlers.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/scheduler/internal/cache"
	"github.com/skiffhq/skiff/scheduler/internal/framework"
	"github.com/skiffhq/skiff/scheduler/internal/metrics"
	"github.com/skiffhq/skiff/scheduler/internal/queue"
)

// API is what the scheduler writes to the cluster.
type API interface {
	// Bind binds the pod to the node (pods/binding).
	Bind(ctx context.Context, pod *v1.Pod, node string) error
	// UpdateCondition sets the pod's PodScheduled condition and, when nominated is not nil, its
	// status.nominatedNodeName ("" clears it).
	UpdateCondition(ctx context.Context, pod *v1.Pod, cond v1.PodCondition, nominated *string) error
	// Evict evicts a preemption victim gracefully on behalf of preemptor.
	Evict(ctx context.Context, victim, preemptor *v1.Pod, message string) error
	// Event records an event about the pod; failures are only logged.
	Event(ctx context.Context, pod *v1.Pod, eventType, reason, action, message string)
}

// Observer hears about every successful scheduling (benchmarks and tests collect latencies with it).
type Observer interface {
	// Scheduled is called once the binding succeeded: attempt is the last attempt's latency (snapshot to
	// assumed), bound the time from the start of that attempt to the binding's success, e2e the time from
	// first seen to bound.
	Scheduled(pod *v1.Pod, node string, attempt, bound, e2e time.Duration)
}

// starter is implemented by observers that want to know when the scheduling loop starts.
type starter interface{ Started() }

// Config are the loop's settings.
type Config struct {
	// SchedulerName is the spec.schedulerName this scheduler serves ("default-scheduler").
	SchedulerName string
	Algorithm     framework.Config
	Queue         queue.Config
	// AssumedPodTTL is how long a bound but unobserved pod keeps its room.
	AssumedPodTTL time.Duration
	// BindWorkers bounds the bindings in flight.
	BindWorkers int
	// DisablePreemption turns preemption off.
	DisablePreemption bool
	// Events turns off event recording when false (benchmarks of the algorithm alone).
	Events bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		SchedulerName: v1.DefaultSchedulerName,
		Algorithm:     framework.DefaultConfig(),
		Queue:         queue.Config{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second, MaxUnschedulable: 5 * time.Minute},
		AssumedPodTTL: 30 * time.Second,
		BindWorkers:   256,
		Events:        true,
	}
}

// Scheduler is the control loop.
type Scheduler struct {
	cfg      Config
	log      *zap.Logger
	api      API
	algo     *framework.Algorithm
	cache    *cache.Cache
	queue    *queue.Queue
	metrics  *metrics.Metrics
	observer Observer
	prio     *priorities
	snap     *framework.Snapshot

	bindSem chan struct{}
	wg      sync.WaitGroup
}

// New builds a scheduler. m may be nil (no metrics), obs may be nil.
func New(cfg Config, api API, log *zap.Logger, m *metrics.Metrics, obs Observer) *Scheduler {
	if cfg.BindWorkers <= 0 {
		cfg.BindWorkers = 256
	}
	if cfg.SchedulerName == "" {
		cfg.SchedulerName = v1.DefaultSchedulerName
	}
	return &Scheduler{
		cfg:      cfg,
		log:      log,
		api:      api,
		algo:     framework.New(cfg.Algorithm),
		cache:    cache.New(cfg.AssumedPodTTL),
		queue:    queue.New(cfg.Queue),
		metrics:  m,
		observer: obs,
		prio:     newPriorities(),
		snap:     &framework.Snapshot{},
		bindSem:  make(chan struct{}, cfg.BindWorkers),
	}
}

// Pending returns the queue lengths by sub-queue name, for the pending-pods gauge.
func (s *Scheduler) Pending() map[string]int {
	l := s.queue.Len()
	return map[string]int{"active": l.Active, "backoff": l.Backoff, "unschedulable": l.Unschedulable, "gated": l.Gated}
}

// CacheSizes returns the cache's sizes, for the cache gauge.
func (s *Scheduler) CacheSizes() map[string]int {
	n, p, a := s.cache.Counts()
	return map[string]int{"nodes": n, "pods": p, "assumed_pods": a}
}

// Queue exposes the queue (tests).
func (s *Scheduler) Queue() *queue.Queue { return s.queue }

// Cache exposes the cache (tests).
func (s *Scheduler) Cache() *cache.Cache { return s.cache }

// AlgorithmStats returns the algorithm's counters; call it only when the loop is stopped.
func (s *Scheduler) AlgorithmStats() framework.Stats { return s.algo.Stats }

// Run schedules until ctx ends, then waits for the bindings in flight.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.queue.Run(ctx, time.Second)
	go s.cache.Run(ctx, time.Second)
	defer s.wg.Wait()
	if st, ok := s.observer.(starter); ok {
		st.Started()
	}
	for {
		qp, cycle, err := s.queue.Pop(ctx)
		if err != nil {
			if errors.Is(err, queue.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("popping the scheduling queue: %w", err)
		}
		s.scheduleOne(ctx, qp, cycle)
	}
}

// scheduleOne is one scheduling cycle for one pod.
func (s *Scheduler) scheduleOne(ctx context.Context, qp *queue.QueuedPod, cycle int64) {
	start := time.Now()
	pi := qp.Info
	if pi.Pod.DeletionTimestamp != nil || s.cache.IsAssumed(pi.UID) {
		s.queue.Done(pi.UID)
		return
	}
	s.cache.UpdateSnapshot(s.snap)
	s.snap.Nominated = s.queue.Nominated()
	res, err := s.algo.Schedule(pi, s.snap)
	if err != nil {
		s.handleFailure(ctx, qp, cycle, err, start)
		return
	}
	if err := s.cache.AssumePod(pi, res.Node); err != nil {
		s.log.Error("assuming pod", zap.String("pod", pi.Key), zap.Error(err))
		s.observeAttempt(metrics.ResultError, start)
		s.queue.RequeueBackoff(qp)
		return
	}
	s.queue.DeleteNominated(pi.UID)
	attempt := time.Since(start)
	s.observeAttempt(metrics.ResultScheduled, start)
	s.log.Debug("pod assumed", zap.String("pod", pi.Key), zap.String("node", res.Node),
		zap.Int("evaluated", res.Evaluated), zap.Int("feasible", res.Feasible))
	s.bindSem <- struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.bindSem }()
		s.bind(ctx, qp, res.Node, start, attempt)
	}()
}

func (s *Scheduler) observeAttempt(result string, start time.Time) {
	if s.metrics == nil {
		return
	}
	s.metrics.Attempts.WithLabelValues(result).Inc()
	s.metrics.AttemptDuration.WithLabelValues(result).Observe(time.Since(start).Seconds())
}

// bind binds an assumed pod. On failure the room is given back and the pod retried after its back-off.
func (s *Scheduler) bind(ctx context.Context, qp *queue.QueuedPod, node string, attemptStart time.Time, attempt time.Duration) {
	pi := qp.Info
	start := time.Now()
	err := s.api.Bind(ctx, pi.Pod, node)
	if s.metrics != nil {
		s.metrics.BindingDuration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		s.cache.ForgetPod(pi.UID)
		// The room the pod held may let others in.
		s.queue.MoveOnEvent(queue.EventAssignedPodDelete)
		if ctx.Err() != nil {
			s.queue.Done(pi.UID)
			return
		}
		s.log.Info("binding failed", zap.String("pod", pi.Key), zap.String("node", node), zap.Error(err))
		s.queue.RequeueBackoff(qp)
		if s.cfg.Events {
			s.api.Event(ctx, pi.Pod, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "Binding rejected: "+err.Error())
		}
		return
	}
	s.cache.FinishBinding(pi.UID)
	s.queue.Done(pi.UID)
	e2e := time.Since(qp.InitialAttempt)
	if s.metrics != nil {
		s.metrics.SchedulingDuration.Observe(e2e.Seconds())
	}
	if s.observer != nil {
		s.observer.Scheduled(pi.Pod, node, attempt, time.Since(attemptStart), e2e)
	}
	if s.cfg.Events {
		s.api.Event(ctx, pi.Pod, v1.EventTypeNormal, "Scheduled", "Binding",
			fmt.Sprintf("Successfully assigned %s/%s to %s", pi.Namespace, pi.Pod.Name, node))
	}
	s.log.Debug("pod bound", zap.String("pod", pi.Key), zap.String("node", node))
}

// handleFailure deals with a pod that fits nowhere (or an error): preemption, requeueing, the
// PodScheduled condition and the FailedScheduling event.
func (s *Scheduler) handleFailure(ctx context.Context, qp *queue.QueuedPod, cycle int64, err error, start time.Time) {
	pi := qp.Info
	var fe *framework.FitError
	var nominated *string
	result := metrics.ResultUnschedulable
	reason := v1.PodReasonUnschedulable
	switch {
	case errors.As(err, &fe):
		if !s.cfg.DisablePreemption {
			nominated = s.preempt(ctx, pi, fe)
		}
		s.queue.RequeueUnschedulable(qp, cycle, fe.Diagnosis.Plugins)
	case errors.Is(err, framework.ErrNoNodesAvailable):
		s.queue.RequeueUnschedulable(qp, cycle, nil)
	default:
		result, reason = metrics.ResultError, v1.PodReasonSchedulerError
		s.queue.RequeueBackoff(qp)
	}
	s.observeAttempt(result, start)
	msg := err.Error()
	s.log.Debug("pod unschedulable", zap.String("pod", pi.Key), zap.String("reason", msg))
	cond := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg}
	if !conditionChanged(pi.Pod, cond, nominated) {
		return
	}
	pod := pi.Pod
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.api.UpdateCondition(ctx, pod, cond, nominated); err != nil && ctx.Err() == nil {
			s.log.Info("updating pod condition", zap.String("pod", pi.Key), zap.Error(err))
		}
	}()
	if s.cfg.Events {
		s.api.Event(ctx, pod, v1.EventTypeWarning, "FailedScheduling", "Scheduling", msg)
	}
}

// conditionChanged reports whether writing cond (and the nomination) would change the pod's status.
func conditionChanged(pod *v1.Pod, cond v1.PodCondition, nominated *string) bool {
	if nominated != nil && *nominated != pod.Status.NominatedNodeName {
		return true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == cond.Type {
			return c.Status != cond.Status || c.Reason != cond.Reason || c.Message != cond.Message
		}
	}
	return true
}

// preempt runs preemption for a pod that fits nowhere. On success it evicts the victims, nominates the
// pod to the node and returns the node's name; otherwise it records why in the FitError.
func (s *Scheduler) preempt(ctx context.Context, pi *framework.PodInfo, fe *framework.FitError) *string {
	victims, msg := s.algo.Preempt(pi, s.snap, fe)
	if victims == nil {
		fe.Diagnosis.PostFilterMsg = msg
		return nil
	}
	if fe.Diagnosis.Plugins == nil {
		fe.Diagnosis.Plugins = map[string]bool{}
	}
	fe.Diagnosis.Plugins[framework.DefaultPreemption] = true
	node := victims.Node
	s.queue.AddNominated(pi, node)
	if s.metrics != nil {
		s.metrics.PreemptionAttempts.Inc()
		s.metrics.PreemptionVictims.Add(float64(len(victims.Pods)))
	}
	s.log.Info("preempting", zap.String("pod", pi.Key), zap.String("node", node), zap.Int("victims", len(victims.Pods)))
	// Lower-priority pods nominated to the node lose their claim: the room is this pod's now.
	var cleared []*v1.Pod
	for _, q := range s.snap.Nominated[node] {
		if q.Priority < pi.Priority {
			s.queue.DeleteNominated(q.UID)
			cleared = append(cleared, q.Pod)
		}
	}
	preemptor := pi.Pod
	vs := victims.Pods
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, v := range vs {
			m := fmt.Sprintf("Preempted by pod %s/%s on node %s", preemptor.Namespace, preemptor.Name, node)
			if err := s.api.Evict(ctx, v.Pod, preemptor, m); err != nil && ctx.Err() == nil {
				s.log.Info("evicting preemption victim", zap.String("pod", v.Key), zap.Error(err))
			}
			if s.cfg.Events {
				s.api.Event(ctx, v.Pod, v1.EventTypeNormal, "Preempted", "Preempting", m)
			}
		}
		empty := ""
		for _, p := range cleared {
			if err := s.api.UpdateCondition(ctx, p, v1.PodCondition{}, &empty); err != nil && ctx.Err() == nil {
				s.log.Info("clearing nomination", zap.String("pod", p.Namespace+"/"+p.Name), zap.Error(err))
			}
		}
	}()
	return &node
}
