// Package serviceaccount makes sure every active namespace has a "default" ServiceAccount,
// re-creating it if it is deleted. It does not mint tokens.
package serviceaccount

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
)

// Name is the controller's name in --controllers and metrics.
const Name = "serviceaccount"

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// SAClient creates service accounts.
type SAClient interface {
	Create(ctx context.Context, ns string, sa *corev1.ServiceAccount, opts client.CreateOptions) (*corev1.ServiceAccount, error)
}

// Controller keeps the default service accounts. Keys are namespace names.
type Controller struct {
	Namespaces      controller.Store[corev1.Namespace]
	ServiceAccounts controller.Store[corev1.ServiceAccount]
	API             SAClient
	Queue           controller.Queue
	Log             *zap.Logger
}

// Sync creates the namespace's default service account when it is missing.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, ok := c.Namespaces.Get(key)
	if !ok || ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	if _, ok := c.ServiceAccounts.Get(key + "/" + DefaultName); ok {
		return nil
	}
	sa := &corev1.ServiceAccount{}
	sa.APIVersion, sa.Kind = "v1", "ServiceAccount"
	sa.Namespace, sa.Name = key, DefaultName
	if _, err := c.API.Create(ctx, key, sa, client.CreateOptions{}); err != nil && !client.IsAlreadyExists(err) {
		if client.IsForbidden(err) {
			return nil // the namespace started terminating meanwhile
		}
		return fmt.Errorf("creating default service account in %s: %w", key, err)
	}
	return nil
}

// OnNamespace queues a namespace.
func (c *Controller) OnNamespace(ns *corev1.Namespace) { c.Queue.Add(ns.Name) }

// OnServiceAccountDelete queues the namespace of a deleted default service account.
func (c *Controller) OnServiceAccountDelete(sa *corev1.ServiceAccount) {
	if sa.Name == DefaultName {
		c.Queue.Add(sa.Namespace)
	}
}
