package deployment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"time"

	"go.uber.org/zap"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Name is the controller's name in --controllers and metrics.
const Name = "deployment"

const (
	apiVersion = "apps/v1"
	kind       = "Deployment"
	// defaultHistory is the API default of revisionHistoryLimit.
	defaultHistory = 10
	// reasonScaling is the Event reason of every replica set resize.
	reasonScaling = "ScalingReplicaSet"
)

// DeploymentClient is the part of the deployments API the controller uses.
type DeploymentClient interface {
	controller.OwnerClient[appsv1.Deployment]
	Update(ctx context.Context, ns string, d *appsv1.Deployment, opts client.UpdateOptions) (*appsv1.Deployment, error)
}

// ReplicaSetClient is the part of the replicasets API the controller uses.
type ReplicaSetClient interface {
	Get(ctx context.Context, ns, name string, opts client.GetOptions) (*appsv1.ReplicaSet, error)
	Create(ctx context.Context, ns string, rs *appsv1.ReplicaSet, opts client.CreateOptions) (*appsv1.ReplicaSet, error)
	Update(ctx context.Context, ns string, rs *appsv1.ReplicaSet, opts client.UpdateOptions) (*appsv1.ReplicaSet, error)
	Patch(ctx context.Context, ns, name string, pt client.PatchType, data []byte, opts client.PatchOptions, sub ...string) (*appsv1.ReplicaSet, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Controller reconciles deployments.
type Controller struct {
	Deployments controller.Store[appsv1.Deployment]
	Sets        controller.Store[appsv1.ReplicaSet]
	Pods        controller.Store[corev1.Pod]
	DeployAPI   DeploymentClient
	SetAPI      ReplicaSetClient
	Recorder    *events.Recorder
	Queue       controller.Queue
	Log         *zap.Logger

	now func() time.Time
}

// Init fills defaults.
func (c *Controller) Init() { c.now = time.Now }

func dref(d *appsv1.Deployment) corev1.ObjectReference {
	return events.Ref(apiVersion, kind, &d.ObjectMeta)
}

// Sync reconciles one deployment: claim its replica sets, roll out its template according to the
// strategy, clean up history and write status.
func (c *Controller) Sync(ctx context.Context, key string) error {
	cached, ok := c.Deployments.Get(key)
	if !ok {
		return nil
	}
	d := copyDeployment(cached)
	sel, err := labels.FromLabelSelector(d.Spec.Selector)
	if err != nil {
		c.Recorder.Eventf(dref(d), events.Warning, "SelectorParsingFailed", "invalid selector: %v", err)
		return fmt.Errorf("deployment %s: %v: %w", key, err, controller.ErrTerminal)
	}
	if ownership.SelectsEverything(d.Spec.Selector) {
		c.Recorder.Event(dref(d), events.Warning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, _ = c.DeployAPI.UpdateStatus(ctx, d.Namespace, d, client.UpdateOptions{})
		}
		return nil
	}
	sets, err := c.claimSets(ctx, d, ownership.SelectorMatcher(sel))
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		newRS, old := splitSets(d, sets)
		return c.syncStatusOnly(ctx, d, newRS, old)
	}
	if err := c.checkPaused(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScaleOnly(ctx, d, sets)
	}
	if c.isScalingEvent(d, sets) {
		return c.syncScaleOnly(ctx, d, sets)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return c.rolloutRecreate(ctx, d, sets)
	}
	return c.rolloutRolling(ctx, d, sets)
}

func copyDeployment(d *appsv1.Deployment) *appsv1.Deployment {
	c := *d
	c.Annotations = copyMap(d.Annotations)
	c.Status.Conditions = append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...)
	return &c
}

