package framework

import (
	"maps"
	"slices"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// NodeInfo is a node with the pods the scheduler counts against it (bound and assumed) and the running
// totals the filters and scores read. The cache owns the live NodeInfos; snapshots hold clones.
type NodeInfo struct {
	Node   *v1.Node
	Name   string
	Labels map[string]string
	// Slot is a small integer the cache gives each node for as long as it exists; the equivalence cache
	// indexes its per-node entries by it.
	Slot int
	// Generation changes whenever anything about the node or its pods changes; generations are unique
	// across nodes, so a cached result for (Slot, Generation) is never stale.
	Generation int64

	Allocatable      Resource
	Requested        Resource
	NonZeroRequested Resource
	Pods             []*PodInfo
	// PodsWithAffinity hold the pods with any inter-pod (anti-)affinity term; PodsWithRequiredAntiAffinity
	// those with a required anti-affinity term.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	UsedPorts                    []HostPort
	// OwnerCounts counts the pods of each controller owner (by UID) on the node, for spreading.
	OwnerCounts map[string]int
	// Terminating counts pods with a deletion timestamp (preemption waits for them).
	Terminating int
}

// NewNodeInfo returns an empty NodeInfo for node (which may be nil while only pods are known).
func NewNodeInfo(node *v1.Node) *NodeInfo {
	ni := &NodeInfo{}
	ni.SetNode(node)
	return ni
}

// SetNode replaces the node object and its allocatable.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.Node = node
	if node == nil {
		return
	}
	n.Name = node.Name
	n.Labels = node.Labels
	n.Allocatable = NewResource(node.Status.Allocatable)
}

// AddPod counts a pod against the node.
func (n *NodeInfo) AddPod(p *PodInfo) {
	n.Pods = append(n.Pods, p)
	if hasAffinity(p) {
		n.PodsWithAffinity = append(n.PodsWithAffinity, p)
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, p)
	}
	n.Requested.Add(p.Requests)
	n.NonZeroRequested.MilliCPU += p.NonZero.MilliCPU
	n.NonZeroRequested.Memory += p.NonZero.Memory
	n.UsedPorts = append(n.UsedPorts, p.HostPorts...)
	if p.OwnerUID != "" {
		if n.OwnerCounts == nil {
			n.OwnerCounts = map[string]int{}
		}
		n.OwnerCounts[p.OwnerUID]++
	}
	if p.Pod.DeletionTimestamp != nil {
		n.Terminating++
	}
}

// RemovePod uncounts the pod with p's UID; it reports whether the pod was there.
func (n *NodeInfo) RemovePod(p *PodInfo) bool {
	i := slices.IndexFunc(n.Pods, func(q *PodInfo) bool { return q.UID == p.UID })
	if i < 0 {
		return false
	}
	old := n.Pods[i]
	n.Pods = slices.Delete(n.Pods, i, i+1)
	n.PodsWithAffinity = removeByUID(n.PodsWithAffinity, old.UID)
	n.PodsWithRequiredAntiAffinity = removeByUID(n.PodsWithRequiredAntiAffinity, old.UID)
	n.Requested.Sub(old.Requests)
	n.NonZeroRequested.MilliCPU -= old.NonZero.MilliCPU
	n.NonZeroRequested.Memory -= old.NonZero.Memory
	for _, hp := range old.HostPorts {
		if j := slices.Index(n.UsedPorts, hp); j >= 0 {
			n.UsedPorts = slices.Delete(n.UsedPorts, j, j+1)
		}
	}
	if old.OwnerUID != "" {
		if n.OwnerCounts[old.OwnerUID]--; n.OwnerCounts[old.OwnerUID] <= 0 {
			delete(n.OwnerCounts, old.OwnerUID)
		}
	}
	if old.Pod.DeletionTimestamp != nil {
		n.Terminating--
	}
	return true
}

