package framework

import (
	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// The filter and score names, as Kubernetes names its plugins; they appear in the config file.
const (
	NodeUnschedulable   = "NodeUnschedulable"
	NodeName            = "NodeName"
	TaintToleration     = "TaintToleration"
	NodeAffinity        = "NodeAffinity"
	NodePorts           = "NodePorts"
	NodeResourcesFit    = "NodeResourcesFit"
	PodTopologySpread   = "PodTopologySpread"
	InterPodAffinity    = "InterPodAffinity"
	BalancedAllocation  = "NodeResourcesBalancedAllocation"
	SelectorSpread      = "SelectorSpread"
	InvalidPod          = "InvalidPod"
	DefaultPreemption   = "DefaultPreemption"
	NominatedPodsFilter = "NominatedPods"
)

// The rejection reasons, word for word as kube-scheduler prints them.
const (
	ReasonUnschedulable          = "node(s) were unschedulable"
	ReasonNodeName               = "node(s) didn't match the requested node name"
	ReasonNodeAffinity           = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts              = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods            = "Too many pods"
	ReasonAffinityNotMatch       = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinityNotMatch   = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity   = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonSpreadNotMatch         = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel     = "node(s) didn't match pod topology spread constraints (missing required label)"
	ReasonNodeNotFoundForPodSpec = "node(s) had no object"
)

var (
	statusUnschedulable = newStatus(UnschedulableAndUnresolvable, NodeUnschedulable, ReasonUnschedulable)
	statusNodeName      = newStatus(UnschedulableAndUnresolvable, NodeName, ReasonNodeName)
	statusNodeAffinity  = newStatus(UnschedulableAndUnresolvable, NodeAffinity, ReasonNodeAffinity)
	statusNodePorts     = newStatus(Unschedulable, NodePorts, ReasonNodePorts)
	statusAffinity      = newStatus(UnschedulableAndUnresolvable, InterPodAffinity, ReasonAffinityNotMatch)
	statusAntiAffinity  = newStatus(Unschedulable, InterPodAffinity, ReasonAntiAffinityNotMatch)
	statusExistingAnti  = newStatus(Unschedulable, InterPodAffinity, ReasonExistingAntiAffinity)
	statusSpread        = newStatus(Unschedulable, PodTopologySpread, ReasonSpreadNotMatch)
	statusSpreadLabel   = newStatus(UnschedulableAndUnresolvable, PodTopologySpread, ReasonSpreadMissingLabel)
	unschedulableTaint  = v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}
)

// filterLocal runs the filters whose verdict depends only on the pod and the node itself, in
// kube-scheduler's order, and stops at the first rejection. Their results are what the equivalence cache
// keeps per (class, node generation).
func filterLocal(p *PodInfo, n *NodeInfo) *Status {
	if s := filterNodeUnschedulable(p, n); s != nil {
		return s
	}
	if s := filterNodeName(p, n); s != nil {
		return s
	}
	if s := filterTaints(p, n); s != nil {
		return s
	}
	if s := filterNodeAffinity(p, n); s != nil {
		return s
	}
	if s := filterNodePorts(p, n); s != nil {
		return s
	}
	return filterResources(p, n)
}

// filterNodeUnschedulable rejects cordoned nodes unless the pod tolerates the unschedulable taint.
func filterNodeUnschedulable(p *PodInfo, n *NodeInfo) *Status {
	if n.Node == nil || !n.Node.Spec.Unschedulable {
		return nil
	}
	if tolerated(p.Tolerations, &unschedulableTaint) {
		return nil
	}
	return statusUnschedulable
}

// filterNodeName rejects every node but the one spec.nodeName names.
func filterNodeName(p *PodInfo, n *NodeInfo) *Status {
	if p.Pod.Spec.NodeName != "" && p.Pod.Spec.NodeName != n.Name {
		return statusNodeName
	}
	return nil
}

// filterTaints rejects a node with a NoSchedule or NoExecute taint the pod does not tolerate; the not-ready
// and unreachable taints of the node lifecycle controller are how unhealthy nodes are kept out.
func filterTaints(p *PodInfo, n *NodeInfo) *Status {
	if n.Node == nil {
		return nil
	}
	for i := range n.Node.Spec.Taints {
		t := &n.Node.Spec.Taints[i]
		if t.Effect != v1.TaintEffectNoSchedule && t.Effect != v1.TaintEffectNoExecute {
			continue
		}
		if !tolerated(p.Tolerations, t) {
			return newStatus(UnschedulableAndUnresolvable, TaintToleration,
				"node(s) had untolerated taint {"+t.Key+": "+t.Value+"}")
		}
	}
	return nil
}

func tolerated(tols []v1.Toleration, t *v1.Taint) bool {
	for i := range tols {
		if toleratesTaint(&tols[i], t) {
			return true
		}
	}
	return false
}

// toleratesTaint is Kubernetes's Toleration.ToleratesTaint: an empty effect matches all effects, an empty
// key with Exists matches all keys.
func toleratesTaint(tol *v1.Toleration, t *v1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case "", v1.TolerationOpEqual:
		return tol.Value == t.Value
	case v1.TolerationOpExists:
		return true
	}
	return false
}

// filterNodeAffinity applies spec.nodeSelector and the required node affinity (terms are ORed).
func filterNodeAffinity(p *PodInfo, n *NodeInfo) *Status {
	if !nodeMatchesPod(p, n) {
		return statusNodeAffinity
	}
	return nil
}

func nodeMatchesPod(p *PodInfo, n *NodeInfo) bool {
	if !p.NodeSelector.Matches(n.Labels) {
		return false
	}
	if p.RequiredNodeAffinity == nil {
		return true
	}
	for i := range p.RequiredNodeAffinity {
		if matchesNodeTerm(&p.RequiredNodeAffinity[i], n.Labels, n.Name) {
			return true
		}
	}
	return false
}

// filterNodePorts rejects a node where a requested host port is taken. 0.0.0.0 (or no hostIP) conflicts
// with every address.
func filterNodePorts(p *PodInfo, n *NodeInfo) *Status {
	for _, want := range p.HostPorts {
		for _, used := range n.UsedPorts {
			if want.Port == used.Port && want.Protocol == used.Protocol && ipsOverlap(want.IP, used.IP) {
				return statusNodePorts
			}
		}
	}
	return nil
}

func ipsOverlap(a, b string) bool {
	wild := func(s string) bool { return s == "" || s == "0.0.0.0" || s == "::" }
	return wild(a) || wild(b) || a == b
}

// filterResources checks the pod count and every requested resource against what is left of allocatable.
// Unlike the other filters it reports every shortfall ("Insufficient cpu", "Insufficient memory").
func filterResources(p *PodInfo, n *NodeInfo) *Status {
	var reasons []string
	if int64(len(n.Pods))+1 > n.Allocatable.AllowedPodNumber {
		reasons = append(reasons, ReasonTooManyPods)
	}
	r := &p.Requests
	if r.MilliCPU > 0 && n.Allocatable.MilliCPU < r.MilliCPU+n.Requested.MilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if r.Memory > 0 && n.Allocatable.Memory < r.Memory+n.Requested.Memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if r.EphemeralStorage > 0 && n.Allocatable.EphemeralStorage < r.EphemeralStorage+n.Requested.EphemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	for name, q := range r.Scalar {
		if q > 0 && n.Allocatable.Scalar[name] < q+n.Requested.Scalar[name] {
			reasons = append(reasons, "Insufficient "+string(name))
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return &Status{Code: Unschedulable, Plugin: NodeResourcesFit, Reasons: reasons}
}
