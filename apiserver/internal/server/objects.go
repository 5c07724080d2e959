package server

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// registryObjects gives the admission chain read access to the registry (set once the registry exists,
// before any request is served). Lists are consistent reads, so an object created a moment before is
// always seen.
type registryObjects struct {
	reg *registry.Registry
}

func (o *registryObjects) lookup(group, version, resource string) (*registry.Resource, error) {
	res, ok := o.reg.Lookup(group, version, resource)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("resource %s/%s %s is not served", group, version, resource))
	}
	return res, nil
}

func (o *registryObjects) Get(ctx context.Context, group, version, resource, namespace, name string) (metav1.Object, error) {
	res, err := o.lookup(group, version, resource)
	if err != nil {
		return nil, err
	}
	return o.reg.Get(ctx, res, namespace, name)
}

func (o *registryObjects) List(ctx context.Context, group, version, resource, namespace string) ([]metav1.Object, error) {
	res, err := o.lookup(group, version, resource)
	if err != nil {
		return nil, err
	}
	lr, err := o.reg.List(ctx, res, namespace, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	return lr.Items, nil
}