// ReplacePod swaps in a new version of a pod already counted when nothing the filters count changed
// (the observed version of an assumed pod); it reports false, changing nothing, otherwise.
func (n *NodeInfo) ReplacePod(p *PodInfo) bool {
	i := slices.IndexFunc(n.Pods, func(q *PodInfo) bool { return q.UID == p.UID })
	if i < 0 {
		return false
	}
	old := n.Pods[i]
	if !sameFootprint(old, p) {
		return false
	}
	n.Pods[i] = p
	for _, l := range [][]*PodInfo{n.PodsWithAffinity, n.PodsWithRequiredAntiAffinity} {
		if j := slices.IndexFunc(l, func(q *PodInfo) bool { return q.UID == p.UID }); j >= 0 {
			l[j] = p
		}
	}
	return true
}

func sameFootprint(a, b *PodInfo) bool {
	return a.Requests.MilliCPU == b.Requests.MilliCPU && a.Requests.Memory == b.Requests.Memory &&
		a.Requests.EphemeralStorage == b.Requests.EphemeralStorage && maps.Equal(a.Requests.Scalar, b.Requests.Scalar) &&
		a.NonZero.MilliCPU == b.NonZero.MilliCPU && a.NonZero.Memory == b.NonZero.Memory && slices.Equal(a.HostPorts, b.HostPorts) && maps.Equal(a.Labels, b.Labels) &&
		a.OwnerUID == b.OwnerUID && a.Namespace == b.Namespace && hasAffinity(a) == hasAffinity(b) &&
		len(a.RequiredAntiAffinity) == len(b.RequiredAntiAffinity) &&
		(a.Pod.DeletionTimestamp == nil) == (b.Pod.DeletionTimestamp == nil) && a.Priority == b.Priority
}

func removeByUID(ps []*PodInfo, uid string) []*PodInfo {
	if i := slices.IndexFunc(ps, func(q *PodInfo) bool { return q.UID == uid }); i >= 0 {
		return slices.Delete(ps, i, i+1)
	}
	return ps
}

func hasAffinity(p *PodInfo) bool {
	return len(p.RequiredAffinity) > 0 || len(p.RequiredAntiAffinity) > 0 || len(p.PreferredAffinity) > 0 ||
		len(p.PreferredAntiAff) > 0
}

// Clone returns a copy that shares the immutable PodInfos and node object but none of the mutable state.
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Allocatable = n.Allocatable.Clone()
	c.Requested = n.Requested.Clone()
	c.Pods = slices.Clone(n.Pods)
	c.PodsWithAffinity = slices.Clone(n.PodsWithAffinity)
	c.PodsWithRequiredAntiAffinity = slices.Clone(n.PodsWithRequiredAntiAffinity)
	c.UsedPorts = slices.Clone(n.UsedPorts)
	if n.OwnerCounts != nil {
		c.OwnerCounts = make(map[string]int, len(n.OwnerCounts))
		for k, v := range n.OwnerCounts {
			c.OwnerCounts[k] = v
		}
	}
	return &c
}

// Snapshot is a consistent view of the cluster for one scheduling cycle. The cache refreshes it
// incrementally: only nodes whose generation moved are cloned again.
type Snapshot struct {
	// Nodes is every schedulable-by-name node (nodes the cache knows only from pods are left out).
	Nodes  []*NodeInfo
	ByName map[string]*NodeInfo
	// HaveAffinity and HaveRequiredAntiAffinity list the nodes with such pods, so the inter-pod affinity
	// checks skip the rest.
	HaveAffinity             []*NodeInfo
	HaveRequiredAntiAffinity []*NodeInfo
	// Generation is the cache generation the snapshot reflects.
	Generation int64
	// Nominated lists, per node, the pods nominated to it by preemption and not yet bound; the filters
	// count those of equal or higher priority as if they were there.
	Nominated map[string][]*PodInfo
	// NodeSetVersion is the cache's count of node additions and removals the snapshot reflects.
	NodeSetVersion int64

	index   map[string]int
	maxSlot int
}

