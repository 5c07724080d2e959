package controller

import (
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Store is the read side of an informer cache that controllers consume. Objects returned are shared
// with the cache: never modify them; copy first.
type Store[T any] interface {
	// Get returns the object with key namespace/name (name for cluster-scoped objects).
	Get(key string) (*T, bool)
	// List returns every cached object.
	List() []*T
	// ByIndex returns the objects whose index function produced value.
	ByIndex(index, value string) []*T
}

// Index names shared by the controllers' informers.
const (
	// IndexNamespace indexes objects by metadata.namespace.
	IndexNamespace = "namespace"
	// IndexController indexes objects by the UID of their controller reference.
	IndexController = "controller"
	// IndexNodeName indexes pods by spec.nodeName.
	IndexNodeName = "nodeName"
	// IndexOwner indexes objects by the UIDs of all their owner references.
	IndexOwner = "owner"
)

// KeyOf returns the store key of an object's metadata: namespace/name, or name when cluster-scoped.
func KeyOf(m *metav1.ObjectMeta) string {
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// SplitKey splits a namespace/name key; a key without a slash is a cluster-scoped name.
func SplitKey(key string) (namespace, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}
