package framework

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// node builds a node with cpu (cores, e.g. "4"), memory ("8Gi") and a pod capacity.
func node(name, cpu, mem string, pods int64, opts ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + name, Labels: map[string]string{v1.LabelHostname: name}}}
	n.Status.Allocatable = v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(cpu),
		v1.ResourceMemory: resource.MustParse(mem),
		v1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
	}
	n.Status.Capacity = n.Status.Allocatable
	for _, o := range opts {
		o(n)
	}
	return n
}

func withLabels(kv ...string) func(*v1.Node) {
	return func(n *v1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect v1.TaintEffect) func(*v1.Node) {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func cordoned(n *v1.Node) { n.Spec.Unschedulable = true }

var podSeq int

// pod builds a pod in namespace "default" with one container requesting cpu and memory ("" for none).
func pod(name, cpu, mem string, opts ...func(*v1.Pod)) *v1.Pod {
	podSeq++
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "default", UID: fmt.Sprintf("uid-%s-%d", name, podSeq),
		CreationTimestamp: metav1.Time{Time: time.Unix(int64(1000+podSeq), 0)},
	}}
	req := v1.ResourceList{}
	if cpu != "" {
		req[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[v1.ResourceMemory] = resource.MustParse(mem)
	}
	p.Spec.Containers = []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: req}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func podLabels(kv ...string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func hostPort(port int32) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: 80, HostPort: port})
	}
}

func tolerate(key, op, value string, effect v1.TaintEffect) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, v1.Toleration{Key: key, Operator: v1.TolerationOperator(op), Value: value, Effect: effect})
	}
}

func owner(uid string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: uid, Controller: &t}}
	}
}

func nodeAffinity(terms ...v1.NodeSelectorTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &v1.Affinity{}
		}
		p.Spec.Affinity.NodeAffinity = &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: terms}}
	}
}

func expr(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorTerm {
	return v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func podAffinityTerm(key string, anti bool, kv ...string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &v1.Affinity{}
		}
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		t := v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: m}, TopologyKey: key}
		if anti {
			if p.Spec.Affinity.PodAntiAffinity == nil {
				p.Spec.Affinity.PodAntiAffinity = &v1.PodAntiAffinity{}
			}
			p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, t)
			return
		}
		if p.Spec.Affinity.PodAffinity == nil {
			p.Spec.Affinity.PodAffinity = &v1.PodAffinity{}
		}
		p.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(p.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, t)
	}
}

func spread(key string, maxSkew int32, when v1.UnsatisfiableConstraintAction, kv ...string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
			MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: &metav1.LabelSelector{MatchLabels: m},
		})
	}
}

// cluster is a node with the pods already on it.
type cluster struct {
	node *v1.Node
	pods []*v1.Pod
}

// snapshot builds a snapshot; every pod's priority is its spec.priority.
func snapshot(cs ...cluster) *Snapshot {
	var infos []*NodeInfo
	for i, c := range cs {
		ni := NewNodeInfo(c.node)
		ni.Slot = i
		ni.Generation = int64(i + 1)
		for _, p := range c.pods {
			p.Spec.NodeName = c.node.Name
			ni.AddPod(info(p))
		}
		infos = append(infos, ni)
	}
	return NewSnapshot(infos...)
}

func info(p *v1.Pod) *PodInfo {
	var prio int32
	if p.Spec.Priority != nil {
		prio = *p.Spec.Priority
	}
	return NewPodInfo(p, prio)
}

func priority(v int32) func(*v1.Pod) { return func(p *v1.Pod) { p.Spec.Priority = &v } }
