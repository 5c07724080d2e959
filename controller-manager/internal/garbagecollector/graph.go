// Package garbagecollector deletes objects whose owners are gone, following metadata.ownerReferences
// across every resource it watches, and implements the three propagation policies the apiserver
// records with finalizers:
//
//   - background: once an owner is gone, its dependents are deleted (after a live read confirms the
//     owner is really absent, not just missing from a lagging cache);
//   - foreground: an owner with a deletionTimestamp and the foregroundDeletion finalizer has its
//     dependents deleted; when no dependent with blockOwnerDeletion=true is left, the finalizer is
//     removed and the apiserver finishes the delete;
//   - orphan: an owner with the orphan finalizer has its ownerReference stripped from every dependent,
//     then the finalizer removed.
//
// An owner reference is resolved in the dependent's namespace (or cluster scope for cluster-scoped
// kinds), so a reference to an owner in another namespace is treated as absent. A cluster-scoped
// dependent naming a namespaced owner kind is unresolvable and left alone. The graph is rebuilt by
// list+watch at start, so the collector is level-based and survives restarts.
package garbagecollector

import (
	"slices"
	"sync"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
)

// Finalizers the apiserver adds for non-background propagation.
const (
	FinalizerOrphan     = "orphan"
	FinalizerForeground = "foregroundDeletion"
)

// node is one observed object.
type node struct {
	res        resources.Resource
	namespace  string
	name       string
	uid        string
	rv         string
	owners     []metav1.OwnerReference
	finalizers []string
	deleting   bool
}

func (n *node) has(f string) bool { return slices.Contains(n.finalizers, f) }

// graph indexes observed objects by UID and dependents by owner UID.
type graph struct {
	mu         sync.RWMutex
	nodes      map[string]*node
	dependents map[string]map[string]struct{}
}

func newGraph() *graph {
	return &graph{nodes: map[string]*node{}, dependents: map[string]map[string]struct{}{}}
}

func (g *graph) get(uid string) (*node, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nil, false
	}
	c := *n
	return &c, true
}

// dependentsOf returns copies of the observed dependents of uid.
func (g *graph) dependentsOf(uid string) []*node {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []*node
	for d := range g.dependents[uid] {
		if n, ok := g.nodes[d]; ok {
			c := *n
			out = append(out, &c)
		}
	}
	return out
}

func (g *graph) hasDependents(uid string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.dependents[uid]) > 0
}

// upsert stores n and returns the previous version (nil when new).
func (g *graph) upsert(n *node) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[n.uid]
	if old != nil {
		for _, r := range old.owners {
			if set := g.dependents[r.UID]; set != nil {
				delete(set, n.uid)
				if len(set) == 0 {
					delete(g.dependents, r.UID)
				}
			}
		}
	}
	g.nodes[n.uid] = n
	for _, r := range n.owners {
		set := g.dependents[r.UID]
		if set == nil {
			set = map[string]struct{}{}
			g.dependents[r.UID] = set
		}
		set[n.uid] = struct{}{}
	}
	return old
}

// remove drops uid and returns what was stored.
func (g *graph) remove(uid string) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[uid]
	if old == nil {
		return nil
	}
	delete(g.nodes, uid)
	for _, r := range old.owners {
		if set := g.dependents[r.UID]; set != nil {
			delete(set, uid)
			if len(set) == 0 {
				delete(g.dependents, r.UID)
			}
		}
	}
	return old
}

// size returns the number of observed objects.
func (g *graph) size() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.nodes)
}
