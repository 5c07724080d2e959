package job

import (
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
)

// OnJobChange queues a job that was added, updated or deleted.
func (c *Controller) OnJobChange(j *batchv1.Job) { c.Queue.Add(controller.KeyOf(&j.ObjectMeta)) }

func (c *Controller) ownerKey(p *corev1.Pod) (string, bool) {
	r := ownership.ControllerOf(&p.ObjectMeta)
	if r == nil || r.Kind != kind {
		return "", false
	}
	key := p.Namespace + "/" + r.Name
	j, ok := c.Jobs.Get(key)
	if !ok || j.UID != r.UID {
		return "", false
	}
	return key, true
}

func (c *Controller) queueMatching(p *corev1.Pod) {
	for _, j := range c.Jobs.ByIndex(controller.IndexNamespace, p.Namespace) {
		if labels.Matches(j.Spec.Selector, p.Labels) {
			c.Queue.Add(controller.KeyOf(&j.ObjectMeta))
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

// OnPodUpdate queues the owner on any change (a phase change may finish the job).
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
