package resource

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/shared/api/resources"
)

// Object is an untyped API object as decoded from JSON: {"apiVersion":..,"kind":..,"metadata":{..}}.
type Object map[string]any

// str walks nested maps and returns the string at the end, or "".
func (o Object) str(path ...string) string {
	v, _ := Nested(o, path...)
	s, _ := v.(string)
	return s
}

// Nested returns the value at a path of map keys.
func Nested(o map[string]any, path ...string) (any, bool) {
	var cur any = o
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// SetNested sets a value at a path of map keys, creating maps on the way.
func SetNested(o map[string]any, value any, path ...string) {
	cur := o
	for _, p := range path[:len(path)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = value
}

// Name is metadata.name.
func (o Object) Name() string { return o.str("metadata", "name") }

// Namespace is metadata.namespace.
func (o Object) Namespace() string { return o.str("metadata", "namespace") }

// Kind is the object's kind.
func (o Object) Kind() string { return o.str("kind") }

// APIVersion is the object's apiVersion.
func (o Object) APIVersion() string { return o.str("apiVersion") }

// UID is metadata.uid.
func (o Object) UID() string { return o.str("metadata", "uid") }

// ResourceVersion is metadata.resourceVersion.
func (o Object) ResourceVersion() string { return o.str("metadata", "resourceVersion") }

// StringMap returns a map[string]string at a path (labels, annotations, selectors).
func (o Object) StringMap(path ...string) map[string]string {
	v, _ := Nested(o, path...)
	m, _ := v.(map[string]any)
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Annotations is metadata.annotations.
func (o Object) Annotations() map[string]string { return o.StringMap("metadata", "annotations") }

// Labels is metadata.labels.
func (o Object) Labels() map[string]string { return o.StringMap("metadata", "labels") }

// SetAnnotation sets one annotation.
func (o Object) SetAnnotation(k, v string) {
	SetNested(o, v, "metadata", "annotations", k)
}

// DeepCopy copies the object through JSON.
func (o Object) DeepCopy() Object {
	b, _ := json.Marshal(o)
	var out Object
	_ = json.Unmarshal(b, &out)
	return out
}

// Resource finds the served resource of the object from its apiVersion and kind.
func (o Object) Resource() (resources.Resource, error) {
	if o.Kind() == "" {
		return resources.Resource{}, fmt.Errorf("object %q has no kind", o.Name())
	}
	if o.APIVersion() == "" {
		return resources.Resource{}, fmt.Errorf("object %q of kind %s has no apiVersion", o.Name(), o.Kind())
	}
	r, ok := resources.ByAPIVersionKind(o.APIVersion(), o.Kind())
	if !ok {
		return resources.Resource{}, fmt.Errorf("resource mapping not found for kind %q in version %q", o.Kind(), o.APIVersion())
	}
	return r, nil
}

// TypeName is how kubectl names a kind in messages and -o name: "pod", "deployment.apps".
func TypeName(r resources.Resource) string {
	k := strings.ToLower(r.Kind)
	if r.Group == "" {
		return k
	}
	return k + "." + r.Group
}

// Ref names one object (or, with Name empty, a collection) of a resource.
type Ref struct {
	Resource  resources.Resource
	Namespace string
	Name      string
}

// String is "deployment.apps/web".
func (r Ref) String() string { return TypeName(r.Resource) + "/" + r.Name }

// Quoted is how kubectl quotes an object in delete messages: deployment.apps "web".
func (r Ref) Quoted() string { return fmt.Sprintf("%s %q", TypeName(r.Resource), r.Name) }
