// Package replicaset is the ReplicaSet controller: it keeps spec.replicas active pods that match a
// replica set's selector, created from its template with a controller reference, adopting matching
// orphans and releasing owned pods that stop matching, and reports replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas (minReadySeconds) and observedGeneration through /status.
//
// It does not delete a deleted replica set's pods: the garbage collector does, following the
// ownerReferences this controller writes.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"go.uber.org/zap"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/expectations"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podcontrol"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podevents"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Name is the controller's name in --controllers and metrics.
const Name = "replicaset"

// DefaultBurstReplicas caps the creates or deletes of one sync, as Kubernetes's --replicaset burst.
const DefaultBurstReplicas = 500

var gvk = struct{ apiVersion, kind string }{"apps/v1", "ReplicaSet"}

// Controller reconciles replica sets.
type Controller struct {
	Sets       controller.Store[appsv1.ReplicaSet]
	Pods       controller.Store[corev1.Pod]
	SetClient  controller.OwnerClient[appsv1.ReplicaSet]
	PodPatch   controller.PatchClient[corev1.Pod] // writes ownerReference changes
	PodControl *podcontrol.Control
	Recorder   *events.Recorder
	Queue      controller.Queue
	Log        *zap.Logger
	Burst      int
	// PodEvents routes pod events to replica set keys; Init builds it.
	PodEvents *podevents.Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]

	exp *expectations.Expectations
	now func() time.Time
	// statusMu orders status writes per process; correctness comes from the RV precondition.
	statusMu sync.Mutex
}

// Init fills defaults; call before the handlers receive events.
func (c *Controller) Init() {
	if c.Burst <= 0 {
		c.Burst = DefaultBurstReplicas
	}
	c.exp = expectations.New(0)
	c.now = time.Now
	c.PodEvents = &podevents.Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]{
		Owners: ownership.Owners[appsv1.ReplicaSet, *appsv1.ReplicaSet]{
			Kind: gvk.kind, Store: c.Sets,
			Selector: func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector },
		},
		Queue:           c.Queue,
		Expectations:    c.exp,
		MinReadySeconds: func(rs *appsv1.ReplicaSet) int32 { return rs.Spec.MinReadySeconds },
	}
}

// Expectations exposes the controller's expectations (tests).
func (c *Controller) Expectations() *expectations.Expectations { return c.exp }

func ref(rs *appsv1.ReplicaSet) corev1.ObjectReference {
	return events.Ref(gvk.apiVersion, gvk.kind, &rs.ObjectMeta)
}

// Sync brings one replica set to its desired number of pods and writes its status.
func (c *Controller) Sync(ctx context.Context, key string) error {
	rs, ok := c.Sets.Get(key)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	sel, err := labels.FromLabelSelector(rs.Spec.Selector)
	if err != nil {
		return fmt.Errorf("replicaset %s selector: %v: %w", key, err, controller.ErrTerminal)
	}
	if ownership.SelectsEverything(rs.Spec.Selector) {
		// an empty selector would grab every pod in the namespace; Kubernetes refuses it too
		return fmt.Errorf("replicaset %s has an empty selector: %w", key, controller.ErrTerminal)
	}
	// satisfied must be read before the pods: a create observed in between would otherwise be
	// counted twice (once in the expectations, once in the list).
	satisfied := c.exp.Satisfied(key)

	var candidates []*corev1.Pod
	for _, p := range c.Pods.ByIndex(controller.IndexNamespace, rs.Namespace) {
		if !podstate.IsActive(p) && !ownership.IsControlledBy(&p.ObjectMeta, rs.UID) {
			continue
		}
		candidates = append(candidates, p)
	}
	claimer := &ownership.Claimer[corev1.Pod, *corev1.Pod]{
		Owner:    &rs.ObjectMeta,
		Ref:      ownership.NewControllerRef(&rs.ObjectMeta, gvk.apiVersion, gvk.kind),
		Matches:  ownership.SelectorMatcher(sel),
		Patch:    ownership.MergePatcher(c.PodPatch),
		CanAdopt: ownership.FreshOwnerCheck[appsv1.ReplicaSet](c.SetClient, &rs.ObjectMeta, "replicaset"),
	}
	owned, claimErr := claimer.Claim(ctx, candidates)
	var active []*corev1.Pod
	for _, p := range owned {
		if podstate.IsActive(p) {
			active = append(active, p)
		}
	}

	var scaleErr error
	if satisfied && rs.DeletionTimestamp == nil {
		scaleErr = c.manageReplicas(ctx, key, rs, active)
	}
	statusErr := c.updateStatus(ctx, key, rs, owned)
	return errors.Join(claimErr, scaleErr, statusErr)
}

