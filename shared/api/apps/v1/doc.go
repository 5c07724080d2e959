// Package v1 holds the apps/v1 API types: Deployment, ReplicaSet, DaemonSet, StatefulSet and
// ControllerRevision, with Kubernetes's JSON field names and strategic-merge-patch tags, their well-known
// constants and Default methods. Import it as appsv1. It does not validate (see shared/validation).
package v1
