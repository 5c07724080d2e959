package admission

import (
	"context"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// DefaultServiceAccount is the account pods run as when they name none.
const DefaultServiceAccount = "default"

// serviceAccount is Kubernetes's ServiceAccount plugin without the token volume: a new pod with no
// spec.serviceAccountName gets "default" (mirror pods are left alone). Unlike Kubernetes it does not
// refuse a pod whose account does not exist yet: the controller-manager creates "default" in each
// namespace asynchronously, and Skiff has no tokens for which the account must exist.
type serviceAccount struct{}

func (serviceAccount) Admit(_ context.Context, a Attributes) error {
	if a.Operation != Create || a.Group != "" || a.Resource != "pods" || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotation]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = pod.Spec.DeprecatedServiceAccount
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccount
	}
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	return nil
}
