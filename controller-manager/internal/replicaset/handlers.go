package replicaset

import (
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
)

// OnSetChange queues a replica set that was added, updated or deleted.
func (c *Controller) OnSetChange(rs *appsv1.ReplicaSet) {
	c.Queue.Add(controller.KeyOf(&rs.ObjectMeta))
}
