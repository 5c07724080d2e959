package validation

import (
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/labels"
)

var workloadPod = podOptions{restartPolicies: []corev1.RestartPolicy{corev1.RestartPolicyAlways}, forbidActiveDeadline: true}

// validateSelectorAndTemplate checks the rule every workload shares: a required, non-empty selector
// that matches the template's labels.
func validateSelectorAndTemplate(sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, kind string) field.ErrorList {
	var errs field.ErrorList
	sp := specPath.Child("selector")
	if sel == nil {
		errs = append(errs, field.Required(sp, ""))
		return errs
	}
	errs = append(errs, validateLabelSelector(sel, sp)...)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(sp, sel, "empty selector is invalid for "+kind))
	}
	if s, err := labels.FromLabelSelector(sel); err == nil && !s.Empty() && !s.Matches(labels.Set(tmpl.Labels)) {
		errs = append(errs, field.Invalid(specPath.Child("template", "metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

func validateReplicas(r *int32, p *field.Path) field.ErrorList {
	if r != nil {
		return nonNegative(int64(*r), p)
	}
	return nil
}

// validateIntOrPercent checks a count or percentage: non-negative, a percentage at most 100%.
func validateIntOrPercent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.Int:
		return nonNegative(int64(v.IntVal), p)
	default:
		if m := validation.IsValidPercent(v.StrVal); len(m) > 0 {
			return field.ErrorList{field.Invalid(p, v.StrVal, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")}
		}
		n, _ := intstr.GetScaledValueFromIntOrPercent(v, 100, false)
		if n > 100 {
			return field.ErrorList{field.Invalid(p, v.StrVal, "must not be greater than 100%")}
		}
		if n < 0 {
			return field.ErrorList{field.Invalid(p, v.StrVal, "must be greater than or equal to 0")}
		}
	}
	return nil
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return true
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, 100, false)
	return err == nil && n == 0
}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	s := &d.Spec
	errs := validateReplicas(s.Replicas, specPath.Child("replicas"))
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, "deployment")...)
	errs = append(errs, validatePodTemplateSpec(&s.Template, specPath.Child("template"), workloadPod)...)
	stp := specPath.Child("strategy")
	errs = append(errs, supported(s.Strategy.Type, stp.Child("type"), appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType)...)
	switch s.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(stp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if ru := s.Strategy.RollingUpdate; ru != nil {
			rp := stp.Child("rollingUpdate")
			errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
			if isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
			}
		}
	}
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.RevisionHistoryLimit), specPath.Child("revisionHistoryLimit"))...)
	}
	if s.ProgressDeadlineSeconds != nil {
		pd := specPath.Child("progressDeadlineSeconds")
		errs = append(errs, nonNegative(int64(*s.ProgressDeadlineSeconds), pd)...)
		if *s.ProgressDeadlineSeconds <= s.MinReadySeconds {
			errs = append(errs, field.Invalid(pd, *s.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	s := &rs.Spec
	errs := validateReplicas(s.Replicas, specPath.Child("replicas"))
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, "deployment")...)
	errs = append(errs, validatePodTemplateSpec(&s.Template, specPath.Child("template"), workloadPod)...)
	return errs
}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	s := &ds.Spec
	errs := validateSelectorAndTemplate(s.Selector, &s.Template, "daemonset")
	errs = append(errs, validatePodTemplateSpec(&s.Template, specPath.Child("template"), workloadPod)...)
	up := specPath.Child("updateStrategy")
	errs = append(errs, supported(s.UpdateStrategy.Type, up.Child("type"), appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType)...)
	if ru := s.UpdateStrategy.RollingUpdate; s.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && ru != nil {
		rp := up.Child("rollingUpdate")
		errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
		if isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		if !isZero(ru.MaxUnavailable) && !isZero(ru.MaxSurge) {
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		}
	}
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.RevisionHistoryLimit), specPath.Child("revisionHistoryLimit"))...)
	}
	return errs
}

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	s := &ss.Spec
	errs := validateReplicas(s.Replicas, specPath.Child("replicas"))
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, "statefulset")...)
	errs = append(errs, validatePodTemplateSpec(&s.Template, specPath.Child("template"), workloadPod)...)
	errs = append(errs, supported(s.PodManagementPolicy, specPath.Child("podManagementPolicy"), appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)...)
	up := specPath.Child("updateStrategy")
	errs = append(errs, supported(s.UpdateStrategy.Type, up.Child("type"), appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)...)
	if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
		if s.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate"), ru, "only allowed for updateStrategy 'RollingUpdate'"))
		}
		if ru.Partition != nil {
			errs = append(errs, nonNegative(int64(*ru.Partition), up.Child("rollingUpdate", "partition"))...)
		}
	}
	if s.ServiceName != "" {
		errs = append(errs, msgs(specPath.Child("serviceName"), s.ServiceName, validation.IsDNS1123Label(s.ServiceName))...)
	}
	for i := range s.VolumeClaimTemplates {
		vp := specPath.Child("volumeClaimTemplates").Index(i)
		vc := &s.VolumeClaimTemplates[i]
		errs = append(errs, msgs(vp.Child("metadata", "name"), vc.Name, validation.IsDNS1123Label(vc.Name))...)
		errs = append(errs, validatePVCSpec(&vc.Spec, vp.Child("spec"))...)
	}
	if s.Ordinals != nil {
		errs = append(errs, nonNegative(int64(s.Ordinals.Start), specPath.Child("ordinals", "start"))...)
	}
	return errs
}

// validateStatefulSetUpdate allows only replicas, ordinals, template, updateStrategy,
// persistentVolumeClaimRetentionPolicy and minReadySeconds to change.
func validateStatefulSetUpdate(n, o *appsv1.StatefulSet) field.ErrorList {
	mutable := o.Spec
	mutable.Replicas = n.Spec.Replicas
	mutable.Ordinals = n.Spec.Ordinals
	mutable.Template = n.Spec.Template
	mutable.UpdateStrategy = n.Spec.UpdateStrategy
	mutable.PersistentVolumeClaimRetentionPolicy = n.Spec.PersistentVolumeClaimRetentionPolicy
	mutable.MinReadySeconds = n.Spec.MinReadySeconds
	mutable.RevisionHistoryLimit = n.Spec.RevisionHistoryLimit
	if !equalJSON(mutable, n.Spec) {
		return field.ErrorList{field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', "+
			"'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
	}
	return nil
}
