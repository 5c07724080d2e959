// Package api is the root of Skiff's API types; the types themselves live in api/<group>/<version>
// (corev1, appsv1, batchv1, ...) and the table of served resources in api/resources. This package's tests
// check the types against Kubernetes's wire format: real-world manifests in testdata/ must survive a
// decode and re-encode unchanged, and every field name and patch tag must match k8s.io/api. It also
// provides DecodeStrict, the decoder the apiserver uses for fieldValidation=Strict.
package api