func (c *Controller) manageReplicas(ctx context.Context, key string, rs *appsv1.ReplicaSet, active []*corev1.Pod) error {
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	diff := len(active) - int(want)
	switch {
	case diff < 0:
		n := min(-diff, c.Burst)
		c.exp.ExpectCreations(key, n)
		owner := ownership.NewControllerRef(&rs.ObjectMeta, gvk.apiVersion, gvk.kind)
		prefix := podcontrol.GenerateNamePrefix(rs.Name)
		ok, err := podcontrol.SlowStart(n, 1, func() error {
			pod := podcontrol.FromTemplate(&rs.Spec.Template, rs.Namespace, prefix, owner)
			_, err := c.PodControl.Create(ctx, pod, ref(rs))
			if err != nil {
				// a create that failed is never observed
				c.exp.CreationObserved(key)
			}
			return err
		})
		// creates never attempted after a failure are never observed either
		skipped := n - ok
		if err != nil {
			for i := 0; i < skipped-1; i++ {
				c.exp.CreationObserved(key)
			}
			return fmt.Errorf("creating pods for replicaset %s (%d of %d created): %w", key, ok, n, err)
		}
		c.Log.Debug("pods_created", zap.String("replicaset", key), zap.Int("count", ok))
	case diff > 0:
		n := min(diff, c.Burst)
		victims := append([]*corev1.Pod(nil), active...)
		podstate.SortForDeletion(victims)
		victims = victims[:n]
		if err := c.PodControl.DeleteAll(ctx, c.exp, key, victims, ref(rs)); err != nil {
			return fmt.Errorf("deleting pods of replicaset %s: %w", key, err)
		}
	}
	return nil
}

// computeStatus derives the status from the owned pods.
func computeStatus(rs *appsv1.ReplicaSet, owned []*corev1.Pod, now time.Time) (appsv1.ReplicaSetStatus, time.Duration) {
	st := appsv1.ReplicaSetStatus{ObservedGeneration: rs.Generation, Conditions: rs.Status.Conditions}
	tmplLabels := rs.Spec.Template.Labels
	var terminating int32
	var next time.Duration
	for _, p := range owned {
		if podstate.IsTerminating(p) {
			terminating++
			continue
		}
		if !podstate.IsActive(p) {
			continue
		}
		st.Replicas++
		full := true
		for k, v := range tmplLabels {
			if p.Labels[k] != v {
				full = false
				break
			}
		}
		if full {
			st.FullyLabeledReplicas++
		}
		if podstate.IsReady(p) {
			st.ReadyReplicas++
			if podstate.IsAvailable(p, rs.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			} else if d := podstate.AvailableIn(p, rs.Spec.MinReadySeconds, now); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
	}
	st.TerminatingReplicas = &terminating
	return st, next
}

func (c *Controller) updateStatus(ctx context.Context, key string, rs *appsv1.ReplicaSet, owned []*corev1.Pod) error {
	st, next := computeStatus(rs, owned, c.now())
	if next > 0 {
		// a pod becomes available once minReadySeconds have passed: look again then
		c.Queue.AddAfter(key, next+10*time.Millisecond)
	}
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	return controller.UpdateStatusIfChanged(ctx, c.SetClient, "replicaset", rs,
		func(rs *appsv1.ReplicaSet) *appsv1.ReplicaSetStatus { return &rs.Status }, st,
		func(cur, want appsv1.ReplicaSetStatus) bool {
			if cur.TerminatingReplicas == nil {
				zero := int32(0)
				cur.TerminatingReplicas = &zero // an old status without the field: zero terminating
			}
			return reflect.DeepEqual(cur, want)
		})
}
