// Package cronjob is the CronJob controller: it creates a Job from the job template at every time of a
// standard cron schedule (robfig/cron, with an optional IANA timeZone), named <cronjob>-<minutes since
// the epoch> so a repeated attempt for the same time is idempotent. concurrencyPolicy Allow, Forbid
// (skip a tick while a job runs) and Replace (delete the running jobs first),
// startingDeadlineSeconds (a tick missed by longer is skipped), suspend, successful/failed job history
// limits, and status active, lastScheduleTime and lastSuccessfulTime are honoured.
//
// The clock is injectable (Now) so tests can move time. Because Skiff's apiserver does not yet
// generate a Job's selector, the controller writes one itself: a fresh batch.kubernetes.io/controller-uid
// token in the selector and the template labels (with batch.kubernetes.io/job-name), manualSelector true.
package cronjob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
	"github.com/skiffhq/skiff/controller-manager/internal/job"
)

// Name is the controller's name in --controllers and metrics.
const Name = "cronjob"

const (
	apiVersion = "batch/v1"
	kind       = "CronJob"
)

// CronJobClient is the part of the cronjobs API the controller uses.
type CronJobClient interface {
	UpdateStatus(ctx context.Context, ns string, cj *batchv1.CronJob, opts client.UpdateOptions) (*batchv1.CronJob, error)
}

// JobClient is the part of the jobs API the controller uses.
type JobClient interface {
	Create(ctx context.Context, ns string, j *batchv1.Job, opts client.CreateOptions) (*batchv1.Job, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Controller reconciles cron jobs.
type Controller struct {
	CronJobs controller.Store[batchv1.CronJob]
	Jobs     controller.Store[batchv1.Job] // indexed by controller UID
	API      CronJobClient
	JobAPI   JobClient
	Recorder *events.Recorder
	Queue    controller.Queue
	Log      *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func ref(cj *batchv1.CronJob) corev1.ObjectReference {
	return events.Ref(apiVersion, kind, &cj.ObjectMeta)
}

// Schedule parses the cron job's schedule in its time zone.
func Schedule(cj *batchv1.CronJob) (cron.Schedule, *time.Location, error) {
	loc := time.Local
	if cj.Spec.TimeZone != nil {
		l, err := time.LoadLocation(*cj.Spec.TimeZone)
		if err != nil {
			return nil, nil, fmt.Errorf("unknown time zone %q: %w", *cj.Spec.TimeZone, err)
		}
		loc = l
	}
	s, err := cron.ParseStandard(cj.Spec.Schedule)
	if err != nil {
		return nil, nil, fmt.Errorf("unparseable schedule %q: %w", cj.Spec.Schedule, err)
	}
	return s, loc, nil
}

// MostRecent returns the latest schedule time in (earliest, now], the next one after now, and how many
// were missed in between (capped at 101).
func MostRecent(s cron.Schedule, loc *time.Location, earliest, now time.Time) (last time.Time, next time.Time, missed int) {
	t := earliest.In(loc)
	for {
		n := s.Next(t)
		if n.IsZero() || n.After(now) {
			return last, n, missed
		}
		last, t = n, n
		missed++
		if missed > 100 {
			// far too many missed ticks: jump to the most recent one
			for n = s.Next(now.Add(-time.Hour).In(loc)); !n.IsZero() && !n.After(now); n = s.Next(n) {
				last = n
			}
			return last, s.Next(now.In(loc)), missed
		}
	}
}

// Sync reconciles one cron job.
func (c *Controller) Sync(ctx context.Context, key string) error {
	cj, ok := c.CronJobs.Get(key)
	if !ok || cj.DeletionTimestamp != nil {
		return nil
	}
	now := c.now()
	st := cj.Status
	jobs := c.Jobs.ByIndex(controller.IndexController, string(cj.UID))

	// active and last success from the jobs that exist
	st.Active = nil
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		f := job.Finished(j)
		switch {
		case f == nil:
			if j.DeletionTimestamp == nil {
				st.Active = append(st.Active, corev1.ObjectReference{APIVersion: apiVersion, Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion})
			}
		case f.Type == batchv1.JobComplete:
			succeeded = append(succeeded, j)
			if t := j.Status.CompletionTime; t != nil && (st.LastSuccessfulTime == nil || t.After(st.LastSuccessfulTime.Time)) {
				tt := *t
				st.LastSuccessfulTime = &tt
			}
		default:
			failed = append(failed, j)
		}
	}
	sort.Slice(st.Active, func(i, j int) bool { return st.Active[i].Name < st.Active[j].Name })
	histErr := errors.Join(
		c.trim(ctx, succeeded, cj.Spec.SuccessfulJobsHistoryLimit, 3),
		c.trim(ctx, failed, cj.Spec.FailedJobsHistoryLimit, 1))

	sched, loc, err := Schedule(cj)
	if err != nil {
		c.Recorder.Eventf(ref(cj), events.Warning, "UnparseableSchedule", "%v", err)
		return errors.Join(histErr, c.writeStatus(ctx, cj, st), fmt.Errorf("cronjob %s: %v: %w", key, err, controller.ErrTerminal))
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return errors.Join(histErr, c.writeStatus(ctx, cj, st))
	}
	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if e := now.Add(-time.Duration(*d) * time.Second); e.After(earliest) {
			earliest = e
		}
	}
	scheduled, next, missed := MostRecent(sched, loc, earliest, now)
	if !next.IsZero() {
		c.Queue.AddAfter(key, next.Sub(now)+100*time.Millisecond)
	}
	if scheduled.IsZero() {
		return errors.Join(histErr, c.writeStatus(ctx, cj, st))
	}
	if missed > 100 {
		c.Recorder.Event(ref(cj), events.Warning, "TooManyMissedTimes", "too many missed start times; check clock skew or set startingDeadlineSeconds")
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.Recorder.Eventf(ref(cj), events.Warning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC3339))
		return errors.Join(histErr, c.writeStatus(ctx, cj, st))
	}
	name := fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
	for _, a := range st.Active {
		if a.Name == name {
			return errors.Join(histErr, c.writeStatus(ctx, cj, st)) // already started
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(st.Active) > 0 {
			// Kubernetes leaves lastScheduleTime alone: the tick runs later if the deadline allows
			c.Log.Debug("cronjob_tick_skipped", zap.String("cronjob", key), zap.Time("scheduled", scheduled))
			return errors.Join(histErr, c.writeStatus(ctx, cj, st))
		}
	case batchv1.ReplaceConcurrent:
		for _, a := range st.Active {
			bg := metav1.DeletePropagationBackground
			uid := a.UID
			err := c.JobAPI.Delete(ctx, a.Namespace, a.Name, &metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !client.IsNotFound(err) {
				return errors.Join(histErr, fmt.Errorf("replacing job %s of cronjob %s: %w", a.Name, key, err))
			}
			c.Recorder.Eventf(ref(cj), events.Normal, "SuccessfulDelete", "Deleted job %s", a.Name)
		}
		st.Active = nil
	}
	j, err := newJob(cj, name, scheduled)
	if err != nil {
		return errors.Join(histErr, err)
	}
	created, err := c.JobAPI.Create(ctx, cj.Namespace, j, client.CreateOptions{})
	switch {
	case client.IsAlreadyExists(err):
		// created by an earlier attempt whose status write was lost
	case err != nil:
		c.Recorder.Eventf(ref(cj), events.Warning, "FailedCreate", "Error creating job: %v", err)
		return errors.Join(histErr, fmt.Errorf("creating job %s for cronjob %s: %w", name, key, err))
	default:
		c.Recorder.Eventf(ref(cj), events.Normal, "SuccessfulCreate", "Created job %s", created.Name)
		st.Active = append(st.Active, corev1.ObjectReference{APIVersion: apiVersion, Kind: "Job", Namespace: created.Namespace, Name: created.Name, UID: created.UID, ResourceVersion: created.ResourceVersion})
	}
	t := metav1.NewTime(scheduled)
	st.LastScheduleTime = &t
	return errors.Join(histErr, c.writeStatus(ctx, cj, st))
}

// newJob builds the job for one scheduled time.
func newJob(cj *batchv1.CronJob, name string, scheduled time.Time) (*batchv1.Job, error) {
	j := &batchv1.Job{}
	j.APIVersion, j.Kind = apiVersion, "Job"
	j.Namespace, j.Name = cj.Namespace, name
	j.Labels = copyMap(cj.Spec.JobTemplate.Labels)
	j.Annotations = copyMap(cj.Spec.JobTemplate.Annotations)
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[corev1.CronJobScheduledTimestampAnnotation] = scheduled.UTC().Format(time.RFC3339)
	j.OwnerReferences = []metav1.OwnerReference{ownership.NewControllerRef(&cj.ObjectMeta, apiVersion, kind)}
	j.Spec = cj.Spec.JobTemplate.Spec
	j.Spec.Template.Labels = copyMap(j.Spec.Template.Labels)
	if j.Spec.Selector == nil {
		token, err := uidToken()
		if err != nil {
			return nil, err
		}
		if j.Spec.Template.Labels == nil {
			j.Spec.Template.Labels = map[string]string{}
		}
		j.Spec.Template.Labels[batchv1.ControllerUIDLabel] = token
		j.Spec.Template.Labels[batchv1.JobNameLabel] = name
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUIDLabel: token}}
		t := true
		j.Spec.ManualSelector = &t
	}
	return j, nil
}

