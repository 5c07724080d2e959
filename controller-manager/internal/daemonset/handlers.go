package daemonset

import (
	"time"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
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

func (c *Controller) ownerKey(p *corev1.Pod) (string, bool) {
	r := ownership.ControllerOf(&p.ObjectMeta)
	if r == nil || r.Kind != kind {
		return "", false
	}
	key := p.Namespace + "/" + r.Name
	ds, ok := c.DaemonSets.Get(key)
	if !ok || ds.UID != r.UID {
		return "", false
	}
	return key, true
}

func (c *Controller) queueMatching(p *corev1.Pod) {
	for _, ds := range c.DaemonSets.ByIndex(controller.IndexNamespace, p.Namespace) {
		if labels.Matches(ds.Spec.Selector, p.Labels) {
			c.Queue.Add(controller.KeyOf(&ds.ObjectMeta))
		}
	}
}

// OnPodAdd records an observed create and queues the owner.
func (c *Controller) OnPodAdd(p *corev1.Pod) {
	if p.DeletionTimestamp != nil {
		c.OnPodDelete(p)
		return
	}
	if key, ok := c.ownerKey(p); ok {
		c.exp.CreationObserved(key)
		c.Queue.Add(key)
		return
	}
	if ownership.ControllerOf(&p.ObjectMeta) == nil {
		c.queueMatching(p)
	}
}

// OnPodUpdate queues the owner on any change (readiness moves the rollout along).
func (c *Controller) OnPodUpdate(old, cur *corev1.Pod) {
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		if key, ok := c.ownerKey(cur); ok {
			c.exp.DeletionObserved(key, cur.UID)
		}
	}
	if key, ok := c.ownerKey(old); ok {
		c.Queue.Add(key)
	}
	if key, ok := c.ownerKey(cur); ok {
		c.Queue.Add(key)
		if !podstate.IsReady(old) && podstate.IsReady(cur) {
			if ds, ok := c.DaemonSets.Get(key); ok && ds.Spec.MinReadySeconds > 0 {
				c.Queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+10*time.Millisecond)
			}
		}
		return
	}
	if ownership.ControllerOf(&cur.ObjectMeta) == nil {
		c.queueMatching(cur)
	}
}

// OnPodDelete records an observed delete and queues the owner.
func (c *Controller) OnPodDelete(p *corev1.Pod) {
	if key, ok := c.ownerKey(p); ok {
		c.exp.DeletionObserved(key, p.UID)
		c.Queue.Add(key)
	}
}

// OnRevisionChange queues the owner of a revision (a revision deleted by hand is re-created).
func (c *Controller) OnRevisionChange(cr *appsv1.ControllerRevision) {
	if r := ownership.ControllerOf(&cr.ObjectMeta); r != nil && r.Kind == kind {
		c.Queue.Add(cr.Namespace + "/" + r.Name)
	}
}
