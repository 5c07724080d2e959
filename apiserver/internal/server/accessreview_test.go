package server

import (
	"net/http"
	"strings"
	"testing"

	k8sauthzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffhq/skiff/apiserver/internal/protobuf"
)

func TestSelfSubjectAccessReview(t *testing.T) {
	ts := sharedServer(t)
	const path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
	review := func(spec map[string]any) map[string]any {
		return map[string]any{"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}
	}
	protoReview := func(t *testing.T) []byte {
		r := &k8sauthzv1.SelfSubjectAccessReview{Spec: k8sauthzv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &k8sauthzv1.ResourceAttributes{Namespace: "default", Verb: "create", Resource: "pods"}}}
		raw, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		u := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"}, Raw: raw}
		b, err := u.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return append(append([]byte{}, protobuf.Magic...), b...)
	}

	for _, tt := range []struct {
		name, contentType string
		body              any
		wantCode          int
		want              string
	}{
		{"a resource review is allowed", jsonCT, review(map[string]any{"resourceAttributes": map[string]any{"verb": "create", "resource": "pods", "namespace": "default"}}), 201, `"allowed":true`},
		{"a non-resource review is allowed", jsonCT, review(map[string]any{"nonResourceAttributes": map[string]any{"verb": "get", "path": "/healthz"}}), 201, `"allowed":true`},
		{"a protobuf review (kubectl auth can-i) is allowed", "application/vnd.kubernetes.protobuf", protoReview(t), 201, `"resource":"pods"`},
		{"an empty spec is 422", jsonCT, review(map[string]any{}), 422, "exactly one of nonResourceAttributes or resourceAttributes must be specified"},
		{"both attribute kinds are 422", jsonCT, review(map[string]any{"resourceAttributes": map[string]any{"verb": "get"}, "nonResourceAttributes": map[string]any{"path": "/"}}), 422, "cannot be specified in combination"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.req(t, "POST", path, tt.contentType, tt.body)
			if r.code != tt.wantCode || !strings.Contains(string(r.body), tt.want) {
				t.Fatalf("got %d %s, want %d with %s", r.code, truncate(r.body), tt.wantCode, tt.want)
			}
			if r.code == 201 && (str(r.json(t), "kind") != "SelfSubjectAccessReview" || str(r.json(t), "apiVersion") != "authorization.k8s.io/v1") {
				t.Fatalf("answer lacks kind/apiVersion: %s", truncate(r.body))
			}
		})
	}
	t.Run("reviews are not stored: GET is 405", func(t *testing.T) {
		if r := ts.req(t, "GET", path, "", nil); r.code != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d %s", r.code, truncate(r.body))
		}
	})
	t.Run("discovery lists the resource with the create verb", func(t *testing.T) {
		d := ts.must(t, http.StatusOK, "GET", "/apis/authorization.k8s.io/v1", "", nil)
		res := d["resources"].([]any)
		if len(res) != 1 || str(res[0].(map[string]any), "name") != "selfsubjectaccessreviews" || mustJSON(t, res[0].(map[string]any)["verbs"]) != `["create"]` {
			t.Fatalf("discovery: %v", d)
		}
	})
}
