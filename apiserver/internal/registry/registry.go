// Package registry is the apiserver's object lifecycle over the storage layer: for every served resource
// it applies the generic Kubernetes rules (server-set metadata, generateName, generation, spec/status
// split, resourceVersion preconditions, finalizers and graceful deletion, namespace lifecycle) and the
// resource's own strategy (defaulting, validation, immutable fields, ClusterIP and NodePort allocation,
// pod binding and eviction).
//
// It speaks Go objects and Go errors; HTTP decoding, patching, selectors and watch streaming live in
// handlers, and errors become Status responses only in apierrors.ToStatus.
package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/admission"
	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/storage"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Validator checks objects; it is shared/validation in production.
type Validator interface {
	Validate(obj metav1.Object) field.ErrorList
	ValidateUpdate(obj, old metav1.Object) field.ErrorList
	ValidateStatusUpdate(obj, old metav1.Object) field.ErrorList
}

// Admitter is the admission chain (internal/admission), run on every create and main-resource update
// after defaulting and before validation.
type Admitter interface {
	Admit(ctx context.Context, a admission.Attributes) error
}

// Config holds what the registry depends on.
type Config struct {
	Store     storage.Store
	Validator Validator
	// Admission may be nil (no admission).
	Admission Admitter
	Log       *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Services configures ClusterIP and NodePort allocation.
	Services ServiceConfig
}

// Registry serves every resource's lifecycle over one store.
type Registry struct {
	store     storage.Store
	validator Validator
	admission Admitter
	log       *zap.Logger
	now       func() time.Time

	resources []*Resource
	byGroup   map[string]*Resource // "<group>/<version>/<plural>"
	byKind    map[string]*Resource // "<group>/<kind>"

	ips   *ipAllocator
	ports *portAllocator

	// deletingNamespaces holds the namespaces this apiserver marked for deletion in the last minute
	// (name -> time). Creates into them skip the watch cache and read the namespace live, so a create
	// right after the delete cannot slip through on a cache that has not seen it yet.
	deletingNamespaces sync.Map
}

// forceLiveLookup is how long a namespace stays in deletingNamespaces.
const forceLiveLookup = time.Minute

