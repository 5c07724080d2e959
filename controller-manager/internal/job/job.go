// Package job is the Job controller: it runs pods from a job's template until completions pods have
// succeeded (NonIndexed), every index 0..completions-1 has succeeded once (Indexed: annotation and
// label batch.kubernetes.io/job-completion-index, env JOB_COMPLETION_INDEX, hostname <job>-<index>,
// status.completedIndexes), or, with completions unset (a work queue), one pod has succeeded and the
// others have finished. At most parallelism pods run at once. Pod failures (failed pods, and container
// restarts under restartPolicy OnFailure) are counted against backoffLimit, and replacement pods wait an
// exponential back-off after the last failure. activeDeadlineSeconds, suspend and
// ttlSecondsAfterFinished are honoured; the Complete and Failed (BackoffLimitExceeded,
// DeadlineExceeded) conditions, startTime and completionTime are written through /status.
//
// Finished pods are kept (and counted) until the job is deleted; the garbage collector deletes them
// with it. The job-tracking finalizer and podFailurePolicy are not implemented.
package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
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
const Name = "job"

const (
	apiVersion = "batch/v1"
	kind       = "Job"
)

// Defaults of the pod failure back-off, as Kubernetes's (10s doubling up to 6 minutes).
const (
	DefaultBackoffBase = 10 * time.Second
	DefaultBackoffMax  = 6 * time.Minute
)

