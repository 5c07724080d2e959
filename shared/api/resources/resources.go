// Package resources is the one table of every resource Skiff serves: group, version, kind, plural,
// singular, scope, short names, categories, verbs and subresources, plus constructors for the Go types.
// The apiserver routes, stores and serves discovery from it, the client builds paths from it and skiffctl
// resolves names ("po", "deploy", "deployments.apps") with it.
//
// It holds no behaviour beyond lookups and path building: storage, handlers and validation live elsewhere.
// Storage keys are "/registry/<plural>/<namespace>/<name>" (cluster-scoped: no namespace segment); every
// plural in the table is unique, which TestPluralsAreUnique enforces, so the group is not part of the key.
// events.k8s.io/v1 is not served: it would share storage with core v1 events and need conversion.
package resources

import (
	"reflect"
	"strings"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	policyv1 "github.com/skiffhq/skiff/shared/api/policy/v1"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
)

// Subresource is a sub-path of an object such as pods/status or deployments/scale.
type Subresource struct {
	// Name is status, scale, binding, log, exec, eviction, attach, portforward, finalize, ...
	Name string
	// Kind, Group and Version are those of the body the subresource takes and returns; Group and Version
	// are empty when they equal the parent's (status), set when not (scale is autoscaling/v1 Scale).
	Kind, Group, Version string
	Verbs                []string
}

// Resource describes one served resource.
type Resource struct {
	Group, Version, Kind, ListKind, Plural, Singular string
	Namespaced                                       bool
	ShortNames, Categories, Verbs                    []string
	Subresources                                     []Subresource
	// New returns a pointer to a zero object of the resource's Go type, e.g. &corev1.Pod{}.
	New func() metav1.Object
	// NewList returns a pointer to an empty list, e.g. &corev1.PodList{}.
	NewList func() any
}

// The verb sets resources and subresources use.
var (
	crud       = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	statusVerb = []string{"get", "patch", "update"}
)

func newOf[T any, PT interface {
	*T
	metav1.Object
}]() func() metav1.Object {
	return func() metav1.Object { return PT(new(T)) }
}

func listOf[T any]() func() any {
	return func() any { return &metav1.List[T]{} }
}

func status() Subresource { return Subresource{Name: "status", Verbs: statusVerb} }

func scale() Subresource {
	return Subresource{Name: "scale", Kind: "Scale", Group: "autoscaling", Version: "v1", Verbs: statusVerb}
}

