package v1

import corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

// Default sets reclaimPolicy Delete and volumeBindingMode Immediate.
func (sc *StorageClass) Default() {
	if sc.ReclaimPolicy == nil {
		p := corev1.PersistentVolumeReclaimDelete
		sc.ReclaimPolicy = &p
	}
	if sc.VolumeBindingMode == nil {
		m := VolumeBindingImmediate
		sc.VolumeBindingMode = &m
	}
}
