package framework

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// The preemption reasons, as kube-scheduler words them.
const (
	ReasonPreemptionNotHelpful = "Preemption is not helpful for scheduling"
	ReasonNoVictims            = "No preemption victims found for incoming pod"
)

// Victims is preemption's choice: the node the pod is nominated to and the pods to evict there.
type Victims struct {
	Node string
	Pods []*PodInfo
}

// Preempt looks for a node where evicting lower-priority pods would make room for p, which fe says fits
// nowhere. It picks the node whose most important victim has the lowest priority, then the smallest sum
// of victim priorities, then the fewest victims; on each node it evicts as few pods as it can, sparing the
// most important first. With no such node it returns nil and the "preemption: ..." explanation.
func (a *Algorithm) Preempt(p *PodInfo, snap *Snapshot, fe *FitError) (*Victims, string) {
	if pp := p.Pod.Spec.PreemptionPolicy; pp != nil && *pp == v1.PreemptNever {
		return nil, "preemption: not eligible due to preemptionPolicy=Never"
	}
	if nn := p.Pod.Status.NominatedNodeName; nn != "" {
		if ni := snap.ByName[nn]; ni != nil {
			for _, q := range ni.Pods {
				if q.Pod.DeletionTimestamp != nil && q.Priority < p.Priority {
					return nil, "preemption: not eligible due to a terminating pod on the nominated node"
				}
			}
		}
	}
	needsGlobal := len(p.RequiredAffinity) > 0 || len(p.RequiredAntiAffinity) > 0 || len(p.SpreadConstraints) > 0 ||
		len(snap.HaveRequiredAntiAffinity) > 0
	reasons := map[string]int{}
	var best *Victims
	var bestKey [3]int64
	for _, ni := range snap.Nodes {
		st := fe.Diagnosis.NodeStatus[ni.Name]
		if st == nil {
			continue
		}
		if st.Code != Unschedulable {
			reasons[ReasonPreemptionNotHelpful]++
			continue
		}
		victims, ok := a.selectVictims(p, ni, snap, needsGlobal)
		if !ok {
			reasons[ReasonNoVictims]++
			continue
		}
		key := victimsKey(victims)
		if best == nil || slices.Compare(key[:], bestKey[:]) < 0 {
			best, bestKey = &Victims{Node: ni.Name, Pods: victims}, key
		}
	}
	if best != nil {
		return best, ""
	}
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return nil, fmt.Sprintf("preemption: 0/%d nodes are available: %s", len(snap.Nodes), strings.Join(parts, ", "))
}

// victimsKey orders candidate nodes: lowest highest-victim priority, then lowest priority sum (offset so
// that every term is positive, as kube-scheduler does), then fewest victims.
func victimsKey(victims []*PodInfo) [3]int64 {
	highest := int64(math.MinInt32)
	var sum int64
	for _, v := range victims {
		highest = max(highest, int64(v.Priority))
		sum += int64(v.Priority) + math.MaxInt32 + 1
	}
	return [3]int64{highest, sum, int64(len(victims))}
}

// selectVictims removes every lower-priority pod from a copy of the node; if p then fits, it puts them
// back one at a time, most important first, keeping each that still leaves room.
func (a *Algorithm) selectVictims(p *PodInfo, ni *NodeInfo, snap *Snapshot, needsGlobal bool) ([]*PodInfo, bool) {
	c := ni.Clone()
	var potential []*PodInfo
	for _, q := range ni.Pods {
		if q.Priority < p.Priority {
			potential = append(potential, q)
			c.RemovePod(q)
		}
	}
	if len(potential) == 0 {
		return nil, false
	}
	fits := func() bool {
		s := snap
		if needsGlobal {
			s = snap.withNode(c)
		}
		return a.Filter(p, c, s) == nil
	}
	if !fits() {
		return nil, false
	}
	sort.SliceStable(potential, func(i, j int) bool {
		if potential[i].Priority != potential[j].Priority {
			return potential[i].Priority > potential[j].Priority
		}
		return potential[i].Created.Before(potential[j].Created)
	})
	var victims []*PodInfo
	for _, q := range potential {
		c.AddPod(q)
		if !fits() {
			c.RemovePod(q)
			victims = append(victims, q)
		}
	}
	return victims, true
}
