// Package daemonset is the DaemonSet controller: one pod from the template on every eligible node
// (nodeSelector, required node affinity, taints against the template's tolerations plus the ones
// Kubernetes adds to every daemon pod), pinned to its node by a required node affinity term
// `matchFields metadata.name In [<node>]` so the scheduler binds it (as Kubernetes does since 1.12);
// RollingUpdate within maxUnavailable (one node at a time by default) and OnDelete; ControllerRevision
// history; and the status `kubectl rollout status ds` reads.
//
// It does not delete a deleted daemon set's pods (the garbage collector does) and it does not surge
// (maxSurge is ignored: old pods are deleted before new ones are created).
package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/expectations"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/history"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/nodefit"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podcontrol"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podevents"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Name is the controller's name in --controllers and metrics.
const Name = "daemonset"

const (
	apiVersion = "apps/v1"
	kind       = "DaemonSet"
)

// Controller reconciles daemon sets.
type Controller struct {
	DaemonSets controller.Store[appsv1.DaemonSet]
	Pods       controller.Store[corev1.Pod]
	Nodes      controller.Store[corev1.Node]
	Revisions  controller.Store[appsv1.ControllerRevision]
	API        controller.OwnerClient[appsv1.DaemonSet]
	PodPatch   controller.PatchClient[corev1.Pod] // writes ownerReference changes
	RevAPI     history.RevisionClient
	PodControl *podcontrol.Control
	Recorder   *events.Recorder
	Queue      controller.Queue
	Log        *zap.Logger
	// PodEvents routes pod events to daemon set keys; Init builds it.
	PodEvents *podevents.Handler[appsv1.DaemonSet, *appsv1.DaemonSet]

	exp *expectations.Expectations
	now func() time.Time
}

// Init fills defaults; call before the handlers receive events.
func (c *Controller) Init() {
	c.exp = expectations.New(0)
	c.now = time.Now
	c.PodEvents = &podevents.Handler[appsv1.DaemonSet, *appsv1.DaemonSet]{
		Owners: ownership.Owners[appsv1.DaemonSet, *appsv1.DaemonSet]{
			Kind: kind, Store: c.DaemonSets,
			Selector: func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector },
		},
		Queue:           c.Queue,
		Expectations:    c.exp,
		MinReadySeconds: func(ds *appsv1.DaemonSet) int32 { return ds.Spec.MinReadySeconds },
	}
}

func ref(ds *appsv1.DaemonSet) corev1.ObjectReference {
	return events.Ref(apiVersion, kind, &ds.ObjectMeta)
}

// daemonTolerations are the tolerations Kubernetes adds to every daemon pod, so a daemon keeps running
// on (and is placed on) nodes that are not ready, unreachable, under pressure or cordoned.
func daemonTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	add := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if spec.HostNetwork {
		add = append(add, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	out := append([]corev1.Toleration(nil), spec.Tolerations...)
	for _, t := range add {
		have := false
		for _, e := range out {
			if e.Key == t.Key && e.Effect == t.Effect {
				have = true
				break
			}
		}
		if !have {
			out = append(out, t)
		}
	}
	return out
}

// placement says whether a daemon pod should be created on a node, and whether an existing one may
// keep running there (an untolerated NoSchedule taint stops new pods only).
func placement(ds *appsv1.DaemonSet, node *corev1.Node) (shouldRun, mayContinue bool) {
	spec := &ds.Spec.Template.Spec
	if !nodefit.PlacementFits(spec, node) {
		return false, false
	}
	tols := daemonTolerations(spec)
	if nodefit.Untolerated(tols, node.Spec.Taints, corev1.TaintEffectNoExecute) != nil {
		return false, false
	}
	if nodefit.Untolerated(tols, node.Spec.Taints, corev1.TaintEffectNoSchedule) != nil {
		return false, true
	}
	return true, true
}

// newPod builds the daemon pod for node from the template.
func newPod(ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	p := podcontrol.FromTemplate(&ds.Spec.Template, ds.Namespace, podcontrol.GenerateNamePrefix(ds.Name),
		ownership.NewControllerRef(&ds.ObjectMeta, apiVersion, kind))
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	p.Spec.Tolerations = daemonTolerations(&p.Spec)
	p.Spec.Affinity = pinTo(p.Spec.Affinity, node)
	return p
}

// pinTo returns affinity with every required node term narrowed to metadata.name In [node] (or a single
// such term), the way Kubernetes's daemon controller targets a node.
func pinTo(a *corev1.Affinity, node string) *corev1.Affinity {
	field := corev1.NodeSelectorRequirement{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	out := &corev1.Affinity{}
	if a != nil {
		c := *a
		out = &c
	}
	na := &corev1.NodeAffinity{}
	if out.NodeAffinity != nil {
		c := *out.NodeAffinity
		na = &c
	}
	var terms []corev1.NodeSelectorTerm
	if na.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, t := range na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			var fields []corev1.NodeSelectorRequirement
			for _, f := range t.MatchFields {
				if f.Key != "metadata.name" {
					fields = append(fields, f)
				}
			}
			t.MatchFields = append(fields, field)
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		terms = []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{field}}}
	}
	na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: terms}
	out.NodeAffinity = na
	return out
}