// JobClient is the part of the jobs API the controller uses.
type JobClient interface {
	controller.OwnerClient[batchv1.Job]
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Controller reconciles jobs.
type Controller struct {
	Jobs       controller.Store[batchv1.Job]
	Pods       controller.Store[corev1.Pod]
	API        JobClient
	PodPatch   controller.PatchClient[corev1.Pod] // writes ownerReference changes
	PodControl *podcontrol.Control
	Recorder   *events.Recorder
	Queue      controller.Queue
	Log        *zap.Logger
	// BackoffBase and BackoffMax bound the delay before a failed pod is replaced.
	BackoffBase, BackoffMax time.Duration
	// PodEvents routes pod events to job keys; Init builds it.
	PodEvents *podevents.Handler[batchv1.Job, *batchv1.Job]

	exp *expectations.Expectations
	now func() time.Time
}

// Init fills defaults; call before the handlers receive events.
func (c *Controller) Init() {
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	c.exp = expectations.New(0)
	c.now = time.Now
	c.PodEvents = &podevents.Handler[batchv1.Job, *batchv1.Job]{
		Owners: ownership.Owners[batchv1.Job, *batchv1.Job]{
			Kind: kind, Store: c.Jobs,
			Selector: func(j *batchv1.Job) *metav1.LabelSelector { return j.Spec.Selector },
		},
		Queue:        c.Queue,
		Expectations: c.exp,
	}
}

func ref(j *batchv1.Job) corev1.ObjectReference { return events.Ref(apiVersion, kind, &j.ObjectMeta) }

// Finished returns the job's true Complete or Failed condition, or nil.
func Finished(j *batchv1.Job) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		c := &j.Status.Conditions[i]
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func int32Or(p *int32, d int32) int32 {
	if p == nil {
		return d
	}
	return *p
}

// podIndex returns the completion index of an indexed job's pod, or -1.
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// finishedAt is when a finished pod ended: its containers' latest finish time, else its Ready
// condition's last transition, else its creation.
func finishedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Terminated != nil && s.State.Terminated.FinishedAt.After(t) {
			t = s.State.Terminated.FinishedAt.Time
		}
	}
	if t.IsZero() {
		if c := podstate.ReadyCondition(p); c != nil {
			t = c.LastTransitionTime.Time
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

// Sync reconciles one job.
func (c *Controller) Sync(ctx context.Context, key string) error {
	j, ok := c.Jobs.Get(key)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	sel, err := labels.FromLabelSelector(j.Spec.Selector)
	if err != nil || j.Spec.Selector == nil {
		return fmt.Errorf("job %s has no valid selector: %w", key, controller.ErrTerminal)
	}
	satisfied := c.exp.Satisfied(key)
	pods, claimErr := c.claimPods(ctx, j, sel)
	if f := Finished(j); f != nil {
		// a finished job keeps no running pods, and goes away after its TTL
		var active []*corev1.Pod
		for _, p := range pods {
			if podstate.IsActive(p) {
				active = append(active, p)
			}
		}
		return errors.Join(claimErr, c.deletePods(ctx, key, j, active), c.ttl(ctx, j, f))
	}
	if j.DeletionTimestamp != nil {
		return claimErr
	}
	now := c.now()
	st := j.Status
	st.Conditions = append([]batchv1.JobCondition(nil), j.Status.Conditions...)

	var active, succeeded, failed []*corev1.Pod
	var terminating, ready, restarts int32
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded = append(succeeded, p)
		case p.Status.Phase == corev1.PodFailed:
			failed = append(failed, p)
		case podstate.IsTerminating(p):
			terminating++
		default:
			active = append(active, p)
			if podstate.IsReady(p) {
				ready++
			}
			if j.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
				restarts += podstate.RestartCount(p)
			}
		}
	}
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	var manageErr error
	var requeue time.Duration

	completions := j.Spec.Completions
	parallelism := int32Or(j.Spec.Parallelism, 1)
	var completed map[int]bool
	nSucceeded := int32(len(succeeded))
	if isIndexed(j) {
		completed = map[int]bool{}
		for _, p := range succeeded {
			if i := podIndex(p); i >= 0 && i < int(int32Or(completions, 0)) {
				completed[i] = true
			}
		}
		nSucceeded = int32(len(completed))
		st.CompletedIndexes = formatIndexes(completed)
	}
	st.Succeeded = nSucceeded
	st.Failed = int32(len(failed)) + restarts
	st.Active = int32(len(active))
	st.Ready = &ready
	st.Terminating = &terminating

	if suspended {
		setCondition(&st, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
		manageErr = c.deletePods(ctx, key, j, active)
		st.Active = 0
	} else {
		if cond := getCondition(&st, batchv1.JobSuspended); cond != nil && cond.Status == corev1.ConditionTrue {
			setCondition(&st, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
			t := metav1.NewTime(now)
			st.StartTime = &t // the deadline counts from the resume
		}
		if st.StartTime == nil {
			t := metav1.NewTime(now)
			st.StartTime = &t
		}
		backoffLimit := int32Or(j.Spec.BackoffLimit, 6)
		var failReason, failMessage string
		switch {
		case st.Failed > backoffLimit:
			failReason, failMessage = batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
		case j.Spec.ActiveDeadlineSeconds != nil:
			deadline := st.StartTime.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds) * time.Second)
			if !now.Before(deadline) {
				failReason, failMessage = batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
			} else {
				requeue = deadline.Sub(now)
			}
		}
		complete := false
		switch {
		case completions == nil:
			complete = nSucceeded > 0 && len(active) == 0
		default:
			complete = nSucceeded >= *completions
		}
		switch {
		case failReason != "":
			manageErr = c.deletePods(ctx, key, j, active)
			st.Active = 0
			setCondition(&st, batchv1.JobFailed, corev1.ConditionTrue, failReason, failMessage, now)
			c.Recorder.Event(ref(j), events.Warning, failReason, failMessage)
		case complete:
			manageErr = c.deletePods(ctx, key, j, active)
			st.Active = 0
			setCondition(&st, batchv1.JobComplete, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
			t := metav1.NewTime(now)
			st.CompletionTime = &t
			c.Recorder.Event(ref(j), events.Normal, "Completed", "Job completed")
		case satisfied:
			var wait time.Duration
			wait, manageErr = c.manage(ctx, key, j, active, failed, succeeded, completed, parallelism, now)
			if wait > 0 && (requeue == 0 || wait < requeue) {
				requeue = wait
			}
		}
	}
	if requeue > 0 {
		c.Queue.AddAfter(key, requeue+10*time.Millisecond)
	}
	return errors.Join(claimErr, manageErr, c.writeStatus(ctx, j, st))
}

