package server

import (
	"net/http"
	"testing"
)

func TestNamespaceLifecycle(t *testing.T) {
	ts := sharedServer(t)
	for _, name := range SystemNamespaces {
		ts.must(t, http.StatusOK, "GET", "/api/v1/namespaces/"+name, "", nil)
	}
	ns := ts.namespace(t, "doomed")
	got := ts.must(t, http.StatusOK, "GET", "/api/v1/namespaces/"+ns, "", nil)
	if str(got, "status.phase") != "Active" || str(got, "spec.finalizers.0") != "" && false {
		t.Fatalf("new namespace: %v", got)
	}
	if fin := got["spec"].(map[string]any)["finalizers"].([]any); len(fin) != 1 || fin[0] != "kubernetes" {
		t.Fatalf("spec.finalizers %v, want [kubernetes]", fin)
	}
	ts.must(t, http.StatusCreated, "POST", "/api/v1/namespaces/"+ns+"/configmaps", jsonCT, configMap("x", nil, nil))

	del := ts.must(t, http.StatusOK, "DELETE", "/api/v1/namespaces/"+ns, "", nil)
	if str(del, "status.phase") != "Terminating" || str(del, "metadata.deletionTimestamp") == "" {
		t.Fatalf("deleted namespace: %v", del)
	}
	r := ts.req(t, "POST", "/api/v1/namespaces/"+ns+"/configmaps", jsonCT, configMap("y", nil, nil))
	if r.code != http.StatusForbidden || str(r.json(t), "reason") != "Forbidden" {
		t.Fatalf("create in a terminating namespace: %d %s", r.code, truncate(r.body))
	}
	// The namespace controller empties it, then removes its finalizer through /finalize.
	ts.must(t, http.StatusOK, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/x", "", nil)
	cur := ts.must(t, http.StatusOK, "GET", "/api/v1/namespaces/"+ns, "", nil)
	cur["spec"] = map[string]any{"finalizers": []any{}}
	ts.must(t, http.StatusOK, "PUT", "/api/v1/namespaces/"+ns+"/finalize", jsonCT, cur)
	ts.must(t, http.StatusNotFound, "GET", "/api/v1/namespaces/"+ns, "", nil)
}

func TestGracefulDeletionAndFinalizers(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "deletion")
	pods := "/api/v1/namespaces/" + ns + "/pods"

	t.Run("an unscheduled pod goes at once", func(t *testing.T) {
		ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod("unscheduled", nil))
		d := ts.must(t, http.StatusOK, "DELETE", pods+"/unscheduled", "", nil)
		if str(d, "kind") != "Pod" {
			t.Fatalf("pod delete answers with %v", d["kind"])
		}
		ts.must(t, http.StatusNotFound, "GET", pods+"/unscheduled", "", nil)
	})
	t.Run("a scheduled pod gets a grace period, the nodeagent finishes it", func(t *testing.T) {
		p := pod("running", nil)
		p["spec"].(map[string]any)["terminationGracePeriodSeconds"] = 20
		ts.must(t, http.StatusCreated, "POST", pods, jsonCT, p)
		ts.must(t, http.StatusCreated, "POST", pods+"/running/binding", jsonCT, map[string]any{"kind": "Binding", "apiVersion": "v1",
			"metadata": map[string]any{"name": "running"}, "target": map[string]any{"kind": "Node", "name": "n1"}})
		d := ts.must(t, http.StatusOK, "DELETE", pods+"/running", jsonCT, `{"propagationPolicy":"Background"}`)
		if str(d, "metadata.deletionTimestamp") == "" || str(d, "metadata.deletionGracePeriodSeconds") != "20" {
			t.Fatalf("graceful delete: %v", d["metadata"])
		}
		ts.must(t, http.StatusOK, "GET", pods+"/running", "", nil)
		// A second delete with a longer period changes nothing; the agent's final delete removes it.
		ts.must(t, http.StatusOK, "DELETE", pods+"/running?gracePeriodSeconds=60", "", nil)
		ts.must(t, http.StatusOK, "DELETE", pods+"/running", jsonCT, `{"gracePeriodSeconds":0}`)
		ts.must(t, http.StatusNotFound, "GET", pods+"/running", "", nil)
	})
	t.Run("finalizers hold an object until they are removed", func(t *testing.T) {
		cms := "/api/v1/namespaces/" + ns + "/configmaps"
		cm := configMap("held", nil, nil)
		cm["metadata"].(map[string]any)["finalizers"] = []any{"example.com/hold"}
		ts.must(t, http.StatusCreated, "POST", cms, jsonCT, cm)
		d := ts.must(t, http.StatusOK, "DELETE", cms+"/held", "", nil)
		if str(d, "metadata.deletionTimestamp") == "" {
			t.Fatalf("delete with a finalizer: %v", d)
		}
		r := ts.req(t, "PATCH", cms+"/held", "application/merge-patch+json", `{"metadata":{"finalizers":["example.com/hold","example.com/new"]}}`)
		if r.code != http.StatusUnprocessableEntity {
			t.Fatalf("adding a finalizer to a terminating object: %d %s", r.code, truncate(r.body))
		}
		ts.must(t, http.StatusOK, "PATCH", cms+"/held", "application/merge-patch+json", `{"metadata":{"finalizers":null}}`)
		ts.must(t, http.StatusNotFound, "GET", cms+"/held", "", nil)
	})
	t.Run("propagation policies add the garbage collector's finalizers", func(t *testing.T) {
		deps := "/apis/apps/v1/namespaces/" + ns + "/deployments"
		for _, tc := range []struct{ policy, finalizer string }{{"Foreground", "foregroundDeletion"}, {"Orphan", "orphan"}} {
			ts.must(t, http.StatusCreated, "POST", deps, jsonCT, deployment("p"+tc.finalizer[:3], 1))
			d := ts.must(t, http.StatusOK, "DELETE", deps+"/p"+tc.finalizer[:3], jsonCT, `{"propagationPolicy":"`+tc.policy+`"}`)
			fins, _ := d["metadata"].(map[string]any)["finalizers"].([]any)
			if len(fins) != 1 || fins[0] != tc.finalizer || str(d, "metadata.deletionTimestamp") == "" {
				t.Fatalf("%s delete: %v", tc.policy, d["metadata"])
			}
		}
		ts.must(t, http.StatusCreated, "POST", deps, jsonCT, deployment("bg", 1))
		d := ts.must(t, http.StatusOK, "DELETE", deps+"/bg", jsonCT, `{"propagationPolicy":"Background"}`)
		if str(d, "status") != "Success" || str(d, "details.group") != "apps" || str(d, "details.kind") != "deployments" {
			t.Fatalf("background delete: %v", d)
		}
	})
}