func copySet(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	c := *rs
	c.Annotations = copyMap(rs.Annotations)
	if rs.Spec.Replicas != nil {
		r := *rs.Spec.Replicas
		c.Spec.Replicas = &r
	}
	return &c
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (c *Controller) claimSets(ctx context.Context, d *appsv1.Deployment, match func(map[string]string) bool) ([]*appsv1.ReplicaSet, error) {
	candidates := c.Sets.ByIndex(controller.IndexNamespace, d.Namespace)
	claimer := &ownership.Claimer[appsv1.ReplicaSet, *appsv1.ReplicaSet]{
		Owner:    &d.ObjectMeta,
		Ref:      ownership.NewControllerRef(&d.ObjectMeta, apiVersion, kind),
		Matches:  match,
		Patch:    ownership.MergePatcher(c.SetAPI),
		CanAdopt: ownership.FreshOwnerCheck[appsv1.Deployment](c.DeployAPI, &d.ObjectMeta, "deployment"),
	}
	sets, err := claimer.Claim(ctx, candidates)
	if err != nil {
		return nil, fmt.Errorf("claiming replica sets of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return sets, nil
}

// splitSets finds the replica set of the current template (the oldest one, if several match) and the
// others.
func splitSets(d *appsv1.Deployment, sets []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	sorted := append([]*appsv1.ReplicaSet(nil), sets...)
	sortByCreation(sorted)
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

func all(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		out = append(out, newRS)
	}
	return out
}

func active(sets []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range sets {
		if rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func maxRevision(sets []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range sets {
		if v := Revision(rs.Annotations); v > m {
			m = v
		}
	}
	return m
}

// annotationsToSkip are deployment annotations that are not copied to its replica sets.
var annotationsToSkip = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	RevisionAnnotation:                  true,
	RevisionHistoryAnnotation:           true,
	DesiredReplicasAnnotation:           true,
	MaxReplicasAnnotation:               true,
	"deprecated.deployment.rollback.to": true,
}

// setReplicaAnnotations stamps desired-replicas and max-replicas on a replica set; it reports a change.
func setReplicaAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	for k, v := range map[string]string{DesiredReplicasAnnotation: strconv.Itoa(int(desired)), MaxReplicasAnnotation: strconv.Itoa(int(maxReplicas))} {
		if rs.Annotations[k] != v {
			rs.Annotations[k] = v
			changed = true
		}
	}
	return changed
}

// syncDeploymentAnnotations copies the deployment's own annotations to the replica set and sets its
// revision; it reports a change.
func syncSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, revision int64) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	for k, v := range d.Annotations {
		if annotationsToSkip[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	if Revision(rs.Annotations) < revision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(revision, 10)
		changed = true
	}
	return changed
}

// getNewReplicaSet returns the replica set of the current template, bringing its revision and
// annotations up to date, or creates it when create is true.
func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	revision := maxRevision(old) + 1
	if newRS != nil {
		upd := copySet(newRS)
		changed := syncSetAnnotations(d, upd, revision)
		if upd.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			upd.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			changed = true
		}
		if changed {
			got, err := c.SetAPI.Update(ctx, upd.Namespace, upd, client.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("updating revision of replica set %s: %w", upd.Name, err)
			}
			upd = got
		}
		if err := c.setDeploymentRevision(ctx, d, upd.Annotations[RevisionAnnotation]); err != nil {
			return nil, err
		}
		if cond := getCondition(d.Status, appsv1.DeploymentProgressing); hasProgressDeadline(d) && cond == nil {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, appsv1.FoundNewReplicaSetReason,
				fmt.Sprintf("Found new replica set %q", upd.Name), c.now()))
		}
		return upd, nil
	}
	if !create {
		return nil, nil
	}

	hash := TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	rs := &appsv1.ReplicaSet{}
	rs.APIVersion, rs.Kind = apiVersion, "ReplicaSet"
	rs.Name = d.Name + "-" + hash
	rs.Namespace = d.Namespace
	rs.OwnerReferences = []metav1.OwnerReference{ownership.NewControllerRef(&d.ObjectMeta, apiVersion, kind)}
	rs.Labels = copyMap(d.Spec.Template.Labels)
	if rs.Labels == nil {
		rs.Labels = map[string]string{}
	}
	rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	rs.Spec.Template = d.Spec.Template
	rs.Spec.Template.Labels = copyMap(rs.Labels)
	sel := *d.Spec.Selector
	sel.MatchLabels = copyMap(d.Spec.Selector.MatchLabels)
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	rs.Spec.Selector = &sel
	rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
	zero := int32(0)
	rs.Spec.Replicas = &zero
	replicas := NewRSNewReplicas(d, all(nil, old), rs)
	rs.Spec.Replicas = &replicas
	syncSetAnnotations(d, rs, revision)
	setReplicaAnnotations(rs, replicasOf(d), replicasOf(d)+MaxSurge(d))

	created, err := c.SetAPI.Create(ctx, d.Namespace, rs, client.CreateOptions{})
	if client.IsAlreadyExists(err) {
		existing, gerr := c.SetAPI.Get(ctx, d.Namespace, rs.Name, client.GetOptions{})
		if gerr != nil {
			return nil, fmt.Errorf("reading existing replica set %s: %w", rs.Name, gerr)
		}
		if ownership.IsControlledBy(&existing.ObjectMeta, d.UID) && EqualIgnoreHash(&existing.Spec.Template, &d.Spec.Template) {
			// our own create from an earlier sync that the cache has not shown yet
			return existing, nil
		}
		// a hash collision: bump collisionCount so the next sync picks another name
		n := int32(0)
		if d.Status.CollisionCount != nil {
			n = *d.Status.CollisionCount
		}
		n++
		d.Status.CollisionCount = &n
		if _, uerr := c.DeployAPI.UpdateStatus(ctx, d.Namespace, d, client.UpdateOptions{}); uerr != nil {
			return nil, fmt.Errorf("recording hash collision: %w", uerr)
		}
		return nil, fmt.Errorf("replica set name %s collides with another object; retrying with collision count %d", rs.Name, n)
	}
	if err != nil {
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		c.Recorder.Event(dref(d), events.Warning, appsv1.FailedRSCreateReason, msg)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, appsv1.FailedRSCreateReason, msg, c.now()))
			_, _ = c.DeployAPI.UpdateStatus(ctx, d.Namespace, d, client.UpdateOptions{})
		}
		return nil, fmt.Errorf("creating replica set %s: %w", rs.Name, err)
	}
	if replicas > 0 {
		c.Recorder.Eventf(dref(d), events.Normal, reasonScaling, "Scaled up replica set %s from 0 to %d", created.Name, replicas)
	}
	if err := c.setDeploymentRevision(ctx, d, created.Annotations[RevisionAnnotation]); err != nil {
		return nil, err
	}
	if hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, appsv1.NewReplicaSetReason,
			fmt.Sprintf("Created new replica set %q", created.Name), c.now()))
	}
	return created, nil
}