func (c *Controller) claimPods(ctx context.Context, j *batchv1.Job, sel labels.Selector) ([]*corev1.Pod, error) {
	claimer := &ownership.Claimer[corev1.Pod, *corev1.Pod]{
		Owner:    &j.ObjectMeta,
		Ref:      ownership.NewControllerRef(&j.ObjectMeta, apiVersion, kind),
		Matches:  ownership.SelectorMatcher(sel),
		Patch:    ownership.MergePatcher(c.PodPatch),
		CanAdopt: ownership.FreshOwnerCheck[batchv1.Job](c.API, &j.ObjectMeta, "job"),
	}
	return claimer.Claim(ctx, c.Pods.ByIndex(controller.IndexNamespace, j.Namespace))
}

// backoff is how long to wait after the last failure before creating replacement pods.
func (c *Controller) backoff(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := c.BackoffBase
	for i := 1; i < failures && d < c.BackoffMax; i++ {
		d *= 2
	}
	return min(d, c.BackoffMax)
}

// manage creates and deletes pods so that the right number (and, indexed, the right indexes) run. It
// returns how long to wait before the next creation when a back-off is in force.
func (c *Controller) manage(ctx context.Context, key string, j *batchv1.Job, active, failed, succeeded []*corev1.Pod,
	completed map[int]bool, parallelism int32, now time.Time) (time.Duration, error) {
	var wantActive int32
	completions := j.Spec.Completions
	switch {
	case completions == nil:
		if len(succeeded) > 0 {
			wantActive = int32(len(active)) // the work queue is draining: start nothing new
		} else {
			wantActive = parallelism
		}
	default:
		done := len(succeeded)
		if completed != nil {
			done = len(completed)
		}
		wantActive = min(parallelism, *completions-int32(done))
	}
	wantActive = max(wantActive, 0)

	var del []*corev1.Pod
	var create []int // indexes (or -1 for non-indexed)
	if isIndexed(j) {
		byIndex := map[int][]*corev1.Pod{}
		for _, p := range active {
			i := podIndex(p)
			if i < 0 || i >= int(*completions) || completed[i] {
				del = append(del, p) // a pod for no index, or for an index already done
				continue
			}
			byIndex[i] = append(byIndex[i], p)
		}
		running := 0
		for _, ps := range byIndex {
			del = append(del, ps[1:]...) // one pod per index
			running++
		}
		for i := 0; i < int(*completions) && int32(running+len(create)) < wantActive; i++ {
			if !completed[i] && len(byIndex[i]) == 0 {
				create = append(create, i)
			}
		}
	} else {
		if diff := int32(len(active)) - wantActive; diff > 0 {
			victims := append([]*corev1.Pod(nil), active...)
			podstate.SortForDeletion(victims)
			del = victims[:diff]
		}
		for i := int32(len(active)); i < wantActive; i++ {
			create = append(create, -1)
		}
	}
	var wait time.Duration
	if len(create) > 0 && len(failed) > 0 {
		var last time.Time
		for _, p := range failed {
			if t := finishedAt(p); t.After(last) {
				last = t
			}
		}
		if until := last.Add(c.backoff(len(failed))); now.Before(until) {
			wait, create = until.Sub(now), nil
		}
	}
	delErr := c.deletePods(ctx, key, j, del)
	return wait, errors.Join(delErr, c.createPods(ctx, key, j, create))
}

// newPod builds a job pod: the template with the job-name and controller-uid labels and, for an
// indexed job, the completion index.
func newPod(j *batchv1.Job, index int) *corev1.Pod {
	prefix := podcontrol.GenerateNamePrefix(j.Name)
	if index >= 0 {
		prefix = podcontrol.GenerateNamePrefix(fmt.Sprintf("%s-%d", j.Name, index))
	}
	p := podcontrol.FromTemplate(&j.Spec.Template, j.Namespace, prefix, ownership.NewControllerRef(&j.ObjectMeta, apiVersion, kind))
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		batchv1.JobNameLabel: j.Name, batchv1.LegacyJobNameLabel: j.Name,
		batchv1.ControllerUIDLabel: j.UID, batchv1.LegacyControllerUIDLabel: j.UID,
	} {
		if _, ok := p.Labels[k]; !ok {
			p.Labels[k] = v
		}
	}
	if index >= 0 {
		v := strconv.Itoa(index)
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[batchv1.JobCompletionIndexAnnotation] = v
		p.Labels[batchv1.JobCompletionIndexAnnotation] = v
		if p.Spec.Hostname == "" {
			p.Spec.Hostname = fmt.Sprintf("%s-%d", j.Name, index)
		}
		p.Spec.Containers = withIndexEnv(p.Spec.Containers, v)
		p.Spec.InitContainers = withIndexEnv(p.Spec.InitContainers, v)
	}
	return p
}