func TestScaleBindingEviction(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "subresources")
	deps := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	ts.must(t, http.StatusCreated, "POST", deps, jsonCT, deployment("d", 2))

	s := ts.must(t, http.StatusOK, "GET", deps+"/d/scale", "", nil)
	if str(s, "kind") != "Scale" || str(s, "apiVersion") != "autoscaling/v1" || str(s, "spec.replicas") != "2" || str(s, "status.selector") != "app=d" {
		t.Fatalf("scale: %v", s)
	}
	// kubectl scale --current-replicas: GET then PUT with no Content-Type, with the RV precondition.
	s["spec"] = map[string]any{"replicas": 5}
	put := ts.must(t, http.StatusOK, "PUT", deps+"/d/scale", "", s)
	if str(put, "spec.replicas") != "5" {
		t.Fatalf("scale PUT: %v", put)
	}
	if r := ts.req(t, "PUT", deps+"/d/scale", "", s); r.code != http.StatusConflict {
		t.Fatalf("scale PUT with a stale resourceVersion: %d %s", r.code, truncate(r.body))
	}
	ts.must(t, http.StatusOK, "PATCH", deps+"/d/scale", "application/merge-patch+json", `{"spec":{"replicas":3}}`)
	d := ts.must(t, http.StatusOK, "GET", deps+"/d", "", nil)
	if str(d, "spec.replicas") != "3" || str(d, "metadata.generation") != "3" {
		t.Fatalf("after scaling: replicas %s generation %s", str(d, "spec.replicas"), str(d, "metadata.generation"))
	}
	if r := ts.req(t, "PATCH", deps+"/d/scale", "application/merge-patch+json", `{"spec":{"replicas":-1}}`); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("negative replicas: %d", r.code)
	}
	ts.must(t, http.StatusCreated, "POST", "/apis/apps/v1/namespaces/"+ns+"/replicasets", jsonCT, func() map[string]any {
		rs := deployment("rs", 1)
		rs["kind"] = "ReplicaSet"
		return rs
	}())
	ts.must(t, http.StatusOK, "PATCH", "/apis/apps/v1/namespaces/"+ns+"/replicasets/rs/scale", "application/merge-patch+json", `{"spec":{"replicas":4}}`)

	pods := "/api/v1/namespaces/" + ns + "/pods"
	p := ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod("web", nil))
	binding := func(uid string) map[string]any {
		return map[string]any{"kind": "Binding", "apiVersion": "v1", "metadata": map[string]any{"name": "web", "uid": uid},
			"target": map[string]any{"kind": "Node", "name": "node1"}}
	}
	if r := ts.req(t, "POST", pods+"/web/binding", jsonCT, binding("wrong-uid")); r.code != http.StatusConflict {
		t.Fatalf("binding with a wrong uid: %d %s", r.code, truncate(r.body))
	}
	b := ts.must(t, http.StatusCreated, "POST", pods+"/web/binding", jsonCT, binding(str(p, "metadata.uid")))
	if str(b, "kind") != "Status" || str(b, "status") != "Success" {
		t.Fatalf("binding answer: %v", b)
	}
	bound := ts.must(t, http.StatusOK, "GET", pods+"/web", "", nil)
	if str(bound, "spec.nodeName") != "node1" || str(bound, "status.conditions.0.type") != "" && false {
		t.Fatalf("bound pod: %v", bound["spec"])
	}
	conds, _ := bound["status"].(map[string]any)["conditions"].([]any)
	if len(conds) != 1 || str(conds[0].(map[string]any), "type") != "PodScheduled" || str(conds[0].(map[string]any), "status") != "True" {
		t.Fatalf("conditions after binding: %v", conds)
	}
	r := ts.req(t, "POST", pods+"/web/binding", jsonCT, binding(""))
	if r.code != http.StatusConflict || str(r.json(t), "message") != `Operation cannot be fulfilled on pods/binding "web": pod web is already assigned to node "node1"` {
		t.Fatalf("second binding: %d %s", r.code, truncate(r.body))
	}
	// Legacy bindings collection.
	ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod("web2", nil))
	ts.must(t, http.StatusCreated, "POST", "/api/v1/namespaces/"+ns+"/bindings", jsonCT, map[string]any{"kind": "Binding", "apiVersion": "v1",
		"metadata": map[string]any{"name": "web2"}, "target": map[string]any{"kind": "Node", "name": "node2"}})
	if got := ts.must(t, http.StatusOK, "GET", pods+"/web2", "", nil); str(got, "spec.nodeName") != "node2" {
		t.Fatalf("bindings collection did not bind: %v", got["spec"])
	}

	ev := ts.must(t, http.StatusCreated, "POST", pods+"/web/eviction", jsonCT, map[string]any{"apiVersion": "policy/v1", "kind": "Eviction",
		"metadata": map[string]any{"name": "web"}})
	if str(ev, "status") != "Success" {
		t.Fatalf("eviction: %v", ev)
	}
	if got := ts.must(t, http.StatusOK, "GET", pods+"/web", "", nil); str(got, "metadata.deletionTimestamp") == "" {
		t.Fatalf("evicted pod is not terminating: %v", got["metadata"])
	}
}
