package v1

import (
	"math"
	"testing"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func i32(v int32) *int32 { return &v }

func TestJobDefaults(t *testing.T) {
	tests := []struct {
		name                             string
		spec                             JobSpec
		wantCompletions, wantParallelism *int32
		wantBackoff                      int32
		wantReplacement                  PodReplacementPolicy
	}{
		{"neither completions nor parallelism: both 1", JobSpec{}, i32(1), i32(1), 6, TerminatingOrFailed},
		{"completions only: parallelism 1", JobSpec{Completions: i32(5)}, i32(5), i32(1), 6, TerminatingOrFailed},
		{"parallelism only: completions stay unset (work queue)", JobSpec{Parallelism: i32(3)}, nil, i32(3), 6, TerminatingOrFailed},
		{"backoffLimitPerIndex: backoffLimit MaxInt32", JobSpec{BackoffLimitPerIndex: i32(1)}, i32(1), i32(1), math.MaxInt32, TerminatingOrFailed},
		{"podFailurePolicy: replacement Failed", JobSpec{PodFailurePolicy: &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: "Ignore",
			OnPodConditions: []PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}}, i32(1), i32(1), 6, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &Job{Spec: tt.spec}
			j.Spec.Template.Labels = map[string]string{"app": "batch"}
			j.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "x:1"}}
			j.Default()
			s := j.Spec
			if (tt.wantCompletions == nil) != (s.Completions == nil) || (s.Completions != nil && *s.Completions != *tt.wantCompletions) {
				t.Errorf("completions = %v", s.Completions)
			}
			if *s.Parallelism != *tt.wantParallelism {
				t.Errorf("parallelism = %d", *s.Parallelism)
			}
			if *s.BackoffLimit != tt.wantBackoff {
				t.Errorf("backoffLimit = %d", *s.BackoffLimit)
			}
			if *s.CompletionMode != NonIndexedCompletion || *s.Suspend {
				t.Errorf("completionMode %s suspend %v", *s.CompletionMode, *s.Suspend)
			}
			if *s.PodReplacementPolicy != tt.wantReplacement {
				t.Errorf("podReplacementPolicy = %s", *s.PodReplacementPolicy)
			}
			if j.Labels["app"] != "batch" {
				t.Errorf("job labels not taken from the template: %v", j.Labels)
			}
			if s.PodFailurePolicy != nil && s.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
				t.Error("onPodConditions status not defaulted to True")
			}
			if s.Template.Spec.TerminationGracePeriodSeconds == nil {
				t.Error("pod template not defaulted")
			}
		})
	}
}

func TestCronJobDefaults(t *testing.T) {
	c := &CronJob{Spec: CronJobSpec{Schedule: "*/1 * * * *"}}
	c.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "x"}}
	c.Default()
	s := c.Spec
	if s.ConcurrencyPolicy != AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("cron job defaults: %+v", s)
	}
	if s.JobTemplate.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Error("job template's pod template not defaulted")
	}
	if s.JobTemplate.Spec.BackoffLimit != nil {
		t.Error("cron job's job template got job-level defaults; Kubernetes leaves them to the Job")
	}
}
