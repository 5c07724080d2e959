// Package statefulset is the StatefulSet controller: pods named <set>-<ordinal> with stable hostname
// (the pod name) and subdomain (spec.serviceName), one PersistentVolumeClaim per pod and claim template
// (<template>-<set>-<ordinal>, kept on scale-down unless persistentVolumeClaimRetentionPolicy says
// Delete), OrderedReady (each pod Running and Ready before the next is created; scale-down from the
// highest ordinal, one at a time) or Parallel management, RollingUpdate from the highest ordinal down
// to the partition (pods below it keep the current revision) and OnDelete, revisions as
// ControllerRevisions, and the status `kubectl rollout status sts` reads.
//
// It does not delete a deleted set's pods (the garbage collector does).
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/history"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podcontrol"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podevents"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Name is the controller's name in --controllers and metrics.
const Name = "statefulset"

const (
	apiVersion = "apps/v1"
	kind       = "StatefulSet"
)

// ClaimClient is the part of the persistentvolumeclaims API the controller uses.
type ClaimClient interface {
	Create(ctx context.Context, ns string, c *corev1.PersistentVolumeClaim, opts client.CreateOptions) (*corev1.PersistentVolumeClaim, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Controller reconciles stateful sets.
type Controller struct {
	Sets       controller.Store[appsv1.StatefulSet]
	Pods       controller.Store[corev1.Pod]
	Claims     controller.Store[corev1.PersistentVolumeClaim]
	Revisions  controller.Store[appsv1.ControllerRevision]
	API        controller.OwnerClient[appsv1.StatefulSet]
	ClaimAPI   ClaimClient
	PodPatch   controller.PatchClient[corev1.Pod] // writes ownerReference changes
	RevAPI     history.RevisionClient
	PodControl *podcontrol.Control
	Recorder   *events.Recorder
	Queue      controller.Queue
	Log        *zap.Logger
	// PodEvents routes pod events to set keys; Init builds it. Pod names are deterministic, so the
	// set needs no expectations.
	PodEvents *podevents.Handler[appsv1.StatefulSet, *appsv1.StatefulSet]

	now func() time.Time
}

// Init fills defaults; call before the handlers receive events.
func (c *Controller) Init() {
	c.now = time.Now
	c.PodEvents = &podevents.Handler[appsv1.StatefulSet, *appsv1.StatefulSet]{
		Owners: ownership.Owners[appsv1.StatefulSet, *appsv1.StatefulSet]{
			Kind: kind, Store: c.Sets,
			Selector: func(s *appsv1.StatefulSet) *metav1.LabelSelector { return s.Spec.Selector },
		},
		Queue:           c.Queue,
		MinReadySeconds: func(s *appsv1.StatefulSet) int32 { return s.Spec.MinReadySeconds },
	}
}

func ref(s *appsv1.StatefulSet) corev1.ObjectReference {
	return events.Ref(apiVersion, kind, &s.ObjectMeta)
}

// Ordinal returns the ordinal of a pod named <set>-<n>, or -1.
func Ordinal(set, pod string) int {
	if !strings.HasPrefix(pod, set+"-") {
		return -1
	}
	n, err := strconv.Atoi(pod[len(set)+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != pod[len(set)+1:] {
		return -1
	}
	return n
}

// ClaimName is the name of the claim of template tmpl for the pod with ordinal.
func ClaimName(tmpl, set string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", tmpl, set, ordinal)
}

func runningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && podstate.IsReady(p) && p.DeletionTimestamp == nil
}

// Sync reconciles one stateful set.
func (c *Controller) Sync(ctx context.Context, key string) error {
	set, ok := c.Sets.Get(key)
	if !ok {
		return nil
	}
	sel, err := labels.FromLabelSelector(set.Spec.Selector)
	if err != nil || ownership.SelectsEverything(set.Spec.Selector) {
		return fmt.Errorf("statefulset %s has an invalid or empty selector: %w", key, controller.ErrTerminal)
	}
	pods, claimErr := c.claimPods(ctx, set, sel)
	if set.DeletionTimestamp != nil {
		return claimErr
	}
	revs := c.Revisions.ByIndex(controller.IndexController, string(set.UID))
	updRev, updHash, err := history.Ensure(ctx, c.RevAPI, history.Owner{
		Meta: &set.ObjectMeta, Ref: ownership.NewControllerRef(&set.ObjectMeta, apiVersion, kind),
		Labels: set.Spec.Selector.MatchLabels, Template: &set.Spec.Template, Collisions: set.Status.CollisionCount,
	}, revs)
	if err != nil {
		return errors.Join(claimErr, err)
	}
	curName := set.Status.CurrentRevision
	if curName == "" {
		curName = updRev.Name
	}
	curTemplate := &set.Spec.Template
	curHash := updHash
	if curName != updRev.Name {
		for _, r := range revs {
			if r.Name == curName {
				if t, err := history.Template(r); err == nil {
					curTemplate, curHash = t, r.Labels[appsv1.ControllerRevisionHashLabelKey]
				}
			}
		}
		if curHash == updHash { // the current revision is gone: everything is the update revision
			curName = updRev.Name
		}
	}
	v := &view{set: set, updHash: updHash, curHash: curHash, curTemplate: curTemplate, byOrdinal: map[int]*corev1.Pod{}}
	for _, p := range pods {
		if o := Ordinal(set.Name, p.Name); o >= 0 {
			v.byOrdinal[o] = p
		}
	}
	manageErr := c.manage(ctx, key, v)
	histErr := history.TruncateForPods(ctx, c.RevAPI, revs, updRev.Name, pods, set.Spec.RevisionHistoryLimit, curHash)
	return errors.Join(claimErr, manageErr, histErr, c.updateStatus(ctx, v, curName, updRev.Name))
}

type view struct {
	set              *appsv1.StatefulSet
	updHash, curHash string
	curTemplate      *corev1.PodTemplateSpec
	byOrdinal        map[int]*corev1.Pod
}

func (v *view) replicas() int {
	if v.set.Spec.Replicas == nil {
		return 1
	}
	return int(*v.set.Spec.Replicas)
}

func (v *view) start() int {
	if v.set.Spec.Ordinals != nil {
		return int(v.set.Spec.Ordinals.Start)
	}
	return 0
}

func (v *view) inRange(o int) bool { return o >= v.start() && o < v.start()+v.replicas() }

func (v *view) partition() int {
	if ru := v.set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return int(*ru.Partition)
	}
	return 0
}

// revisionFor says which revision a new pod with this ordinal gets: below the partition of a
// rolling update, the current one.
func (v *view) revisionFor(o int) (*corev1.PodTemplateSpec, string) {
	if v.set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && o < v.partition() {
		return v.curTemplate, v.curHash
	}
	return &v.set.Spec.Template, v.updHash
}

func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*corev1.Pod, error) {
	claimer := &ownership.Claimer[corev1.Pod, *corev1.Pod]{
		Owner:    &set.ObjectMeta,
		Ref:      ownership.NewControllerRef(&set.ObjectMeta, apiVersion, kind),
		Matches:  ownership.SelectorMatcher(sel),
		Patch:    ownership.MergePatcher(c.PodPatch),
		CanAdopt: ownership.FreshOwnerCheck[appsv1.StatefulSet](c.API, &set.ObjectMeta, "statefulset"),
	}
	var candidates []*corev1.Pod
	for _, p := range c.Pods.ByIndex(controller.IndexNamespace, set.Namespace) {
		if Ordinal(set.Name, p.Name) >= 0 || ownership.IsControlledBy(&p.ObjectMeta, set.UID) {
			candidates = append(candidates, p)
		}
	}
	return claimer.Claim(ctx, candidates)
}

// newPod builds the pod with ordinal o from template t of revision hash.
func (c *Controller) newPod(set *appsv1.StatefulSet, t *corev1.PodTemplateSpec, hash string, o int) *corev1.Pod {
	p := podcontrol.FromTemplate(t, set.Namespace, "", ownership.NewControllerRef(&set.ObjectMeta, apiVersion, kind))
	p.Name = fmt.Sprintf("%s-%d", set.Name, o)
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[appsv1.StatefulSetPodNameLabel] = p.Name
	p.Labels[appsv1.PodIndexLabel] = strconv.Itoa(o)
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	p.Spec.Hostname = p.Name
	p.Spec.Subdomain = set.Spec.ServiceName
	vols := make([]corev1.Volume, 0, len(p.Spec.Volumes)+len(set.Spec.VolumeClaimTemplates))
	claimed := map[string]bool{}
	for _, ct := range set.Spec.VolumeClaimTemplates {
		claimed[ct.Name] = true
		vols = append(vols, corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(ct.Name, set.Name, o)}}})
	}
	for _, vol := range p.Spec.Volumes {
		if !claimed[vol.Name] {
			vols = append(vols, vol)
		}
	}
	p.Spec.Volumes = vols
	return p
}

