package framework

import (
	"math"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// MaxNodeScore is the best score a single score gives a node; the total is the weighted sum.
const MaxNodeScore int64 = 100

// ResourceWeight is one resource the allocation scores look at, with its weight.
type ResourceWeight struct {
	Name   v1.ResourceName `json:"name"`
	Weight int64           `json:"weight"`
}

// The node-local scores, whose raw values the equivalence cache keeps with each node's filter verdict.
const (
	localAllocation   = iota // the hybrid of least- and most-allocated, 0..100
	localBalanced            // balanced allocation, 0..100
	localNodeAffinity        // sum of the weights of the preferred node affinity terms that match
	localTaints              // number of untolerated PreferNoSchedule taints
	numLocalScores
)

type localScores [numLocalScores]int64

// scoreLocal computes the node-local raw scores.
func (a *Algorithm) scoreLocal(p *PodInfo, n *NodeInfo) localScores {
	var s localScores
	s[localAllocation] = a.allocationScore(p, n)
	s[localBalanced] = a.balancedScore(p, n)
	for i := range p.PreferredNodeAff {
		if matchesNodeTerm(&p.PreferredNodeAff[i].Term, n.Labels, n.Name) {
			s[localNodeAffinity] += p.PreferredNodeAff[i].Weight
		}
	}
	if n.Node != nil {
		for i := range n.Node.Spec.Taints {
			t := &n.Node.Spec.Taints[i]
			if t.Effect == v1.TaintEffectPreferNoSchedule && !toleratedPreferNoSchedule(p.Tolerations, t) {
				s[localTaints]++
			}
		}
	}
	return s
}

func toleratedPreferNoSchedule(tols []v1.Toleration, t *v1.Taint) bool {
	for i := range tols {
		if (tols[i].Effect == "" || tols[i].Effect == v1.TaintEffectPreferNoSchedule) && toleratesTaint(&tols[i], t) {
			return true
		}
	}
	return false
}

// requestedAfter returns what the node would have requested of a resource with the pod on it, counting
// scoring defaults for cpu and memory, and the node's allocatable of it.
func requestedAfter(p *PodInfo, n *NodeInfo, name v1.ResourceName, nonZero bool) (req, alloc int64) {
	alloc = n.Allocatable.Get(name)
	switch {
	case nonZero && name == v1.ResourceCPU:
		req = n.NonZeroRequested.MilliCPU + p.NonZero.MilliCPU
	case nonZero && name == v1.ResourceMemory:
		req = n.NonZeroRequested.Memory + p.NonZero.Memory
	default:
		req = n.Requested.Get(name) + p.Requests.Get(name)
	}
	return req, alloc
}

// allocationScore mixes least-allocated (worst fit: prefer the emptiest node) and most-allocated (best
// fit: pack) by the configured weights, averaged over the configured resources.
func (a *Algorithm) allocationScore(p *PodInfo, n *NodeInfo) int64 {
	var least, most, wsum int64
	for _, rw := range a.cfg.Resources {
		req, alloc := requestedAfter(p, n, rw.Name, true)
		if alloc <= 0 {
			continue
		}
		l, m := int64(0), MaxNodeScore
		if req <= alloc {
			l = (alloc - req) * MaxNodeScore / alloc
			m = req * MaxNodeScore / alloc
		}
		least += l * rw.Weight
		most += m * rw.Weight
		wsum += rw.Weight
	}
	if wsum == 0 {
		return 0
	}
	least /= wsum
	most /= wsum
	wl, wm := a.cfg.LeastAllocatedWeight, a.cfg.MostAllocatedWeight
	if wl+wm == 0 {
		return 0
	}
	return (wl*least + wm*most) / (wl + wm)
}

// balancedScore prefers nodes whose resource fractions stay close to each other once the pod is placed:
// (1 - standard deviation of the fractions) * MaxNodeScore.
func (a *Algorithm) balancedScore(p *PodInfo, n *NodeInfo) int64 {
	var fr [8]float64
	k := 0
	for _, rw := range a.cfg.Resources {
		if k == len(fr) {
			break
		}
		req, alloc := requestedAfter(p, n, rw.Name, false)
		if alloc <= 0 {
			continue
		}
		f := float64(req) / float64(alloc)
		if f > 1 {
			f = 1
		}
		fr[k] = f
		k++
	}
	if k < 2 {
		return MaxNodeScore
	}
	var mean float64
	for _, f := range fr[:k] {
		mean += f
	}
	mean /= float64(k)
	var v float64
	for _, f := range fr[:k] {
		v += (f - mean) * (f - mean)
	}
	std := math.Sqrt(v / float64(k))
	return int64((1 - std) * float64(MaxNodeScore))
}

// normalizeMax maps raw scores onto 0..MaxNodeScore relative to the highest; reverse makes fewer better.
func normalizeMax(raw []int64, reverse bool) {
	var hi int64
	for _, s := range raw {
		hi = max(hi, s)
	}
	for i, s := range raw {
		switch {
		case hi == 0 && reverse:
			raw[i] = MaxNodeScore
		case hi == 0:
			raw[i] = 0
		case reverse:
			raw[i] = MaxNodeScore - MaxNodeScore*s/hi
		default:
			raw[i] = MaxNodeScore * s / hi
		}
	}
}

// zoneWeighting is how much the zone spread counts against the node spread in SelectorSpread.
const zoneWeighting = 2.0 / 3.0

// scoreSelectorSpread spreads the pods of one owner over nodes and zones (topology.kubernetes.io/zone):
// fewer pods of the owner on the node, and in its zone, score higher.
func scoreSelectorSpread(p *PodInfo, nodes []*NodeInfo, out []int64) {
	if p.OwnerUID == "" {
		for i := range out {
			out[i] = 0
		}
		return
	}
	var maxNode int
	zones := map[string]int{}
	counts := make([]int, len(nodes))
	for i, n := range nodes {
		c := n.OwnerCounts[p.OwnerUID]
		counts[i] = c
		maxNode = max(maxNode, c)
		if z, ok := n.Labels[v1.LabelTopologyZone]; ok {
			zones[z] += c
		}
	}
	var maxZone int
	for _, c := range zones {
		maxZone = max(maxZone, c)
	}
	for i, n := range nodes {
		f := float64(MaxNodeScore)
		if maxNode > 0 {
			f = float64(MaxNodeScore) * float64(maxNode-counts[i]) / float64(maxNode)
		}
		if len(zones) > 0 {
			if z, ok := n.Labels[v1.LabelTopologyZone]; ok {
				zs := float64(MaxNodeScore)
				if maxZone > 0 {
					zs = float64(MaxNodeScore) * float64(maxZone-zones[z]) / float64(maxZone)
				}
				f = f*(1-zoneWeighting) + zoneWeighting*zs
			}
		}
		out[i] = int64(f)
	}
}
