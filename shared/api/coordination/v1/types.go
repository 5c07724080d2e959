// Package v1 holds the coordination.k8s.io/v1 API type Lease, used for leader election and node
// heartbeats, with Kubernetes's JSON field names. Import it as coordinationv1. Leader election itself
// lives in shared/leaderelection.
package v1

import (
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Lease is a lock held by a holder for a duration and renewed periodically.
type Lease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              LeaseSpec `json:"spec,omitempty"`
}

// LeaseList is a list of leases.
type LeaseList = metav1.List[Lease]

// LeaseSpec is the state of a lease.
type LeaseSpec struct {
	HolderIdentity       *string           `json:"holderIdentity,omitempty"`
	LeaseDurationSeconds *int32            `json:"leaseDurationSeconds,omitempty"`
	AcquireTime          *metav1.MicroTime `json:"acquireTime,omitempty"`
	RenewTime            *metav1.MicroTime `json:"renewTime,omitempty"`
	LeaseTransitions     *int32            `json:"leaseTransitions,omitempty"`
	Strategy             *string           `json:"strategy,omitempty"`
	PreferredHolder      *string           `json:"preferredHolder,omitempty"`
}
