package v1

// Defaulter is implemented by the API types that have Kubernetes defaults (Pod, Service, Deployment,
// Job, ...): Default fills in every unset field that Kubernetes would, and is idempotent. The
// apiserver calls it on create and update before validation.
type Defaulter interface {
	Default()
}
