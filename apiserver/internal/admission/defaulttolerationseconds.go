package admission

import (
	"context"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// defaultTolerationSeconds is Kubernetes's DefaultTolerationSeconds plugin: a new pod that does not
// already tolerate node.kubernetes.io/not-ready or node.kubernetes.io/unreachable with effect NoExecute
// (an empty key or effect tolerates everything) gets a toleration for it with tolerationSeconds
// (300 by default), so its pods are evicted 5 minutes after their node goes away.
type defaultTolerationSeconds struct {
	notReady, unreachable int64
}

func (d defaultTolerationSeconds) Admit(_ context.Context, a Attributes) error {
	if a.Operation != Create || a.Group != "" || a.Resource != "pods" || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	tolerates := func(key string) bool {
		for _, t := range pod.Spec.Tolerations {
			if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
				return true
			}
		}
		return false
	}
	notReady, unreachable := tolerates(corev1.TaintNodeNotReady), tolerates(corev1.TaintNodeUnreachable)
	if !notReady {
		s := d.notReady
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: corev1.TaintNodeNotReady,
			Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s})
	}
	if !unreachable {
		s := d.unreachable
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: corev1.TaintNodeUnreachable,
			Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s})
	}
	return nil
}