// setDeploymentRevision keeps the deployment's revision annotation equal to its new replica set's.
func (c *Controller) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, revision string) error {
	if revision == "" || d.Annotations[RevisionAnnotation] == revision {
		return nil
	}
	upd := copyDeployment(d)
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	upd.Annotations[RevisionAnnotation] = revision
	got, err := c.DeployAPI.Update(ctx, d.Namespace, upd, client.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("setting revision of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	// carry on with the fresh resourceVersion, keeping the conditions computed so far
	conds := d.Status.Conditions
	coll := d.Status.CollisionCount
	*d = *got
	d.Status.Conditions, d.Status.CollisionCount = conds, coll
	return nil
}

// scaleSet resizes one replica set (RV precondition) and records the Event. It reports whether it wrote.
func (c *Controller) scaleSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, to int32) (bool, error) {
	if rs == nil {
		return false, nil
	}
	upd := copySet(rs)
	sizeChanged := rsReplicas(rs) != to
	upd.Spec.Replicas = &to
	annChanged := setReplicaAnnotations(upd, replicasOf(d), replicasOf(d)+MaxSurge(d))
	if !sizeChanged && !annChanged {
		return false, nil
	}
	if _, err := c.SetAPI.Update(ctx, upd.Namespace, upd, client.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("scaling replica set %s to %d: %w", rs.Name, to, err)
	}
	if sizeChanged {
		dir := "up"
		if to < rsReplicas(rs) {
			dir = "down"
		}
		c.Recorder.Eventf(dref(d), events.Normal, reasonScaling, "Scaled %s replica set %s from %d to %d", dir, rs.Name, rsReplicas(rs), to)
	}
	return sizeChanged, nil
}

func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, sets []*appsv1.ReplicaSet) error {
	newRS, old := splitSets(d, sets)
	newRS, err := c.getNewReplicaSet(ctx, d, newRS, old, true)
	if err != nil {
		return err
	}
	allSets := all(newRS, old)

	// scale up the new set as far as maxSurge allows
	if newRS != nil {
		target := NewRSNewReplicas(d, allSets, newRS)
		if rsReplicas(newRS) > replicasOf(d) {
			target = replicasOf(d)
		}
		scaled, err := c.scaleSet(ctx, d, newRS, target)
		if err != nil {
			return err
		}
		if scaled {
			return c.syncRolloutStatus(ctx, d, newRS, old)
		}
	}

	// scale old sets down as far as maxUnavailable allows
	targets := OldScaleDown(d, allSets, active(old), newRS)
	scaledDown := false
	for _, rs := range old {
		to, ok := targets[rs.Name]
		if !ok {
			continue
		}
		scaled, err := c.scaleSet(ctx, d, rs, to)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, newRS, old)
	}
	if complete(d, calculateStatus(allSets, newRS, d)) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, newRS, old)
}

