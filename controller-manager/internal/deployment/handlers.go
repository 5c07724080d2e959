package deployment

import (
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
)

// OnDeploymentChange queues a deployment that was added, updated or deleted.
func (c *Controller) OnDeploymentChange(d *appsv1.Deployment) {
	c.Queue.Add(controller.KeyOf(&d.ObjectMeta))
}

func (c *Controller) ownerOfSet(rs *appsv1.ReplicaSet) (string, bool) {
	r := ownership.ControllerOf(&rs.ObjectMeta)
	if r == nil || r.Kind != kind {
		return "", false
	}
	key := rs.Namespace + "/" + r.Name
	d, ok := c.Deployments.Get(key)
	if !ok || d.UID != r.UID {
		return "", false
	}
	return key, true
}

// OnSetChange queues the deployment owning a replica set, or every deployment that could adopt it.
func (c *Controller) OnSetChange(rs *appsv1.ReplicaSet) {
	if key, ok := c.ownerOfSet(rs); ok {
		c.Queue.Add(key)
		return
	}
	if ownership.ControllerOf(&rs.ObjectMeta) != nil {
		return
	}
	for _, d := range c.Deployments.ByIndex(controller.IndexNamespace, rs.Namespace) {
		if labels.Matches(d.Spec.Selector, rs.Labels) {
			c.Queue.Add(controller.KeyOf(&d.ObjectMeta))
		}
	}
}

// OnSetUpdate queues the old and the new owner.
func (c *Controller) OnSetUpdate(old, cur *appsv1.ReplicaSet) {
	if ok, k := c.ownerOfSetKey(old); ok {
		c.Queue.Add(k)
	}
	c.OnSetChange(cur)
}

func (c *Controller) ownerOfSetKey(rs *appsv1.ReplicaSet) (bool, string) {
	k, ok := c.ownerOfSet(rs)
	return ok, k
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
	key, ok := c.ownerOfSet(rs)
	if !ok {
		return
	}
	if d, ok := c.Deployments.Get(key); ok && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.Queue.Add(key)
	}
}
