package handlers

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func isStatus(err error) bool {
	var st *metav1.Status
	return errors.As(err, &st)
}

func TestNestingDepthIgnoresBracketsInStrings(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`{}`, 1},
		{`{"a":[{"b":1}]}`, 3},
		{`{"a":"[[[[{{{{"}`, 1},
		{`{"a":"\"[[["}`, 1},
		{strings.Repeat("[", 5) + strings.Repeat("]", 5), 5},
	}
	for _, tc := range tests {
		if got := nestingDepth([]byte(tc.in)); got != tc.want {
			t.Errorf("nestingDepth(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseRequestInfo(t *testing.T) {
	tests := []struct {
		method, path                       string
		group, version, ns, res, name, sub string
		verb                               string
	}{
		{"GET", "/api/v1/pods", "", "v1", "", "pods", "", "", "list"},
		{"GET", "/api/v1/namespaces/default/pods/web", "", "v1", "default", "pods", "web", "", "get"},
		{"GET", "/api/v1/namespaces/default/pods/web/log", "", "v1", "default", "pods", "web", "log", "get"},
		{"GET", "/api/v1/namespaces/kube-system", "", "v1", "", "namespaces", "kube-system", "", "get"},
		{"PUT", "/api/v1/namespaces/kube-system/finalize", "", "v1", "", "namespaces", "kube-system", "finalize", "update"},
		{"PUT", "/api/v1/namespaces/ns1/status", "", "v1", "", "namespaces", "ns1", "status", "update"},
		{"GET", "/apis/apps/v1/deployments?watch=true", "apps", "v1", "", "deployments", "", "", "watch"},
		{"GET", "/api/v1/watch/namespaces/default/pods", "", "v1", "default", "pods", "", "", "watch"},
		{"PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale", "apps", "v1", "a", "deployments", "d", "scale", "patch"},
		{"DELETE", "/api/v1/namespaces/a/configmaps", "", "v1", "a", "configmaps", "", "", "deletecollection"},
		{"POST", "/api/v1/nodes", "", "v1", "", "nodes", "", "", "create"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		got := parseRequestInfo(r)
		want := requestInfo{IsResource: true, Group: tc.group, Version: tc.version, Namespace: tc.ns, Resource: tc.res, Name: tc.name, Subresource: tc.sub, Verb: tc.verb}
		if got.Group != want.Group || got.Version != want.Version || got.Namespace != want.Namespace || got.Resource != want.Resource ||
			got.Name != want.Name || got.Subresource != want.Subresource || got.Verb != want.Verb || !got.IsResource {
			t.Errorf("%s %s: got %+v, want %+v", tc.method, tc.path, got, want)
		}
	}
	for _, p := range []string{"/api", "/apis", "/apis/apps", "/apis/apps/v1", "/api/v1"} {
		if got := parseRequestInfo(httptest.NewRequest(http.MethodGet, p, nil)); got.IsResource {
			t.Errorf("%s parsed as a resource: %+v", p, got)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept      string
		table, yaml bool
		fails       bool
	}{
		{"", false, false, false},
		{"application/json", false, false, false},
		{"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", true, false, false},
		{"application/vnd.kubernetes.protobuf,application/json", false, false, false},
		{"application/vnd.kubernetes.protobuf", false, false, true},
		{"application/yaml", false, true, false},
		{"*/*", false, false, false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		out, err := negotiate(r)
		if (err != nil) != tc.fails || out.table != tc.table || out.yaml != tc.yaml {
			t.Errorf("Accept %q: got %+v, %v", tc.accept, out, err)
		}
	}
}
