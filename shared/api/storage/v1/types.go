// Package v1 holds the storage.k8s.io/v1 API type StorageClass with Kubernetes's JSON field names.
// Import it as storagev1. It holds types only; no provisioner is implied.
package v1

import (
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// StorageClass describes a class of dynamically provisioned storage (cluster-scoped).
type StorageClass struct {
	metav1.TypeMeta      `json:",inline"`
	metav1.ObjectMeta    `json:"metadata,omitempty"`
	Provisioner          string                                `json:"provisioner"`
	Parameters           map[string]string                     `json:"parameters,omitempty"`
	ReclaimPolicy        *corev1.PersistentVolumeReclaimPolicy `json:"reclaimPolicy,omitempty"`
	MountOptions         []string                              `json:"mountOptions,omitempty"`
	AllowVolumeExpansion *bool                                 `json:"allowVolumeExpansion,omitempty"`
	VolumeBindingMode    *VolumeBindingMode                    `json:"volumeBindingMode,omitempty"`
	AllowedTopologies    []corev1.TopologySelectorTerm         `json:"allowedTopologies,omitempty"`
}

// StorageClassList is a list of storage classes.
type StorageClassList = metav1.List[StorageClass]

// VolumeBindingMode is Immediate or WaitForFirstConsumer.
type VolumeBindingMode string

// The volume binding modes.
const (
	VolumeBindingImmediate            VolumeBindingMode = "Immediate"
	VolumeBindingWaitForFirstConsumer VolumeBindingMode = "WaitForFirstConsumer"
)

// IsDefaultStorageClassAnnotation marks the default storage class.
const IsDefaultStorageClassAnnotation = "storageclass.kubernetes.io/is-default-class"