// New builds the registry of the given resources.
func New(cfg Config, resources []*Resource) (*Registry, error) {
	r := &Registry{
		store:     cfg.Store,
		validator: cfg.Validator,
		admission: cfg.Admission,
		log:       cfg.Log,
		now:       cfg.Now,
		byGroup:   map[string]*Resource{},
		byKind:    map[string]*Resource{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	var err error
	if r.ips, err = newIPAllocator(cfg.Store, cfg.Services.ClusterIPRange); err != nil {
		return nil, err
	}
	if r.ports, err = newPortAllocator(cfg.Store, cfg.Services.NodePortRange); err != nil {
		return nil, err
	}
	for _, res := range resources {
		r.add(res)
	}
	return r, nil
}

func (r *Registry) add(res *Resource) {
	r.attachStrategy(res)
	r.resources = append(r.resources, res)
	r.byGroup[res.Group+"/"+res.Version+"/"+res.Plural] = res
	if _, ok := r.byKind[res.Group+"/"+res.Kind]; !ok {
		r.byKind[res.Group+"/"+res.Kind] = res
	}
}

// Resources returns every served resource in table order.
func (r *Registry) Resources() []*Resource { return r.resources }

// Lookup finds a resource by group, version and plural.
func (r *Registry) Lookup(group, version, plural string) (*Resource, bool) {
	res, ok := r.byGroup[group+"/"+version+"/"+plural]
	return res, ok
}

// ByKind finds a resource by group and kind.
func (r *Registry) ByKind(group, kind string) (*Resource, bool) {
	res, ok := r.byKind[group+"/"+kind]
	return res, ok
}

// Store is the underlying storage.
func (r *Registry) Store() storage.Store { return r.store }

func (r *Registry) resource(group, plural string) *Resource {
	for _, res := range r.resources {
		if res.Group == group && res.Plural == plural {
			return res
		}
	}
	return nil
}

// errDryRun aborts a storage update after the new object is computed.
var errDryRun = errors.New("dry run")

// CreateOptions modify a create.
type CreateOptions struct {
	DryRun bool
}

// Create stores a new object. obj must already carry its namespace (for namespaced resources).
func (r *Registry) Create(ctx context.Context, res *Resource, obj metav1.Object, opts CreateOptions) (metav1.Object, error) {
	m := obj.GetObjectMeta()
	generated := m.Name == "" && m.GenerateName != ""
	for attempt := 0; ; attempt++ {
		if generated {
			m.Name = m.GenerateName + randomSuffix()
		}
		out, err := r.create(ctx, res, obj, opts)
		if generated && attempt < 5 && errors.Is(err, storage.ErrAlreadyExists) {
			continue
		}
		return out, err
	}
}

func (r *Registry) create(ctx context.Context, res *Resource, obj metav1.Object, opts CreateOptions) (metav1.Object, error) {
	r.prepareForCreate(res, obj)
	m := obj.GetObjectMeta()
	if r.admission != nil {
		if err := r.admission.Admit(ctx, admission.Attributes{Operation: admission.Create, Group: res.Group,
			Resource: res.Plural, Namespace: m.Namespace, Name: m.Name, Object: obj}); err != nil {
			return nil, err
		}
	}
	if errs := r.validate(res, obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.Group, res.Kind, m.Name, errs)
	}
	if res.Namespaced {
		if err := r.checkNamespace(ctx, m.Namespace); err != nil {
			return nil, err
		}
	}
	if opts.DryRun {
		return obj, nil
	}
	var undo func()
	if h := res.strategy.beforeCreate; h != nil {
		var err error
		if undo, err = h(ctx, obj); err != nil {
			return nil, err
		}
	}
	data, err := res.encode(obj)
	if err != nil {
		if undo != nil {
			undo()
		}
		return nil, err
	}
	kv, err := r.store.Create(ctx, res.Key(m.Namespace, m.Name), data)
	if err != nil {
		if undo != nil {
			undo()
		}
		return nil, fmt.Errorf("creating %s %s: %w", res.Plural, m.Name, err)
	}
	m.ResourceVersion = strconv.FormatInt(kv.Revision, 10)
	return obj, nil
}

// prepareForCreate sets the server-owned metadata and status, then defaults.
func (r *Registry) prepareForCreate(res *Resource, obj metav1.Object) {
	res.SetTypeMeta(obj)
	m := obj.GetObjectMeta()
	m.UID = uuid.NewString()
	m.ResourceVersion = ""
	m.SelfLink = ""
	m.CreationTimestamp = metav1.NewTime(r.now().UTC().Truncate(time.Second))
	m.DeletionTimestamp = nil
	m.DeletionGracePeriodSeconds = nil
	m.Generation = 0
	if hasField(obj, "Spec") && !res.strategy.noGeneration {
		m.Generation = 1
	}
	if !res.strategy.keepStatusOnCreate {
		zeroField(obj, "Status")
	}
	if d, ok := obj.(interface{ Default() }); ok {
		d.Default()
	}
	if h := res.strategy.prepareForCreate; h != nil {
		h(obj)
	}
}

func (r *Registry) validate(res *Resource, obj metav1.Object) field.ErrorList {
	errs := validateMetaName(res, obj.GetObjectMeta())
	if len(errs) > 0 {
		return errs
	}
	if h := res.strategy.validateCreate; h != nil {
		errs = append(errs, h(obj)...)
	}
	if r.validator != nil {
		errs = append(errs, r.validator.Validate(obj)...)
	}
	return errs
}

// validateMetaName guards what the storage key is built from, whatever the validator says.
func validateMetaName(res *Resource, m *metav1.ObjectMeta) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("metadata", "name")
	switch {
	case m.Name == "" && m.GenerateName == "":
		errs = append(errs, field.Required(p, "name or generateName is required"))
	case m.Name == "." || m.Name == "..":
		errs = append(errs, field.Invalid(p, m.Name, "may not be '.' or '..'"))
	case strings.ContainsAny(m.Name, "/%"):
		errs = append(errs, field.Invalid(p, m.Name, "may not contain '/' or '%'"))
	}
	if res.Namespaced && m.Namespace == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "namespace"), ""))
	}
	return errs
}