// ensureClaims creates the missing claims of the pod with ordinal o.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, o int) error {
	for _, ct := range set.Spec.VolumeClaimTemplates {
		name := ClaimName(ct.Name, set.Name, o)
		if _, ok := c.Claims.Get(set.Namespace + "/" + name); ok {
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{}
		pvc.APIVersion, pvc.Kind = "v1", "PersistentVolumeClaim"
		pvc.Namespace, pvc.Name = set.Namespace, name
		pvc.Labels = map[string]string{}
		for k, v := range ct.Labels {
			pvc.Labels[k] = v
		}
		for k, v := range set.Spec.Selector.MatchLabels {
			pvc.Labels[k] = v
		}
		pvc.Annotations = ct.Annotations
		pvc.Spec = ct.Spec
		if rp := set.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil && rp.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			r := ownership.NewControllerRef(&set.ObjectMeta, apiVersion, kind)
			f := false
			r.Controller = &f
			pvc.OwnerReferences = []metav1.OwnerReference{r}
		}
		_, err := c.ClaimAPI.Create(ctx, set.Namespace, pvc, client.CreateOptions{})
		if err != nil && !client.IsAlreadyExists(err) {
			c.Recorder.Eventf(ref(set), events.Warning, "FailedCreate", "create Claim %s for Pod %s-%d in StatefulSet %s failed error: %v", name, set.Name, o, set.Name, err)
			return fmt.Errorf("creating claim %s: %w", name, err)
		}
		if err == nil {
			c.Recorder.Eventf(ref(set), events.Normal, "SuccessfulCreate", "create Claim %s Pod %s-%d in StatefulSet %s success", name, set.Name, o, set.Name)
		}
	}
	return nil
}

