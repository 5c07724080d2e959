package endpoints

import (
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
)

// PodRouter maps pod changes to the services that select the pod; both endpoint controllers use it.
type PodRouter struct {
	Services controller.Store[corev1.Service]
	Queues   []controller.Queue
}

func (r *PodRouter) queueFor(p *corev1.Pod) {
	for _, svc := range r.Services.ByIndex(controller.IndexNamespace, p.Namespace) {
		if serviceSelects(svc, p.Labels) {
			k := controller.KeyOf(&svc.ObjectMeta)
			for _, q := range r.Queues {
				q.Add(k)
			}
		}
	}
}

// OnPodAdd queues the services selecting the pod.
func (r *PodRouter) OnPodAdd(p *corev1.Pod) { r.queueFor(p) }

// OnPodDelete queues the services selecting the pod.
func (r *PodRouter) OnPodDelete(p *corev1.Pod) { r.queueFor(p) }

// OnPodUpdate queues the services selecting the old or the new pod when something endpoints show
// changed.
func (r *PodRouter) OnPodUpdate(old, cur *corev1.Pod) {
	if !relevantChange(old, cur) {
		return
	}
	r.queueFor(cur)
	if !labelsEqual(old.Labels, cur.Labels) {
		r.queueFor(old)
	}
}

func relevantChange(old, cur *corev1.Pod) bool {
	return old.Status.PodIP != cur.Status.PodIP ||
		podstate.IsReady(old) != podstate.IsReady(cur) ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Status.Phase != cur.Status.Phase ||
		old.Spec.NodeName != cur.Spec.NodeName ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain ||
		!labelsEqual(old.Labels, cur.Labels)
}

// SliceServiceQueue queues the owning service of a slice that changed (repairs edits and deletes).
func SliceServiceQueue(q controller.Queue) func(s *discoveryv1.EndpointSlice) {
	return func(s *discoveryv1.EndpointSlice) {
		if s.Labels[discoveryv1.LabelManagedBy] != ManagedBy {
			return
		}
		if n, ok := s.Labels[discoveryv1.LabelServiceName]; ok {
			q.Add(s.Namespace + "/" + n)
		}
	}
}
