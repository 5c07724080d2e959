package informer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// NamespaceIndex is the name of the index every Store has: objects by metadata.namespace.
const NamespaceIndex = "namespace"

// ErrNotFound is returned by Store.GetOrErr for a key the store does not hold.
var ErrNotFound = errors.New("object not found in the informer cache")

// IndexFunc returns the index values of an object (none, one or many). It must be a pure function of the
// object.
type IndexFunc[T any] func(obj *T) []string

// MetaKey returns the cache key of an object: "namespace/name", or "name" for a cluster-scoped object.
func MetaKey(obj metav1.Object) string {
	m := obj.GetObjectMeta()
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// SplitKey splits a MetaKey back into namespace and name.
func SplitKey(key string) (namespace, name string, err error) {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return "", parts[0], nil
	case len(parts) == 2 && parts[1] != "":
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("invalid cache key %q: want namespace/name or name", key)
}

func metaOf[T any](obj *T) metav1.Object {
	o, ok := any(obj).(metav1.Object)
	if !ok {
		panic(fmt.Sprintf("informer: %T does not implement metav1.Object (embed metav1.TypeMeta and metav1.ObjectMeta)", obj))
	}
	return o
}

func keyOf[T any](obj *T) string { return MetaKey(metaOf(obj)) }

func resourceVersion[T any](obj *T) string { return metaOf(obj).GetObjectMeta().ResourceVersion }

// Store is a thread-safe cache of objects by key with secondary indexes. Objects handed out are shared:
// callers must not modify them (copy first).
type Store[T any] struct {
	mu       sync.RWMutex
	items    map[string]*T
	indexers map[string]IndexFunc[T]
	// indices: index name -> index value -> set of keys.
	indices map[string]map[string]map[string]struct{}
}

// NewStore returns an empty store with the namespace index.
func NewStore[T any]() *Store[T] {
	var zero T
	metaOf(&zero) // fail fast on a type that cannot be keyed
	s := &Store[T]{
		items:    map[string]*T{},
		indexers: map[string]IndexFunc[T]{},
		indices:  map[string]map[string]map[string]struct{}{},
	}
	s.indexers[NamespaceIndex] = func(obj *T) []string {
		return []string{metaOf(obj).GetObjectMeta().Namespace}
	}
	s.indices[NamespaceIndex] = map[string]map[string]struct{}{}
	return s
}

// AddIndexer adds a named index and indexes the objects already held.
func (s *Store[T]) AddIndexer(name string, fn IndexFunc[T]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.indexers[name]; ok {
		return fmt.Errorf("index %q already exists", name)
	}
	s.indexers[name] = fn
	idx := map[string]map[string]struct{}{}
	s.indices[name] = idx
	for k, obj := range s.items {
		for _, v := range fn(obj) {
			addToIndex(idx, v, k)
		}
	}
	return nil
}

func addToIndex(idx map[string]map[string]struct{}, value, key string) {
	set := idx[value]
	if set == nil {
		set = map[string]struct{}{}
		idx[value] = set
	}
	set[key] = struct{}{}
}

func (s *Store[T]) unindex(key string, obj *T) {
	for name, fn := range s.indexers {
		idx := s.indices[name]
		for _, v := range fn(obj) {
			if set := idx[v]; set != nil {
				delete(set, key)
				if len(set) == 0 {
					delete(idx, v)
				}
			}
		}
	}
}

func (s *Store[T]) index(key string, obj *T) {
	for name, fn := range s.indexers {
		idx := s.indices[name]
		for _, v := range fn(obj) {
			addToIndex(idx, v, key)
		}
	}
}

// Upsert stores obj under its key and returns the object it replaced (nil if new).
func (s *Store[T]) Upsert(obj *T) (old *T) {
	key := keyOf(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	old = s.items[key]
	if old != nil {
		s.unindex(key, old)
	}
	s.items[key] = obj
	s.index(key, obj)
	return old
}

// Delete removes the object with the given key and returns it (nil if absent).
func (s *Store[T]) Delete(key string) (old *T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old = s.items[key]
	if old != nil {
		s.unindex(key, old)
		delete(s.items, key)
	}
	return old
}

// Replace swaps the whole content for objs.
func (s *Store[T]) Replace(objs []*T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = make(map[string]*T, len(objs))
	for name := range s.indices {
		s.indices[name] = map[string]map[string]struct{}{}
	}
	for _, obj := range objs {
		key := keyOf(obj)
		if old := s.items[key]; old != nil {
			s.unindex(key, old)
		}
		s.items[key] = obj
		s.index(key, obj)
	}
}

// Get returns the object with the given key ("namespace/name" or "name").
func (s *Store[T]) Get(key string) (*T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	obj, ok := s.items[key]
	return obj, ok
}

// GetOrErr is Get returning ErrNotFound (wrapped with the key) for a missing key.
func (s *Store[T]) GetOrErr(key string) (*T, error) {
	if obj, ok := s.Get(key); ok {
		return obj, nil
	}
	return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
}

// List returns every object, sorted by key.
func (s *Store[T]) List() []*T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.items))
	for k := range s.items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = s.items[k]
	}
	return out
}

// Keys returns every key, sorted.
func (s *Store[T]) Keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.items))
	for k := range s.items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Len returns the number of objects.
func (s *Store[T]) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.items)
}

// ByIndex returns the objects whose index values include value, sorted by key. An unknown index gives
// nil.
func (s *Store[T]) ByIndex(index, value string) []*T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := s.indices[index][value]
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = s.items[k]
	}
	return out
}

// ByNamespace returns the objects of one namespace.
func (s *Store[T]) ByNamespace(namespace string) []*T { return s.ByIndex(NamespaceIndex, namespace) }

// IndexValues returns the values an index currently holds, sorted.
func (s *Store[T]) IndexValues(index string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vals := make([]string, 0, len(s.indices[index]))
	for v := range s.indices[index] {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	return vals
}

// IndexByLabel indexes objects by the value of one label (objects without it are not indexed).
func IndexByLabel[T any](label string) IndexFunc[T] {
	return func(obj *T) []string {
		if v, ok := metaOf(obj).GetObjectMeta().Labels[label]; ok {
			return []string{v}
		}
		return nil
	}
}

// IndexByOwnerUID indexes objects by the UIDs of all their owner references.
func IndexByOwnerUID[T any]() IndexFunc[T] {
	return func(obj *T) []string {
		refs := metaOf(obj).GetObjectMeta().OwnerReferences
		out := make([]string, 0, len(refs))
		for _, r := range refs {
			out = append(out, r.UID)
		}
		return out
	}
}

// IndexByControllerUID indexes objects by the UID of their controller owner reference, if any.
func IndexByControllerUID[T any]() IndexFunc[T] {
	return func(obj *T) []string {
		for _, r := range metaOf(obj).GetObjectMeta().OwnerReferences {
			if r.Controller != nil && *r.Controller {
				return []string{r.UID}
			}
		}
		return nil
	}
}
