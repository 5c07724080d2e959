package v1

import corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

// Default sets preemptionPolicy PreemptLowerPriority.
func (pc *PriorityClass) Default() {
	if pc.PreemptionPolicy == nil {
		p := corev1.PreemptLowerPriority
		pc.PreemptionPolicy = &p
	}
}
