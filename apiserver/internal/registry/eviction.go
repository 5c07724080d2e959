package registry

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	policyv1 "github.com/skiffhq/skiff/shared/api/policy/v1"
)

// Evict is pods/eviction: a graceful delete that a PodDisruptionBudget may refuse with 429. Pods that
// are not running (pending, finished or already terminating) are deleted without consulting budgets; a
// running pod covered by one budget is deleted only if the budget allows a disruption, which is then
// recorded in the budget's status (disruptionsAllowed-1, disruptedPods), as Kubernetes does.
func (r *Registry) Evict(ctx context.Context, ns, name string, opts DeleteOptions) error {
	pods := r.resource("", "pods")
	pdbs := r.resource("policy", "poddisruptionbudgets")
	for attempt := 0; ; attempt++ {
		obj, err := r.Get(ctx, pods, ns, name)
		if err != nil {
			return err
		}
		pod := obj.(*corev1.Pod)
		if opts.UID != "" && opts.UID != pod.UID {
			return apierrors.NewConflict(pods.GroupResource(), name,
				fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", opts.UID, pod.UID))
		}
		if pdbs == nil || pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
			_, _, err := r.Delete(ctx, pods, ns, name, opts)
			return err
		}
		budget, err := r.budgetFor(ctx, pdbs, pod)
		if err != nil || budget == nil {
			if err != nil {
				return err
			}
			_, _, err := r.Delete(ctx, pods, ns, name, opts)
			return err
		}
		if err := checkBudget(budget); err != nil {
			return err
		}
		if opts.DryRun {
			return nil
		}
		_, err = r.Update(ctx, pdbs, ns, budget.Name, func(cur metav1.Object) (metav1.Object, error) {
			b := cur.(*policyv1.PodDisruptionBudget)
			if b.ResourceVersion != budget.ResourceVersion {
				return nil, apierrors.NewConflict(pdbs.GroupResource(), b.Name, apierrors.ConflictModified)
			}
			b.Status.DisruptionsAllowed--
			if b.Status.DisruptedPods == nil {
				b.Status.DisruptedPods = map[string]metav1.Time{}
			}
			b.Status.DisruptedPods[pod.Name] = metav1.NewTime(r.now().UTC())
			return b, nil
		}, UpdateOptions{Subresource: "status"})
		if apierrors.IsConflict(err) && attempt < 5 {
			continue // the budget changed under us: decide again
		}
		if err != nil {
			return err
		}
		_, _, err = r.Delete(ctx, pods, ns, name, opts)
		return err
	}
}

// budgetFor returns the one budget whose selector matches the pod, nil if none; several is an error,
// as in Kubernetes.
func (r *Registry) budgetFor(ctx context.Context, pdbs *Resource, pod *corev1.Pod) (*policyv1.PodDisruptionBudget, error) {
	lr, err := r.List(ctx, pdbs, pod.Namespace, ListOptions{})
	if err != nil {
		return nil, err
	}
	var found []*policyv1.PodDisruptionBudget
	for _, obj := range lr.Items {
		b := obj.(*policyv1.PodDisruptionBudget)
		if b.Spec.Selector == nil {
			continue // a nil selector selects nothing
		}
		sel, err := labels.Parse(FormatLabelSelector(b.Spec.Selector))
		if err != nil {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	return nil, apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
}

// checkBudget refuses an eviction the budget does not allow (429, as Kubernetes).
func checkBudget(b *policyv1.PodDisruptionBudget) error {
	tooMany := func(cause string) error {
		st := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		st.Details.Causes = []metav1.StatusCause{{Type: "DisruptionBudget", Message: cause}}
		return st
	}
	if b.Status.ObservedGeneration < b.Generation {
		return tooMany(fmt.Sprintf("The disruption budget %s is still being processed by the server.", b.Name))
	}
	if b.Status.DisruptionsAllowed <= 0 {
		return tooMany(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", b.Name, b.Status.DesiredHealthy, b.Status.CurrentHealthy))
	}
	return nil
}
