package registry

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Bind assigns a pod to a node (pods/binding): the binding's uid must match the pod's, a terminating,
// gated or already assigned pod is refused with 409, and on success spec.nodeName is set and the
// PodScheduled condition becomes True.
func (r *Registry) Bind(ctx context.Context, ns string, b *corev1.Binding) error {
	res := r.resource("", "pods")
	if res == nil {
		return apierrors.NewPathNotFound()
	}
	if b.Target.Name == "" {
		return apierrors.NewInvalid("", "Binding", b.Name, nil)
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		return apierrors.NewBadRequest(fmt.Sprintf("binding target kind must be Node, got %q", b.Target.Kind))
	}
	bindingGR := apierrors.GroupResource{Resource: "pods/binding"}
	_, err := r.Update(ctx, res, ns, b.Name, func(cur metav1.Object) (metav1.Object, error) {
		pod := cur.(*corev1.Pod)
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(bindingGR, b.Name,
				fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", b.UID, pod.UID))
		}
		if b.ResourceVersion != "" && b.ResourceVersion != pod.ResourceVersion {
			return nil, apierrors.NewConflict(bindingGR, b.Name, apierrors.ConflictModified)
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(bindingGR, b.Name, fmt.Sprintf("pod %s is being deleted, cannot be assigned to a host", b.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(bindingGR, b.Name, fmt.Sprintf("pod %s is already assigned to node %q", b.Name, pod.Spec.NodeName))
		}
		if len(pod.Spec.SchedulingGates) > 0 {
			return nil, apierrors.NewConflict(bindingGR, b.Name, fmt.Sprintf("pod %s has non-empty .spec.schedulingGates", b.Name))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(r.now().UTC())})
		return pod, nil
	}, UpdateOptions{Subresource: "binding"})
	return err
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			if pod.Status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = pod.Status.Conditions[i].LastTransitionTime
			}
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}