func (c *Controller) create(ctx context.Context, v *view, o int) error {
	if err := c.ensureClaims(ctx, v.set, o); err != nil {
		return err
	}
	t, hash := v.revisionFor(o)
	_, err := c.PodControl.Create(ctx, c.newPod(v.set, t, hash, o), ref(v.set))
	if client.IsAlreadyExists(err) {
		return nil // the cache has not shown it yet
	}
	return err
}

func (c *Controller) delete(ctx context.Context, v *view, p *corev1.Pod, scaledDown bool) error {
	if err := c.PodControl.Delete(ctx, p, ref(v.set)); err != nil {
		return err
	}
	if rp := v.set.Spec.PersistentVolumeClaimRetentionPolicy; scaledDown && rp != nil && rp.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		o := Ordinal(v.set.Name, p.Name)
		for _, ct := range v.set.Spec.VolumeClaimTemplates {
			name := ClaimName(ct.Name, v.set.Name, o)
			if err := c.ClaimAPI.Delete(ctx, v.set.Namespace, name, nil); err != nil && !client.IsNotFound(err) {
				return fmt.Errorf("deleting claim %s of a scaled-down pod: %w", name, err)
			}
		}
	}
	return nil
}

// manage makes one step of progress. With OrderedReady it stops at the first pod that is not Running
// and Ready; with Parallel it acts on every ordinal at once.
func (c *Controller) manage(ctx context.Context, key string, v *view) error {
	parallel := v.set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	var errs []error
	ordinals := make([]int, 0, v.replicas())
	for o := v.start(); o < v.start()+v.replicas(); o++ {
		ordinals = append(ordinals, o)
	}
	// scale up and repair, lowest ordinal first
	for _, o := range ordinals {
		p := v.byOrdinal[o]
		switch {
		case p == nil:
			if err := c.create(ctx, v, o); err != nil {
				errs = append(errs, err)
			}
			if !parallel {
				return errors.Join(errs...)
			}
			continue
		case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
			// a finished stateful pod is replaced under the same name
			if p.DeletionTimestamp == nil {
				if err := c.delete(ctx, v, p, false); err != nil {
					errs = append(errs, err)
				}
			}
			if !parallel {
				return errors.Join(errs...)
			}
			continue
		}
		if !parallel && !runningAndReady(p) {
			return errors.Join(errs...) // wait for this one before the next
		}
	}
	// scale down, highest ordinal first
	var condemned []*corev1.Pod
	for o, p := range v.byOrdinal {
		if !v.inRange(o) {
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool {
		return Ordinal(v.set.Name, condemned[i].Name) > Ordinal(v.set.Name, condemned[j].Name)
	})
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if !parallel {
				return errors.Join(errs...) // wait until it is gone
			}
			continue
		}
		if !parallel && !c.allHealthy(v) {
			return errors.Join(errs...)
		}
		if err := c.delete(ctx, v, p, true); err != nil {
			errs = append(errs, err)
		}
		if !parallel {
			return errors.Join(errs...)
		}
	}
	if len(condemned) > 0 || v.set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return errors.Join(errs...)
	}
	// rolling update: highest ordinal first, down to the partition, one pod at a time
	if !c.allHealthy(v) {
		return errors.Join(errs...)
	}
	for i := len(ordinals) - 1; i >= 0; i-- {
		o := ordinals[i]
		if o < v.partition() {
			break
		}
		p := v.byOrdinal[o]
		if p != nil && p.Labels[appsv1.ControllerRevisionHashLabelKey] != v.updHash {
			c.Log.Debug("statefulset_pod_updating", zap.String("statefulset", key), zap.String("pod", p.Name))
			errs = append(errs, c.delete(ctx, v, p, false))
			break
		}
	}
	return errors.Join(errs...)
}

