// Package ownership provides the ownerReference rules workload controllers share: building a
// controller reference, finding an object's controller, and claiming objects for an owner: adopting
// matching orphans and releasing owned objects that no longer match its selector. It writes only
// through the Patch function it is given, with a resourceVersion precondition in every patch.
//
// It does not decide what an owner should own (that is the caller's selector) and it never deletes.
package ownership

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
)

// NewControllerRef returns the ownerReference a controller puts on what it creates or adopts:
// controller=true and blockOwnerDeletion=true, so foreground deletion of the owner waits for it.
func NewControllerRef(owner *metav1.ObjectMeta, apiVersion, kind string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion: apiVersion, Kind: kind, Name: owner.Name, UID: owner.UID,
		Controller: &t, BlockOwnerDeletion: &t,
	}
}

// ControllerOf returns the object's controller reference (the owner reference with controller=true),
// or nil.
func ControllerOf(m *metav1.ObjectMeta) *metav1.OwnerReference {
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

// IsControlledBy reports whether uid is the object's controller.
func IsControlledBy(m *metav1.ObjectMeta, uid string) bool {
	r := ControllerOf(m)
	return r != nil && r.UID == uid
}

// SelectsEverything reports whether an owner's selector is missing or empty: it would claim every
// object in the namespace, so (as in Kubernetes) workload controllers refuse it.
func SelectsEverything(ls *metav1.LabelSelector) bool {
	return ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0)
}

// SelectorMatcher adapts a label selector to Claimer.Matches.
func SelectorMatcher(sel labels.Selector) func(map[string]string) bool {
	return func(l map[string]string) bool { return sel.Matches(labels.Set(l)) }
}

// Patcher applies a JSON merge patch to one object (ns/name). Callers bind it to their typed client.
type Patcher func(ctx context.Context, namespace, name string, mergePatch []byte) error

// Claimer claims objects of one kind for one owner.
type Claimer[T any, PT interface {
	*T
	metav1.Object
}] struct {
	// Owner is the owner's metadata; a deleting owner adopts nothing and releases nothing.
	Owner *metav1.ObjectMeta
	// Ref is the controller reference added on adoption (see NewControllerRef).
	Ref metav1.OwnerReference
	// Matches says whether an object's labels fit the owner's selector.
	Matches func(labels map[string]string) bool
	// Patch writes ownerReference changes.
	Patch Patcher
	// CanAdopt, when set, is called once before the first adoption to re-read the owner from the API
	// (not a cache) and fail if it is gone, replaced (other UID) or being deleted: adopting for a stale
	// owner would hand its pods to a dead object.
	CanAdopt func(ctx context.Context) error
}

// Claim returns the objects the owner controls after adopting matching orphans and releasing owned
// objects that no longer match. Objects controlled by someone else are ignored. An object that cannot
// be adopted or released (gone, conflict) is left out; the first real error is returned together with
// the objects claimed so far.
func (c *Claimer[T, PT]) Claim(ctx context.Context, objs []PT) ([]PT, error) {
	var (
		claimed  []PT
		firstErr error
		adoptOK  *bool
	)
	ownerDeleting := c.Owner.DeletionTimestamp != nil
	for _, o := range objs {
		m := o.GetObjectMeta()
		ref := ControllerOf(m)
		matches := c.Matches(m.Labels)
		switch {
		case ref != nil && ref.UID == c.Owner.UID:
			if matches || ownerDeleting {
				claimed = append(claimed, o)
				continue
			}
			if err := c.release(ctx, m); err != nil && firstErr == nil {
				firstErr = err
			}
		case ref != nil:
			// controlled by another owner: not ours
		case !matches || ownerDeleting || m.DeletionTimestamp != nil:
			// an orphan we do not want, or cannot take now
		default:
			if adoptOK == nil {
				ok := true
				if c.CanAdopt != nil {
					if err := c.CanAdopt(ctx); err != nil {
						ok = false
						if firstErr == nil {
							firstErr = fmt.Errorf("checking owner %s before adoption: %w", c.Owner.Name, err)
						}
					}
				}
				adoptOK = &ok
			}
			if !*adoptOK {
				continue
			}
			if err := c.adopt(ctx, m); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			claimed = append(claimed, o)
		}
	}
	return claimed, firstErr
}

