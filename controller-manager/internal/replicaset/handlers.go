package replicaset

import (
	"time"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
)

// OnSetChange queues a replica set that was added, updated or deleted.
func (c *Controller) OnSetChange(rs *appsv1.ReplicaSet) {
	c.Queue.Add(controller.KeyOf(&rs.ObjectMeta))
}

// ownerKey resolves a pod's controller reference to the key of a cached replica set with that UID.
func (c *Controller) ownerKey(p *corev1.Pod) (string, bool) {
	r := ownership.ControllerOf(&p.ObjectMeta)
	if r == nil || r.Kind != gvk.kind {
		return "", false
	}
	key := p.Namespace + "/" + r.Name
	rs, ok := c.Sets.Get(key)
	if !ok || rs.UID != r.UID {
		return "", false
	}
	return key, true
}

// queueMatching queues every replica set in the pod's namespace whose selector matches it (an orphan
// may be adoptable).
func (c *Controller) queueMatching(p *corev1.Pod) {
	for _, rs := range c.Sets.ByIndex(controller.IndexNamespace, p.Namespace) {
		if labels.Matches(rs.Spec.Selector, p.Labels) {
			c.Queue.Add(controller.KeyOf(&rs.ObjectMeta))
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

// OnPodUpdate queues the old and new owners when labels, ownership, readiness or deletion changed.
func (c *Controller) OnPodUpdate(old, cur *corev1.Pod) {
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// a pod going away counts as deleted for expectations; the status sees it as terminating
		if key, ok := c.ownerKey(cur); ok {
			c.exp.DeletionObserved(key, cur.UID)
		}
	}
	oldKey, oldOK := c.ownerKey(old)
	curKey, curOK := c.ownerKey(cur)
	if oldOK && (!curOK || oldKey != curKey) {
		c.Queue.Add(oldKey)
	}
	if curOK {
		c.Queue.Add(curKey)
		if !podstate.IsReady(old) && podstate.IsReady(cur) {
			if rs, ok := c.Sets.Get(curKey); ok && rs.Spec.MinReadySeconds > 0 {
				c.Queue.AddAfter(curKey, time.Duration(rs.Spec.MinReadySeconds)*time.Second+10*time.Millisecond)
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