// Sync reconciles one daemon set: claim its pods, keep its revision history, create and delete pods
// node by node, roll out a new template within maxUnavailable, and write status.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ds, ok := c.DaemonSets.Get(key)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	sel, err := labels.FromLabelSelector(ds.Spec.Selector)
	if err != nil || ownership.SelectsEverything(ds.Spec.Selector) {
		return fmt.Errorf("daemonset %s has an invalid or empty selector: %w", key, controller.ErrTerminal)
	}
	satisfied := c.exp.Satisfied(key)
	pods, claimErr := c.claimPods(ctx, ds, sel)

	if ds.DeletionTimestamp != nil {
		return errors.Join(claimErr, c.updateStatus(ctx, ds, pods, ""))
	}
	revs := c.Revisions.ByIndex(controller.IndexController, string(ds.UID))
	rev, hash, err := history.Ensure(ctx, c.RevAPI, history.Owner{
		Meta: &ds.ObjectMeta, Ref: ownership.NewControllerRef(&ds.ObjectMeta, apiVersion, kind),
		Labels: ds.Spec.Selector.MatchLabels, Template: &ds.Spec.Template, Collisions: ds.Status.CollisionCount,
	}, revs)
	if err != nil {
		return errors.Join(claimErr, err)
	}
	var manageErr error
	if satisfied {
		manageErr = c.manage(ctx, key, ds, pods, hash)
	}
	histErr := history.TruncateForPods(ctx, c.RevAPI, revs, rev.Name, pods, ds.Spec.RevisionHistoryLimit)
	return errors.Join(claimErr, manageErr, histErr, c.updateStatus(ctx, ds, pods, hash))
}

func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	claimer := &ownership.Claimer[corev1.Pod, *corev1.Pod]{
		Owner:    &ds.ObjectMeta,
		Ref:      ownership.NewControllerRef(&ds.ObjectMeta, apiVersion, kind),
		Matches:  ownership.SelectorMatcher(sel),
		Patch:    ownership.MergePatcher(c.PodPatch),
		CanAdopt: ownership.FreshOwnerCheck[appsv1.DaemonSet](c.API, &ds.ObjectMeta, "daemonset"),
	}
	return claimer.Claim(ctx, c.Pods.ByIndex(controller.IndexNamespace, ds.Namespace))
}

// nodeState is what one node has of a daemon set.
type nodeState struct {
	node        *corev1.Node
	shouldRun   bool
	mayContinue bool
	active      []*corev1.Pod // not terminating, not finished
	failed      []*corev1.Pod
	terminating bool
}

func (c *Controller) nodeStates(ds *appsv1.DaemonSet, pods []*corev1.Pod) (map[string]*nodeState, []*corev1.Pod) {
	states := map[string]*nodeState{}
	for _, n := range c.Nodes.List() {
		run, cont := placement(ds, n)
		states[n.Name] = &nodeState{node: n, shouldRun: run, mayContinue: cont}
	}
	var orphaned []*corev1.Pod // pods on nodes that no longer exist, or pinned nowhere
	for _, p := range pods {
		st := states[nodefit.PinnedNode(&p.Spec)]
		if st == nil {
			if podstate.IsActive(p) {
				orphaned = append(orphaned, p)
			}
			continue
		}
		switch {
		case podstate.IsTerminating(p):
			st.terminating = true
		case p.Status.Phase == corev1.PodFailed:
			st.failed = append(st.failed, p)
		case podstate.IsActive(p):
			st.active = append(st.active, p)
		}
	}
	return states, orphaned
}