func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, sets []*appsv1.ReplicaSet) error {
	newRS, old := splitSets(d, sets)
	newRS, err := c.getNewReplicaSet(ctx, d, newRS, old, false)
	if err != nil {
		return err
	}
	scaled := false
	for _, rs := range active(old) {
		s, err := c.scaleSet(ctx, d, rs, 0)
		if err != nil {
			return err
		}
		scaled = scaled || s
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, newRS, old)
	}
	if c.oldPodsRunning(old) {
		return c.syncRolloutStatus(ctx, d, newRS, old)
	}
	if newRS == nil {
		if newRS, err = c.getNewReplicaSet(ctx, d, nil, old, true); err != nil {
			return err
		}
	}
	if _, err := c.scaleSet(ctx, d, newRS, replicasOf(d)); err != nil {
		return err
	}
	if complete(d, calculateStatus(all(newRS, old), newRS, d)) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, newRS, old)
}

// oldPodsRunning reports whether any pod of the old sets still exists and has not finished: Recreate
// starts new pods only when the old ones are really gone.
func (c *Controller) oldPodsRunning(old []*appsv1.ReplicaSet) bool {
	for _, rs := range old {
		if rs.Status.Replicas > 0 {
			return true
		}
		for _, p := range c.Pods.ByIndex(controller.IndexController, rs.UID) {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				return true
			}
		}
	}
	return false
}

// isScalingEvent reports whether spec.replicas changed since the active sets were last sized.
func (c *Controller) isScalingEvent(d *appsv1.Deployment, sets []*appsv1.ReplicaSet) bool {
	newRS, old := splitSets(d, sets)
	for _, rs := range active(all(newRS, old)) {
		v, ok := rs.Annotations[DesiredReplicasAnnotation]
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil && int32(n) != replicasOf(d) {
			return true
		}
	}
	return false
}