// recentlyDeleting reports whether this apiserver marked namespace ns for deletion within
// forceLiveLookup, forgetting older entries.
func (r *Registry) recentlyDeleting(ns string) bool {
	v, ok := r.deletingNamespaces.Load(ns)
	if !ok {
		return false
	}
	if r.now().Sub(v.(time.Time)) > forceLiveLookup {
		r.deletingNamespaces.Delete(ns)
		return false
	}
	return true
}

// checkNamespace refuses writes into a missing (404) or terminating (403) namespace.
func (r *Registry) checkNamespace(ctx context.Context, ns string) error {
	nsRes := r.resource("", "namespaces")
	if nsRes == nil {
		return nil
	}
	// The watch cache answers the common case (an active namespace) from memory; anything else is
	// confirmed with a live read, since the cache may lag a namespace created a moment ago.
	key := nsRes.Key("", ns)
	if !r.recentlyDeleting(ns) {
		lr, err := r.store.List(ctx, nsRes.Prefix(""), storage.ListOptions{AnyRevision: true,
			Predicate: func(kv storage.KV) bool { return kv.Key == key }})
		if err == nil && len(lr.Items) == 1 {
			if obj, err := nsRes.Decode(lr.Items[0]); err == nil && obj.GetObjectMeta().DeletionTimestamp == nil && namespacePhase(obj) != "Terminating" {
				return nil
			}
		}
	}
	kv, err := r.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return apierrors.NewNotFound(nsRes.GroupResource(), ns)
	}
	if err != nil {
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	obj, err := nsRes.Decode(kv)
	if err != nil {
		return err
	}
	if obj.GetObjectMeta().DeletionTimestamp != nil || namespacePhase(obj) == "Terminating" {
		st := apierrors.NewForbidden(nsRes.GroupResource(), ns,
			fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", ns))
		st.Message = fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", ns)
		st.Details.Causes = []metav1.StatusCause{{Type: "NamespaceTerminating", Field: "metadata.namespace",
			Message: fmt.Sprintf("namespace %s is being terminated", ns)}}
		return st
	}
	return nil
}

// Get reads one object.
func (r *Registry) Get(ctx context.Context, res *Resource, ns, name string) (metav1.Object, error) {
	kv, err := r.store.Get(ctx, res.Key(ns, name))
	if err != nil {
		return nil, fmt.Errorf("getting %s %s: %w", res.Plural, name, err)
	}
	return res.Decode(kv)
}

// ListOptions select a list; Match filters decoded objects.
type ListOptions struct {
	Revision    int64
	Exact       bool
	AnyRevision bool
	Limit       int64
	Continue    string
	Match       func(metav1.Object) bool
}

// ListResult is one page of objects.
type ListResult struct {
	Items              []metav1.Object
	Revision           int64
	Continue           string
	RemainingItemCount *int64
}

// List reads the objects of a namespace ("" for all namespaces or cluster-scoped resources).
func (r *Registry) List(ctx context.Context, res *Resource, ns string, opts ListOptions) (ListResult, error) {
	decoded := map[string]metav1.Object{}
	var decodeErr error
	sopts := storage.ListOptions{
		Revision:    opts.Revision,
		Exact:       opts.Exact,
		AnyRevision: opts.AnyRevision,
		Limit:       opts.Limit,
		Continue:    opts.Continue,
	}
	if opts.Match != nil {
		sopts.Predicate = func(kv storage.KV) bool {
			obj, err := res.Decode(kv)
			if err != nil {
				decodeErr = err
				return false
			}
			if !opts.Match(obj) {
				return false
			}
			decoded[kv.Key] = obj
			return true
		}
	}
	lr, err := r.store.List(ctx, res.Prefix(ns), sopts)
	if err != nil {
		return ListResult{}, fmt.Errorf("listing %s: %w", res.Plural, err)
	}
	if decodeErr != nil {
		r.log.Warn("skipping undecodable object in list", zap.String("resource", res.Plural), zap.Error(decodeErr))
	}
	out := ListResult{Revision: lr.Revision, Continue: lr.Continue, RemainingItemCount: lr.RemainingItemCount,
		Items: make([]metav1.Object, 0, len(lr.Items))}
	for _, kv := range lr.Items {
		obj, ok := decoded[kv.Key]
		if !ok {
			obj, err = res.Decode(kv)
			if err != nil {
				r.log.Warn("skipping undecodable object in list", zap.String("resource", res.Plural), zap.Error(err))
				continue
			}
		}
		out.Items = append(out.Items, obj)
	}
	return out, nil
}

// Watch opens a raw storage watch of a namespace (or everything) from a revision.
func (r *Registry) Watch(ctx context.Context, res *Resource, ns string, fromRevision int64) (storage.Watcher, error) {
	w, err := r.store.Watch(ctx, res.Prefix(ns), fromRevision)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", res.Plural, err)
	}
	return w, nil
}

