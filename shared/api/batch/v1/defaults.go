package v1

import (
	"math"
)

func ptrTo[T any](v T) *T { return &v }

// Default fills in Kubernetes's job defaults: completions and parallelism 1 when neither is set,
// parallelism 1, backoffLimit 6 (MaxInt32 with backoffLimitPerIndex), completionMode NonIndexed,
// suspend false, podReplacementPolicy TerminatingOrFailed (Failed with a podFailurePolicy), the
// job's labels from the template's when it has none, status True on podFailurePolicy condition
// patterns, and the pod template's defaults. The selector and its controller-uid labels are the
// apiserver's job.
func (j *Job) Default() {
	s := &j.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = ptrTo(int32(1))
		s.Parallelism = ptrTo(int32(1))
	}
	if s.Parallelism == nil {
		s.Parallelism = ptrTo(int32(1))
	}
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = ptrTo(int32(math.MaxInt32))
		} else {
			s.BackoffLimit = ptrTo(int32(6))
		}
	}
	if len(j.Labels) == 0 && len(s.Template.Labels) > 0 {
		j.Labels = make(map[string]string, len(s.Template.Labels))
		for k, v := range s.Template.Labels {
			j.Labels[k] = v
		}
	}
	if s.CompletionMode == nil {
		s.CompletionMode = ptrTo(NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = ptrTo(false)
	}
	if s.PodFailurePolicy != nil {
		for i := range s.PodFailurePolicy.Rules {
			for k := range s.PodFailurePolicy.Rules[i].OnPodConditions {
				if s.PodFailurePolicy.Rules[i].OnPodConditions[k].Status == "" {
					s.PodFailurePolicy.Rules[i].OnPodConditions[k].Status = "True"
				}
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = ptrTo(Failed)
		} else {
			s.PodReplacementPolicy = ptrTo(TerminatingOrFailed)
		}
	}
	s.Template.Default()
}

// Default fills in Kubernetes's cron job defaults: concurrencyPolicy Allow, suspend false,
// successfulJobsHistoryLimit 3, failedJobsHistoryLimit 1, and the job template's pod template defaults
// (job-level defaults are applied to each Job when it is created).
func (c *CronJob) Default() {
	s := &c.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = AllowConcurrent
	}
	if s.Suspend == nil {
		s.Suspend = ptrTo(false)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = ptrTo(int32(3))
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = ptrTo(int32(1))
	}
	s.JobTemplate.Spec.Template.Default()
}
