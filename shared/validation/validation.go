package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	autoscalingv1 "github.com/skiffhq/skiff/shared/api/autoscaling/v1"
	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	policyv1 "github.com/skiffhq/skiff/shared/api/policy/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
)

var (
	metaPath   = field.NewPath("metadata")
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
)

// Validate checks an object for create. Unknown types are checked for metadata only.
func Validate(obj metav1.Object) field.ErrorList {
	errs := validateMeta(obj)
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = append(errs, validatePodSpec(&o.Spec, specPath, podOptions{})...)
	case *corev1.PodTemplate:
		errs = append(errs, validatePodTemplateSpec(&o.Template, field.NewPath("template"), podOptions{})...)
	case *corev1.Service:
		errs = append(errs, validateService(o)...)
	case *corev1.Endpoints:
		errs = append(errs, validateEndpoints(o)...)
	case *corev1.Namespace:
		errs = append(errs, validateNamespace(o)...)
	case *corev1.Node:
		errs = append(errs, validateNode(o)...)
	case *corev1.ConfigMap:
		errs = append(errs, validateConfigMap(o)...)
	case *corev1.Secret:
		errs = append(errs, validateSecret(o)...)
	case *corev1.Event:
		errs = append(errs, validateEvent(o)...)
	case *corev1.PersistentVolume:
		errs = append(errs, validatePersistentVolume(o)...)
	case *corev1.PersistentVolumeClaim:
		errs = append(errs, validatePVCSpec(&o.Spec, specPath)...)
	case *corev1.Binding:
		errs = append(errs, validateBinding(o)...)
	case *appsv1.Deployment:
		errs = append(errs, validateDeployment(o)...)
	case *appsv1.ReplicaSet:
		errs = append(errs, validateReplicaSet(o)...)
	case *appsv1.DaemonSet:
		errs = append(errs, validateDaemonSet(o)...)
	case *appsv1.StatefulSet:
		errs = append(errs, validateStatefulSet(o)...)
	case *appsv1.ControllerRevision:
		errs = append(errs, nonNegative(o.Revision, field.NewPath("revision"))...)
	case *batchv1.Job:
		errs = append(errs, validateJob(o)...)
	case *batchv1.CronJob:
		errs = append(errs, validateCronJob(o)...)
	case *coordinationv1.Lease:
		errs = append(errs, validateLease(o)...)
	case *discoveryv1.EndpointSlice:
		errs = append(errs, validateEndpointSlice(o)...)
	case *autoscalingv1.Scale:
		errs = append(errs, nonNegative(int64(o.Spec.Replicas), specPath.Child("replicas"))...)
	case *autoscalingv2.HorizontalPodAutoscaler:
		errs = append(errs, validateHPA(o)...)
	case *storagev1.StorageClass:
		errs = append(errs, validateStorageClass(o)...)
	case *schedulingv1.PriorityClass:
		errs = append(errs, validatePriorityClass(o)...)
	case *policyv1.PodDisruptionBudget:
		errs = append(errs, validatePDB(o)...)
	}
	return errs
}

