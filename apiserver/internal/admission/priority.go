package admission

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"
)

// SystemNodeCriticalPriority is the value of the built-in system-node-critical class.
const SystemNodeCriticalPriority = schedulingv1.SystemCriticalPriority + 1000

// SystemPriorityClasses are the classes the apiserver creates at start, as Kubernetes does.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	return []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: schedulingv1.SystemNodeCritical}, Value: SystemNodeCriticalPriority,
			Description: "Used for system critical pods that must not be moved from their current node."},
		{ObjectMeta: metav1.ObjectMeta{Name: schedulingv1.SystemClusterCritical}, Value: schedulingv1.SystemCriticalPriority,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
	}
}

// priority is Kubernetes's Priority plugin. A new pod gets spec.priority (and spec.preemptionPolicy)
// from the PriorityClass named in spec.priorityClassName, or from the globalDefault class (whose name it
// then takes), or 0 and PreemptLowerPriority when there is none; a class that does not exist, or a
// priority or preemptionPolicy the client set that differs from the class's, is 403 Forbidden. An
// update keeps the stored priority when the new object leaves it out. A second globalDefault
// PriorityClass is refused.
type priority struct {
	objects Objects
}

func (p priority) Admit(ctx context.Context, a Attributes) error {
	switch {
	case a.Group == "" && a.Resource == "pods" && a.Subresource == "":
		pod, ok := a.Object.(*corev1.Pod)
		if !ok {
			return nil
		}
		if a.Operation == Update {
			if old, ok := a.OldObject.(*corev1.Pod); ok {
				if pod.Spec.Priority == nil {
					pod.Spec.Priority = old.Spec.Priority
				}
				if pod.Spec.PreemptionPolicy == nil {
					pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
				}
			}
			return nil
		}
		return p.admitPod(ctx, a, pod)
	case a.Group == "scheduling.k8s.io" && a.Resource == "priorityclasses" && a.Subresource == "":
		pc, ok := a.Object.(*schedulingv1.PriorityClass)
		if !ok || !pc.GlobalDefault {
			return nil
		}
		def, err := p.globalDefault(ctx)
		if err != nil {
			return err
		}
		if def != nil && def.Name != pc.Name {
			return apierrors.NewForbidden(apierrors.GroupResource{Group: a.Group, Resource: a.Resource}, a.Name,
				fmt.Sprintf("PriorityClass %s is already marked as default. Only one default can exist", def.Name))
		}
	}
	return nil
}

func (p priority) admitPod(ctx context.Context, a Attributes, pod *corev1.Pod) error {
	forbidden := func(msg string) error {
		return apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, a.Name, msg)
	}
	var value int32
	policy := corev1.PreemptLowerPriority
	if pod.Spec.PriorityClassName == "" {
		def, err := p.globalDefault(ctx)
		if err != nil {
			return err
		}
		if def != nil {
			pod.Spec.PriorityClassName = def.Name
			value = def.Value
			if def.PreemptionPolicy != nil {
				policy = *def.PreemptionPolicy
			}
		}
	} else {
		obj, err := p.objects.Get(ctx, "scheduling.k8s.io", "v1", "priorityclasses", "", pod.Spec.PriorityClassName)
		if apierrors.IsNotFound(err) {
			return forbidden(fmt.Sprintf("no PriorityClass with name %s was found", pod.Spec.PriorityClassName))
		}
		if err != nil {
			return fmt.Errorf("failed to get PriorityClass with name %s: %w", pod.Spec.PriorityClassName, err)
		}
		pc, ok := obj.(*schedulingv1.PriorityClass)
		if !ok {
			return fmt.Errorf("PriorityClass %s has type %T", pod.Spec.PriorityClassName, obj)
		}
		value = pc.Value
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return forbidden(fmt.Sprintf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return forbidden(fmt.Sprintf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.PreemptionPolicy = &policy
	return nil
}

// globalDefault is the globalDefault class with the lowest value (several can exist after a race), or nil.
func (p priority) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	objs, err := p.objects.List(ctx, "scheduling.k8s.io", "v1", "priorityclasses", "")
	if err != nil {
		return nil, fmt.Errorf("failed to get default priority class: %w", err)
	}
	var def *schedulingv1.PriorityClass
	for _, o := range objs {
		pc, ok := o.(*schedulingv1.PriorityClass)
		if ok && pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def, nil
}
