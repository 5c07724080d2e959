// Package cache is the scheduler's view of what runs where: nodes and the pods counted against them,
// including pods the scheduler has chosen a node for but whose binding it has not yet observed (assumed
// pods). Counting an assumed pod from the moment it is chosen is what keeps a burst of pods from
// overcommitting a node while bindings are in flight.
//
// The cache is fed by the informers (observed nodes and assigned pods) and by the scheduling loop (assume,
// forget, finish binding), and hands the loop an incrementally refreshed framework.Snapshot. It does not
// talk to the apiserver.
package cache

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
)

// Cache holds nodes and pods. Every method is safe for concurrent use.
type Cache struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time

	nodes map[string]*item
	// head is the most recently changed node; the list runs in decreasing generation, so a snapshot
	// refresh walks only the nodes changed since its last refresh.
	head       *item
	generation int64
	nodeSetVer int64
	pods       map[string]*podState
	freeSlots  []int
	nextSlot   int
}

type item struct {
	info       *framework.NodeInfo
	prev, next *item
}

type podState struct {
	info     *framework.PodInfo
	node     string
	assumed  bool
	finished bool      // the binding call returned
	deadline time.Time // when an assumed pod whose binding finished is dropped if still not observed
}

// New returns an empty cache. ttl is how long an assumed pod whose binding succeeded may stay unobserved
// before it is dropped (0: never).
func New(ttl time.Duration) *Cache {
	return &Cache{ttl: ttl, now: time.Now, nodes: map[string]*item{}, pods: map[string]*podState{}}
}

// SetClock replaces the clock (tests).
func (c *Cache) SetClock(now func() time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// touch gives the node a new generation and moves it to the head of the list.
func (c *Cache) touch(it *item) {
	c.generation++
	it.info.Generation = c.generation
	if c.head == it {
		return
	}
	if it.prev != nil {
		it.prev.next = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	}
	it.prev = nil
	it.next = c.head
	if c.head != nil {
		c.head.prev = it
	}
	c.head = it
}

func (c *Cache) unlink(it *item) {
	if it.prev != nil {
		it.prev.next = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	}
	if c.head == it {
		c.head = it.next
	}
	it.prev, it.next = nil, nil
}

// nodeItem returns the node's entry, creating an object-less one (a node known only from its pods).
func (c *Cache) nodeItem(name string) *item {
	it := c.nodes[name]
	if it == nil {
		ni := framework.NewNodeInfo(nil)
		ni.Name = name
		if n := len(c.freeSlots); n > 0 {
			ni.Slot = c.freeSlots[n-1]
			c.freeSlots = c.freeSlots[:n-1]
		} else {
			ni.Slot = c.nextSlot
			c.nextSlot++
		}
		it = &item{info: ni}
		c.nodes[name] = it
	}
	return it
}

// maybeDrop deletes an entry that has neither a node object nor pods.
func (c *Cache) maybeDrop(it *item) {
	if it.info.Node == nil && len(it.info.Pods) == 0 {
		c.unlink(it)
		delete(c.nodes, it.info.Name)
		c.freeSlots = append(c.freeSlots, it.info.Slot)
	}
}

// AddNode adds or replaces a node object.
func (c *Cache) AddNode(n *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.nodeItem(n.Name)
	if it.info.Node == nil {
		c.nodeSetVer++
	}
	it.info.SetNode(n)
	c.touch(it)
}

// UpdateNode replaces a node object.
func (c *Cache) UpdateNode(n *v1.Node) { c.AddNode(n) }

// RemoveNode removes a node object; its pods stay counted until they are deleted themselves.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.nodes[name]
	if it == nil || it.info.Node == nil {
		return
	}
	it.info.Node = nil
	c.nodeSetVer++
	c.touch(it)
	c.maybeDrop(it)
}

// AssumePod counts a pod against its chosen node (pi.Pod.Spec.NodeName) before the binding is observed.
func (c *Cache) AssumePod(pi *framework.PodInfo, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pi.UID]; ok {
		return fmt.Errorf("pod %s (uid %s) is already in the scheduler cache", pi.Key, pi.UID)
	}
	c.addLocked(pi, node)
	c.pods[pi.UID] = &podState{info: pi, node: node, assumed: true}
	return nil
}

// FinishBinding starts the expiry clock of an assumed pod whose binding call succeeded.
func (c *Cache) FinishBinding(uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok && ps.assumed {
		ps.finished = true
		ps.deadline = c.now().Add(c.ttl)
	}
}