// ValidateUpdate checks an update of oldObj to newObj: everything Validate checks, plus the fields
// Kubernetes makes immutable. Both objects must be of the same type.
func ValidateUpdate(newObj, oldObj metav1.Object) field.ErrorList {
	errs := validateMetaUpdate(newObj, oldObj)
	errs = append(errs, Validate(newObj)...)
	switch n := newObj.(type) {
	case *corev1.Pod:
		errs = append(errs, validatePodUpdate(n, oldObj.(*corev1.Pod))...)
	case *corev1.Service:
		errs = append(errs, validateServiceUpdate(n, oldObj.(*corev1.Service))...)
	case *corev1.Node:
		errs = append(errs, validateNodeUpdate(n, oldObj.(*corev1.Node))...)
	case *corev1.ConfigMap:
		o := oldObj.(*corev1.ConfigMap)
		errs = append(errs, validateImmutableData(o.Immutable, n.Immutable, equalJSON(n.Data, o.Data) && equalJSON(n.BinaryData, o.BinaryData))...)
	case *corev1.Secret:
		o := oldObj.(*corev1.Secret)
		errs = append(errs, immutable(n.Type, o.Type, field.NewPath("type"))...)
		errs = append(errs, validateImmutableData(o.Immutable, n.Immutable, equalJSON(n.Data, o.Data))...)
	case *corev1.PersistentVolumeClaim:
		errs = append(errs, validatePVCUpdate(n, oldObj.(*corev1.PersistentVolumeClaim))...)
	case *appsv1.Deployment:
		errs = append(errs, immutable(n.Spec.Selector, oldObj.(*appsv1.Deployment).Spec.Selector, specPath.Child("selector"))...)
	case *appsv1.ReplicaSet:
		errs = append(errs, immutable(n.Spec.Selector, oldObj.(*appsv1.ReplicaSet).Spec.Selector, specPath.Child("selector"))...)
	case *appsv1.DaemonSet:
		errs = append(errs, immutable(n.Spec.Selector, oldObj.(*appsv1.DaemonSet).Spec.Selector, specPath.Child("selector"))...)
	case *appsv1.StatefulSet:
		errs = append(errs, validateStatefulSetUpdate(n, oldObj.(*appsv1.StatefulSet))...)
	case *appsv1.ControllerRevision:
		errs = append(errs, immutable(n.Data, oldObj.(*appsv1.ControllerRevision).Data, field.NewPath("data"))...)
	case *batchv1.Job:
		errs = append(errs, validateJobUpdate(n, oldObj.(*batchv1.Job))...)
	case *discoveryv1.EndpointSlice:
		errs = append(errs, immutable(n.AddressType, oldObj.(*discoveryv1.EndpointSlice).AddressType, field.NewPath("addressType"))...)
	case *storagev1.StorageClass:
		errs = append(errs, validateStorageClassUpdate(n, oldObj.(*storagev1.StorageClass))...)
	case *schedulingv1.PriorityClass:
		o := oldObj.(*schedulingv1.PriorityClass)
		if n.Value != o.Value {
			errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
		}
		errs = append(errs, immutable(n.PreemptionPolicy, o.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	}
	return errs
}

// ValidateStatusUpdate checks a write to an object's /status subresource: metadata update rules and
// the status fields' own rules. (The apiserver keeps the old spec on a status write.)
func ValidateStatusUpdate(newObj, oldObj metav1.Object) field.ErrorList {
	errs := validateMetaUpdate(newObj, oldObj)
	switch n := newObj.(type) {
	case *corev1.Pod:
		errs = append(errs, validatePodStatus(&n.Status, statusPath)...)
	case *appsv1.Deployment:
		s := n.Status
		for name, v := range map[string]int32{"replicas": s.Replicas, "updatedReplicas": s.UpdatedReplicas,
			"readyReplicas": s.ReadyReplicas, "availableReplicas": s.AvailableReplicas, "unavailableReplicas": s.UnavailableReplicas} {
			errs = append(errs, nonNegative(int64(v), statusPath.Child(name))...)
		}
		errs = append(errs, nonNegative(s.ObservedGeneration, statusPath.Child("observedGeneration"))...)
	case *appsv1.ReplicaSet:
		s := n.Status
		for name, v := range map[string]int32{"replicas": s.Replicas, "fullyLabeledReplicas": s.FullyLabeledReplicas,
			"readyReplicas": s.ReadyReplicas, "availableReplicas": s.AvailableReplicas} {
			errs = append(errs, nonNegative(int64(v), statusPath.Child(name))...)
		}
		if s.ReadyReplicas > s.Replicas {
			errs = append(errs, field.Invalid(statusPath.Child("readyReplicas"), s.ReadyReplicas, "cannot be greater than status.replicas"))
		}
		if s.AvailableReplicas > s.ReadyReplicas {
			errs = append(errs, field.Invalid(statusPath.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
		}
	case *batchv1.Job:
		s := n.Status
		for name, v := range map[string]int32{"active": s.Active, "succeeded": s.Succeeded, "failed": s.Failed} {
			errs = append(errs, nonNegative(int64(v), statusPath.Child(name))...)
		}
	}
	return errs
}

// NewInvalid builds the 422 Status Kubernetes returns for a failed validation:
// `Pod "x" is invalid: spec.containers: Required value`, or `Deployment.apps "x" is invalid: [a, b]`
// for several errors, with one cause per error.
func NewInvalid(group, kind, name string, errs field.ErrorList) *metav1.Status {
	qualified := kind
	if group != "" {
		qualified = kind + "." + group
	}
	causes := make([]metav1.StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseType(e.Type), Message: e.ErrorBody(), Field: e.Field})
	}
	msg := fmt.Sprintf("%s %q is invalid", qualified, name)
	if agg := errs.ToAggregate(); agg != nil {
		msg += ": " + agg.Error()
	}
	st := metav1.NewStatus(422, metav1.StatusReasonInvalid, msg)
	st.Details = &metav1.StatusDetails{Name: name, Group: group, Kind: kind, Causes: causes}
	return st
}

// NewInvalidFor is NewInvalid with the group and kind taken from the object's resource.
func NewInvalidFor(obj metav1.Object, errs field.ErrorList) *metav1.Status {
	group, kind := "", obj.GetTypeMeta().Kind
	if r, ok := resources.ForObject(obj); ok {
		group, kind = r.Group, r.Kind
	}
	return NewInvalid(group, kind, obj.GetObjectMeta().Name, errs)
}

func nonNegative(v int64, p *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, v, "must be greater than or equal to 0")}
	}
	return nil
}

func positive(v int64, p *field.Path) field.ErrorList {
	if v <= 0 {
		return field.ErrorList{field.Invalid(p, v, "must be greater than zero")}
	}
	return nil
}

// immutable reports "field is immutable" when the values differ (semantically, through JSON).
func immutable(newVal, oldVal any, p *field.Path) field.ErrorList {
	if !equalJSON(newVal, oldVal) {
		return field.ErrorList{field.Invalid(p, newVal, "field is immutable")}
	}
	return nil
}

func validateImmutableData(oldImmutable, newImmutable *bool, same bool) field.ErrorList {
	if oldImmutable == nil || !*oldImmutable {
		return nil
	}
	var errs field.ErrorList
	if newImmutable == nil || !*newImmutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	if !same {
		errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
	}
	return errs
}

func supported[T ~string](v T, p *field.Path, values ...T) field.ErrorList {
	for _, s := range values {
		if v == s {
			return nil
		}
	}
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return field.ErrorList{field.NotSupported(p, v, values)}
}

func msgs(p *field.Path, value any, messages []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range messages {
		errs = append(errs, field.Invalid(p, value, m))
	}
	return errs
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}
