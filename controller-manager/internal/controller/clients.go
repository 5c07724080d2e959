package controller

import (
	"context"

	"github.com/skiffhq/skiff/shared/client"
)

// The method sets of a typed client (*client.Resource[T]) that controllers depend on, so each
// controller names only the calls it makes.

// GetClient reads one object from the API (not a cache).
type GetClient[T any] interface {
	Get(ctx context.Context, ns, name string, opts client.GetOptions) (*T, error)
}

// StatusClient writes an object's /status subresource.
type StatusClient[T any] interface {
	UpdateStatus(ctx context.Context, ns string, obj *T, opts client.UpdateOptions) (*T, error)
}

// PatchClient patches an object.
type PatchClient[T any] interface {
	Patch(ctx context.Context, ns, name string, pt client.PatchType, data []byte, opts client.PatchOptions, sub ...string) (*T, error)
}

// OwnerClient is what a workload controller needs of its own resource's API: Get to re-read the owner
// before adopting orphans, UpdateStatus to write its status.
type OwnerClient[T any] interface {
	GetClient[T]
	StatusClient[T]
}
