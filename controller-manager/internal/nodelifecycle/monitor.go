// Package nodelifecycle watches node heartbeats (the node's Lease in kube-node-lease and its Ready
// condition) and acts when a node goes silent or NotReady: after the grace period its conditions
// become Unknown; it gets the not-ready or unreachable NoExecute taint (at a bounded, per-zone rate,
// and never while every zone is disrupted: a control-plane partition must not empty the cluster);
// pods that do not tolerate the taint are evicted once their tolerationSeconds have passed; the taints
// go away when the node comes back.
//
// The Kubernetes apiserver's DefaultTolerationSeconds admission gives every pod a 300s toleration for
// both taints. Skiff's apiserver does not add it, so a pod with no toleration for the taint at all is
// treated as tolerating it for --default-not-ready-toleration-seconds /
// --default-unreachable-toleration-seconds (300s): the same outcome.
package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Name is the controller's name in --controllers and metrics.
const Name = "nodelifecycle"

// Config holds the node lifecycle knobs (Kubernetes's flag names and defaults).
type Config struct {
	MonitorPeriod                time.Duration // --node-monitor-period, 5s
	GracePeriod                  time.Duration // --node-monitor-grace-period, 40s
	EvictionRate                 float64       // --node-eviction-rate, 0.1 nodes/s
	SecondaryEvictionRate        float64       // --secondary-node-eviction-rate, 0.01 nodes/s
	UnhealthyZoneThreshold       float64       // --unhealthy-zone-threshold, 0.55
	LargeClusterSizeThreshold    int           // --large-cluster-size-threshold, 50
	DefaultNotReadyToleration    time.Duration // 300s
	DefaultUnreachableToleration time.Duration // 300s
}

// DefaultConfig returns Kubernetes's defaults.
func DefaultConfig() Config {
	return Config{
		MonitorPeriod: 5 * time.Second, GracePeriod: 40 * time.Second,
		EvictionRate: 0.1, SecondaryEvictionRate: 0.01, UnhealthyZoneThreshold: 0.55, LargeClusterSizeThreshold: 50,
		DefaultNotReadyToleration: 300 * time.Second, DefaultUnreachableToleration: 300 * time.Second,
	}
}

// NodeClient is the part of the nodes API the controller uses.
type NodeClient interface {
	Update(ctx context.Context, ns string, n *corev1.Node, opts client.UpdateOptions) (*corev1.Node, error)
	UpdateStatus(ctx context.Context, ns string, n *corev1.Node, opts client.UpdateOptions) (*corev1.Node, error)
}

// zone states
const (
	stateNormal            = "Normal"
	statePartialDisruption = "PartialDisruption"
	stateFullDisruption    = "FullDisruption"
)

type health struct {
	probe      time.Time // local time we last saw the node alive
	leaseRenew time.Time
	heartbeat  time.Time
	haveLease  bool
}

// Monitor is the node health half of the controller: a periodic pass over the node cache.
type Monitor struct {
	Cfg      Config
	Nodes    controller.Store[corev1.Node]
	Leases   controller.Store[coordinationv1.Lease]
	API      NodeClient
	Recorder *events.Recorder
	Log      *zap.Logger
	Now      func() time.Time

	mu         sync.Mutex
	health     map[string]*health
	limiters   map[string]*rate.Limiter
	zoneStates map[string]string
	disrupted  bool // every zone fully disrupted
}

// ZoneLabel is the well-known zone label.
const ZoneLabel = "topology.kubernetes.io/zone"

