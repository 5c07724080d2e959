// Package podstate answers the questions every workload controller asks about a pod: is it active
// (counted towards replicas), ready, available for minReadySeconds, and which pods go first when scaling
// down. It holds pure functions over corev1.Pod and talks to no API.
package podstate

import (
	"sort"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// IsActive reports whether the pod counts towards a controller's replicas: not terminating and not
// finished.
func IsActive(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// IsTerminating reports whether deletion of the pod has started.
func IsTerminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }

// ReadyCondition returns the pod's Ready condition, or nil.
func ReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsReady reports whether the pod's Ready condition is True.
func IsReady(p *corev1.Pod) bool {
	c := ReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsAvailable reports whether the pod has been ready for at least minReadySeconds at now. With
// minReadySeconds 0 a ready pod is available at once.
func IsAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := ReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	min := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(min).After(now)
}

// AvailableIn returns how long until a ready pod becomes available (0 when it already is or is not
// ready), so a controller can requeue exactly then.
func AvailableIn(p *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	c := ReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue || minReadySeconds == 0 || c.LastTransitionTime.IsZero() {
		return 0
	}
	d := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
	if d < 0 {
		return 0
	}
	return d
}

// RestartCount sums the restart counts of the pod's containers.
func RestartCount(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

func phaseRank(ph corev1.PodPhase) int {
	switch ph {
	case corev1.PodPending:
		return 0
	case corev1.PodUnknown:
		return 1
	case corev1.PodRunning:
		return 2
	}
	return 3
}

// SortForDeletion orders pods so that the ones to delete first come first, as Kubernetes does when a
// ReplicaSet scales down:
//
//  1. unassigned before assigned;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. pods on nodes crowded with pods of the same set before others (colocated counts);
//  5. ready for a shorter time before ready longer;
//  6. more container restarts before fewer;
//  7. newer before older.
func SortForDeletion(pods []*corev1.Pod) {
	perNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	sort.SliceStable(pods, func(i, j int) bool { return deleteFirst(pods[i], pods[j], perNode) })
}

func deleteFirst(a, b *corev1.Pod, perNode map[string]int) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); ra != rb {
		return ra < rb
	}
	if IsReady(a) != IsReady(b) {
		return !IsReady(a)
	}
	if ca, cb := perNode[a.Spec.NodeName], perNode[b.Spec.NodeName]; a.Spec.NodeName != "" && ca != cb {
		return ca > cb
	}
	if IsReady(a) && IsReady(b) {
		ta, tb := ReadyCondition(a).LastTransitionTime, ReadyCondition(b).LastTransitionTime
		if !ta.Time.Equal(tb.Time) {
			return ta.After(tb.Time)
		}
	}
	if ra, rb := RestartCount(a), RestartCount(b); ra != rb {
		return ra > rb
	}
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Time.Equal(tb.Time) {
		if ta.IsZero() {
			return true
		}
		if tb.IsZero() {
			return false
		}
		return ta.After(tb.Time)
	}
	return a.Name > b.Name
}