// table is read-only after construction; All hands out a copy of the slice.
var table = []Resource{
	{Version: "v1", Kind: "Namespace", Plural: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
		Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"},
		Subresources: []Subresource{
			{Name: "finalize", Verbs: []string{"update"}},
			status(),
		},
		New: newOf[corev1.Namespace](), NewList: listOf[corev1.Namespace]()},
	{Version: "v1", Kind: "Node", Plural: "nodes", Singular: "node", ShortNames: []string{"no"},
		Verbs: crud, Subresources: []Subresource{status(), {Name: "proxy", Kind: "NodeProxyOptions", Verbs: []string{"create", "delete", "get", "patch", "update"}}},
		New: newOf[corev1.Node](), NewList: listOf[corev1.Node]()},
	{Version: "v1", Kind: "Pod", Plural: "pods", Singular: "pod", Namespaced: true, ShortNames: []string{"po"},
		Categories: []string{"all"}, Verbs: crud,
		Subresources: []Subresource{
			{Name: "attach", Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
			{Name: "binding", Kind: "Binding", Verbs: []string{"create"}},
			{Name: "eviction", Kind: "Eviction", Group: "policy", Version: "v1", Verbs: []string{"create"}},
			{Name: "exec", Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
			{Name: "log", Kind: "Pod", Verbs: []string{"get"}},
			{Name: "portforward", Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}},
			status(),
		},
		New: newOf[corev1.Pod](), NewList: listOf[corev1.Pod]()},
	{Version: "v1", Kind: "Binding", Plural: "bindings", Singular: "binding", Namespaced: true,
		Verbs: []string{"create"},
		New:   newOf[corev1.Binding](), NewList: listOf[corev1.Binding]()},
	{Version: "v1", Kind: "PodTemplate", Plural: "podtemplates", Singular: "podtemplate", Namespaced: true,
		Verbs: crud, New: newOf[corev1.PodTemplate](), NewList: listOf[corev1.PodTemplate]()},
	{Version: "v1", Kind: "Service", Plural: "services", Singular: "service", Namespaced: true,
		ShortNames: []string{"svc"}, Categories: []string{"all"},
		Verbs:        []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		Subresources: []Subresource{status()},
		New:          newOf[corev1.Service](), NewList: listOf[corev1.Service]()},
	{Version: "v1", Kind: "Endpoints", Plural: "endpoints", Singular: "endpoints", Namespaced: true,
		ShortNames: []string{"ep"}, Verbs: crud,
		New: newOf[corev1.Endpoints](), NewList: listOf[corev1.Endpoints]()},
	{Version: "v1", Kind: "ConfigMap", Plural: "configmaps", Singular: "configmap", Namespaced: true,
		ShortNames: []string{"cm"}, Verbs: crud,
		New: newOf[corev1.ConfigMap](), NewList: listOf[corev1.ConfigMap]()},
	{Version: "v1", Kind: "Secret", Plural: "secrets", Singular: "secret", Namespaced: true, Verbs: crud,
		New: newOf[corev1.Secret](), NewList: listOf[corev1.Secret]()},
	{Version: "v1", Kind: "ServiceAccount", Plural: "serviceaccounts", Singular: "serviceaccount", Namespaced: true,
		ShortNames: []string{"sa"}, Verbs: crud,
		New: newOf[corev1.ServiceAccount](), NewList: listOf[corev1.ServiceAccount]()},
	{Version: "v1", Kind: "Event", Plural: "events", Singular: "event", Namespaced: true,
		ShortNames: []string{"ev"}, Verbs: crud,
		New: newOf[corev1.Event](), NewList: listOf[corev1.Event]()},
	{Version: "v1", Kind: "PersistentVolume", Plural: "persistentvolumes", Singular: "persistentvolume",
		ShortNames: []string{"pv"}, Verbs: crud, Subresources: []Subresource{status()},
		New: newOf[corev1.PersistentVolume](), NewList: listOf[corev1.PersistentVolume]()},
	{Version: "v1", Kind: "PersistentVolumeClaim", Plural: "persistentvolumeclaims", Singular: "persistentvolumeclaim",
		Namespaced: true, ShortNames: []string{"pvc"}, Verbs: crud, Subresources: []Subresource{status()},
		New: newOf[corev1.PersistentVolumeClaim](), NewList: listOf[corev1.PersistentVolumeClaim]()},

	{Group: "apps", Version: "v1", Kind: "Deployment", Plural: "deployments", Singular: "deployment", Namespaced: true,
		ShortNames: []string{"deploy"}, Categories: []string{"all"}, Verbs: crud,
		Subresources: []Subresource{scale(), status()},
		New:          newOf[appsv1.Deployment](), NewList: listOf[appsv1.Deployment]()},
	{Group: "apps", Version: "v1", Kind: "ReplicaSet", Plural: "replicasets", Singular: "replicaset", Namespaced: true,
		ShortNames: []string{"rs"}, Categories: []string{"all"}, Verbs: crud,
		Subresources: []Subresource{scale(), status()},
		New:          newOf[appsv1.ReplicaSet](), NewList: listOf[appsv1.ReplicaSet]()},
	{Group: "apps", Version: "v1", Kind: "DaemonSet", Plural: "daemonsets", Singular: "daemonset", Namespaced: true,
		ShortNames: []string{"ds"}, Categories: []string{"all"}, Verbs: crud,
		Subresources: []Subresource{status()},
		New:          newOf[appsv1.DaemonSet](), NewList: listOf[appsv1.DaemonSet]()},
	{Group: "apps", Version: "v1", Kind: "StatefulSet", Plural: "statefulsets", Singular: "statefulset", Namespaced: true,
		ShortNames: []string{"sts"}, Categories: []string{"all"}, Verbs: crud,
		Subresources: []Subresource{scale(), status()},
		New:          newOf[appsv1.StatefulSet](), NewList: listOf[appsv1.StatefulSet]()},
	{Group: "apps", Version: "v1", Kind: "ControllerRevision", Plural: "controllerrevisions", Singular: "controllerrevision",
		Namespaced: true, Verbs: crud,
		New: newOf[appsv1.ControllerRevision](), NewList: listOf[appsv1.ControllerRevision]()},

	{Group: "batch", Version: "v1", Kind: "Job", Plural: "jobs", Singular: "job", Namespaced: true,
		Categories: []string{"all"}, Verbs: crud, Subresources: []Subresource{status()},
		New: newOf[batchv1.Job](), NewList: listOf[batchv1.Job]()},
	{Group: "batch", Version: "v1", Kind: "CronJob", Plural: "cronjobs", Singular: "cronjob", Namespaced: true,
		ShortNames: []string{"cj"}, Categories: []string{"all"}, Verbs: crud, Subresources: []Subresource{status()},
		New: newOf[batchv1.CronJob](), NewList: listOf[batchv1.CronJob]()},

	{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Plural: "endpointslices", Singular: "endpointslice",
		Namespaced: true, Verbs: crud,
		New: newOf[discoveryv1.EndpointSlice](), NewList: listOf[discoveryv1.EndpointSlice]()},
	{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", Plural: "leases", Singular: "lease", Namespaced: true,
		Verbs: crud, New: newOf[coordinationv1.Lease](), NewList: listOf[coordinationv1.Lease]()},
	{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Plural: "horizontalpodautoscalers",
		Singular: "horizontalpodautoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"},
		Verbs: crud, Subresources: []Subresource{status()},
		New: newOf[autoscalingv2.HorizontalPodAutoscaler](), NewList: listOf[autoscalingv2.HorizontalPodAutoscaler]()},
	{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass", Plural: "storageclasses", Singular: "storageclass",
		ShortNames: []string{"sc"}, Verbs: crud,
		New: newOf[storagev1.StorageClass](), NewList: listOf[storagev1.StorageClass]()},
	{Group: "scheduling.k8s.io", Version: "v1", Kind: "PriorityClass", Plural: "priorityclasses", Singular: "priorityclass",
		ShortNames: []string{"pc"}, Verbs: crud,
		New: newOf[schedulingv1.PriorityClass](), NewList: listOf[schedulingv1.PriorityClass]()},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget", Plural: "poddisruptionbudgets", Singular: "poddisruptionbudget",
		Namespaced: true, ShortNames: []string{"pdb"}, Verbs: crud, Subresources: []Subresource{status()},
		New: newOf[policyv1.PodDisruptionBudget](), NewList: listOf[policyv1.PodDisruptionBudget]()},
}

