// Package v1 holds the autoscaling/v1 API type Scale, the body of every /scale subresource. Import it as
// autoscalingv1. The HorizontalPodAutoscaler is served as autoscaling/v2 (package autoscaling/v2).
package v1

import (
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Scale is the replica count of a scalable resource (deployments/scale, replicasets/scale, ...).
type Scale struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ScaleSpec   `json:"spec,omitempty"`
	Status            ScaleStatus `json:"status,omitempty"`
}

// ScaleSpec is the desired replica count.
type ScaleSpec struct {
	Replicas int32 `json:"replicas,omitempty"`
}

// ScaleStatus is the observed replica count and the label selector of the pods, as a string.
type ScaleStatus struct {
	Replicas int32  `json:"replicas"`
	Selector string `json:"selector,omitempty"`
}
