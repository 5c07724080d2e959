// Package v1 holds the core ("" group, version v1) API types: Namespace, Node, Pod, PodTemplate, Service,
// Endpoints, ConfigMap, Secret, Event, ServiceAccount, PersistentVolume, PersistentVolumeClaim and Binding,
// with the JSON field names, omitempty behaviour and strategic-merge-patch struct tags (patchStrategy,
// patchMergeKey) of Kubernetes's k8s.io/api/core/v1, so that JSON written by kubectl decodes into them and
// k8s.io/apimachinery's strategicpatch works on them directly. Import it as corev1.
//
// It also holds the well-known constants (phases, condition types, taint keys, label and annotation names)
// and Default methods that fill in Kubernetes's defaults. It does not validate (see shared/validation) and
// does not parse selectors (see shared/labels and shared/fields). Quantities are
// k8s.io/apimachinery/pkg/api/resource.Quantity and port references k8s.io/apimachinery/pkg/util/intstr.
package v1