// All returns every served resource, core group first, in discovery order. The Resource values share
// their slices with the table: treat them as read-only.
func All() []Resource {
	out := make([]Resource, len(table))
	for i, r := range table {
		if r.ListKind == "" {
			r.ListKind = r.Kind + "List"
		}
		out[i] = r
	}
	return out
}

// GroupVersions returns the served group/versions in discovery order: "v1", "apps/v1", ...
func GroupVersions() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range All() {
		if gv := r.GroupVersion(); !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

// Lookup finds a resource by group ("" for core) and plural.
func Lookup(group, plural string) (Resource, bool) {
	for _, r := range All() {
		if r.Group == group && r.Plural == plural {
			return r, true
		}
	}
	return Resource{}, false
}

// ByKind finds a resource by group ("" for core) and kind.
func ByKind(group, kind string) (Resource, bool) {
	for _, r := range All() {
		if r.Group == group && r.Kind == kind {
			return r, true
		}
	}
	return Resource{}, false
}

// ByAPIVersionKind finds a resource by an object's apiVersion ("v1", "apps/v1") and kind.
func ByAPIVersionKind(apiVersion, kind string) (Resource, bool) {
	for _, r := range All() {
		if r.GroupVersion() == apiVersion && r.Kind == kind {
			return r, true
		}
	}
	return Resource{}, false
}

// ForObject finds the resource whose Go type is obj's (a *corev1.Pod gives pods).
func ForObject(obj metav1.Object) (Resource, bool) {
	t := reflect.TypeOf(obj)
	for _, r := range All() {
		if reflect.TypeOf(r.New()) == t {
			return r, true
		}
	}
	return Resource{}, false
}

// Resolve finds a resource the way kubectl resolves a user's word, case-insensitively: plural
// ("pods"), singular ("pod"), short name ("po") or kind ("Pod"), optionally qualified by group
// ("deployments.apps", "deploy.apps") or by version and group ("deployments.v1.apps", "pods.v1.").
// Plurals win over singulars, singulars over short names and short names over kinds.
func Resolve(name string) (Resource, bool) {
	name = strings.ToLower(name)
	word, qualifier, qualified := strings.Cut(name, ".")
	all := All()
	matches := func(r Resource) bool {
		if !qualified {
			return true
		}
		if r.Group == qualifier {
			return true
		}
		if v, g, ok := strings.Cut(qualifier, "."); ok && v == r.Version && g == r.Group {
			return true
		}
		return false
	}
	for _, pick := range []func(Resource) bool{
		func(r Resource) bool { return r.Plural == word },
		func(r Resource) bool { return r.Singular == word },
		func(r Resource) bool {
			for _, s := range r.ShortNames {
				if s == word {
					return true
				}
			}
			return false
		},
		func(r Resource) bool { return strings.ToLower(r.Kind) == word },
	} {
		for _, r := range all {
			if pick(r) && matches(r) {
				return r, true
			}
		}
	}
	return Resource{}, false
}

// InCategory returns the resources of a category such as "all".
func InCategory(category string) []Resource {
	var out []Resource
	for _, r := range All() {
		for _, c := range r.Categories {
			if c == category {
				out = append(out, r)
			}
		}
	}
	return out
}

// GroupVersion is the apiVersion of the resource's objects: "v1" for core, "apps/v1" otherwise.
func (r Resource) GroupVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// GroupResource is the name errors use: "pods" for core, "deployments.apps" otherwise.
func (r Resource) GroupResource() string {
	if r.Group == "" {
		return r.Plural
	}
	return r.Plural + "." + r.Group
}

// TypeMeta returns the kind and apiVersion objects of this resource carry on the wire.
func (r Resource) TypeMeta() metav1.TypeMeta {
	return metav1.TypeMeta{Kind: r.Kind, APIVersion: r.GroupVersion()}
}

// ListTypeMeta returns the kind and apiVersion of this resource's lists.
func (r Resource) ListTypeMeta() metav1.TypeMeta {
	lk := r.ListKind
	if lk == "" {
		lk = r.Kind + "List"
	}
	return metav1.TypeMeta{Kind: lk, APIVersion: r.GroupVersion()}
}

// Subresource returns the named subresource.
func (r Resource) Subresource(name string) (Subresource, bool) {
	for _, s := range r.Subresources {
		if s.Name == name {
			return s, true
		}
	}
	return Subresource{}, false
}

// HasVerb reports whether the resource supports verb ("get", "list", "watch", ...).
func (r Resource) HasVerb(verb string) bool {
	for _, v := range r.Verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// Prefix is the path of the resource's group/version: "/api/v1" or "/apis/apps/v1".
func (r Resource) Prefix() string {
	if r.Group == "" {
		return "/api/" + r.Version
	}
	return "/apis/" + r.Group + "/" + r.Version
}

// Path is the REST path of a collection (name "") or of one object. namespace "" on a namespaced
// resource gives the all-namespaces collection: "/api/v1/pods". Cluster-scoped resources ignore
// namespace.
func (r Resource) Path(namespace, name string) string {
	var b strings.Builder
	b.WriteString(r.Prefix())
	if r.Namespaced && namespace != "" {
		b.WriteString("/namespaces/")
		b.WriteString(namespace)
	}
	b.WriteString("/")
	b.WriteString(r.Plural)
	if name != "" {
		b.WriteString("/")
		b.WriteString(name)
	}
	return b.String()
}

// SubresourcePath is the REST path of an object's subresource: "/api/v1/namespaces/ns/pods/x/status".
func (r Resource) SubresourcePath(namespace, name, subresource string) string {
	return r.Path(namespace, name) + "/" + subresource
}

// StorageKey is the etcd key of one object, "/registry/<plural>/<namespace>/<name>", or with name "" the
// prefix of a collection ending in "/": "/registry/pods/ns/" for one namespace, "/registry/pods/" for all.
// Cluster-scoped resources have no namespace segment.
func (r Resource) StorageKey(namespace, name string) string {
	var b strings.Builder
	b.WriteString("/registry/")
	b.WriteString(r.Plural)
	b.WriteString("/")
	if r.Namespaced && namespace != "" {
		b.WriteString(namespace)
		b.WriteString("/")
	}
	b.WriteString(name)
	return b.String()
}
