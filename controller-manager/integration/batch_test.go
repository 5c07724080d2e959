package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/workqueue"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/cronjob"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// newJob builds a job as a user writes it: no selector, which the apiserver generates (with the
// controller-uid and job-name template labels).
func newJob(name string, completions, parallelism *int32) *batchv1.Job {
	j := &batchv1.Job{}
	j.Name, j.Namespace = name, "default"
	j.Spec.Completions, j.Spec.Parallelism = completions, parallelism
	j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	j.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox:1"}}
	return j
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// watchActive polls the job's pods and reports the most that were active at once when stopped.
func watchActive(e *env, sel string) (stop func() int) {
	done := make(chan struct{})
	res := make(chan int, 1)
	go func() {
		worst := 0
		for {
			select {
			case <-done:
				res <- worst
				return
			default:
			}
			n, _ := active(e.listPods("default", sel))
			worst = max(worst, n)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() int { close(done); return <-res }
}

func TestIndexedJobCompletesEachIndexOnce(t *testing.T) {
	e := newEnv(t)
	a := newFakeAgent(e, "n1", "n2")
	a.finish = func(p *corev1.Pod) corev1.PodPhase { return corev1.PodSucceeded }
	jobs := client.NewResource[batchv1.Job](e.c, info("batch", "jobs"))
	c := ctx(t)
	j := newJob("idx", int32p(6), int32p(3))
	mode := batchv1.IndexedCompletion
	j.Spec.CompletionMode = &mode
	stop := watchActive(e, batchv1.JobNameLabel+"=idx")
	if _, err := jobs.Create(c, "default", j, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "indexed job Complete with 6 succeeded", 30*time.Second, func() string {
		cur, err := jobs.Get(c, "default", "idx", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if jobCondition(cur, batchv1.JobComplete) == nil || cur.Status.Succeeded != 6 || cur.Status.CompletedIndexes != "0-5" ||
			cur.Status.CompletionTime == nil || cur.Status.StartTime == nil || cur.Status.Active != 0 {
			return fmt.Sprintf("status %+v", cur.Status)
		}
		return ""
	})
	if worst := stop(); worst > 3 {
		t.Fatalf("%d pods were active at once; parallelism is 3", worst)
	}
	perIndex := map[string][]string{}
	for _, p := range e.listPods("default", batchv1.JobNameLabel+"=idx") {
		idx := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		perIndex[idx] = append(perIndex[idx], string(p.Status.Phase))
		env := ""
		for _, v := range p.Spec.Containers[0].Env {
			if v.Name == "JOB_COMPLETION_INDEX" {
				env = v.Value
			}
		}
		if env != idx || p.Labels[batchv1.JobCompletionIndexAnnotation] != idx || p.Spec.Hostname != "idx-"+idx {
			t.Fatalf("pod %s: index annotation %q, label %q, env %q, hostname %q", p.Name, idx, p.Labels[batchv1.JobCompletionIndexAnnotation], env, p.Spec.Hostname)
		}
	}
	var keys []string
	for k, phases := range perIndex {
		if len(phases) != 1 || phases[0] != string(corev1.PodSucceeded) {
			t.Fatalf("index %s ran %v, want exactly one Succeeded pod", k, phases)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "0,1,2,3,4,5" {
		t.Fatalf("indexes run: %v", keys)
	}
}

func TestFailingJobStopsAtBackoffLimit(t *testing.T) {
	e := newEnv(t, "--job-backoff-base", "100ms")
	a := newFakeAgent(e, "n1")
	a.finish = func(p *corev1.Pod) corev1.PodPhase { return corev1.PodFailed }
	jobs := client.NewResource[batchv1.Job](e.c, info("batch", "jobs"))
	c := ctx(t)
	j := newJob("fail", nil, nil)
	j.Spec.BackoffLimit = int32p(2)
	if _, err := jobs.Create(c, "default", j, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "job Failed with BackoffLimitExceeded", 30*time.Second, func() string {
		cur, err := jobs.Get(c, "default", "fail", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		f := jobCondition(cur, batchv1.JobFailed)
		if f == nil || f.Reason != batchv1.JobReasonBackoffLimitExceeded || cur.Status.Failed != 3 || cur.Status.Active != 0 {
			return fmt.Sprintf("status %+v", cur.Status)
		}
		return ""
	})
	// backoffLimit 2 allows two retries: three pods in all, and no more after the job failed
	pods := e.listPods("default", batchv1.JobNameLabel+"=fail")
	if len(pods) != 3 {
		t.Fatalf("%d pods, want 3", len(pods))
	}
	cur, _ := jobs.Get(c, "default", "fail", client.GetOptions{})
	if jobCondition(cur, batchv1.JobComplete) != nil {
		t.Fatalf("a failed job is also Complete: %+v", cur.Status.Conditions)
	}
}

// fakeClock is the cron job controller's injected clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Set(t time.Time) { f.mu.Lock(); f.now = t; f.mu.Unlock() }

func TestCronJobTickCreatesJobAndForbidSkipsOverlap(t *testing.T) {
	e := newEnv(t, "--controllers", "*,-cronjob")
	a := newFakeAgent(e, "n1")
	var release sync.Map // job names whose pods may finish
	a.finish = func(p *corev1.Pod) corev1.PodPhase {
		if _, ok := release.Load(p.Labels[batchv1.JobNameLabel]); ok {
			return corev1.PodSucceeded
		}
		return ""
	}
	jobs := client.NewResource[batchv1.Job](e.c, info("batch", "jobs"))
	cjAPI := client.NewResource[batchv1.CronJob](e.c, info("batch", "cronjobs"))
	c := ctx(t)

	cj := &batchv1.CronJob{}
	cj.Name, cj.Namespace = "tick", "default"
	cj.Spec.Schedule = "* * * * *"
	cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	sds := int64(20)
	cj.Spec.StartingDeadlineSeconds = &sds
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox:1"}}
	if _, err := cjAPI.Create(c, "default", cj, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// the cron job controller runs in the test, against the real apiserver, with a fake clock
	minute := time.Now().Truncate(time.Minute).Add(time.Minute)
	clock := &fakeClock{now: minute.Add(5 * time.Second)}
	cjInf := informer.New[batchv1.CronJob](cjAPI, informer.Options{})
	jobInf := informer.New[batchv1.Job](jobs, informer.Options{})
	_ = jobInf.AddIndexer(controller.IndexController, informer.IndexByControllerUID[batchv1.Job]())
	q := workqueue.New(workqueue.Options[string]{Name: "cronjob-test"})
	rec := events.New(events.ClientSink{Events: client.NewResource[corev1.Event](e.c, info("", "events"))}, "test", zap.NewNop(), nil)
	ctrl := &cronjob.Controller{CronJobs: cjInf, Jobs: jobInf, API: cjAPI, JobAPI: jobs, Recorder: rec, Queue: q, Log: zap.NewNop(), Now: clock.Now}
	cjInf.AddHandler(informer.Handler[batchv1.CronJob]{OnAdd: ctrl.OnCronJobChange, OnUpdate: func(_, n *batchv1.CronJob) { ctrl.OnCronJobChange(n) }})
	jobInf.AddHandler(informer.Handler[batchv1.Job]{OnAdd: ctrl.OnJobChange, OnUpdate: func(_, n *batchv1.Job) { ctrl.OnJobChange(n) }, OnDelete: ctrl.OnJobChange})
	var syncs sync.Map
	r := &controller.Runner{Name: "cronjob", Queue: q, Workers: 1, Log: zap.NewNop(), Sync: func(ctx context.Context, key string) error {
		err := ctrl.Sync(ctx, key)
		syncs.Store(clock.Now(), true)
		return err
	}}
	rctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go rec.Run(rctx)
	go func() { _ = cjInf.Run(rctx) }()
	go func() { _ = jobInf.Run(rctx) }()
	if !informer.WaitForCacheSync(rctx, cjInf, jobInf) {
		t.Fatal("caches did not sync")
	}
	go r.Run(rctx)

	jobName := func(tick time.Time) string { return fmt.Sprintf("tick-%d", tick.Unix()/60) }
	jobNames := func() []string {
		l, err := jobs.List(c, "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, j := range l.Items {
			names = append(names, j.Name)
		}
		sort.Strings(names)
		return names
	}
	// advance moves the clock and waits for a sync that saw the new time
	advance := func(to time.Time) {
		clock.Set(to)
		q.Add("default/tick")
		eventually(t, "a cron job sync at "+to.Format(time.TimeOnly), 10*time.Second, func() string {
			if _, ok := syncs.Load(to); !ok {
				return "no sync yet"
			}
			return ""
		})
	}

	first := jobName(minute)
	eventually(t, "the job of the first tick", 20*time.Second, func() string {
		cur, err := cjAPI.Get(c, "default", "tick", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if names := jobNames(); fmt.Sprint(names) != fmt.Sprint([]string{first}) || len(cur.Status.Active) != 1 ||
			cur.Status.LastScheduleTime == nil || !cur.Status.LastScheduleTime.Equal(minute) {
			return fmt.Sprintf("jobs %v, status %+v", names, cur.Status)
		}
		return ""
	})
	eventually(t, "the first job's pod running", 20*time.Second, func() string {
		n, _ := active(e.listPods("default", batchv1.JobNameLabel+"="+first))
		if n != 1 {
			return fmt.Sprintf("%d active pods", n)
		}
		return ""
	})

	// the next tick comes while the first job still runs: Forbid skips it
	advance(minute.Add(65 * time.Second))
	if names := jobNames(); fmt.Sprint(names) != fmt.Sprint([]string{first}) {
		t.Fatalf("Forbid started an overlapping job: %v", names)
	}
	// the skipped tick is now past its starting deadline; the first job finishes
	clock.Set(minute.Add(90 * time.Second))
	release.Store(first, true)
	a.resync()
	eventually(t, "the first job Complete and no longer active", 20*time.Second, func() string {
		cur, err := cjAPI.Get(c, "default", "tick", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if len(cur.Status.Active) != 0 || cur.Status.LastSuccessfulTime == nil {
			return fmt.Sprintf("status %+v", cur.Status)
		}
		return ""
	})
	if names := jobNames(); fmt.Sprint(names) != fmt.Sprint([]string{first}) {
		t.Fatalf("the skipped tick ran after its deadline: %v", names)
	}
	// the tick after that runs normally
	third := minute.Add(2 * time.Minute)
	advance(third.Add(time.Second))
	eventually(t, "the job of the third tick", 20*time.Second, func() string {
		if names := jobNames(); fmt.Sprint(names) != fmt.Sprint([]string{first, jobName(third)}) {
			return fmt.Sprintf("jobs %v", names)
		}
		return ""
	})
}