func withIndexEnv(cs []corev1.Container, v string) []corev1.Container {
	if len(cs) == 0 {
		return cs
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		env := append([]corev1.EnvVar(nil), c.Env...)
		has := false
		for _, e := range env {
			if e.Name == "JOB_COMPLETION_INDEX" {
				has = true
			}
		}
		if !has {
			env = append(env, corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", Value: v})
		}
		c.Env = env
		out[i] = c
	}
	return out
}

func (c *Controller) createPods(ctx context.Context, key string, j *batchv1.Job, indexes []int) error {
	if len(indexes) == 0 {
		return nil
	}
	c.exp.ExpectCreations(key, len(indexes))
	next := make(chan int, len(indexes))
	for _, i := range indexes {
		next <- i
	}
	close(next)
	ok, err := podcontrol.SlowStart(len(indexes), 1, func() error {
		_, err := c.PodControl.Create(ctx, newPod(j, <-next), ref(j))
		if err != nil {
			c.exp.CreationObserved(key)
		}
		return err
	})
	if err != nil {
		for i := 0; i < len(indexes)-ok-1; i++ {
			c.exp.CreationObserved(key)
		}
		return fmt.Errorf("creating pods for job %s (%d of %d created): %w", key, ok, len(indexes), err)
	}
	return nil
}

func (c *Controller) deletePods(ctx context.Context, key string, j *batchv1.Job, pods []*corev1.Pod) error {
	return c.PodControl.DeleteAll(ctx, c.exp, key, pods, ref(j))
}

// ttl deletes a finished job once ttlSecondsAfterFinished have passed (its pods go with it, by the
// garbage collector), or requeues it for then.
func (c *Controller) ttl(ctx context.Context, j *batchv1.Job, f *batchv1.JobCondition) error {
	if j.Spec.TTLSecondsAfterFinished == nil || j.DeletionTimestamp != nil {
		return nil
	}
	finished := f.LastTransitionTime.Time
	if j.Status.CompletionTime != nil {
		finished = j.Status.CompletionTime.Time
	}
	expire := finished.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	if now := c.now(); now.Before(expire) {
		c.Queue.AddAfter(controller.KeyOf(&j.ObjectMeta), expire.Sub(now)+10*time.Millisecond)
		return nil
	}
	uid := j.UID
	bg := metav1.DeletePropagationBackground
	err := c.API.Delete(ctx, j.Namespace, j.Name, &metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !client.IsNotFound(err) && !client.IsConflict(err) {
		return fmt.Errorf("deleting finished job %s/%s after its TTL: %w", j.Namespace, j.Name, err)
	}
	c.Log.Debug("job_ttl_expired", zap.String("job", j.Namespace+"/"+j.Name))
	return nil
}

func (c *Controller) writeStatus(ctx context.Context, j *batchv1.Job, st batchv1.JobStatus) error {
	return controller.UpdateStatusIfChanged(ctx, c.API, "job", j,
		func(j *batchv1.Job) *batchv1.JobStatus { return &j.Status }, st, nil)
}

func getCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) {
	if c := getCondition(st, t); c != nil {
		if c.Status != s {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message = s, reason, msg
		c.LastProbeTime = metav1.NewTime(now)
		return
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: s, Reason: reason, Message: msg,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)})
}

// formatIndexes renders a set of indexes as Kubernetes does in completedIndexes: "0-2,5,7-8".
func formatIndexes(set map[int]bool) string {
	idx := make([]int, 0, len(set))
	for i := range set {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
