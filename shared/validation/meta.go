package validation

import (
	"bytes"
	"encoding/json"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	k8smetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
)

// toK8sMeta converts Skiff's metadata to apimachinery's, so apimachinery's own metadata rules apply.
func toK8sMeta(m *metav1.ObjectMeta) *k8smetav1.ObjectMeta {
	out := &k8smetav1.ObjectMeta{
		Name:                       m.Name,
		GenerateName:               m.GenerateName,
		Namespace:                  m.Namespace,
		UID:                        types.UID(m.UID),
		ResourceVersion:            m.ResourceVersion,
		Generation:                 m.Generation,
		CreationTimestamp:          k8smetav1.Time{Time: m.CreationTimestamp.Time},
		DeletionGracePeriodSeconds: m.DeletionGracePeriodSeconds,
		Labels:                     m.Labels,
		Annotations:                m.Annotations,
		Finalizers:                 m.Finalizers,
	}
	if m.DeletionTimestamp != nil {
		out.DeletionTimestamp = &k8smetav1.Time{Time: m.DeletionTimestamp.Time}
	}
	for _, r := range m.OwnerReferences {
		out.OwnerReferences = append(out.OwnerReferences, k8smetav1.OwnerReference{
			APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: types.UID(r.UID),
			Controller: r.Controller, BlockOwnerDeletion: r.BlockOwnerDeletion,
		})
	}
	return out
}

// nameFunc is the name rule of each kind, as Kubernetes has it: DNS-1123 label for namespaces,
// DNS-1035 label for services, path segment for autoscalers, DNS-1123 subdomain for the rest.
func nameFunc(obj metav1.Object) apimachineryvalidation.ValidateNameFunc {
	switch obj.(type) {
	case *corev1.Namespace:
		return apimachineryvalidation.NameIsDNSLabel
	case *corev1.Service:
		return apimachineryvalidation.NameIsDNS1035Label
	case *autoscalingv2.HorizontalPodAutoscaler:
		return path.ValidatePathSegmentName
	case *batchv1.CronJob:
		return func(name string, prefix bool) []string {
			msgs := apimachineryvalidation.NameIsDNSSubdomain(name, prefix)
			if !prefix && len(name) > 52 {
				msgs = append(msgs, "must be no more than 52 characters")
			}
			return msgs
		}
	}
	return apimachineryvalidation.NameIsDNSSubdomain
}

func namespaced(obj metav1.Object) bool {
	if r, ok := resources.ForObject(obj); ok {
		return r.Namespaced
	}
	return obj.GetObjectMeta().Namespace != ""
}

func validateMeta(obj metav1.Object) field.ErrorList {
	return apimachineryvalidation.ValidateObjectMeta(toK8sMeta(obj.GetObjectMeta()), namespaced(obj), nameFunc(obj), metaPath)
}

// validateMetaUpdate applies apimachinery's update rules (name, namespace, uid, creationTimestamp and
// deletion fields are immutable). An update without resourceVersion is unconditional: like
// kube-apiserver, it is checked as if it carried the stored object's resourceVersion.
func validateMetaUpdate(newObj, oldObj metav1.Object) field.ErrorList {
	n, o := toK8sMeta(newObj.GetObjectMeta()), toK8sMeta(oldObj.GetObjectMeta())
	if n.ResourceVersion == "" {
		n.ResourceVersion = o.ResourceVersion
	}
	if n.ResourceVersion == "" {
		// Neither carries one (objects built in memory): nothing to compare.
		n.ResourceVersion, o.ResourceVersion = "0", "0"
	}
	return apimachineryvalidation.ValidateObjectMetaUpdate(n, o, metaPath)
}

// validateObjectMetaOfTemplate checks the metadata of an embedded template (pod template, claim
// template): labels and annotations only; name and namespace are not required.
func validateTemplateMeta(m *metav1.ObjectMeta, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(m.Labels, p.Child("labels"))
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(m.Annotations, p.Child("annotations"))...)
	return errs
}

func toK8sSelector(s *metav1.LabelSelector) *k8smetav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &k8smetav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, r := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, k8smetav1.LabelSelectorRequirement{
			Key: r.Key, Operator: k8smetav1.LabelSelectorOperator(r.Operator), Values: r.Values,
		})
	}
	return out
}

func validateLabelSelector(s *metav1.LabelSelector, p *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(toK8sSelector(s), metav1validation.LabelSelectorValidationOptions{}, p)
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