type metaPatch struct {
	Metadata struct {
		ResourceVersion string                  `json:"resourceVersion"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
}

// AdoptPatch returns the merge patch that adds ref to m's ownerReferences, guarded by m's
// resourceVersion.
func AdoptPatch(m *metav1.ObjectMeta, ref metav1.OwnerReference) []byte {
	var p metaPatch
	p.Metadata.ResourceVersion = m.ResourceVersion
	p.Metadata.OwnerReferences = append(append([]metav1.OwnerReference{}, m.OwnerReferences...), ref)
	b, _ := json.Marshal(p)
	return b
}

// RemoveOwnerPatch returns the merge patch that drops every owner reference to uid from m, guarded by
// m's resourceVersion.
func RemoveOwnerPatch(m *metav1.ObjectMeta, uid string) []byte {
	var p metaPatch
	p.Metadata.ResourceVersion = m.ResourceVersion
	p.Metadata.OwnerReferences = []metav1.OwnerReference{}
	for _, r := range m.OwnerReferences {
		if r.UID != uid {
			p.Metadata.OwnerReferences = append(p.Metadata.OwnerReferences, r)
		}
	}
	b, _ := json.Marshal(p)
	return b
}

func (c *Claimer[T, PT]) adopt(ctx context.Context, m *metav1.ObjectMeta) error {
	if err := c.Patch(ctx, m.Namespace, m.Name, AdoptPatch(m, c.Ref)); err != nil {
		return fmt.Errorf("adopting %s/%s: %w", m.Namespace, m.Name, err)
	}
	return nil
}

func (c *Claimer[T, PT]) release(ctx context.Context, m *metav1.ObjectMeta) error {
	if err := c.Patch(ctx, m.Namespace, m.Name, RemoveOwnerPatch(m, c.Owner.UID)); err != nil {
		return fmt.Errorf("releasing %s/%s: %w", m.Namespace, m.Name, err)
	}
	return nil
}

// Owners resolves objects to the cached owners of one kind that control them or could adopt them.
type Owners[T any, PT interface {
	*T
	metav1.Object
}] struct {
	// Kind is the owner kind a controller reference must name ("ReplicaSet").
	Kind string
	// Store is the owners' informer cache, indexed by namespace.
	Store controller.Store[T]
	// Selector returns an owner's label selector (for orphans it could adopt).
	Selector func(owner PT) *metav1.LabelSelector
}

// ControllerKey returns the key of the cached owner that m's controller reference names, when its kind
// and UID match; a reference to a deleted or re-created owner resolves to nothing.
func (o Owners[T, PT]) ControllerKey(m *metav1.ObjectMeta) (string, bool) {
	r := ControllerOf(m)
	if r == nil || r.Kind != o.Kind {
		return "", false
	}
	key := m.Namespace + "/" + r.Name
	owner, ok := o.Store.Get(key)
	if !ok || PT(owner).GetObjectMeta().UID != r.UID {
		return "", false
	}
	return key, true
}

// MatchingKeys returns the keys of the owners in m's namespace whose selector matches m's labels: the
// owners that may adopt it if it is an orphan.
func (o Owners[T, PT]) MatchingKeys(m *metav1.ObjectMeta) []string {
	var keys []string
	for _, owner := range o.Store.ByIndex(controller.IndexNamespace, m.Namespace) {
		if labels.Matches(o.Selector(owner), m.Labels) {
			keys = append(keys, controller.KeyOf(PT(owner).GetObjectMeta()))
		}
	}
	return keys
}

// MergePatcher adapts a typed client to a Claimer's Patch: each change is a JSON merge patch, and an
// object that is already gone counts as done.
func MergePatcher[T any](c controller.PatchClient[T]) Patcher {
	return func(ctx context.Context, ns, name string, patch []byte) error {
		_, err := c.Patch(ctx, ns, name, client.MergePatchType, patch, client.PatchOptions{})
		if client.IsNotFound(err) {
			return nil
		}
		return err
	}
}

// FreshOwnerCheck returns a Claimer's CanAdopt: it re-reads owner through c and fails when it is gone,
// replaced (another UID) or being deleted. what names the owner's kind in the error ("replicaset").
func FreshOwnerCheck[T any, PT interface {
	*T
	metav1.Object
}](c controller.GetClient[T], owner *metav1.ObjectMeta, what string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := c.Get(ctx, owner.Namespace, owner.Name, client.GetOptions{})
		if err != nil {
			return err
		}
		m := PT(fresh).GetObjectMeta()
		if m.UID != owner.UID {
			return fmt.Errorf("%s %s/%s was replaced (uid %s, cached %s)", what, owner.Namespace, owner.Name, m.UID, owner.UID)
		}
		if m.DeletionTimestamp != nil {
			return fmt.Errorf("%s %s/%s is being deleted", what, owner.Namespace, owner.Name)
		}
		return nil
	}
}
