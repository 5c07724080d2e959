package registry

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/labels"
)

// generateJobSelector gives a Job without spec.manualSelector=true the selector Kubernetes generates:
// matchLabels batch.kubernetes.io/controller-uid=<uid>, with that label, the job-name label and their
// legacy forms (controller-uid, job-name) added to the pod template. Labels the client set are kept;
// a conflicting one is refused by validateGeneratedSelector. A Job without labels of its own takes the
// template's, as Kubernetes's defaulting does when it reads the stored Job.
func generateJobSelector(j *batchv1.Job) {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	tl := j.Spec.Template.Labels
	if tl == nil {
		tl = map[string]string{}
		j.Spec.Template.Labels = tl
	}
	for _, k := range []string{batchv1.LegacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := tl[k]; !ok {
			tl[k] = j.Name
		}
	}
	for _, k := range []string{batchv1.LegacyControllerUIDLabel, batchv1.ControllerUIDLabel} {
		if _, ok := tl[k]; !ok {
			tl[k] = j.UID
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUIDLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUIDLabel] = j.UID
	}
	if len(j.Labels) == 0 {
		j.Labels = make(map[string]string, len(tl))
		for k, v := range tl {
			j.Labels[k] = v
		}
	}
}

// validateGeneratedSelector is Kubernetes's check that a Job without manualSelector carries the
// generated selector and template labels (a client that set them to other values is refused).
func validateGeneratedSelector(j *batchv1.Job) field.ErrorList {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return nil
	}
	var errs field.ErrorList
	mp := field.NewPath("spec", "template", "metadata")
	for _, want := range []struct{ key, value string }{
		{batchv1.LegacyControllerUIDLabel, j.UID},
		{batchv1.LegacyJobNameLabel, j.Name},
		{batchv1.ControllerUIDLabel, j.UID},
		{batchv1.JobNameLabel, j.Name},
	} {
		got, ok := j.Spec.Template.Labels[want.key]
		p := mp.Child("labels").Key(want.key)
		switch {
		case !ok:
			errs = append(errs, field.Required(p, "must be '"+want.value+"'"))
		case got != want.value:
			errs = append(errs, field.Invalid(p, got, "must be '"+want.value+"'"))
		}
	}
	if j.Spec.Selector != nil {
		sel, err := labels.FromLabelSelector(j.Spec.Selector)
		if err == nil && !sel.Matches(labels.Set{batchv1.ControllerUIDLabel: j.UID}) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
		}
	}
	return errs
}
