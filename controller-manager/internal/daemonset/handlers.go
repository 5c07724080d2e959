package daemonset

import (
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
)

// OnDaemonSetChange queues a daemon set that was added, updated or deleted.
func (c *Controller) OnDaemonSetChange(ds *appsv1.DaemonSet) {
	c.Queue.Add(controller.KeyOf(&ds.ObjectMeta))
}

// OnNodeChange queues every daemon set: a node appeared, went away or changed labels or taints.
func (c *Controller) OnNodeChange(*corev1.Node) {
	for _, ds := range c.DaemonSets.List() {
		c.Queue.Add(controller.KeyOf(&ds.ObjectMeta))
	}
}

// OnNodeUpdate queues the daemon sets only when what placement reads changed.
func (c *Controller) OnNodeUpdate(old, cur *corev1.Node) {
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if equalMaps(old.Labels, cur.Labels) && equalTaints(old.Spec.Taints, cur.Spec.Taints) {
		return
	}
	c.OnNodeChange(cur)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func equalTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

// OnRevisionChange queues the owner of a revision (a revision deleted by hand is re-created).
func (c *Controller) OnRevisionChange(cr *appsv1.ControllerRevision) {
	if r := ownership.ControllerOf(&cr.ObjectMeta); r != nil && r.Kind == kind {
		c.Queue.Add(cr.Namespace + "/" + r.Name)
	}
}
