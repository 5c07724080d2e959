// Package v1 holds the scheduling.k8s.io/v1 API type PriorityClass with Kubernetes's JSON field names.
// Import it as schedulingv1.
package v1

import (
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// PriorityClass maps a class name to a pod priority (cluster-scoped).
type PriorityClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Value             int32                    `json:"value"`
	GlobalDefault     bool                     `json:"globalDefault,omitempty"`
	Description       string                   `json:"description,omitempty"`
	PreemptionPolicy  *corev1.PreemptionPolicy `json:"preemptionPolicy,omitempty"`
}

// PriorityClassList is a list of priority classes.
type PriorityClassList = metav1.List[PriorityClass]

// The built-in priority classes and their values.
const (
	SystemClusterCritical              = "system-cluster-critical"
	SystemNodeCritical                 = "system-node-critical"
	SystemCriticalPriority       int32 = 2000000000
	HighestUserDefinablePriority int32 = 1000000000
)
