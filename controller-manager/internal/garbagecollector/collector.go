package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.uber.org/zap"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
)

// Name is the controller's name in --controllers and metrics.
const Name = "garbagecollector"

// Meta is the metadata-only view the collector reads every resource through.
type Meta = metav1.PartialObjectMetadata

// API is how the collector reaches one resource.
type API interface {
	Get(ctx context.Context, ns, name string, opts client.GetOptions) (*Meta, error)
	Patch(ctx context.Context, ns, name string, pt client.PatchType, data []byte, opts client.PatchOptions, sub ...string) (*Meta, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Collector is the garbage collector. Keys in its queue are object UIDs.
type Collector struct {
	Queue controller.Queue
	Log   *zap.Logger
	// APIs maps a resource's GroupResource ("pods", "replicasets.apps") to its client.
	APIs map[string]API

	graph *graph
	once  sync.Once
}

func (c *Collector) init() { c.once.Do(func() { c.graph = newGraph() }) }

// Size returns how many objects the collector tracks.
func (c *Collector) Size() int { c.init(); return c.graph.size() }

// IgnoredResources are not tracked: nothing owns events, and bindings are not objects.
var IgnoredResources = map[string]bool{"events": true, "bindings": true}

// Tracked returns the resources the collector watches: every resource that can be listed, watched and
// deleted.
func Tracked() []resources.Resource {
	var out []resources.Resource
	for _, r := range resources.All() {
		if IgnoredResources[r.GroupResource()] || !r.HasVerb("list") || !r.HasVerb("watch") || !r.HasVerb("delete") {
			continue
		}
		out = append(out, r)
	}
	return out
}

func toNode(res resources.Resource, m *Meta) *node {
	return &node{
		res: res, namespace: m.Namespace, name: m.Name, uid: m.UID, rv: m.ResourceVersion,
		owners: m.OwnerReferences, finalizers: m.Finalizers, deleting: m.DeletionTimestamp != nil,
	}
}

// OnAdd records an observed object and queues it when it has owners or is being deleted with a
// collector finalizer.
func (c *Collector) OnAdd(res resources.Resource, m *Meta) {
	c.init()
	n := toNode(res, m)
	c.graph.upsert(n)
	c.queueIfInteresting(n)
}

func (c *Collector) queueIfInteresting(n *node) {
	if len(n.owners) > 0 || (n.deleting && (n.has(FinalizerOrphan) || n.has(FinalizerForeground))) {
		c.Queue.Add(n.uid)
	}
}

// OnUpdate records a change; an owner that starts foreground deletion queues all its dependents.
func (c *Collector) OnUpdate(res resources.Resource, m *Meta) {
	c.init()
	n := toNode(res, m)
	old := c.graph.upsert(n)
	c.queueIfInteresting(n)
	startsForeground := n.deleting && n.has(FinalizerForeground) && (old == nil || !old.deleting || !old.has(FinalizerForeground))
	startsOrphan := n.deleting && n.has(FinalizerOrphan) && (old == nil || !old.deleting || !old.has(FinalizerOrphan))
	if startsForeground || startsOrphan {
		c.Queue.Add(n.uid)
	}
	if startsForeground {
		for _, d := range c.graph.dependentsOf(n.uid) {
			c.Queue.Add(d.uid)
		}
	}
	if old != nil && !slices.EqualFunc(old.owners, n.owners, func(a, b metav1.OwnerReference) bool { return a.UID == b.UID }) {
		// an owner reference went away: a foreground owner may now be unblocked
		for _, r := range old.owners {
			c.Queue.Add(r.UID)
		}
	}
}

// OnDelete forgets an object and queues its dependents (their owner is gone) and its owners (a
// foreground owner may be waiting for it).
func (c *Collector) OnDelete(res resources.Resource, m *Meta) {
	c.init()
	old := c.graph.remove(m.UID)
	for _, d := range c.graph.dependentsOf(m.UID) {
		c.Queue.Add(d.uid)
	}
	if old != nil {
		for _, r := range old.owners {
			if _, ok := c.graph.get(r.UID); ok {
				c.Queue.Add(r.UID)
			}
		}
	}
}

// Sync processes one object by UID.
func (c *Collector) Sync(ctx context.Context, uid string) error {
	c.init()
	n, ok := c.graph.get(uid)
	if !ok {
		return nil
	}
	switch {
	case n.deleting && n.has(FinalizerOrphan):
		return c.orphanDependents(ctx, n)
	case n.deleting && n.has(FinalizerForeground):
		return c.processDeletingDependents(ctx, n)
	case n.deleting:
		return nil // someone else's deletion in progress
	case len(n.owners) > 0:
		return c.attemptToDelete(ctx, n)
	}
	return nil
}

func (c *Collector) api(res resources.Resource) (API, error) {
	a, ok := c.APIs[res.GroupResource()]
	if !ok {
		return nil, fmt.Errorf("no client for %s", res.GroupResource())
	}
	return a, nil
}

type ownerState int

const (
	ownerSolid ownerState = iota
	ownerAbsent
	ownerWaiting // being deleted in the foreground
	ownerUnresolvable
)

// classify resolves one owner reference of n, reading the API when the graph does not know the owner.
func (c *Collector) classify(ctx context.Context, n *node, ref metav1.OwnerReference) (ownerState, error) {
	res, ok := resources.ByAPIVersionKind(ref.APIVersion, ref.Kind)
	if !ok {
		return ownerUnresolvable, nil
	}
	if res.Namespaced && !n.res.Namespaced {
		// a cluster-scoped dependent cannot have a namespaced owner
		return ownerUnresolvable, nil
	}
	ns := ""
	if res.Namespaced {
		ns = n.namespace
	}
	if o, ok := c.graph.get(ref.UID); ok && o.namespace == ns && o.res.GroupResource() == res.GroupResource() {
		if o.deleting && o.has(FinalizerForeground) {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	a, err := c.api(res)
	if err != nil {
		return ownerUnresolvable, nil
	}
	live, err := a.Get(ctx, ns, ref.Name, client.GetOptions{})
	switch {
	case client.IsNotFound(err):
		return ownerAbsent, nil
	case err != nil:
		return ownerSolid, fmt.Errorf("looking up owner %s %s of %s: %w", res.GroupResource(), ref.Name, n.name, err)
	case live.UID != ref.UID:
		return ownerAbsent, nil // same name, another object
	case live.DeletionTimestamp != nil && slices.Contains(live.Finalizers, FinalizerForeground):
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// attemptToDelete deletes n when none of its owners is left, or drops the references to the absent
// (and foreground-deleting) owners when some owner remains.
func (c *Collector) attemptToDelete(ctx context.Context, n *node) error {
	var solid, absent, waiting []string
	for _, ref := range n.owners {
		st, err := c.classify(ctx, n, ref)
		if err != nil {
			return err
		}
		switch st {
		case ownerSolid, ownerUnresolvable:
			solid = append(solid, ref.UID)
		case ownerAbsent:
			absent = append(absent, ref.UID)
		case ownerWaiting:
			waiting = append(waiting, ref.UID)
		}
	}
	a, err := c.api(n.res)
	if err != nil {
		return err
	}
	if len(solid) > 0 {
		drop := append(absent, waiting...)
		if len(drop) == 0 {
			return nil
		}
		return c.patchOwners(ctx, a, n, drop)
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case len(waiting) > 0 && c.graph.hasDependents(n.uid):
		// an owner waits on us: our own dependents go first
		policy = metav1.DeletePropagationForeground
	case n.has(FinalizerOrphan):
		policy = metav1.DeletePropagationOrphan
	case n.has(FinalizerForeground):
		policy = metav1.DeletePropagationForeground
	}
	uid := n.uid
	err = a.Delete(ctx, n.namespace, n.name, &metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s: %w", n.res.GroupResource(), n.namespace, n.name, err)
	}
	if err == nil {
		c.Log.Debug("gc_deleted", zap.String("resource", n.res.GroupResource()), zap.String("namespace", n.namespace),
			zap.String("name", n.name), zap.String("policy", string(policy)))
	}
	return nil
}

type metaPatch struct {
	Metadata struct {
		ResourceVersion string                   `json:"resourceVersion"`
		OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string                `json:"finalizers,omitempty"`
	} `json:"metadata"`
}

// patchOwners removes the references to the given owner UIDs from n (RV precondition).
func (c *Collector) patchOwners(ctx context.Context, a API, n *node, drop []string) error {
	refs := []metav1.OwnerReference{}
	for _, r := range n.owners {
		if !slices.Contains(drop, r.UID) {
			refs = append(refs, r)
		}
	}
	var p metaPatch
	p.Metadata.ResourceVersion = n.rv
	p.Metadata.OwnerReferences = &refs
	data, _ := json.Marshal(p)
	if _, err := a.Patch(ctx, n.namespace, n.name, client.MergePatchType, data, client.PatchOptions{}); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("removing owner references from %s %s/%s: %w", n.res.GroupResource(), n.namespace, n.name, err)
	}
	return nil
}

// removeFinalizer drops f from n (RV precondition).
func (c *Collector) removeFinalizer(ctx context.Context, n *node, f string) error {
	a, err := c.api(n.res)
	if err != nil {
		return err
	}
	rest := []string{}
	for _, x := range n.finalizers {
		if x != f {
			rest = append(rest, x)
		}
	}
	var p metaPatch
	p.Metadata.ResourceVersion = n.rv
	p.Metadata.Finalizers = &rest
	data, _ := json.Marshal(p)
	if _, err := a.Patch(ctx, n.namespace, n.name, client.MergePatchType, data, client.PatchOptions{}); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("removing finalizer %s from %s %s/%s: %w", f, n.res.GroupResource(), n.namespace, n.name, err)
	}
	return nil
}

// orphanDependents strips the owner's references from its dependents, then its orphan finalizer.
func (c *Collector) orphanDependents(ctx context.Context, owner *node) error {
	var errs []error
	for _, d := range c.graph.dependentsOf(owner.uid) {
		a, err := c.api(d.res)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, c.patchOwners(ctx, a, d, []string{owner.uid}))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.removeFinalizer(ctx, owner, FinalizerOrphan)
}

// processDeletingDependents removes the foregroundDeletion finalizer once no blocking dependent is
// left, and otherwise makes sure every dependent is queued for deletion.
func (c *Collector) processDeletingDependents(ctx context.Context, owner *node) error {
	blocking := 0
	for _, d := range c.graph.dependentsOf(owner.uid) {
		for _, r := range d.owners {
			if r.UID == owner.uid && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
				blocking++
				break
			}
		}
		if !d.deleting || d.has(FinalizerForeground) {
			c.Queue.Add(d.uid)
		}
	}
	if blocking > 0 {
		return nil // dependents' deletions will queue us again
	}
	return c.removeFinalizer(ctx, owner, FinalizerForeground)
}
