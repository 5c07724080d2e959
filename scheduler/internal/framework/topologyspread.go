package framework

import (
	"math"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// spreadState counts, for a pod's topology spread constraints of one kind, the matching pods per domain.
type spreadState struct {
	constraints []SpreadConstraint
	counts      map[topologyPair]int
	// minMatch is, per constraint, the smallest count over its domains (0 with fewer than minDomains).
	minMatch []int
	domains  []int
}

// preSpread counts the pods the constraints with the given action select, over the nodes that count as
// domains: those carrying every constraint's topology key and, per the inclusion policies, matching the
// pod's node affinity and tolerating its node's taints. It returns nil when the pod has no such constraint.
func preSpread(p *PodInfo, snap *Snapshot, action v1.UnsatisfiableConstraintAction) *spreadState {
	var cs []SpreadConstraint
	for _, c := range p.SpreadConstraints {
		if c.WhenUnsatisfiable == action || (action == v1.DoNotSchedule && c.WhenUnsatisfiable == "") {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil
	}
	st := &spreadState{constraints: cs, counts: map[topologyPair]int{}, minMatch: make([]int, len(cs)), domains: make([]int, len(cs))}
	domainSeen := make([]map[string]bool, len(cs))
	for i := range domainSeen {
		domainSeen[i] = map[string]bool{}
	}
	for _, n := range snap.Nodes {
		if !spreadEligible(p, cs, n) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			v := n.Labels[c.TopologyKey]
			pair := topologyPair{c.TopologyKey, v}
			if !domainSeen[i][v] {
				domainSeen[i][v] = true
				st.counts[pair] += 0
			}
			st.counts[pair] += countSelected(c.Selector, p.Namespace, n)
		}
	}
	for i := range cs {
		st.domains[i] = len(domainSeen[i])
		m := math.MaxInt
		for v := range domainSeen[i] {
			m = min(m, st.counts[topologyPair{cs[i].TopologyKey, v}])
		}
		if m == math.MaxInt || int32(st.domains[i]) < cs[i].MinDomains {
			m = 0
		}
		st.minMatch[i] = m
	}
	return st
}

func spreadEligible(p *PodInfo, cs []SpreadConstraint, n *NodeInfo) bool {
	for i := range cs {
		if _, ok := n.Labels[cs[i].TopologyKey]; !ok {
			return false
		}
	}
	if cs[0].HonorNodeAffinity && !nodeMatchesPod(p, n) {
		return false
	}
	if cs[0].HonorTaints && filterTaints(p, n) != nil {
		return false
	}
	return true
}

// countSelected counts the non-terminating pods on n in namespace ns that sel selects.
func countSelected(sel Selector, ns string, n *NodeInfo) int {
	c := 0
	for _, e := range n.Pods {
		if e.Namespace == ns && e.Pod.DeletionTimestamp == nil && sel.Matches(e.Labels) {
			c++
		}
	}
	return c
}

// filterSpread rejects a node where placing the pod would make a DoNotSchedule constraint's skew (the
// domain's count plus this pod, minus the smallest domain's count) exceed maxSkew.
func filterSpread(st *spreadState, p *PodInfo, n *NodeInfo) *Status {
	if st == nil {
		return nil
	}
	for i := range st.constraints {
		c := &st.constraints[i]
		v, ok := n.Labels[c.TopologyKey]
		if !ok {
			return statusSpreadLabel
		}
		self := 0
		if c.Selector.Matches(p.Labels) {
			self = 1
		}
		if st.counts[topologyPair{c.TopologyKey, v}]+self-st.minMatch[i] > int(c.MaxSkew) {
			return statusSpread
		}
	}
	return nil
}

// scoreSpread is kube-scheduler's ScheduleAnyway score before normalisation: per constraint the domain's
// matching count weighted by log(domains+2), plus maxSkew-1. ok is false for nodes missing a key.
func scoreSpread(st *spreadState, n *NodeInfo) (int64, bool) {
	var s float64
	for i := range st.constraints {
		c := &st.constraints[i]
		v, ok := n.Labels[c.TopologyKey]
		if !ok {
			return 0, false
		}
		w := math.Log(float64(st.domains[i] + 2))
		s += float64(st.counts[topologyPair{c.TopologyKey, v}])*w + float64(c.MaxSkew-1)
	}
	return int64(math.Round(s)), true
}
