package registry

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Resource is one served resource: what discovery says about it and the strategy that governs writes.
type Resource struct {
	Group        string
	Version      string
	Kind         string
	Plural       string
	Singular     string
	ShortNames   []string
	Categories   []string
	Verbs        []string
	Subresources []Subresource
	Namespaced   bool
	// New returns an empty object of the resource's Go type.
	New func() metav1.Object
	// KeyPrefix is the storage prefix of the resource ("/registry/pods/"); objects live under
	// KeyPrefix + [namespace "/"] + name.
	KeyPrefix string

	strategy strategy
}

// GroupResource is the resource's qualified name for messages.
func (r *Resource) GroupResource() apierrors.GroupResource {
	return apierrors.GroupResource{Group: r.Group, Resource: r.Plural}
}

// APIVersion is "v1" for the core group, "<group>/<version>" otherwise.
func (r *Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// Subresource is one sub-path of an object: its name, the kind of its body (empty: the parent's) and
// its verbs.
type Subresource struct {
	Name                 string
	Group, Version, Kind string
	Verbs                []string
}

// HasSubresource reports whether sub ("status", "scale", ...) is served.
func (r *Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s.Name == sub {
			return true
		}
	}
	return false
}

// HasVerb reports whether verb is served on the main resource.
func (r *Resource) HasVerb(verb string) bool { return slices.Contains(r.Verbs, verb) }

// Key is the storage key of one object.
func (r *Resource) Key(namespace, name string) string {
	if r.Namespaced {
		return r.KeyPrefix + namespace + "/" + name
	}
	return r.KeyPrefix + name
}

// Prefix is the storage prefix of a namespace's objects, or of all objects when namespace is "".
func (r *Resource) Prefix(namespace string) string {
	if r.Namespaced && namespace != "" {
		return r.KeyPrefix + namespace + "/"
	}
	return r.KeyPrefix
}

// NamespaceOfKey recovers the namespace from a storage key (namespaced resources only).
func (r *Resource) NamespaceOfKey(key string) string {
	if !r.Namespaced {
		return ""
	}
	rest := strings.TrimPrefix(key, r.KeyPrefix)
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}

// strategy holds the per-resource hooks; a nil hook means the generic behaviour.
type strategy struct {
	// keepStatusOnCreate keeps a client-sent status on create (nodes register with theirs).
	keepStatusOnCreate bool
	// annotationsBumpGeneration makes annotation changes bump metadata.generation (Deployments).
	annotationsBumpGeneration bool
	// noGeneration leaves metadata.generation unset (kinds without a spec).
	noGeneration bool
	// prepareForCreate adjusts a new object after defaulting (pods get phase Pending).
	prepareForCreate func(obj metav1.Object)
	// prepareForUpdate adjusts an updated object against the stored one.
	prepareForUpdate func(obj, old metav1.Object, subresource string)
	// validateCreate adds resource-specific create rules (a Job's generated selector).
	validateCreate func(obj metav1.Object) field.ErrorList
	// validateUpdate adds resource-specific update rules (immutable fields).
	validateUpdate func(obj, old metav1.Object) field.ErrorList
	// beforeCreate runs just before the object is stored (allocators); undo releases what it took if
	// the create then fails.
	beforeCreate func(ctx context.Context, obj metav1.Object) (undo func(), err error)
	// beforeUpdate runs inside the update (allocators); commit runs after success, undo after failure.
	beforeUpdate func(ctx context.Context, obj, old metav1.Object) (commit, undo func(), err error)
	// afterDelete runs once the object is gone from storage (release allocations).
	afterDelete func(ctx context.Context, obj metav1.Object)
	// gracePeriod returns the grace period of a deletion (pods); nil means delete at once.
	gracePeriod func(obj metav1.Object, requested *int64) int64
	// checkDelete may forbid a deletion (protected namespaces).
	checkDelete func(obj metav1.Object) error
	// markDeleting adjusts an object being marked for deletion (namespaces become Terminating).
	markDeleting func(obj metav1.Object)
	// held reports whether something besides metadata.finalizers keeps a terminating object
	// (a namespace's spec.finalizers).
	held func(obj metav1.Object) bool
}