// Run calls Pass every MonitorPeriod until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	if m.Now == nil {
		m.Now = time.Now
	}
	t := time.NewTicker(m.Cfg.MonitorPeriod)
	defer t.Stop()
	for {
		m.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func nodeRef(n *corev1.Node) corev1.ObjectReference { return events.Ref("v1", "Node", &n.ObjectMeta) }

// Pass is one health check over every node.
func (m *Monitor) Pass(ctx context.Context) {
	if m.Now == nil {
		m.Now = time.Now
	}
	now := m.Now()
	m.mu.Lock()
	if m.health == nil {
		m.health, m.limiters, m.zoneStates = map[string]*health{}, map[string]*rate.Limiter{}, map[string]string{}
	}
	m.mu.Unlock()

	nodes := m.Nodes.List()
	seen := map[string]bool{}
	type zoneCount struct{ ready, notReady int }
	zones := map[string]*zoneCount{}
	readiness := map[string]corev1.ConditionStatus{}
	for _, n := range nodes {
		seen[n.Name] = true
		st := m.checkNode(ctx, n, now)
		readiness[n.Name] = st
		z := n.Labels[ZoneLabel]
		if zones[z] == nil {
			zones[z] = &zoneCount{}
		}
		if st == corev1.ConditionTrue {
			zones[z].ready++
		} else {
			zones[z].notReady++
		}
	}
	m.mu.Lock()
	for name := range m.health {
		if !seen[name] {
			delete(m.health, name)
		}
	}
	allDisrupted := len(zones) > 0
	states := map[string]string{}
	for z, c := range zones {
		s := stateNormal
		switch {
		case c.ready == 0 && c.notReady > 0:
			s = stateFullDisruption
		case c.notReady > 2 && float64(c.notReady)/float64(c.notReady+c.ready) >= m.Cfg.UnhealthyZoneThreshold:
			s = statePartialDisruption
		}
		states[z] = s
		if s != stateFullDisruption {
			allDisrupted = false
		}
		r := m.Cfg.EvictionRate
		if s == statePartialDisruption {
			r = 0
			if c.ready+c.notReady > m.Cfg.LargeClusterSizeThreshold {
				r = m.Cfg.SecondaryEvictionRate
			}
		}
		lim := m.limiters[z]
		if lim == nil {
			lim = rate.NewLimiter(rate.Limit(r), 1)
			m.limiters[z] = lim
		} else if lim.Limit() != rate.Limit(r) {
			lim.SetLimit(rate.Limit(r))
		}
	}
	wasDisrupted := m.disrupted
	m.disrupted = allDisrupted
	m.zoneStates = states
	if wasDisrupted && !allDisrupted {
		// coming out of a full disruption: every node gets a fresh grace period
		for _, h := range m.health {
			h.probe = now
		}
	}
	m.mu.Unlock()
	if allDisrupted && !wasDisrupted {
		m.Log.Warn("all_nodes_not_ready", zap.String("action", "no taints or evictions until a node is ready again"))
	}

	for _, n := range nodes {
		if err := m.reconcileTaints(ctx, n, readiness[n.Name], allDisrupted); err != nil {
			m.Log.Info("node_taint_update_failed", zap.String("node", n.Name), zap.Error(err))
		}
	}
}

// checkNode refreshes the node's heartbeat record and marks its conditions Unknown when it has been
// silent longer than the grace period. It returns the node's effective Ready status.
func (m *Monitor) checkNode(ctx context.Context, n *corev1.Node, now time.Time) corev1.ConditionStatus {
	m.mu.Lock()
	h := m.health[n.Name]
	if h == nil {
		// first sight (or a restart of this controller): the node gets a full grace period from now
		h = &health{probe: now}
		m.health[n.Name] = h
	}
	if rc := readyCondition(n); rc != nil && !rc.LastHeartbeatTime.Time.Equal(h.heartbeat) {
		h.heartbeat = rc.LastHeartbeatTime.Time
		h.probe = now
	}
	if m.Leases != nil {
		if l, ok := m.Leases.Get(corev1.NamespaceNodeLease + "/" + n.Name); ok && l.Spec.RenewTime != nil {
			if !h.haveLease || !l.Spec.RenewTime.Time.Equal(h.leaseRenew) {
				h.leaseRenew, h.haveLease = l.Spec.RenewTime.Time, true
				h.probe = now
			}
		}
	}
	silent := now.Sub(h.probe) > m.Cfg.GracePeriod
	m.mu.Unlock()

	rc := readyCondition(n)
	if !silent {
		if rc == nil {
			return corev1.ConditionUnknown
		}
		return rc.Status
	}
	if rc != nil && rc.Status == corev1.ConditionUnknown {
		return corev1.ConditionUnknown
	}
	// silent: every kubelet-owned condition becomes Unknown
	upd := *n
	upd.Status.Conditions = nil
	ts := metav1.NewTime(now)
	found := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			found = true
		}
		if c.Status != corev1.ConditionUnknown {
			c.Status = corev1.ConditionUnknown
			c.Reason = "NodeStatusUnknown"
			c.Message = "Kubelet stopped posting node status."
			c.LastTransitionTime = ts
		}
		upd.Status.Conditions = append(upd.Status.Conditions, c)
	}
	if !found {
		upd.Status.Conditions = append(upd.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated",
			Message: "Kubelet never posted node status.", LastHeartbeatTime: n.CreationTimestamp, LastTransitionTime: ts,
		})
	}
	if _, err := m.API.UpdateStatus(ctx, "", &upd, client.UpdateOptions{}); err != nil {
		m.Log.Info("node_status_update_failed", zap.String("node", n.Name), zap.Error(err))
	} else {
		m.Recorder.Eventf(nodeRef(n), events.Normal, "NodeNotReady", "Node %s status is now: NodeNotReady", n.Name)
		m.Log.Info("node_unreachable", zap.String("node", n.Name), zap.Duration("silent_for", now.Sub(h.probe)))
	}
	return corev1.ConditionUnknown
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