// syncScaleOnly resizes the sets for a paused deployment or a change of spec.replicas without a
// template change, then writes status.
func (c *Controller) syncScaleOnly(ctx context.Context, d *appsv1.Deployment, sets []*appsv1.ReplicaSet) error {
	newRS, old := splitSets(d, sets)
	newRS, err := c.getNewReplicaSet(ctx, d, newRS, old, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncStatusOnly(ctx, d, newRS, old)
}

// scale distributes spec.replicas (+maxSurge during a rollout) over the active sets in proportion to
// their sizes, as Kubernetes's proportional scaling does.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	replicas := replicasOf(d)
	act := active(all(newRS, old))
	if len(act) == 0 && newRS != nil {
		_, err := c.scaleSet(ctx, d, newRS, replicas)
		return err
	}
	if len(act) == 1 {
		_, err := c.scaleSet(ctx, d, act[0], replicas)
		return err
	}
	if newRS != nil && rsReplicas(newRS) == replicas && newRS.Status.AvailableReplicas == replicas {
		for _, rs := range active(old) {
			if _, err := c.scaleSet(ctx, d, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if len(act) == 0 {
		return nil
	}
	allowed := replicas
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		allowed += MaxSurge(d)
	}
	current := sumReplicas(act)
	diff := allowed - current
	if diff == 0 {
		// sizes are right; refresh the desired-replicas annotations
		for _, rs := range act {
			if _, err := c.scaleSet(ctx, d, rs, rsReplicas(rs)); err != nil {
				return err
			}
		}
		return nil
	}
	// larger (then newer) sets first for scale up; larger (then older) first for scale down
	sort.SliceStable(act, func(i, j int) bool {
		if rsReplicas(act[i]) != rsReplicas(act[j]) {
			return rsReplicas(act[i]) > rsReplicas(act[j])
		}
		if diff > 0 {
			return act[i].CreationTimestamp.After(act[j].CreationTimestamp.Time)
		}
		return act[i].CreationTimestamp.Before(act[j].CreationTimestamp.Time)
	})
	sizes := make([]int32, len(act))
	var added int32
	for i, rs := range act {
		share := int32(math.Round(float64(rsReplicas(rs)) * float64(diff) / float64(current)))
		if (diff > 0 && added+share > diff) || (diff < 0 && added+share < diff) {
			share = diff - added
		}
		sizes[i] = rsReplicas(rs) + share
		added += share
	}
	sizes[0] += diff - added
	if sizes[0] < 0 {
		sizes[0] = 0
	}
	for i, rs := range act {
		if _, err := c.scaleSet(ctx, d, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// cleanup deletes old, empty replica sets beyond revisionHistoryLimit, oldest revision first.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	limit := int32(defaultHistory)
	if d.Spec.RevisionHistoryLimit != nil {
		limit = *d.Spec.RevisionHistoryLimit
	}
	var live []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			live = append(live, rs)
		}
	}
	diff := int32(len(live)) - limit
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(live, func(i, j int) bool {
		ri, rj := Revision(live[i].Annotations), Revision(live[j].Annotations)
		if ri != rj {
			return ri < rj
		}
		return live[i].CreationTimestamp.Before(live[j].CreationTimestamp.Time)
	})
	var errs []error
	for i := int32(0); i < diff; i++ {
		rs := live[i]
		if rsReplicas(rs) != 0 || rs.Status.Replicas != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		uid := rs.UID
		err := c.SetAPI.Delete(ctx, rs.Namespace, rs.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !client.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkPaused records the pause and resume in the Progressing condition.
func (c *Controller) checkPaused(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(d.Status, appsv1.DeploymentProgressing)
	pausedCond := cond != nil && cond.Reason == appsv1.PausedDeployReason
	var nc *appsv1.DeploymentCondition
	switch {
	case d.Spec.Paused && !pausedCond:
		nc = newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, appsv1.PausedDeployReason, "Deployment is paused", c.now())
	case !d.Spec.Paused && pausedCond:
		nc = newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, appsv1.ResumedDeployReason, "Deployment is resumed", c.now())
	default:
		return nil
	}
	setCondition(&d.Status, nc)
	got, err := c.DeployAPI.UpdateStatus(ctx, d.Namespace, d, client.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("recording pause of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	*d = *copyDeployment(got)
	return nil
}

// calculateStatus sums the sets into the deployment status, with the Available condition.
func calculateStatus(sets []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	st := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		CollisionCount:     d.Status.CollisionCount,
		Conditions:         append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	var terminating int32
	for _, rs := range sets {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
		if rs.Status.TerminatingReplicas != nil {
			terminating += *rs.Status.TerminatingReplicas
		}
	}
	st.TerminatingReplicas = &terminating
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	unavailable := sumReplicas(sets) - st.AvailableReplicas
	if unavailable < 0 {
		unavailable = 0
	}
	st.UnavailableReplicas = unavailable
	now := time.Now()
	if st.AvailableReplicas >= replicasOf(d)-MaxUnavailable(d) {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, appsv1.MinimumReplicasAvailable, "Deployment has minimum availability.", now))
	} else {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, appsv1.MinimumReplicasUnavailable, "Deployment does not have minimum availability.", now))
	}
	return st
}

// complete reports whether the rollout finished: every replica updated and available, nothing else left.
func complete(d *appsv1.Deployment, st appsv1.DeploymentStatus) bool {
	r := replicasOf(d)
	return st.UpdatedReplicas == r && st.Replicas == r && st.AvailableReplicas == r && st.ObservedGeneration >= d.Generation
}

// progressing reports whether the new status shows progress over the old one.
func progressing(old, cur appsv1.DeploymentStatus) bool {
	return cur.UpdatedReplicas > old.UpdatedReplicas || cur.Replicas < old.Replicas ||
		cur.ReadyReplicas > old.ReadyReplicas || cur.AvailableReplicas > old.AvailableReplicas
}

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

func (c *Controller) timedOut(d *appsv1.Deployment, st appsv1.DeploymentStatus) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	cond := getCondition(st, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == appsv1.NewRSAvailableReason {
		return false
	}
	if cond.Reason == appsv1.TimedOutReason {
		return true
	}
	return cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Before(c.now())
}

// syncRolloutStatus writes status with the Progressing condition and requeues a deployment whose
// progress deadline may pass.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	st := calculateStatus(all(newRS, old), newRS, d)
	if hasProgressDeadline(d) {
		cur := getCondition(d.Status, appsv1.DeploymentProgressing)
		name := ""
		if newRS != nil {
			name = newRS.Name
		}
		now := c.now()
		switch {
		case complete(d, st):
			if newRS != nil && (cur == nil || cur.Reason != appsv1.NewRSAvailableReason || cur.Status != corev1.ConditionTrue) {
				setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, appsv1.NewRSAvailableReason,
					fmt.Sprintf("ReplicaSet %q has successfully progressed.", name), now))
			}
		case progressing(d.Status, st):
			nc := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, appsv1.ReplicaSetUpdatedReason,
				fmt.Sprintf("ReplicaSet %q is progressing.", name), now)
			if cur != nil && cur.Status == corev1.ConditionTrue {
				nc.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(&st, appsv1.DeploymentProgressing)
			st.Conditions = append(st.Conditions, *nc)
		case c.timedOut(d, st):
			if cur == nil || cur.Reason != appsv1.TimedOutReason {
				setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, appsv1.TimedOutReason,
					fmt.Sprintf("ReplicaSet %q has timed out progressing.", name), now))
				c.Recorder.Eventf(dref(d), events.Warning, appsv1.TimedOutReason, "Deployment %q has timed out progressing.", d.Name)
			}
		}
		if !complete(d, st) {
			if cond := getCondition(st, appsv1.DeploymentProgressing); cond != nil && cond.Reason != appsv1.TimedOutReason {
				after := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second).Sub(now) + time.Second
				if after < time.Second {
					after = time.Second
				}
				c.Queue.AddAfter(controller.KeyOf(&d.ObjectMeta), after)
			}
		}
	}
	return c.writeStatus(ctx, d, st)
}