// UpdateOptions modify an update.
type UpdateOptions struct {
	DryRun bool
	// Subresource is "" (the main resource), "status" or "finalize".
	Subresource string
}

// Mutator computes the new object from a copy of the current one. It may run several times when
// writers race; it must derive its result from its argument only.
type Mutator func(cur metav1.Object) (metav1.Object, error)

// Update rewrites one object. A resourceVersion on the new object must equal the current one
// (409 Conflict otherwise); an empty one makes the update unconditional.
func (r *Registry) Update(ctx context.Context, res *Resource, ns, name string, mutate Mutator, opts UpdateOptions) (metav1.Object, error) {
	var (
		result     metav1.Object
		commit     func()
		undo       func()
		dryRunDone metav1.Object
	)
	key := res.Key(ns, name)
	kv, err := r.store.Update(ctx, key, 0, func(cur storage.KV) ([]byte, error) {
		if undo != nil {
			undo()
			undo, commit = nil, nil
		}
		old, err := res.Decode(cur)
		if err != nil {
			return nil, err
		}
		obj, err := mutate(res.DeepCopy(old))
		if err != nil {
			return nil, err
		}
		if err := r.prepareForUpdate(ctx, res, obj, old, opts.Subresource); err != nil {
			return nil, err
		}
		if h := res.strategy.beforeUpdate; h != nil && opts.Subresource == "" && !opts.DryRun {
			if commit, undo, err = h(ctx, obj, old); err != nil {
				return nil, err
			}
		}
		if opts.DryRun {
			dryRunDone = obj
			return nil, errDryRun
		}
		result = obj
		return res.encode(obj)
	})
	if errors.Is(err, errDryRun) {
		return dryRunDone, nil
	}
	if err != nil {
		if undo != nil {
			undo()
		}
		return nil, fmt.Errorf("updating %s %s: %w", res.Plural, name, err)
	}
	if commit != nil {
		commit()
	}
	result.GetObjectMeta().ResourceVersion = strconv.FormatInt(kv.Revision, 10)
	if r.shouldRemove(res, result) {
		removed, err := r.remove(ctx, res, result, kv.Revision)
		if err == nil {
			return removed, nil
		}
		if !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	return result, nil
}

// prepareForUpdate enforces the generic update rules on obj against the stored old.
func (r *Registry) prepareForUpdate(ctx context.Context, res *Resource, obj, old metav1.Object, sub string) error {
	m, om := obj.GetObjectMeta(), old.GetObjectMeta()
	if m.ResourceVersion != "" && m.ResourceVersion != om.ResourceVersion {
		return apierrors.NewConflict(res.GroupResource(), om.Name, apierrors.ConflictModified)
	}
	if m.UID != "" && m.UID != om.UID {
		return apierrors.NewConflict(res.GroupResource(), om.Name,
			fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", m.UID, om.UID))
	}
	if m.Name != "" && m.Name != om.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.Name, om.Name))
	}
	if res.Namespaced && m.Namespace != "" && m.Namespace != om.Namespace {
		return apierrors.NewBadRequest("the namespace of the object does not match the namespace on the URL")
	}
	res.SetTypeMeta(obj)
	switch sub {
	case "status":
		// Only status changes: everything else is the stored object's.
		st := res.DeepCopy(old)
		copyField(st, obj, "Status")
		copyInto(obj, st)
	case "binding":
		// pods/binding writes spec.nodeName and the PodScheduled condition together.
	case "finalize":
		st := res.DeepCopy(old)
		copyField(st, obj, "Spec")
		copyInto(obj, st)
	default:
		if res.HasSubresource("status") {
			copyField(obj, old, "Status")
		}
	}
	m = obj.GetObjectMeta()
	m.Name, m.Namespace, m.UID = om.Name, om.Namespace, om.UID
	m.CreationTimestamp = om.CreationTimestamp
	m.DeletionTimestamp = om.DeletionTimestamp
	m.DeletionGracePeriodSeconds = om.DeletionGracePeriodSeconds
	m.ResourceVersion = om.ResourceVersion
	m.SelfLink = ""
	m.Generation = om.Generation
	if d, ok := obj.(interface{ Default() }); ok {
		d.Default()
	}
	if h := res.strategy.prepareForUpdate; h != nil {
		h(obj, old, sub)
	}
	if r.admission != nil && sub == "" {
		if err := r.admission.Admit(ctx, admission.Attributes{Operation: admission.Update, Group: res.Group,
			Resource: res.Plural, Namespace: om.Namespace, Name: om.Name, Object: obj, OldObject: old}); err != nil {
			return err
		}
	}
	if sub == "" && om.Generation > 0 {
		changed := !fieldsEqual(obj, old, "Spec")
		if res.strategy.annotationsBumpGeneration && !mapsEqual(m.Annotations, om.Annotations) {
			changed = true
		}
		if changed {
			m.Generation = om.Generation + 1
		}
	}
	errs := validateMetaName(res, m)
	if om.DeletionTimestamp != nil {
		for _, f := range m.Finalizers {
			if !slices.Contains(om.Finalizers, f) {
				errs = append(errs, field.Forbidden(field.NewPath("metadata", "finalizers"),
					"no new finalizers can be added if the object is being deleted, found new finalizers "+strconv.Quote(f)))
			}
		}
	}
	if r.validator != nil {
		switch sub {
		case "binding":
		case "status":
			errs = append(errs, r.validator.ValidateStatusUpdate(obj, old)...)
		default:
			errs = append(errs, r.validator.ValidateUpdate(obj, old)...)
		}
	}
	if h := res.strategy.validateUpdate; h != nil && sub == "" {
		errs = append(errs, h(obj, old)...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(res.Group, res.Kind, om.Name, errs)
	}
	return nil
}

