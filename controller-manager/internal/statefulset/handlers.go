package statefulset

import (
	"strings"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
)

// OnSetChange queues a stateful set that was added, updated or deleted.
func (c *Controller) OnSetChange(ds *appsv1.StatefulSet) {
	c.Queue.Add(controller.KeyOf(&ds.ObjectMeta))
}

// OnRevisionChange queues the owner of a revision (a revision deleted by hand is re-created).
func (c *Controller) OnRevisionChange(cr *appsv1.ControllerRevision) {
	if r := ownership.ControllerOf(&cr.ObjectMeta); r != nil && r.Kind == kind {
		c.Queue.Add(cr.Namespace + "/" + r.Name)
	}
}

// OnClaimDelete queues the set a deleted claim belonged to, so it is re-created for a live pod.
func (c *Controller) OnClaimDelete(pvc *corev1.PersistentVolumeClaim) {
	for _, s := range c.Sets.ByIndex(controller.IndexNamespace, pvc.Namespace) {
		for _, ct := range s.Spec.VolumeClaimTemplates {
			if strings.HasPrefix(pvc.Name, ct.Name+"-"+s.Name+"-") {
				c.Queue.Add(controller.KeyOf(&s.ObjectMeta))
			}
		}
	}
}
