package handlers

import (
	"net/http"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
)

// selfSubjectAccessReview answers POST selfsubjectaccessreviews: the review comes back with
// status.allowed true, since Skiff has no authorization yet. Like Kubernetes it needs exactly one of
// spec.resourceAttributes and spec.nonResourceAttributes, and it is never stored.
func (a *API) selfSubjectAccessReview(q *request) {
	data, err := bodyJSON(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	obj, warnings, err := a.decodeObject(q, data)
	if err != nil {
		q.fail(err)
		return
	}
	review := obj.(*registry.SelfSubjectAccessReview)
	spec := field.NewPath("spec")
	switch {
	case review.Spec.ResourceAttributes == nil && review.Spec.NonResourceAttributes == nil:
		q.fail(apierrors.NewInvalid(q.res.Group, q.res.Kind, "", field.ErrorList{field.Invalid(spec.Child("resourceAttributes"),
			review.Spec.ResourceAttributes, "exactly one of nonResourceAttributes or resourceAttributes must be specified")}))
		return
	case review.Spec.ResourceAttributes != nil && review.Spec.NonResourceAttributes != nil:
		q.fail(apierrors.NewInvalid(q.res.Group, q.res.Kind, "", field.ErrorList{field.Invalid(spec.Child("nonResourceAttributes"),
			review.Spec.NonResourceAttributes, "cannot be specified in combination with resourceAttributes")}))
		return
	}
	q.res.SetTypeMeta(review)
	review.Status = registry.SubjectAccessReviewStatus{Allowed: true, Reason: "Skiff has no authorization: every request is allowed"}
	addWarnings(q.w, warnings)
	writeOutput(q.w, q.out, http.StatusCreated, review)
}