// copyInto overwrites dst with src (same type).
func copyInto(dst, src metav1.Object) {
	d, ok1 := structPointer(dst)
	s, ok2 := structPointer(src)
	if ok1 && ok2 {
		d.Set(s)
	}
}

// shouldRemove reports whether a terminating object has nothing left holding it.
func (r *Registry) shouldRemove(res *Resource, obj metav1.Object) bool {
	m := obj.GetObjectMeta()
	if m.DeletionTimestamp == nil || len(m.Finalizers) > 0 {
		return false
	}
	if m.DeletionGracePeriodSeconds != nil && *m.DeletionGracePeriodSeconds > 0 {
		return false
	}
	if h := res.strategy.held; h != nil && h(obj) {
		return false
	}
	return true
}

// remove deletes obj at exactly revision rev and runs the after-delete hook.
func (r *Registry) remove(ctx context.Context, res *Resource, obj metav1.Object, rev int64) (metav1.Object, error) {
	m := obj.GetObjectMeta()
	kv, err := r.store.Delete(ctx, res.Key(m.Namespace, m.Name), rev, nil)
	if err != nil {
		return nil, err
	}
	last, err := res.Decode(kv)
	if err != nil {
		last = obj
	}
	if h := res.strategy.afterDelete; h != nil {
		h(ctx, last)
	}
	return last, nil
}

// DeleteOptions modify a delete.
type DeleteOptions struct {
	GracePeriodSeconds *int64
	Propagation        metav1.DeletionPropagation
	OrphanDependents   *bool
	UID                string
	ResourceVersion    string
	DryRun             bool
}

// The finalizers the garbage collector honours.
const (
	FinalizerOrphan     = "orphan"
	FinalizerForeground = "foregroundDeletion"
)

