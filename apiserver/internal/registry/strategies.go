package registry

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// protectedNamespaces may not be deleted.
var protectedNamespaces = []string{"default", "kube-system", "kube-public"}

// attachStrategy gives each resource its Kubernetes-specific rules.
func (r *Registry) attachStrategy(res *Resource) {
	s := &res.strategy
	switch res.Group + "/" + res.Plural {
	case "/pods":
		s.prepareForCreate = func(obj metav1.Object) {
			if p, ok := obj.(*corev1.Pod); ok {
				p.Status.Phase = corev1.PodPending
			}
		}
		s.gracePeriod = podGracePeriod
		s.validateCreate = func(obj metav1.Object) field.ErrorList {
			if p, ok := obj.(*corev1.Pod); ok {
				return validateMirrorPodCreate(p)
			}
			return nil
		}
		s.validateUpdate = func(obj, old metav1.Object) field.ErrorList {
			p, ok1 := obj.(*corev1.Pod)
			op, ok2 := old.(*corev1.Pod)
			if !ok1 || !ok2 {
				return nil
			}
			return append(validateMirrorPodUpdate(p, op), validateMirrorPodCreate(p)...)
		}
	case "/nodes":
		s.keepStatusOnCreate = true
	case "/namespaces":
		s.noGeneration = true
		s.prepareForCreate = func(obj metav1.Object) {
			ns, ok := obj.(*corev1.Namespace)
			if !ok {
				return
			}
			if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
			}
			ns.Status.Phase = corev1.NamespaceActive
		}
		s.prepareForUpdate = func(obj, old metav1.Object, sub string) {
			ns, ok1 := obj.(*corev1.Namespace)
			ons, ok2 := old.(*corev1.Namespace)
			if !ok1 || !ok2 {
				return
			}
			if sub == "" {
				// spec.finalizers is written through namespaces/{name}/finalize only.
				ns.Spec.Finalizers = ons.Spec.Finalizers
			}
			if ons.DeletionTimestamp != nil {
				ns.Status.Phase = corev1.NamespaceTerminating
			}
		}
		s.markDeleting = func(obj metav1.Object) {
			if ns, ok := obj.(*corev1.Namespace); ok {
				ns.Status.Phase = corev1.NamespaceTerminating
			}
		}
		s.held = func(obj metav1.Object) bool {
			ns, ok := obj.(*corev1.Namespace)
			return ok && len(ns.Spec.Finalizers) > 0
		}
		s.checkDelete = func(obj metav1.Object) error {
			name := obj.GetObjectMeta().Name
			if slices.Contains(protectedNamespaces, name) {
				return apierrors.NewForbidden(res.GroupResource(), name, "this namespace may not be deleted")
			}
			return nil
		}
	case "/services":
		r.attachServiceStrategy(res)
	case "apps/deployments":
		s.annotationsBumpGeneration = true
		s.validateUpdate = func(obj, old metav1.Object) field.ErrorList {
			d, ok1 := obj.(*appsv1.Deployment)
			od, ok2 := old.(*appsv1.Deployment)
			if !ok1 || !ok2 || selectorsEqual(d.Spec.Selector, od.Spec.Selector) {
				return nil
			}
			return field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), d.Spec.Selector, "field is immutable")}
		}
	case "batch/jobs":
		s.prepareForCreate = func(obj metav1.Object) {
			if j, ok := obj.(*batchv1.Job); ok {
				generateJobSelector(j)
			}
		}
		s.validateCreate = func(obj metav1.Object) field.ErrorList {
			if j, ok := obj.(*batchv1.Job); ok {
				return validateGeneratedSelector(j)
			}
			return nil
		}
	case "apps/replicasets":
		s.validateUpdate = func(obj, old metav1.Object) field.ErrorList {
			d, ok1 := obj.(*appsv1.ReplicaSet)
			od, ok2 := old.(*appsv1.ReplicaSet)
			if !ok1 || !ok2 || selectorsEqual(d.Spec.Selector, od.Spec.Selector) {
				return nil
			}
			return field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), d.Spec.Selector, "field is immutable")}
		}
	}
}

func selectorsEqual(a, b *metav1.LabelSelector) bool {
	return fmt.Sprintf("%v", normSelector(a)) == fmt.Sprintf("%v", normSelector(b))
}

func normSelector(s *metav1.LabelSelector) any {
	if s == nil {
		return nil
	}
	return *s
}

// namespacePhase reads a namespace's status.phase.
func namespacePhase(obj metav1.Object) string {
	if ns, ok := obj.(*corev1.Namespace); ok {
		return string(ns.Status.Phase)
	}
	return ""
}

// podGracePeriod follows Kubernetes: the requested period, else spec.terminationGracePeriodSeconds,
// else 30 s; 0 for a pod that never reached a node or has already finished.
func podGracePeriod(obj metav1.Object, requested *int64) int64 {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	grace := corev1.DefaultTerminationGracePeriodSeconds
	if p.Spec.TerminationGracePeriodSeconds != nil {
		grace = *p.Spec.TerminationGracePeriodSeconds
	}
	if requested != nil {
		grace = *requested
	}
	if grace < 0 {
		grace = 0
	}
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return 0
	}
	return grace
}

var mirrorAnnotationPath = field.NewPath("metadata", "annotations").Key(corev1.MirrorPodAnnotation)

// validateMirrorPodCreate is Kubernetes's rule for mirror pods (the API view of a node's static pods):
// they are bound to their node from the start.
func validateMirrorPodCreate(p *corev1.Pod) field.ErrorList {
	if v, mirror := p.Annotations[corev1.MirrorPodAnnotation]; mirror && p.Spec.NodeName == "" {
		return field.ErrorList{field.Invalid(mirrorAnnotationPath, v, "must set spec.nodeName if mirror pod annotation is set")}
	}
	return nil
}

// validateMirrorPodUpdate keeps a pod's mirror annotation as it was created: an update may neither add,
// change nor remove it (so a pod cannot become, or stop being, a mirror pod). The spec of a mirror pod
// is held by the general pod update rules, as in Kubernetes.
func validateMirrorPodUpdate(p, old *corev1.Pod) field.ErrorList {
	nv, nok := p.Annotations[corev1.MirrorPodAnnotation]
	ov, ook := old.Annotations[corev1.MirrorPodAnnotation]
	switch {
	case ook && (!nok || nv != ov):
		return field.ErrorList{field.Forbidden(mirrorAnnotationPath, "may not remove or update mirror pod annotation")}
	case nok && !ook:
		return field.ErrorList{field.Forbidden(mirrorAnnotationPath, "may not add mirror pod annotation")}
	}
	return nil
}
