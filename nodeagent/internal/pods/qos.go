package pods

import (
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// QOSClass computes the pod's quality-of-service class as Kubernetes does: Guaranteed when every
// container (init containers included) has cpu and memory limits equal to its requests, BestEffort when
// no container has any cpu or memory request or limit, Burstable otherwise.
func QOSClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	all := append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...)
	any, guaranteed := false, true
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				any = true
			}
			if !hasLim || lim.IsZero() {
				guaranteed = false
				continue
			}
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}

// OOMScoreAdj is the oom_score_adj of a container, as the kubelet sets it: -997 for Guaranteed, 1000 for
// BestEffort, and for Burstable 1000 minus the container's share of node memory, kept within 2..999.
func OOMScoreAdj(qos corev1.PodQOSClass, c *corev1.Container, nodeMemory int64) int {
	switch qos {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	req := c.Resources.Requests.Memory().Value()
	if req == 0 {
		req = c.Resources.Limits.Memory().Value()
	}
	if nodeMemory <= 0 {
		return 999
	}
	adj := 1000 - int(1000*req/nodeMemory)
	if adj < 2 {
		adj = 2
	}
	if adj >= 1000 {
		adj = 999
	}
	return adj
}

// cgroupResources maps a container's cpu and memory to cgroup values: shares from the cpu request
// (limit when no request; 2 when neither, as the kubelet does), a CFS quota from the cpu limit over a
// 100ms period, and the memory limit.
func cgroupResources(c *corev1.Container) (shares uint64, quota int64, memory int64) {
	reqCPU := c.Resources.Requests.Cpu().MilliValue()
	limCPU := c.Resources.Limits.Cpu().MilliValue()
	if reqCPU == 0 {
		reqCPU = limCPU
	}
	shares = uint64(reqCPU) * 1024 / 1000
	if shares < 2 {
		shares = 2
	}
	if limCPU > 0 {
		quota = limCPU * 100000 / 1000
		if quota < 1000 {
			quota = 1000
		}
	}
	memory = c.Resources.Limits.Memory().Value()
	return shares, quota, memory
}
