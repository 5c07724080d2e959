package registry

import metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

// SelfSubjectAccessReview is authorization.k8s.io/v1's "may I do this?" question (`kubectl auth can-i`).
// It is served by the apiserver alone (it is not in the shared resource table and never stored): with
// no authorization yet, every review is answered allowed.
type SelfSubjectAccessReview struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              SelfSubjectAccessReviewSpec `json:"spec"`
	Status            SubjectAccessReviewStatus   `json:"status,omitempty"`
}

// SelfSubjectAccessReviewSpec names exactly one of a resource or a non-resource request.
type SelfSubjectAccessReviewSpec struct {
	ResourceAttributes    *ResourceAttributes    `json:"resourceAttributes,omitempty"`
	NonResourceAttributes *NonResourceAttributes `json:"nonResourceAttributes,omitempty"`
}

// ResourceAttributes describe a request on a resource.
type ResourceAttributes struct {
	Namespace   string `json:"namespace,omitempty"`
	Verb        string `json:"verb,omitempty"`
	Group       string `json:"group,omitempty"`
	Version     string `json:"version,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Name        string `json:"name,omitempty"`
}

// NonResourceAttributes describe a request on a non-resource path such as /healthz.
type NonResourceAttributes struct {
	Path string `json:"path,omitempty"`
	Verb string `json:"verb,omitempty"`
}

// SubjectAccessReviewStatus is the answer.
type SubjectAccessReviewStatus struct {
	Allowed         bool   `json:"allowed"`
	Denied          bool   `json:"denied,omitempty"`
	Reason          string `json:"reason,omitempty"`
	EvaluationError string `json:"evaluationError,omitempty"`
}

// LocalResources are the resources the apiserver serves beyond the shared table: create-only reviews
// that are answered, never stored.
func LocalResources() []*Resource {
	return []*Resource{{
		Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectAccessReview",
		Plural: "selfsubjectaccessreviews", Singular: "selfsubjectaccessreview", Verbs: []string{"create"},
		New:       func() metav1.Object { return &SelfSubjectAccessReview{} },
		KeyPrefix: "/registry/selfsubjectaccessreviews/",
	}}
}

// IsSelfSubjectAccessReview reports whether res is the review resource.
func IsSelfSubjectAccessReview(res *Resource) bool {
	return res.Group == "authorization.k8s.io" && res.Plural == "selfsubjectaccessreviews"
}
