package validation

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/labels"
)

var jobPod = podOptions{restartPolicies: []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}}

func validateJob(j *batchv1.Job) field.ErrorList {
	return validateJobSpec(&j.Spec, specPath, true)
}

// validateJobSpec checks a job spec. Jobs created directly carry the selector the apiserver generated;
// job templates in cron jobs carry none, so selectorRequired is false for them.
func validateJobSpec(s *batchv1.JobSpec, p *field.Path, selectorRequired bool) field.ErrorList {
	var errs field.ErrorList
	for name, v := range map[string]*int32{"parallelism": s.Parallelism, "completions": s.Completions,
		"backoffLimit": s.BackoffLimit, "ttlSecondsAfterFinished": s.TTLSecondsAfterFinished} {
		if v != nil {
			errs = append(errs, nonNegative(int64(*v), p.Child(name))...)
		}
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, positive(*s.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	}
	if s.CompletionMode != nil {
		errs = append(errs, supported(*s.CompletionMode, p.Child("completionMode"), batchv1.NonIndexedCompletion, batchv1.IndexedCompletion)...)
		if *s.CompletionMode == batchv1.IndexedCompletion && s.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), "when completion mode is Indexed"))
		}
	}
	if s.BackoffLimitPerIndex != nil && (s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion) {
		errs = append(errs, field.Forbidden(p.Child("backoffLimitPerIndex"), "requires indexed completion mode"))
	}
	if s.Selector != nil {
		errs = append(errs, validateLabelSelector(s.Selector, p.Child("selector"))...)
		if sel, err := labels.FromLabelSelector(s.Selector); err == nil && !sel.Matches(labels.Set(s.Template.Labels)) {
			errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
		}
	} else if selectorRequired {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	}
	if s.PodFailurePolicy != nil {
		for i, r := range s.PodFailurePolicy.Rules {
			rp := p.Child("podFailurePolicy", "rules").Index(i)
			errs = append(errs, supported(r.Action, rp.Child("action"), "FailJob", "FailIndex", "Ignore", "Count")...)
			if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
				errs = append(errs, field.Invalid(rp, r, "specifying one of OnExitCodes and OnPodConditions is required"))
			}
		}
	}
	errs = append(errs, validatePodTemplateSpec(&s.Template, p.Child("template"), jobPod)...)
	return errs
}

// validateJobUpdate keeps a job's selector, template and completion settings fixed.
func validateJobUpdate(n, o *batchv1.Job) field.ErrorList {
	errs := immutable(n.Spec.Selector, o.Spec.Selector, specPath.Child("selector"))
	suspendedNow := o.Spec.Suspend != nil && *o.Spec.Suspend
	if !suspendedNow {
		errs = append(errs, immutable(n.Spec.Template, o.Spec.Template, specPath.Child("template"))...)
	}
	errs = append(errs, immutable(n.Spec.CompletionMode, o.Spec.CompletionMode, specPath.Child("completionMode"))...)
	errs = append(errs, immutable(n.Spec.PodFailurePolicy, o.Spec.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(n.Spec.BackoffLimitPerIndex, o.Spec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	indexedElastic := n.Spec.CompletionMode != nil && *n.Spec.CompletionMode == batchv1.IndexedCompletion &&
		n.Spec.Completions != nil && n.Spec.Parallelism != nil && *n.Spec.Completions == *n.Spec.Parallelism
	if !indexedElastic {
		errs = append(errs, immutable(n.Spec.Completions, o.Spec.Completions, specPath.Child("completions"))...)
	}
	return errs
}

func validateCronJob(c *batchv1.CronJob) field.ErrorList {
	var errs field.ErrorList
	s := &c.Spec
	sp := specPath.Child("schedule")
	if s.Schedule == "" {
		errs = append(errs, field.Required(sp, ""))
	} else {
		if strings.Contains(s.Schedule, "TZ") {
			errs = append(errs, field.Invalid(sp, s.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
		} else if _, err := cron.ParseStandard(s.Schedule); err != nil {
			errs = append(errs, field.Invalid(sp, s.Schedule, err.Error()))
		}
	}
	if s.TimeZone != nil {
		if _, err := time.LoadLocation(*s.TimeZone); err != nil || *s.TimeZone == "" || strings.EqualFold(*s.TimeZone, "local") {
			errs = append(errs, field.Invalid(specPath.Child("timeZone"), *s.TimeZone, "unknown time zone "+*s.TimeZone))
		}
	}
	errs = append(errs, supported(s.ConcurrencyPolicy, specPath.Child("concurrencyPolicy"), batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent)...)
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*s.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	}
	for name, v := range map[string]*int32{"successfulJobsHistoryLimit": s.SuccessfulJobsHistoryLimit, "failedJobsHistoryLimit": s.FailedJobsHistoryLimit} {
		if v != nil {
			errs = append(errs, nonNegative(int64(*v), specPath.Child(name))...)
		}
	}
	jp := specPath.Child("jobTemplate")
	errs = append(errs, validateTemplateMeta(&s.JobTemplate.ObjectMeta, jp.Child("metadata"))...)
	errs = append(errs, validateJobSpec(&s.JobTemplate.Spec, jp.Child("spec"), false)...)
	return errs
}
