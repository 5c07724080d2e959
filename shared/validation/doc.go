// Package validation checks Skiff API objects with Kubernetes's rules and messages: Validate for
// create, ValidateUpdate for update (immutable fields), ValidateStatusUpdate for /status writes, and
// NewInvalid to turn the result into the 422 Status the apiserver returns. Errors carry Kubernetes
// field paths ("metadata.name", "spec.containers[0].image") and are
// k8s.io/apimachinery/pkg/util/validation/field errors, so their messages match Kubernetes's.
//
// Objects are expected to be defaulted first (the apiserver calls Default before Validate), as in
// Kubernetes: fields that defaulting always sets, such as restartPolicy or imagePullPolicy, are
// required here. The name, label, annotation, owner reference, finalizer and label selector rules are
// apimachinery's own (k8s.io/apimachinery/pkg/api/validation and .../apis/meta/v1/validation), applied
// through a conversion of Skiff's metadata. The package does not default, admit or authorize, and it
// covers the rules Skiff's controllers rely on rather than every rule of Kubernetes (see the README).
package validation