// ForgetPod drops an assumed pod (its binding failed).
func (c *Cache) ForgetPod(uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok && ps.assumed {
		c.removeLocked(ps)
		delete(c.pods, uid)
	}
}

// IsAssumed reports whether the pod is assumed and not yet observed bound.
func (c *Cache) IsAssumed(uid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}

// AddPod records an observed assigned pod; an assumed pod with its UID is confirmed (and moved, should
// the binding have landed elsewhere).
func (c *Cache) AddPod(pi *framework.PodInfo) {
	node := pi.Pod.Spec.NodeName
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pi.UID]; ok {
		// Confirming an assumed pod where it was assumed changes nothing the filters count: keep the
		// node's generation, so snapshots and the equivalence cache stay valid.
		if it := c.nodes[node]; ps.node == node && it != nil && it.info.ReplacePod(pi) {
			c.pods[pi.UID] = &podState{info: pi, node: node}
			return
		}
		c.removeLocked(ps)
	}
	c.addLocked(pi, node)
	c.pods[pi.UID] = &podState{info: pi, node: node}
}

// UpdatePod replaces an observed assigned pod.
func (c *Cache) UpdatePod(pi *framework.PodInfo) { c.AddPod(pi) }

// RemovePod forgets a pod (deleted, or finished).
func (c *Cache) RemovePod(uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok {
		c.removeLocked(ps)
		delete(c.pods, uid)
	}
}

func (c *Cache) addLocked(pi *framework.PodInfo, node string) {
	it := c.nodeItem(node)
	it.info.AddPod(pi)
	c.touch(it)
}

func (c *Cache) removeLocked(ps *podState) {
	it := c.nodes[ps.node]
	if it == nil {
		return
	}
	it.info.RemovePod(ps.info)
	c.touch(it)
	c.maybeDrop(it)
}

// Cleanup drops assumed pods whose binding finished more than the TTL ago without the pod being observed
// bound: the bind must have been lost, and the room is given back. It returns how many it dropped.
func (c *Cache) Cleanup() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ttl <= 0 {
		return 0
	}
	now := c.now()
	n := 0
	for uid, ps := range c.pods {
		if ps.assumed && ps.finished && now.After(ps.deadline) {
			c.removeLocked(ps)
			delete(c.pods, uid)
			n++
		}
	}
	return n
}

// Run calls Cleanup every period until ctx ends.
func (c *Cache) Run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Cleanup()
		}
	}
}

// UpdateSnapshot brings snap up to date, cloning only the nodes changed since its last refresh.
func (c *Cache) UpdateSnapshot(snap *framework.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reorder := snap.NodeSetVersion != c.nodeSetVer || snap.ByName == nil
	rebuildAffinity := false
	for it := c.head; it != nil && it.info.Generation > snap.Generation; it = it.next {
		ni := it.info
		old := snap.ByName[ni.Name]
		if ni.Node == nil {
			if old != nil {
				snap.Remove(ni.Name)
				reorder = true
			}
			continue
		}
		if old != nil && (len(old.PodsWithAffinity) > 0 || len(old.PodsWithRequiredAntiAffinity) > 0) {
			rebuildAffinity = true
		}
		if len(ni.PodsWithAffinity) > 0 || len(ni.PodsWithRequiredAntiAffinity) > 0 {
			rebuildAffinity = true
		}
		if snap.Put(ni.Clone()) {
			reorder = true
		}
	}
	if reorder {
		for name := range snap.ByName {
			if it := c.nodes[name]; it == nil || it.info.Node == nil {
				snap.Remove(name)
			}
		}
		snap.Reorder()
		rebuildAffinity = true
	}
	if rebuildAffinity {
		snap.RebuildAffinityLists()
	}
	snap.Generation = c.generation
	snap.NodeSetVersion = c.nodeSetVer
}

// Counts returns the number of nodes with an object, the pods, and the assumed pods.
func (c *Cache) Counts() (nodes, pods, assumed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range c.nodes {
		if it.info.Node != nil {
			nodes++
		}
	}
	for _, ps := range c.pods {
		pods++
		if ps.assumed {
			assumed++
		}
	}
	return nodes, pods, assumed
}

// NodeRequested returns a copy of what the cache counts against a node, for tests and diagnostics.
func (c *Cache) NodeRequested(name string) (framework.Resource, int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.nodes[name]
	if it == nil {
		return framework.Resource{}, 0, false
	}
	return it.info.Requested.Clone(), len(it.info.Pods), true
}
