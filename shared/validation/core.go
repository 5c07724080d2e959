package validation

import (
	"encoding/json"
	"fmt"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// MaxSecretSize and MaxConfigMapSize are Kubernetes's 1 MiB limits on a Secret's and a ConfigMap's data.
const (
	MaxSecretSize    = 1 << 20
	MaxConfigMapSize = 1 << 20
)

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	for i, f := range ns.Spec.Finalizers {
		fp := specPath.Child("finalizers").Index(i)
		errs = append(errs, msgs(fp, f, validation.IsQualifiedName(string(f)))...)
	}
	if ns.Status.Phase != "" {
		errs = append(errs, supported(ns.Status.Phase, statusPath.Child("phase"), corev1.NamespaceActive, corev1.NamespaceTerminating)...)
	}
	return errs
}

func validateNode(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	type taintKey struct {
		key    string
		effect corev1.TaintEffect
	}
	seen := map[taintKey]bool{}
	for i, t := range n.Spec.Taints {
		tp := specPath.Child("taints").Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, tp.Child("key"))...)
		errs = append(errs, msgs(tp.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
		errs = append(errs, supported(t.Effect, tp.Child("effect"), corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
		k := taintKey{t.Key, t.Effect}
		if seen[k] {
			errs = append(errs, field.Duplicate(tp, "taints must be unique by key and effect pair"))
		}
		seen[k] = true
	}
	if n.Spec.PodCIDR != "" {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("podCIDR"), n.Spec.PodCIDR)...)
	}
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("podCIDRs").Index(i), c)...)
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(specPath.Child("podCIDRs"), n.Spec.PodCIDRs, "first entry must match `podCIDR`"))
	}
	for name, rl := range map[string]corev1.ResourceList{"capacity": n.Status.Capacity, "allocatable": n.Status.Allocatable} {
		for k, q := range rl {
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(statusPath.Child(name).Key(string(k)), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	return errs
}

// validateNodeUpdate lets podCIDR(s) and providerID be set once, never changed.
func validateNodeUpdate(n, o *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if o.Spec.PodCIDR != "" && n.Spec.PodCIDR != o.Spec.PodCIDR {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDR"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if len(o.Spec.PodCIDRs) > 0 && !equalJSON(n.Spec.PodCIDRs, o.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if o.Spec.ProviderID != "" && n.Spec.ProviderID != o.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func validateDataKeys[V any](data map[string]V, p *field.Path, other map[string]bool, otherName string) field.ErrorList {
	var errs field.ErrorList
	for k := range data {
		errs = append(errs, msgs(p.Key(k), k, validation.IsConfigMapKey(k))...)
		if other[k] {
			errs = append(errs, field.Invalid(p.Key(k), k, "duplicate of key present in "+otherName))
		}
	}
	return errs
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	binary := map[string]bool{}
	size := 0
	for k, v := range cm.BinaryData {
		binary[k] = true
		size += len(v)
	}
	for _, v := range cm.Data {
		size += len(v)
	}
	errs := validateDataKeys(cm.Data, field.NewPath("data"), binary, "binaryData")
	errs = append(errs, validateDataKeys(cm.BinaryData, field.NewPath("binaryData"), nil, "")...)
	if size > MaxConfigMapSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", MaxConfigMapSize))
	}
	return errs
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	dp := field.NewPath("data")
	errs := validateDataKeys(s.Data, dp, nil, "")
	size := 0
	for _, v := range s.Data {
		size += len(v)
	}
	if size > MaxSecretSize {
		errs = append(errs, field.TooLong(dp, "", MaxSecretSize))
	}
	requireKey := func(key string) {
		if _, ok := s.Data[key]; !ok {
			errs = append(errs, field.Required(dp.Key(key), ""))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameAnnotation] == "" {
			errs = append(errs, field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameAnnotation), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireKey(".dockercfg")
		errs = append(errs, validateJSONKey(s.Data, ".dockercfg", dp)...)
	case corev1.SecretTypeDockerConfigJSON:
		requireKey(".dockerconfigjson")
		errs = append(errs, validateJSONKey(s.Data, ".dockerconfigjson", dp)...)
	case corev1.SecretTypeBasicAuth:
		_, user := s.Data["username"]
		_, pass := s.Data["password"]
		if !user && !pass {
			errs = append(errs, field.Required(dp.Key("username"), ""), field.Required(dp.Key("password"), ""))
		}
	case corev1.SecretTypeSSHAuth:
		requireKey("ssh-privatekey")
	case corev1.SecretTypeTLS:
		requireKey("tls.crt")
		requireKey("tls.key")
	}
	return errs
}

func validateJSONKey(data map[string][]byte, key string, p *field.Path) field.ErrorList {
	if v, ok := data[key]; ok && !json.Valid(v) {
		return field.ErrorList{field.Invalid(p.Key(key), "<secret contents redacted>", "invalid JSON")}
	}
	return nil
}

func validateEvent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	io := field.NewPath("involvedObject")
	if e.InvolvedObject.Namespace != "" && e.InvolvedObject.Namespace != e.Namespace {
		errs = append(errs, field.Invalid(io.Child("namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
	}
	if e.EventTime.IsZero() {
		return errs
	}
	// New-style events (with eventTime) have the events.k8s.io/v1 requirements.
	if e.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	} else {
		errs = append(errs, msgs(field.NewPath("reportingController"), e.ReportingController, validation.IsQualifiedName(e.ReportingController))...)
	}
	if e.ReportingInstance == "" {
		errs = append(errs, field.Required(field.NewPath("reportingInstance"), ""))
	}
	if e.Action == "" {
		errs = append(errs, field.Required(field.NewPath("action"), ""))
	}
	if e.Reason == "" {
		errs = append(errs, field.Required(field.NewPath("reason"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), e.Type, fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	return errs
}

var accessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(modes) == 0 {
		errs = append(errs, field.Required(p, "at least 1 access mode is required"))
	}
	for _, m := range modes {
		errs = append(errs, supported(m, p, accessModes...)...)
	}
	return errs
}

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	s := &pv.Spec
	errs := validateAccessModes(s.AccessModes, specPath.Child("accessModes"))
	if len(s.Capacity) == 0 {
		errs = append(errs, field.Required(specPath.Child("capacity"), ""))
	} else if q, ok := s.Capacity[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.NotSupported(specPath.Child("capacity"), s.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	} else {
		errs = append(errs, quantityPositive(q, specPath.Child("capacity").Key(string(corev1.ResourceStorage)))...)
	}
	n := 0
	for _, set := range []bool{s.HostPath != nil, s.NFS != nil, s.Local != nil, s.CSI != nil} {
		if set {
			n++
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(specPath, "must specify a volume type"))
	} else if n > 1 {
		errs = append(errs, field.Forbidden(specPath, "may not specify more than 1 volume type"))
	}
	if s.HostPath != nil && s.HostPath.Path == "" {
		errs = append(errs, field.Required(specPath.Child("hostPath", "path"), ""))
	}
	if s.PersistentVolumeReclaimPolicy != "" {
		errs = append(errs, supported(s.PersistentVolumeReclaimPolicy, specPath.Child("persistentVolumeReclaimPolicy"),
			corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain)...)
	}
	if s.StorageClassName != "" {
		errs = append(errs, msgs(specPath.Child("storageClassName"), s.StorageClassName, validation.IsDNS1123Subdomain(s.StorageClassName))...)
	}
	return errs
}

func validatePVCSpec(s *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(s.AccessModes, p.Child("accessModes"))
	errs = append(errs, validateLabelSelector(s.Selector, p.Child("selector"))...)
	if q, ok := s.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(p.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	} else {
		errs = append(errs, quantityPositive(q, p.Child("resources").Key(string(corev1.ResourceStorage)))...)
	}
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		errs = append(errs, msgs(p.Child("storageClassName"), *s.StorageClassName, validation.IsDNS1123Subdomain(*s.StorageClassName))...)
	}
	return errs
}

// validatePVCUpdate allows only growing the storage request and setting volumeName on a pending claim.
func validatePVCUpdate(n, o *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	mutable := o.Spec
	mutable.Resources = n.Spec.Resources
	mutable.VolumeAttributesClassName = n.Spec.VolumeAttributesClassName
	if o.Spec.VolumeName == "" {
		mutable.VolumeName = n.Spec.VolumeName
	}
	if !equalJSON(mutable, n.Spec) {
		errs = append(errs, field.Forbidden(specPath, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	oq, nq := o.Spec.Resources.Requests[corev1.ResourceStorage], n.Spec.Resources.Requests[corev1.ResourceStorage]
	if nq.Cmp(oq) < 0 {
		errs = append(errs, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than previous value"))
	}
	return errs
}

func validateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	return errs
}
