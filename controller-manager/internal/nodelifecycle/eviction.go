package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// EvictionName is the taint eviction controller's name in metrics.
const EvictionName = "taint-eviction"

// PodDeleter deletes pods.
type PodDeleter interface {
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Evictor deletes pods that do not tolerate their node's NoExecute taints, once their
// tolerationSeconds have run out (counted from the taint's timeAdded, so a restart of this controller
// neither resets nor shortens the countdown). Keys are node names.
type Evictor struct {
	Cfg      Config
	Nodes    controller.Store[corev1.Node]
	Pods     controller.Store[corev1.Pod] // with the IndexNodeName index
	API      PodDeleter
	Recorder *events.Recorder
	Queue    controller.Queue
	Log      *zap.Logger
	Evicted  func()
	Now      func() time.Time
}

// tolerates reports whether tol tolerates taint.
func tolerates(tol *corev1.Toleration, t *corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key == "" {
		return tol.Operator == corev1.TolerationOpExists
	}
	if tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		return tol.Value == t.Value
	}
	return false
}

// allowance returns how long the pod may stay on a node with these NoExecute taints: ok=false means
// evict now; forever=true means never.
func (e *Evictor) allowance(p *corev1.Pod, taints []corev1.Taint) (d time.Duration, forever, ok bool) {
	forever = true
	for i := range taints {
		t := &taints[i]
		var best *time.Duration
		matched := false
		for j := range p.Spec.Tolerations {
			tol := &p.Spec.Tolerations[j]
			if !tolerates(tol, t) {
				continue
			}
			matched = true
			if tol.TolerationSeconds == nil {
				best = nil
				break
			}
			s := time.Duration(*tol.TolerationSeconds) * time.Second
			if s < 0 {
				s = 0
			}
			if best == nil || s > *best {
				best = &s
			}
		}
		if !matched {
			// what DefaultTolerationSeconds admission would have added
			switch t.Key {
			case corev1.TaintNodeNotReady:
				s := e.Cfg.DefaultNotReadyToleration
				best, matched = &s, true
			case corev1.TaintNodeUnreachable:
				s := e.Cfg.DefaultUnreachableToleration
				best, matched = &s, true
			default:
				return 0, false, false
			}
		}
		if best == nil {
			continue // tolerated forever
		}
		if forever || *best < d {
			d = *best
		}
		forever = false
	}
	return d, forever, true
}

// Sync evicts the due pods of one node and requeues the node for the next one.
func (e *Evictor) Sync(ctx context.Context, key string) error {
	if e.Now == nil {
		e.Now = time.Now
	}
	n, ok := e.Nodes.Get(key)
	if !ok {
		return nil
	}
	var taints []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			taints = append(taints, t)
		}
	}
	if len(taints) == 0 {
		return nil
	}
	// the countdown starts when the newest NoExecute taint was added
	var since time.Time
	for _, t := range taints {
		if t.TimeAdded != nil && t.TimeAdded.Time.After(since) {
			since = t.TimeAdded.Time
		}
	}
	now := e.Now()
	if since.IsZero() {
		since = now
	}
	var next time.Duration
	var errs []error
	for _, p := range e.Pods.ByIndex(controller.IndexNodeName, n.Name) {
		if p.DeletionTimestamp != nil {
			continue
		}
		d, forever, ok := e.allowance(p, taints)
		if forever {
			continue
		}
		if ok {
			if left := since.Add(d).Sub(now); left > 0 {
				if next == 0 || left < next {
					next = left
				}
				continue
			}
		}
		uid := p.UID
		err := e.API.Delete(ctx, p.Namespace, p.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil {
			errs = append(errs, fmt.Errorf("evicting pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		if e.Evicted != nil {
			e.Evicted()
		}
		e.Recorder.Eventf(events.Ref("v1", "Pod", &p.ObjectMeta), events.Normal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
		e.Log.Info("pod_evicted", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("node", n.Name))
	}
	if next > 0 {
		e.Queue.AddAfter(key, next+10*time.Millisecond)
	}
	return errors.Join(errs...)
}

// OnNodeChange queues a node whose NoExecute taints may have changed.
func (e *Evictor) OnNodeChange(n *corev1.Node) { e.Queue.Add(n.Name) }

// OnPodChange queues the node of a pod that landed on it.
func (e *Evictor) OnPodChange(p *corev1.Pod) {
	if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
		e.Queue.Add(p.Spec.NodeName)
	}
}
