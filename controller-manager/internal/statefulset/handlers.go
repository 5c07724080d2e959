package statefulset

import (
	"strings"
	"time"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
)

// OnSetChange queues a stateful set that was added, updated or deleted.
func (c *Controller) OnSetChange(ds *appsv1.StatefulSet) {
	c.Queue.Add(controller.KeyOf(&ds.ObjectMeta))
}

func (c *Controller) ownerKey(p *corev1.Pod) (string, bool) {
	r := ownership.ControllerOf(&p.ObjectMeta)
	if r == nil || r.Kind != kind {
		return "", false
	}
	key := p.Namespace + "/" + r.Name
	ds, ok := c.Sets.Get(key)
	if !ok || ds.UID != r.UID {
		return "", false
	}
	return key, true
}

func (c *Controller) queueMatching(p *corev1.Pod) {
	for _, ds := range c.Sets.ByIndex(controller.IndexNamespace, p.Namespace) {
		if labels.Matches(ds.Spec.Selector, p.Labels) {
			c.Queue.Add(controller.KeyOf(&ds.ObjectMeta))
		}
	}
}

// OnPodAdd queues the owner (or the sets that may adopt an orphan).
func (c *Controller) OnPodAdd(p *corev1.Pod) {
	if p.DeletionTimestamp != nil {
		c.OnPodDelete(p)
		return
	}
	if key, ok := c.ownerKey(p); ok {
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
	if key, ok := c.ownerKey(old); ok {
		c.Queue.Add(key)
	}
	if key, ok := c.ownerKey(cur); ok {
		c.Queue.Add(key)
		if !podstate.IsReady(old) && podstate.IsReady(cur) {
			if s, ok := c.Sets.Get(key); ok && s.Spec.MinReadySeconds > 0 {
				c.Queue.AddAfter(key, time.Duration(s.Spec.MinReadySeconds)*time.Second+10*time.Millisecond)
			}
		}
		return
	}
	if ownership.ControllerOf(&cur.ObjectMeta) == nil {
		c.queueMatching(cur)
	}
}

// OnPodDelete queues the owner.
func (c *Controller) OnPodDelete(p *corev1.Pod) {
	if key, ok := c.ownerKey(p); ok {
		c.Queue.Add(key)
	}
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
