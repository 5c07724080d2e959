package controller

import (
	"context"
	"fmt"
	"reflect"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// UpdateStatusIfChanged writes want as obj's status through c (the /status subresource, guarded by
// obj's resourceVersion) unless equal(current, want) says nothing changed; a nil equal is
// reflect.DeepEqual. status returns a pointer to an object's status field. What is sent is a shallow
// copy of obj with want in place, so the cached object is never modified. kind names the resource in
// the error ("replicaset").
func UpdateStatusIfChanged[T any, PT interface {
	*T
	metav1.Object
}, S any](ctx context.Context, c StatusClient[T], kind string, obj PT, status func(PT) *S, want S, equal func(cur, want S) bool) error {
	cur := *status(obj)
	if equal == nil {
		equal = func(a, b S) bool { return reflect.DeepEqual(a, b) }
	}
	if equal(cur, want) {
		return nil
	}
	upd := *obj
	*status(&upd) = want
	if _, err := c.UpdateStatus(ctx, obj.GetObjectMeta().Namespace, &upd, client.UpdateOptions{}); err != nil {
		m := obj.GetObjectMeta()
		return fmt.Errorf("updating status of %s %s: %w", kind, KeyOf(m), err)
	}
	return nil
}