// uidToken returns a random UUID-shaped value for a generated job selector.
func uidToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating a job selector: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// trim deletes the oldest finished jobs beyond limit.
func (c *Controller) trim(ctx context.Context, jobs []*batchv1.Job, limit *int32, def int32) error {
	n := def
	if limit != nil {
		n = *limit
	}
	if int32(len(jobs)) <= n {
		return nil
	}
	sort.Slice(jobs, func(i, j int) bool {
		a, b := jobs[i].CreationTimestamp.Time, jobs[j].CreationTimestamp.Time
		if !a.Equal(b) {
			return a.Before(b)
		}
		return jobs[i].Name < jobs[j].Name
	})
	var firstErr error
	for _, j := range jobs[:len(jobs)-int(n)] {
		bg := metav1.DeletePropagationBackground
		uid := j.UID
		err := c.JobAPI.Delete(ctx, j.Namespace, j.Name, &metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !client.IsNotFound(err) && firstErr == nil {
			firstErr = fmt.Errorf("deleting old job %s/%s: %w", j.Namespace, j.Name, err)
		}
	}
	return firstErr
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, st batchv1.CronJobStatus) error {
	if reflect.DeepEqual(cj.Status, st) {
		return nil
	}
	upd := *cj
	upd.Status = st
	if _, err := c.API.UpdateStatus(ctx, cj.Namespace, &upd, client.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	return nil
}

// OnCronJobChange queues a cron job that was added or updated.
func (c *Controller) OnCronJobChange(cj *batchv1.CronJob) {
	c.Queue.Add(controller.KeyOf(&cj.ObjectMeta))
}

// OnJobChange queues the cron job owning a job (a finished job frees a Forbid tick).
func (c *Controller) OnJobChange(j *batchv1.Job) {
	if r := ownership.ControllerOf(&j.ObjectMeta); r != nil && r.Kind == kind {
		c.Queue.Add(j.Namespace + "/" + r.Name)
	}
}
