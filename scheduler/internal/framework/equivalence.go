package framework

import (
	"encoding/json"
	"hash/fnv"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// classSpec is everything about a pod that the filters and scores read. Two pods with equal classSpecs
// are interchangeable to the algorithm, which is what Borg's equivalence classes exploit.
type classSpec struct {
	Namespace   string                        `json:"ns"`
	Owner       string                        `json:"owner,omitempty"`
	Labels      map[string]string             `json:"labels,omitempty"`
	Priority    int32                         `json:"prio"`
	Containers  []classContainer              `json:"c,omitempty"`
	Init        []classContainer              `json:"i,omitempty"`
	Overhead    v1.ResourceList               `json:"o,omitempty"`
	PodLevel    *v1.ResourceRequirements      `json:"r,omitempty"`
	NodeName    string                        `json:"nn,omitempty"`
	Selector    map[string]string             `json:"sel,omitempty"`
	Affinity    *v1.Affinity                  `json:"aff,omitempty"`
	Tolerations []v1.Toleration               `json:"tol,omitempty"`
	Spread      []v1.TopologySpreadConstraint `json:"tsc,omitempty"`
}

type classContainer struct {
	Requests v1.ResourceList            `json:"req,omitempty"`
	Ports    []v1.ContainerPort         `json:"p,omitempty"`
	Restart  *v1.ContainerRestartPolicy `json:"rp,omitempty"`
}

// classKey hashes a pod's classSpec. Pods without a controller owner still share a class when their
// labels and spec are identical: nothing the algorithm reads can tell them apart.
func classKey(pod *v1.Pod, owner string, priority int32) uint64 {
	cs := classSpec{
		Namespace:   pod.Namespace,
		Owner:       owner,
		Labels:      pod.Labels,
		Priority:    priority,
		Overhead:    pod.Spec.Overhead,
		PodLevel:    pod.Spec.Resources,
		NodeName:    pod.Spec.NodeName,
		Selector:    pod.Spec.NodeSelector,
		Affinity:    pod.Spec.Affinity,
		Tolerations: pod.Spec.Tolerations,
		Spread:      pod.Spec.TopologySpreadConstraints,
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs.Containers = append(cs.Containers, classContainer{Requests: c.Resources.Requests, Ports: c.Ports})
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs.Init = append(cs.Init, classContainer{Requests: c.Resources.Requests, Restart: c.RestartPolicy})
	}
	b, err := json.Marshal(cs)
	h := fnv.New64a()
	if err != nil {
		// Cannot happen for API types; fall back to a class of one.
		_, _ = h.Write([]byte(pod.UID))
	}
	_, _ = h.Write(b)
	return h.Sum64()
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64() | 1<<63
}
