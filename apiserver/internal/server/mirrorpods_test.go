package server

import (
	"net/http"
	"testing"
)

// TestMirrorPods checks Kubernetes's rules for mirror pods (the nodeagent's API view of a static pod):
// bound to a node at create, the mirror annotation fixed for the pod's life, the spec held by the pod
// update rules.
func TestMirrorPods(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "mirror")
	pods := "/api/v1/namespaces/" + ns + "/pods"
	const mirrorKey = "kubernetes.io/config.mirror"
	const annField = "metadata.annotations[kubernetes.io/config.mirror]"
	merge := "application/merge-patch+json"
	mirror := func(name, node string) map[string]any {
		p := pod(name, map[string]string{"app": "static"})
		p["metadata"].(map[string]any)["annotations"] = map[string]any{mirrorKey: "hash-1"}
		if node != "" {
			p["spec"].(map[string]any)["nodeName"] = node
		}
		return p
	}
	annotation := func(obj map[string]any) string {
		a, _ := obj["metadata"].(map[string]any)["annotations"].(map[string]any)
		v, _ := a[mirrorKey].(string)
		return v
	}
	// cause finds the cause of a 422 for field.
	cause := func(t *testing.T, r response, fieldPath string) map[string]any {
		t.Helper()
		if r.code != http.StatusUnprocessableEntity {
			t.Fatalf("want 422 for %s, got %d %s", fieldPath, r.code, truncate(r.body))
		}
		st := r.json(t)
		causes, _ := st["details"].(map[string]any)["causes"].([]any)
		for _, c := range causes {
			if c := c.(map[string]any); c["field"] == fieldPath {
				return c
			}
		}
		t.Fatalf("no cause for %s: %s", fieldPath, truncate(r.body))
		return nil
	}

	c := cause(t, ts.req(t, "POST", pods, jsonCT, mirror("unbound", "")), annField)
	if c["reason"] != "FieldValueInvalid" || c["message"] != `Invalid value: "hash-1": must set spec.nodeName if mirror pod annotation is set` {
		t.Fatalf("mirror pod without nodeName: %v", c)
	}
	m := ts.must(t, http.StatusCreated, "POST", pods, jsonCT, mirror("static-web-node1", "node1"))
	if str(m, "spec.nodeName") != "node1" || str(m, "spec.serviceAccountName") != "" {
		t.Fatalf("mirror pod as created: %v", m["spec"])
	}
	ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod("plain", nil))

	for _, c := range []struct {
		name, path, patch, field, reason, msg string
	}{
		{"remove the annotation", "/static-web-node1", `{"metadata":{"annotations":{"kubernetes.io/config.mirror":null}}}`,
			annField, "FieldValueForbidden", "Forbidden: may not remove or update mirror pod annotation"},
		{"change the annotation", "/static-web-node1", `{"metadata":{"annotations":{"kubernetes.io/config.mirror":"hash-2"}}}`,
			annField, "FieldValueForbidden", "Forbidden: may not remove or update mirror pod annotation"},
		{"add the annotation", "/plain", `{"metadata":{"annotations":{"kubernetes.io/config.mirror":"x"}}}`,
			annField, "FieldValueForbidden", "Forbidden: may not add mirror pod annotation"},
		{"change the spec", "/static-web-node1", `{"spec":{"containers":[{"name":"c","image":"busybox","command":["sh"]}]}}`,
			"spec", "FieldValueForbidden", ""},
		{"move to another node", "/static-web-node1", `{"spec":{"nodeName":"node2"}}`,
			"spec", "FieldValueForbidden", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := cause(t, ts.req(t, "PATCH", pods+c.path, merge, c.patch), c.field)
			if got["reason"] != c.reason || (c.msg != "" && got["message"] != c.msg) {
				t.Fatalf("cause %v, want %s %q", got, c.reason, c.msg)
			}
		})
	}
	// Metadata other than the annotation, and status, may still change.
	u := ts.must(t, http.StatusOK, "PATCH", pods+"/static-web-node1", merge, `{"metadata":{"labels":{"tier":"node"}}}`)
	if annotation(u) != "hash-1" {
		t.Fatalf("mirror annotation after a label patch: %v", u["metadata"])
	}
	s := ts.must(t, http.StatusOK, "PATCH", pods+"/static-web-node1/status", merge, `{"status":{"phase":"Running"}}`)
	if str(s, "status.phase") != "Running" || annotation(s) != "hash-1" {
		t.Fatalf("status write: %v %v", s["status"], s["metadata"])
	}
}
