package server

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/validation"
)

// sharedValidator is shared/validation as the registry's Validator.
type sharedValidator struct{}

func (sharedValidator) Validate(obj metav1.Object) field.ErrorList {
	return allowAPIServerLoopback(obj, validation.Validate(obj))
}

func (sharedValidator) ValidateUpdate(obj, old metav1.Object) field.ErrorList {
	return allowAPIServerLoopback(obj, validation.ValidateUpdate(obj, old))
}

func (sharedValidator) ValidateStatusUpdate(obj, old metav1.Object) field.ErrorList {
	return validation.ValidateStatusUpdate(obj, old)
}

// allowAPIServerLoopback drops the loopback-address rule for the kubernetes Service's Endpoints only:
// until TLS exists the apiserver serves on loopback, and those Endpoints carry its real address.
func allowAPIServerLoopback(obj metav1.Object, errs field.ErrorList) field.ErrorList {
	ep, ok := obj.(*corev1.Endpoints)
	if !ok || ep.Name != kubernetesService || ep.Namespace != kubernetesNamespace || len(errs) == 0 {
		return errs
	}
	out := errs[:0:0]
	for _, e := range errs {
		if e.Type == field.ErrorTypeInvalid && strings.Contains(e.Detail, "loopback range") {
			continue
		}
		out = append(out, e)
	}
	return out
}
