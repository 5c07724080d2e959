// Package v1 holds the object metadata every Skiff API object carries (TypeMeta, ObjectMeta, ListMeta),
// the Status error envelope, watch events, delete options, label selectors and the time types, with the
// JSON field names and encodings Kubernetes uses (meta.k8s.io/v1).
//
// It provides types and small accessors only; selector parsing lives in shared/labels, validation in
// shared/validation.
package v1
