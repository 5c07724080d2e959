// Package namespace is the namespace controller: when a namespace is being deleted (phase
// Terminating), it deletes every namespaced object in it, resource by resource, and once nothing is
// left removes the "kubernetes" entry from spec.finalizers through namespaces/<name>/finalize, so the
// apiserver can remove the namespace.
//
// It lists live from the API rather than from caches, so it never finalizes a namespace that still
// holds something a lagging cache has not shown yet.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
)

// Name is the controller's name in --controllers and metrics.
const Name = "namespace"

// FinalizerKubernetes is the spec.finalizers entry this controller owns.
const FinalizerKubernetes corev1.FinalizerName = "kubernetes"

// Meta is the metadata-only view of content objects.
type Meta = metav1.PartialObjectMetadata

// ContentAPI lists and deletes one namespaced resource.
type ContentAPI interface {
	ListAll(ctx context.Context, ns string, opts client.ListOptions) (*metav1.List[Meta], error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// NamespaceAPI finalizes namespaces.
type NamespaceAPI interface {
	UpdateSubresource(ctx context.Context, ns, name, subresource string, in, out any) error
}

// Controller empties and finalizes terminating namespaces.
type Controller struct {
	Namespaces controller.Store[corev1.Namespace]
	// Content maps each namespaced resource to its client.
	Content map[string]ContentAPI
	API     NamespaceAPI
	Queue   controller.Queue
	Log     *zap.Logger
	// RecheckAfter is how soon a namespace with content still terminating is looked at again.
	RecheckAfter time.Duration
}

// ContentResources returns the namespaced resources a namespace deletion removes.
func ContentResources() []resources.Resource {
	var out []resources.Resource
	for _, r := range resources.All() {
		if r.Namespaced && r.HasVerb("list") && r.HasVerb("delete") {
			out = append(out, r)
		}
	}
	return out
}

// Sync deletes the content of a terminating namespace and finalizes it when empty.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, ok := c.Namespaces.Get(key)
	if !ok || (ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating) {
		return nil
	}
	holds := false
	for _, f := range ns.Spec.Finalizers {
		if f == FinalizerKubernetes {
			holds = true
		}
	}
	if !holds {
		return nil
	}
	remaining := 0
	var errs []error
	background := metav1.DeletePropagationBackground
	for plural, api := range c.Content {
		list, err := api.ListAll(ctx, ns.Name, client.ListOptions{})
		if err != nil {
			if client.IsNotFound(err) || client.IsMethodNotSupported(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("listing %s in namespace %s: %w", plural, ns.Name, err))
			continue
		}
		for _, item := range list.Items {
			remaining++
			if item.DeletionTimestamp != nil {
				continue
			}
			uid := item.UID
			err := api.Delete(ctx, ns.Name, item.Name, &metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !client.IsNotFound(err) && !client.IsConflict(err) {
				errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", plural, ns.Name, item.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if remaining > 0 {
		after := c.RecheckAfter
		if after <= 0 {
			after = time.Second
		}
		c.Queue.AddAfter(key, after)
		c.Log.Debug("namespace_content_remaining", zap.String("namespace", ns.Name), zap.Int("objects", remaining))
		return nil
	}
	upd := *ns
	upd.Spec.Finalizers = nil
	for _, f := range ns.Spec.Finalizers {
		if f != FinalizerKubernetes {
			upd.Spec.Finalizers = append(upd.Spec.Finalizers, f)
		}
	}
	var out corev1.Namespace
	if err := c.API.UpdateSubresource(ctx, "", ns.Name, "finalize", &upd, &out); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("finalizing namespace %s: %w", ns.Name, err)
	}
	c.Log.Info("namespace_finalized", zap.String("namespace", ns.Name))
	return nil
}
