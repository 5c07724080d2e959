package v2

import corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

// Default sets minReplicas 1 and, when no metric is given, a CPU utilization target of 80%.
func (h *HorizontalPodAutoscaler) Default() {
	if h.Spec.MinReplicas == nil {
		one := int32(1)
		h.Spec.MinReplicas = &one
	}
	if len(h.Spec.Metrics) == 0 {
		u := int32(80)
		h.Spec.Metrics = []MetricSpec{{
			Type: ResourceMetricSourceType,
			Resource: &ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: MetricTarget{Type: UtilizationMetricType, AverageUtilization: &u},
			},
		}}
	}
}
