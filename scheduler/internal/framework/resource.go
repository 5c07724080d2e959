package framework

import (
	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// The requests a pod is assumed to make for scoring when it names none, as Kubernetes does: without them a
// node full of best-effort pods would look empty to the allocation scores.
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of compute resources in integer units: milli-cores, bytes, a pod count and
// extended resources (GPUs, hugepages, ...) by name.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is only meaningful for a node's allocatable.
	AllowedPodNumber int64
	Scalar           map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) Resource {
	var r Resource
	r.AddList(rl)
	return r
}

// AddList adds every quantity of rl.
func (r *Resource) AddList(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if r.Scalar == nil {
				r.Scalar = map[v1.ResourceName]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
}

// Add adds o to r.
func (r *Resource) Add(o Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	r.AllowedPodNumber += o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[v1.ResourceName]int64{}
		}
		r.Scalar[k] += v
	}
}

// Sub subtracts o from r.
func (r *Resource) Sub(o Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	r.AllowedPodNumber -= o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[v1.ResourceName]int64{}
		}
		r.Scalar[k] -= v
	}
}

// SetMax raises each amount of r to at least o's.
func (r *Resource) SetMax(o Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	r.AllowedPodNumber = max(r.AllowedPodNumber, o.AllowedPodNumber)
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[v1.ResourceName]int64{}
		}
		if v > r.Scalar[k] {
			r.Scalar[k] = v
		}
	}
}

// Clone returns a deep copy.
func (r Resource) Clone() Resource {
	c := r
	if r.Scalar != nil {
		c.Scalar = make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			c.Scalar[k] = v
		}
	}
	return c
}

// Get returns the amount of one resource by name.
func (r Resource) Get(name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return r.MilliCPU
	case v1.ResourceMemory:
		return r.Memory
	case v1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case v1.ResourcePods:
		return r.AllowedPodNumber
	default:
		return r.Scalar[name]
	}
}

// PodRequests computes what a pod asks of its node, the way Kubernetes does: the larger of the sum of the
// app containers (plus sidecars, the init containers with restartPolicy Always, which run for the pod's
// lifetime) and the largest single init container (plus the sidecars started before it), then the pod
// overhead on top. Pod-level requests (spec.resources), when set, replace the container sum for the
// resources they name.
func PodRequests(pod *v1.Pod) Resource { return podRequests(pod, false) }

// NonZeroRequests is PodRequests with every container that requests no cpu or memory counted as asking
// for DefaultMilliCPURequest and DefaultMemoryRequest: the amounts the allocation scores use.
func NonZeroRequests(pod *v1.Pod) Resource { return podRequests(pod, true) }

func containerRequests(c *v1.Container, nonZero bool) Resource {
	r := NewResource(c.Resources.Requests)
	if nonZero {
		if r.MilliCPU == 0 {
			r.MilliCPU = DefaultMilliCPURequest
		}
		if r.Memory == 0 {
			r.Memory = DefaultMemoryRequest
		}
	}
	return r
}

func podRequests(pod *v1.Pod, nonZero bool) Resource {
	var reqs Resource
	for i := range pod.Spec.Containers {
		reqs.Add(containerRequests(&pod.Spec.Containers[i], nonZero))
	}
	var sidecars, initMax Resource
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cr := containerRequests(c, nonZero)
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			reqs.Add(cr)
			sidecars.Add(cr)
			initMax.SetMax(sidecars)
			continue
		}
		cr.Add(sidecars)
		initMax.SetMax(cr)
	}
	reqs.SetMax(initMax)
	if pod.Spec.Resources != nil && len(pod.Spec.Resources.Requests) > 0 {
		podLevel := NewResource(pod.Spec.Resources.Requests)
		for name := range pod.Spec.Resources.Requests {
			switch name {
			case v1.ResourceCPU:
				reqs.MilliCPU = podLevel.MilliCPU
			case v1.ResourceMemory:
				reqs.Memory = podLevel.Memory
			}
		}
	}
	reqs.AddList(pod.Spec.Overhead)
	reqs.AllowedPodNumber = 0
	return reqs
}