// Delete deletes one object or, when finalizers or a grace period hold it, marks it with a
// deletionTimestamp. removed says which happened; obj is the last state either way.
func (r *Registry) Delete(ctx context.Context, res *Resource, ns, name string, opts DeleteOptions) (obj metav1.Object, removed bool, err error) {
	for attempt := 0; attempt < 20; attempt++ {
		obj, removed, err = r.deleteOnce(ctx, res, ns, name, opts)
		if errors.Is(err, storage.ErrConflict) && opts.ResourceVersion == "" {
			continue
		}
		break
	}
	if err != nil {
		return nil, false, fmt.Errorf("deleting %s %s: %w", res.Plural, name, err)
	}
	return obj, removed, nil
}

func (r *Registry) deleteOnce(ctx context.Context, res *Resource, ns, name string, opts DeleteOptions) (metav1.Object, bool, error) {
	kv, err := r.store.Get(ctx, res.Key(ns, name))
	if err != nil {
		return nil, false, err
	}
	cur, err := res.Decode(kv)
	if err != nil {
		return nil, false, err
	}
	m := cur.GetObjectMeta()
	if opts.UID != "" && opts.UID != m.UID {
		return nil, false, apierrors.NewConflict(res.GroupResource(), name,
			fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", opts.UID, m.UID))
	}
	if opts.ResourceVersion != "" && opts.ResourceVersion != m.ResourceVersion {
		return nil, false, apierrors.NewConflict(res.GroupResource(), name,
			fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", opts.ResourceVersion, m.ResourceVersion))
	}
	if h := res.strategy.checkDelete; h != nil {
		if err := h(cur); err != nil {
			return nil, false, err
		}
	}
	obj := res.DeepCopy(cur)
	om := obj.GetObjectMeta()
	om.ResourceVersion = m.ResourceVersion
	changed := false
	switch {
	case opts.Propagation == metav1.DeletePropagationOrphan || (opts.Propagation == "" && opts.OrphanDependents != nil && *opts.OrphanDependents):
		changed = addFinalizer(om, FinalizerOrphan) || changed
	case opts.Propagation == metav1.DeletePropagationForeground:
		changed = addFinalizer(om, FinalizerForeground) || changed
	}
	var grace int64
	if h := res.strategy.gracePeriod; h != nil {
		grace = h(obj, opts.GracePeriodSeconds)
	}
	now := r.now().UTC().Truncate(time.Second)
	if om.DeletionTimestamp == nil {
		if h := res.strategy.markDeleting; h != nil {
			h(obj)
		}
		if res.Group == "" && res.Plural == "namespaces" {
			r.deletingNamespaces.Store(om.Name, r.now())
		}
		t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
		om.DeletionTimestamp = &t
		om.DeletionGracePeriodSeconds = &grace
		changed = true
	} else if om.DeletionGracePeriodSeconds == nil || grace < *om.DeletionGracePeriodSeconds {
		// A shorter grace period (the nodeagent's final delete with 0) shortens the deletion.
		t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
		if om.DeletionTimestamp.After(t.Time) {
			om.DeletionTimestamp = &t
		}
		om.DeletionGracePeriodSeconds = &grace
		changed = true
	}
	if r.shouldRemove(res, obj) {
		if opts.DryRun {
			return obj, true, nil
		}
		last, err := r.remove(ctx, res, cur, kv.Revision)
		return last, err == nil, err
	}
	if !changed || opts.DryRun {
		return obj, false, nil
	}
	data, err := res.encode(obj)
	if err != nil {
		return nil, false, err
	}
	nkv, err := r.store.Update(ctx, kv.Key, kv.Revision, func(storage.KV) ([]byte, error) { return data, nil })
	if err != nil {
		return nil, false, err
	}
	om.ResourceVersion = strconv.FormatInt(nkv.Revision, 10)
	return obj, false, nil
}

func addFinalizer(m *metav1.ObjectMeta, f string) bool {
	if slices.Contains(m.Finalizers, f) {
		return false
	}
	m.Finalizers = append(m.Finalizers, f)
	return true
}

// randomSuffix is 5 characters from Kubernetes's generateName alphabet (no vowels, no look-alikes).
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(fmt.Sprintf("reading random bytes: %v", err))
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b[:])
}
