package deployment

import (
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
)

// OnDeploymentChange queues a deployment that was added, updated or deleted.
func (c *Controller) OnDeploymentChange(d *appsv1.Deployment) {
	c.Queue.Add(controller.KeyOf(&d.ObjectMeta))
}

// OnSetChange queues the deployment owning a replica set, or every deployment that could adopt it.
func (c *Controller) OnSetChange(rs *appsv1.ReplicaSet) {
	if key, ok := c.owners().ControllerKey(&rs.ObjectMeta); ok {
		c.Queue.Add(key)
		return
	}
	if ownership.ControllerOf(&rs.ObjectMeta) != nil {
		return
	}
	for _, key := range c.owners().MatchingKeys(&rs.ObjectMeta) {
		c.Queue.Add(key)
	}
}

// OnSetUpdate queues the old and the new owner.
func (c *Controller) OnSetUpdate(old, cur *appsv1.ReplicaSet) {
	if k, ok := c.owners().ControllerKey(&old.ObjectMeta); ok {
		c.Queue.Add(k)
	}
	c.OnSetChange(cur)
}

// owners resolves replica sets to the deployments that control them or could adopt them.
func (c *Controller) owners() ownership.Owners[appsv1.Deployment, *appsv1.Deployment] {
	return ownership.Owners[appsv1.Deployment, *appsv1.Deployment]{
		Kind: kind, Store: c.Deployments,
		Selector: func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector },
	}
}

// OnPodDelete queues a Recreate deployment when one of its old pods is gone: it may start new ones.
func (c *Controller) OnPodDelete(p *corev1.Pod) {
	r := ownership.ControllerOf(&p.ObjectMeta)
	if r == nil || r.Kind != "ReplicaSet" {
		return
	}
	rs, ok := c.Sets.Get(p.Namespace + "/" + r.Name)
	if !ok || rs.UID != r.UID {
		return
	}
	key, ok := c.owners().ControllerKey(&rs.ObjectMeta)
	if !ok {
		return
	}
	if d, ok := c.Deployments.Get(key); ok && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.Queue.Add(key)
	}
}