// reconcileTaints keeps the not-ready/unreachable taints in line with the Ready status. NoSchedule
// taints follow at once; NoExecute taints are added at the zone's eviction rate, never during a full
// disruption (and removed then, which cancels pending evictions), and removed at once on recovery.
func (m *Monitor) reconcileTaints(ctx context.Context, n *corev1.Node, ready corev1.ConditionStatus, allDisrupted bool) error {
	wantKey := ""
	switch ready {
	case corev1.ConditionFalse:
		wantKey = corev1.TaintNodeNotReady
	case corev1.ConditionUnknown:
		wantKey = corev1.TaintNodeUnreachable
	}
	managed := map[string]bool{corev1.TaintNodeNotReady: true, corev1.TaintNodeUnreachable: true}
	var taints []corev1.Taint
	changed := false
	haveExec, haveSched := false, false
	for _, t := range n.Spec.Taints {
		if managed[t.Key] && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule) {
			keep := t.Key == wantKey && !(t.Effect == corev1.TaintEffectNoExecute && allDisrupted)
			if !keep {
				changed = true
				continue
			}
			if t.Effect == corev1.TaintEffectNoExecute {
				haveExec = true
			} else {
				haveSched = true
			}
		}
		taints = append(taints, t)
	}
	now := metav1.NewTime(m.Now())
	if wantKey != "" && !haveSched {
		taints = append(taints, corev1.Taint{Key: wantKey, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &now})
		changed = true
	}
	if wantKey != "" && !haveExec && !allDisrupted {
		// swapping not-ready for unreachable (or back) is not a new eviction: no rate limit then
		swap := hasTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute) || hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
		m.mu.Lock()
		lim := m.limiters[n.Labels[ZoneLabel]]
		m.mu.Unlock()
		if swap || (lim != nil && lim.Limit() > 0 && lim.Allow()) {
			taints = append(taints, corev1.Taint{Key: wantKey, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now})
			changed = true
			m.Log.Info("node_tainted", zap.String("node", n.Name), zap.String("taint", wantKey))
		}
	}
	if !changed {
		return nil
	}
	upd := *n
	upd.Spec.Taints = taints
	if _, err := m.API.Update(ctx, "", &upd, client.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating taints of node %s: %w", n.Name, err)
	}
	return nil
}