// NewSnapshot builds a snapshot from node infos (tests and preemption use it; the cache updates its own).
func NewSnapshot(nodes ...*NodeInfo) *Snapshot {
	s := &Snapshot{ByName: map[string]*NodeInfo{}}
	for i, n := range nodes {
		if n.Slot == 0 {
			n.Slot = i
		}
		s.Nodes = append(s.Nodes, n)
		s.ByName[n.Name] = n
		s.maxSlot = max(s.maxSlot, n.Slot+1)
	}
	s.RebuildAffinityLists()
	return s
}

// RebuildAffinityLists recomputes HaveAffinity and HaveRequiredAntiAffinity from Nodes.
func (s *Snapshot) RebuildAffinityLists() {
	s.HaveAffinity = s.HaveAffinity[:0]
	s.HaveRequiredAntiAffinity = s.HaveRequiredAntiAffinity[:0]
	for _, n := range s.Nodes {
		if len(n.PodsWithAffinity) > 0 {
			s.HaveAffinity = append(s.HaveAffinity, n)
		}
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			s.HaveRequiredAntiAffinity = append(s.HaveRequiredAntiAffinity, n)
		}
	}
}

// withNode returns a shallow copy of the snapshot in which one node is replaced (preemption's what-if).
func (s *Snapshot) withNode(n *NodeInfo) *Snapshot {
	c := &Snapshot{Nodes: make([]*NodeInfo, len(s.Nodes)), ByName: s.ByName, Generation: s.Generation, Nominated: s.Nominated, maxSlot: s.maxSlot}
	copy(c.Nodes, s.Nodes)
	for i, m := range c.Nodes {
		if m.Name == n.Name {
			c.Nodes[i] = n
		}
	}
	c.RebuildAffinityLists()
	return c
}

// Put sets a node (normally a fresh clone) in the snapshot; Reorder must follow when it was new.
func (s *Snapshot) Put(ni *NodeInfo) (added bool) {
	if s.ByName == nil {
		s.ByName = map[string]*NodeInfo{}
	}
	old, ok := s.ByName[ni.Name]
	s.ByName[ni.Name] = ni
	s.maxSlot = max(s.maxSlot, ni.Slot+1)
	if !ok {
		return true
	}
	if i, ok := s.index[ni.Name]; ok && i < len(s.Nodes) && s.Nodes[i] == old {
		s.Nodes[i] = ni
	}
	return false
}

// Remove drops a node; Reorder must follow.
func (s *Snapshot) Remove(name string) { delete(s.ByName, name) }

// Reorder rebuilds Nodes from ByName, interleaving zones (topology.kubernetes.io/zone) round-robin, so that
// a search that stops early still sees every zone; within a zone nodes are sorted by name.
func (s *Snapshot) Reorder() {
	zones := map[string][]*NodeInfo{}
	var names []string
	for _, n := range s.ByName {
		z := n.Labels[v1.LabelTopologyZone]
		if _, ok := zones[z]; !ok {
			names = append(names, z)
		}
		zones[z] = append(zones[z], n)
	}
	slices.Sort(names)
	lists := make([][]*NodeInfo, len(names))
	for i, z := range names {
		l := zones[z]
		slices.SortFunc(l, func(a, b *NodeInfo) int {
			switch {
			case a.Name < b.Name:
				return -1
			case a.Name > b.Name:
				return 1
			}
			return 0
		})
		lists[i] = l
	}
	s.Nodes = s.Nodes[:0]
	for more := true; more; {
		more = false
		for i := range lists {
			if len(lists[i]) > 0 {
				s.Nodes = append(s.Nodes, lists[i][0])
				lists[i] = lists[i][1:]
				more = true
			}
		}
	}
	s.index = make(map[string]int, len(s.Nodes))
	s.maxSlot = 0
	for i, n := range s.Nodes {
		s.index[n.Name] = i
		s.maxSlot = max(s.maxSlot, n.Slot+1)
	}
}
