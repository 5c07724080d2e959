package scheduler

import (
	"maps"
	"slices"
	"sync"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
	"github.com/skiffhq/skiff/scheduler/internal/queue"
)

// The event handlers keep the cache and the queue in step with the cluster. They are called from the
// informers' goroutines and must be quick.

func assigned(p *v1.Pod) bool { return p.Spec.NodeName != "" }

func terminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

// responsible reports whether this scheduler schedules the pod.
func (s *Scheduler) responsible(p *v1.Pod) bool {
	name := p.Spec.SchedulerName
	if name == "" {
		name = v1.DefaultSchedulerName
	}
	return name == s.cfg.SchedulerName
}

func (s *Scheduler) podInfo(p *v1.Pod) *framework.PodInfo {
	prio, policy := s.prio.resolve(p)
	if policy != nil && p.Spec.PreemptionPolicy == nil {
		c := *p
		c.Spec.PreemptionPolicy = policy
		p = &c
	}
	return framework.NewPodInfo(p, prio)
}

// OnPodAdd handles a pod seen for the first time.
func (s *Scheduler) OnPodAdd(p *v1.Pod) { s.OnPodUpdate(nil, p) }

// OnPodUpdate handles a changed pod; old is nil for a new one.
func (s *Scheduler) OnPodUpdate(old, p *v1.Pod) {
	switch {
	case terminal(p):
		s.OnPodDelete(p)
	case assigned(p):
		s.queue.Delete(p.UID)
		prio, _ := s.prio.resolve(p)
		s.cache.AddPod(framework.NewAssignedPodInfo(p, prio))
		if old == nil || !assigned(old) {
			s.queue.MoveOnEvent(queue.EventAssignedPodAdd)
		}
	case s.responsible(p):
		if p.DeletionTimestamp != nil {
			s.queue.Delete(p.UID)
			return
		}
		var oldInfo *framework.PodInfo
		if old != nil && !assigned(old) {
			oldInfo = s.podInfo(old)
		}
		s.queue.Update(oldInfo, s.podInfo(p))
	}
}

// OnPodDelete handles a deleted pod.
func (s *Scheduler) OnPodDelete(p *v1.Pod) {
	s.queue.Delete(p.UID)
	if assigned(p) || s.cache.IsAssumed(p.UID) {
		s.cache.RemovePod(p.UID)
		s.queue.MoveOnEvent(queue.EventAssignedPodDelete)
	}
}

// OnNodeAdd handles a new node.
func (s *Scheduler) OnNodeAdd(n *v1.Node) {
	s.cache.AddNode(n)
	s.queue.MoveOnEvent(queue.EventNodeAdd)
}

// OnNodeUpdate handles a changed node; only changes that can affect scheduling wake pods up.
func (s *Scheduler) OnNodeUpdate(old, n *v1.Node) {
	s.cache.UpdateNode(n)
	if old == nil || nodeSchedulingChanged(old, n) {
		s.queue.MoveOnEvent(queue.EventNodeUpdate)
	}
}

func nodeSchedulingChanged(a, b *v1.Node) bool {
	return a.Spec.Unschedulable != b.Spec.Unschedulable || !maps.Equal(a.Labels, b.Labels) ||
		!slices.EqualFunc(a.Spec.Taints, b.Spec.Taints, func(x, y v1.Taint) bool {
			return x.Key == y.Key && x.Value == y.Value && x.Effect == y.Effect
		}) || !resourceListsEqual(a.Status.Allocatable, b.Status.Allocatable)
}

func resourceListsEqual(a, b v1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, q := range a {
		o, ok := b[k]
		if !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}

// OnNodeDelete handles a deleted node.
func (s *Scheduler) OnNodeDelete(n *v1.Node) { s.cache.RemoveNode(n.Name) }

// OnPriorityClass records a priority class (added or updated).
func (s *Scheduler) OnPriorityClass(pc *schedulingv1.PriorityClass) {
	s.prio.set(pc)
	s.queue.MoveOnEvent(queue.EventPriorityClassChange)
}

// OnPriorityClassDelete forgets a priority class.
func (s *Scheduler) OnPriorityClassDelete(pc *schedulingv1.PriorityClass) { s.prio.remove(pc.Name) }

// priorities resolves pod priorities from PriorityClasses, for clusters whose apiserver does not fill
// spec.priority itself.
type priorities struct {
	mu      sync.RWMutex
	classes map[string]*schedulingv1.PriorityClass
}

func newPriorities() *priorities {
	return &priorities{classes: map[string]*schedulingv1.PriorityClass{}}
}

func (p *priorities) set(pc *schedulingv1.PriorityClass) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.classes[pc.Name] = pc
}

func (p *priorities) remove(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.classes, name)
}

// resolve returns the pod's priority: spec.priority when set, else its priorityClassName's value, else
// the globalDefault class's value, else 0 (the built-in system classes resolve without objects); and the
// class's preemption policy, if any.
func (p *priorities) resolve(pod *v1.Pod) (int32, *v1.PreemptionPolicy) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var pc *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		pc = p.classes[name]
		if pc == nil {
			switch name {
			case schedulingv1.SystemClusterCritical:
				return schedulingv1.SystemCriticalPriority, nil
			case schedulingv1.SystemNodeCritical:
				return schedulingv1.SystemCriticalPriority + 1000, nil
			}
		}
	} else {
		for _, c := range p.classes {
			if c.GlobalDefault && (pc == nil || c.Value > pc.Value) {
				pc = c
			}
		}
	}
	var policy *v1.PreemptionPolicy
	if pc != nil {
		policy = pc.PreemptionPolicy
	}
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority, policy
	}
	if pc != nil {
		return pc.Value, policy
	}
	return 0, nil
}
