package server

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/validation"
)

// sharedValidator is shared/validation as the registry's Validator.
type sharedValidator struct{}

func (sharedValidator) Validate(obj metav1.Object) field.ErrorList { return validation.Validate(obj) }

func (sharedValidator) ValidateUpdate(obj, old metav1.Object) field.ErrorList {
	return validation.ValidateUpdate(obj, old)
}

func (sharedValidator) ValidateStatusUpdate(obj, old metav1.Object) field.ErrorList {
	return validation.ValidateStatusUpdate(obj, old)
}