func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) error {
	states, orphaned := c.nodeStates(ds, pods)
	now := c.now()
	var create []string
	del := append([]*corev1.Pod(nil), orphaned...)
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st := states[n]
		// failed daemon pods are replaced (Kubernetes does the same, with back-off through the queue)
		del = append(del, st.failed...)
		switch {
		case st.shouldRun && len(st.active) == 0 && !st.terminating:
			create = append(create, n)
		case st.shouldRun || st.mayContinue:
			if len(st.active) > 1 {
				// keep the oldest, delete the rest
				sort.Slice(st.active, func(i, j int) bool {
					return st.active[i].CreationTimestamp.Before(st.active[j].CreationTimestamp.Time)
				})
				del = append(del, st.active[1:]...)
			}
		default:
			del = append(del, st.active...)
		}
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		del = append(del, c.rollingDeletes(ds, states, hash, now)...)
	}
	return c.apply(ctx, key, ds, hash, create, del)
}

// rollingDeletes picks old-revision pods to delete: every unavailable old pod, then available ones
// while fewer than maxUnavailable nodes are without an available pod.
func (c *Controller) rollingDeletes(ds *appsv1.DaemonSet, states map[string]*nodeState, hash string, now time.Time) []*corev1.Pod {
	desired := 0
	for _, st := range states {
		if st.shouldRun {
			desired++
		}
	}
	maxUnavailable := 1
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
		if err == nil {
			maxUnavailable = v
		}
	}
	if maxUnavailable < 1 {
		maxUnavailable = 1
	}
	unavailable := 0
	var oldAvailable, del []*corev1.Pod
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st := states[n]
		if !st.shouldRun {
			continue
		}
		if len(st.active) == 0 {
			unavailable++
			continue
		}
		p := st.active[0]
		old := p.Labels[appsv1.ControllerRevisionHashLabelKey] != hash
		avail := podstate.IsAvailable(p, ds.Spec.MinReadySeconds, now)
		switch {
		case old && !avail:
			del = append(del, p)
			unavailable++
		case old:
			oldAvailable = append(oldAvailable, p)
		case !avail:
			unavailable++
		}
	}
	for _, p := range oldAvailable {
		if unavailable >= maxUnavailable {
			break
		}
		del = append(del, p)
		unavailable++
	}
	return del
}

func (c *Controller) apply(ctx context.Context, key string, ds *appsv1.DaemonSet, hash string, create []string, del []*corev1.Pod) error {
	seen := map[string]bool{}
	var victims []*corev1.Pod
	for _, p := range del {
		if !seen[p.UID] {
			seen[p.UID] = true
			victims = append(victims, p)
		}
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	if len(victims) > 0 {
		uids := make([]string, 0, len(victims))
		for _, p := range victims {
			uids = append(uids, p.UID)
		}
		c.exp.ExpectDeletions(key, uids)
		for _, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.PodControl.Delete(ctx, p, ref(ds)); err != nil {
					c.exp.DeletionObserved(key, p.UID)
					fail(err)
				}
			}()
		}
	}
	if len(create) > 0 {
		c.exp.ExpectCreations(key, len(create))
		for _, n := range create {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.PodControl.Create(ctx, newPod(ds, n, hash), ref(ds)); err != nil {
					c.exp.CreationObserved(key)
					fail(fmt.Errorf("creating the daemon pod for node %s: %w", n, err))
				}
			}()
		}
	}
	wg.Wait()
	if len(create) > 0 || len(victims) > 0 {
		c.Log.Debug("daemon_pods_synced", zap.String("daemonset", key), zap.Int("created", len(create)), zap.Int("deleted", len(victims)))
	}
	return firstErr
}

func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) error {
	states, _ := c.nodeStates(ds, pods)
	now := c.now()
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	var next time.Duration
	for _, s := range states {
		if s.shouldRun {
			st.DesiredNumberScheduled++
		}
		if len(s.active) == 0 {
			continue
		}
		if !s.shouldRun {
			st.NumberMisscheduled++
			continue
		}
		st.CurrentNumberScheduled++
		p := s.active[0]
		if podstate.IsReady(p) {
			st.NumberReady++
			if podstate.IsAvailable(p, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			} else if d := podstate.AvailableIn(p, ds.Spec.MinReadySeconds, now); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
		if hash != "" && p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
			st.UpdatedNumberScheduled++
		}
	}
	if hash == "" {
		st.UpdatedNumberScheduled = ds.Status.UpdatedNumberScheduled
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if next > 0 {
		c.Queue.AddAfter(controller.KeyOf(&ds.ObjectMeta), next+10*time.Millisecond)
	}
	return controller.UpdateStatusIfChanged(ctx, c.API, "daemonset", ds,
		func(ds *appsv1.DaemonSet) *appsv1.DaemonSetStatus { return &ds.Status }, st, nil)
}