// allHealthy reports whether every pod in range is Running and Ready and none is terminating.
func (c *Controller) allHealthy(v *view) bool {
	for o, p := range v.byOrdinal {
		if p.DeletionTimestamp != nil {
			return false
		}
		if v.inRange(o) && !runningAndReady(p) {
			return false
		}
	}
	return true
}

func (c *Controller) updateStatus(ctx context.Context, v *view, curName, updName string) error {
	set := v.set
	now := c.now()
	st := appsv1.StatefulSetStatus{ObservedGeneration: set.Generation, CollisionCount: set.Status.CollisionCount, Conditions: set.Status.Conditions,
		CurrentRevision: curName, UpdateRevision: updName}
	var next time.Duration
	for _, p := range v.byOrdinal {
		if !podstate.IsActive(p) {
			continue
		}
		st.Replicas++
		if podstate.IsReady(p) {
			st.ReadyReplicas++
			if podstate.IsAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			} else if d := podstate.AvailableIn(p, set.Spec.MinReadySeconds, now); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
		h := p.Labels[appsv1.ControllerRevisionHashLabelKey]
		if h == v.curHash {
			st.CurrentReplicas++
		}
		if h == v.updHash {
			st.UpdatedReplicas++
		}
	}
	// a finished rolling update makes the update revision current
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == int32(v.replicas()) && st.ReadyReplicas == int32(v.replicas()) && st.Replicas == int32(v.replicas()) {
		st.CurrentRevision = updName
		st.CurrentReplicas = st.UpdatedReplicas
	}
	if next > 0 {
		c.Queue.AddAfter(controller.KeyOf(&set.ObjectMeta), next+10*time.Millisecond)
	}
	return controller.UpdateStatusIfChanged(ctx, c.API, "statefulset", set,
		func(s *appsv1.StatefulSet) *appsv1.StatefulSetStatus { return &s.Status }, st, nil)
}