// syncStatusOnly writes status without touching the Progressing condition (paused or deleting).
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	return c.writeStatus(ctx, d, calculateStatus(all(newRS, old), newRS, d))
}

func (c *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment, st appsv1.DeploymentStatus) error {
	return controller.UpdateStatusIfChanged(ctx, c.DeployAPI, "deployment", d,
		func(d *appsv1.Deployment) *appsv1.DeploymentStatus { return &d.Status }, st,
		func(cur, want appsv1.DeploymentStatus) bool {
			if cur.TerminatingReplicas == nil {
				zero := int32(0)
				cur.TerminatingReplicas = &zero // an old status without the field: zero terminating
			}
			return statusEqual(cur, want)
		})
}

// statusEqual compares statuses ignoring condition timestamps of unchanged conditions.
func statusEqual(a, b appsv1.DeploymentStatus) bool {
	ca, cb := a.Conditions, b.Conditions
	a.Conditions, b.Conditions = nil, nil
	if !reflect.DeepEqual(a, b) || len(ca) != len(cb) {
		return false
	}
	for _, x := range ca {
		y := getCondition(appsv1.DeploymentStatus{Conditions: cb}, x.Type)
		if y == nil || y.Status != x.Status || y.Reason != x.Reason || y.Message != x.Message {
			return false
		}
	}
	return true
}

func getCondition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func newCondition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) *appsv1.DeploymentCondition {
	ts := metav1.NewTime(now)
	return &appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: ts, LastTransitionTime: ts}
}

// setCondition replaces the condition of that type; an unchanged status and reason keep the old
// condition, and an unchanged status keeps lastTransitionTime.
func setCondition(st *appsv1.DeploymentStatus, c *appsv1.DeploymentCondition) {
	cur := getCondition(*st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, *c)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	out := st.Conditions[:0:0]
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}
