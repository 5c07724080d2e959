// Package podevents routes pod informer events to the work queue of the workload controller that owns
// the pods (ReplicaSet, DaemonSet, StatefulSet, Job): a pod with a controller reference to a cached
// owner of the controller's kind queues that owner, lowering its expectations for observed creates and
// deletes; an orphan queues every owner in its namespace whose selector matches, since one of them may
// adopt it.
//
// It only maps events to keys; what an owner does with its pods is its controller's sync.
package podevents

import (
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/expectations"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
)

// availableSlack is added to minReadySeconds so the requeued sync sees the pod available.
const availableSlack = 10 * time.Millisecond

// Handler maps pod events to owner keys of one kind. T is the owner type.
type Handler[T any, PT interface {
	*T
	metav1.Object
}] struct {
	// Owners resolves a pod to its owner, or to the owners that could adopt it.
	Owners ownership.Owners[T, PT]
	// Queue is the controller's work queue.
	Queue controller.Queue
	// Expectations, when set, are lowered for each create and delete seen (a pod getting a
	// deletionTimestamp counts as deleted).
	Expectations *expectations.Expectations
	// MinReadySeconds, when set, returns the owner's spec.minReadySeconds: a pod becoming ready then
	// also requeues its owner once that time has passed, when the pod counts as available.
	MinReadySeconds func(owner PT) int32
}

// OnPodAdd records an observed create and queues the owner (or the owners that may adopt an orphan).
func (h *Handler[T, PT]) OnPodAdd(p *corev1.Pod) {
	if p.DeletionTimestamp != nil {
		h.OnPodDelete(p)
		return
	}
	if key, ok := h.Owners.ControllerKey(&p.ObjectMeta); ok {
		if h.Expectations != nil {
			h.Expectations.CreationObserved(key)
		}
		h.Queue.Add(key)
		return
	}
	h.queueAdopters(p)
}

// OnPodUpdate queues the old and the new owner on any change: labels and ownership move a pod between
// owners, and phase and readiness move rollouts and completions along.
func (h *Handler[T, PT]) OnPodUpdate(old, cur *corev1.Pod) {
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync
	}
	if h.Expectations != nil && cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// a pod going away counts as deleted for expectations; the status sees it as terminating
		if key, ok := h.Owners.ControllerKey(&cur.ObjectMeta); ok {
			h.Expectations.DeletionObserved(key, cur.UID)
		}
	}
	oldKey, oldOK := h.Owners.ControllerKey(&old.ObjectMeta)
	curKey, curOK := h.Owners.ControllerKey(&cur.ObjectMeta)
	if oldOK && (!curOK || oldKey != curKey) {
		h.Queue.Add(oldKey)
	}
	if !curOK {
		h.queueAdopters(cur)
		return
	}
	h.Queue.Add(curKey)
	if h.MinReadySeconds != nil && !podstate.IsReady(old) && podstate.IsReady(cur) {
		if owner, ok := h.Owners.Store.Get(curKey); ok {
			if s := h.MinReadySeconds(owner); s > 0 {
				h.Queue.AddAfter(curKey, time.Duration(s)*time.Second+availableSlack)
			}
		}
	}
}

// OnPodDelete records an observed delete and queues the owner.
func (h *Handler[T, PT]) OnPodDelete(p *corev1.Pod) {
	if key, ok := h.Owners.ControllerKey(&p.ObjectMeta); ok {
		if h.Expectations != nil {
			h.Expectations.DeletionObserved(key, p.UID)
		}
		h.Queue.Add(key)
	}
}

// queueAdopters queues the owners that may adopt p, when p is an orphan.
func (h *Handler[T, PT]) queueAdopters(p *corev1.Pod) {
	if ownership.ControllerOf(&p.ObjectMeta) != nil {
		return // controlled by someone else
	}
	for _, key := range h.Owners.MatchingKeys(&p.ObjectMeta) {
		h.Queue.Add(key)
	}
}
