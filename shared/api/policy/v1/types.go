// Package v1 holds the policy/v1 API types Eviction and PodDisruptionBudget with Kubernetes's JSON field
// names. Import it as policyv1.
package v1

import (
	"k8s.io/apimachinery/pkg/util/intstr"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Eviction is the body of POST pods/<name>/eviction: a graceful delete that honours disruption budgets.
type Eviction struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	DeleteOptions     *metav1.DeleteOptions `json:"deleteOptions,omitempty"`
}

// PodDisruptionBudget limits voluntary disruptions of a set of pods.
type PodDisruptionBudget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PodDisruptionBudgetSpec   `json:"spec,omitempty"`
	Status            PodDisruptionBudgetStatus `json:"status,omitempty"`
}

// PodDisruptionBudgetList is a list of disruption budgets.
type PodDisruptionBudgetList = metav1.List[PodDisruptionBudget]

// PodDisruptionBudgetSpec is the desired budget.
type PodDisruptionBudgetSpec struct {
	MinAvailable               *intstr.IntOrString             `json:"minAvailable,omitempty"`
	Selector                   *metav1.LabelSelector           `json:"selector,omitempty" patchStrategy:"replace"`
	MaxUnavailable             *intstr.IntOrString             `json:"maxUnavailable,omitempty"`
	UnhealthyPodEvictionPolicy *UnhealthyPodEvictionPolicyType `json:"unhealthyPodEvictionPolicy,omitempty"`
}

// UnhealthyPodEvictionPolicyType is IfHealthyBudget or AlwaysAllow.
type UnhealthyPodEvictionPolicyType string

// The unhealthy pod eviction policies.
const (
	IfHealthyBudget UnhealthyPodEvictionPolicyType = "IfHealthyBudget"
	AlwaysAllow     UnhealthyPodEvictionPolicyType = "AlwaysAllow"
)

// PodDisruptionBudgetStatus is the observed state of a budget.
type PodDisruptionBudgetStatus struct {
	ObservedGeneration int64                  `json:"observedGeneration,omitempty"`
	DisruptedPods      map[string]metav1.Time `json:"disruptedPods,omitempty"`
	DisruptionsAllowed int32                  `json:"disruptionsAllowed"`
	CurrentHealthy     int32                  `json:"currentHealthy"`
	DesiredHealthy     int32                  `json:"desiredHealthy"`
	ExpectedPods       int32                  `json:"expectedPods"`
	Conditions         []metav1.Condition     `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// DisruptionAllowedCondition is the budget's condition type.
const DisruptionAllowedCondition = "DisruptionAllowed"
