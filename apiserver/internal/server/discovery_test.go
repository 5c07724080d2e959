package server

import (
	"net/http"
	"strings"
	"testing"
)

const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

func TestDiscovery(t *testing.T) {
	ts := sharedServer(t)
	v := ts.must(t, http.StatusOK, "GET", "/version?timeout=5s", "", nil)
	if str(v, "major") != "1" || str(v, "minor") != "32" {
		t.Fatalf("/version: %v", v)
	}
	api := ts.must(t, http.StatusOK, "GET", "/api", "", nil)
	if str(api, "kind") != "APIVersions" || str(api, "versions.0") != "" && false {
		t.Fatalf("/api: %v", api)
	}
	groups := ts.must(t, http.StatusOK, "GET", "/apis", "", nil)
	if str(groups, "kind") != "APIGroupList" || !strings.Contains(mustJSON(t, groups), `"apps/v1"`) {
		t.Fatalf("/apis: %v", groups)
	}
	core := ts.must(t, http.StatusOK, "GET", "/api/v1", "", nil)
	apps := ts.must(t, http.StatusOK, "GET", "/apis/apps/v1", "", nil)
	find := func(list map[string]any, name string) map[string]any {
		for _, r := range list["resources"].([]any) {
			if m := r.(map[string]any); m["name"] == name {
				return m
			}
		}
		t.Fatalf("%s not in %s", name, str(list, "groupVersion"))
		return nil
	}
	if p := find(core, "pods"); str(p, "kind") != "Pod" || str(p, "shortNames.0") != "" && false || !strings.Contains(mustJSON(t, p), `"po"`) || !strings.Contains(mustJSON(t, p), `"all"`) {
		t.Fatalf("pods: %v", p)
	}
	if n := find(core, "namespaces"); n["namespaced"] != false {
		t.Fatalf("namespaces: %v", n)
	}
	find(core, "pods/log")
	find(core, "pods/binding")
	if s := find(apps, "deployments/scale"); str(s, "group") != "autoscaling" || str(s, "kind") != "Scale" {
		t.Fatalf("deployments/scale: %v", s)
	}
	ts.must(t, http.StatusOK, "GET", "/apis/apps", "", nil)

	// Aggregated discovery only when asked, chosen by Content-Type.
	for _, path := range []string{"/api", "/apis"} {
		r := ts.req(t, "GET", path, "", nil, "Accept", aggregatedAccept)
		if ct := r.header.Get("Content-Type"); ct != "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" {
			t.Fatalf("%s aggregated Content-Type %q", path, ct)
		}
		if doc := r.json(t); str(doc, "kind") != "APIGroupDiscoveryList" || len(doc["items"].([]any)) == 0 {
			t.Fatalf("%s aggregated: %s", path, truncate(r.body))
		}
		old := ts.req(t, "GET", path, "", nil, "Accept", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
		if ct := old.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s for a v2beta1-only client: Content-Type %q", path, ct)
		}
	}

	root := ts.must(t, http.StatusOK, "GET", "/openapi/v3", "", nil)
	paths := root["paths"].(map[string]any)
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/coordination.k8s.io/v1"} {
		entry, ok := paths[gv].(map[string]any)
		if !ok {
			t.Fatalf("openapi root lacks %s", gv)
		}
		doc := ts.must(t, http.StatusOK, "GET", entry["serverRelativeURL"].(string), "", nil)
		found := false
		for _, item := range doc["paths"].(map[string]any) {
			op := item.(map[string]any)["patch"].(map[string]any)
			for _, p := range op["parameters"].([]any) {
				if p.(map[string]any)["name"] == "fieldValidation" {
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("%s: no PATCH operation declares fieldValidation", gv)
		}
	}
	ts.must(t, http.StatusNotFound, "GET", "/openapi/v2", "", nil)
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		if r := ts.req(t, "GET", p, "", nil); r.code != http.StatusOK || string(r.body) != "ok" {
			t.Fatalf("%s: %d %q", p, r.code, r.body)
		}
	}
	m := ts.req(t, "GET", "/metrics", "", nil)
	for _, name := range []string{"skiff_apiserver_request_total", "skiff_apiserver_request_duration_seconds", "skiff_apiserver_watchers"} {
		if !strings.Contains(string(m.body), name) {
			t.Fatalf("/metrics lacks %s", name)
		}
	}
}

func TestTables(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "tables")
	const accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	pods := "/api/v1/namespaces/" + ns + "/pods"
	ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod("p1", map[string]string{"a": "b"}))
	r := ts.req(t, "GET", pods, "", nil, "Accept", accept)
	tbl := r.json(t)
	if str(tbl, "kind") != "Table" || str(tbl, "apiVersion") != "meta.k8s.io/v1" || str(tbl, "metadata.resourceVersion") == "" {
		t.Fatalf("table: %s", truncate(r.body))
	}
	var names []string
	wide := 0
	for _, c := range tbl["columnDefinitions"].([]any) {
		cm := c.(map[string]any)
		if cm["priority"].(float64) == 0 {
			names = append(names, cm["name"].(string))
		} else {
			wide++
		}
	}
	if strings.Join(names, ",") != "Name,Ready,Status,Restarts,Age" || wide != 4 {
		t.Fatalf("pod columns %v (+%d wide)", names, wide)
	}
	row := tbl["rows"].([]any)[0].(map[string]any)
	cells := row["cells"].([]any)
	if cells[0] != "p1" || cells[1] != "0/1" || cells[2] != "Pending" {
		t.Fatalf("pod row %v", cells)
	}
	if str(row["object"].(map[string]any), "kind") != "PartialObjectMetadata" || str(row["object"].(map[string]any), "metadata.labels.a") != "b" {
		t.Fatalf("row object %v", row["object"])
	}
	// get one object as a Table, and a deployment's columns.
	one := ts.req(t, "GET", pods+"/p1", "", nil, "Accept", accept).json(t)
	if str(one, "kind") != "Table" || len(one["rows"].([]any)) != 1 {
		t.Fatalf("get as table: %v", one)
	}
	ts.must(t, http.StatusCreated, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", jsonCT, deployment("d", 3))
	dt := ts.req(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments", "", nil, "Accept", accept).json(t)
	dcells := dt["rows"].([]any)[0].(map[string]any)["cells"].([]any)
	if dcells[1] != "0/3" || dcells[5] != "c,d" || dcells[6] != "busybox,nginx" || dcells[7] != "app=d" {
		t.Fatalf("deployment row %v", dcells)
	}
	// Watch: columnDefinitions in the first event only.
	w := ts.openWatch(t, pods+"?watch=true&resourceVersion=0", "Accept", accept)
	first := w.next(t, "the first table event")
	if str(first.Object, "kind") != "Table" || first.Object["columnDefinitions"] == nil {
		t.Fatalf("first watch event: %v", first.Object)
	}
	ts.must(t, http.StatusOK, "PATCH", pods+"/p1", "application/merge-patch+json", `{"metadata":{"labels":{"c":"d"}}}`)
	second := w.next(t, "the second table event")
	if second.Type != "MODIFIED" || second.Object["columnDefinitions"] != nil || len(second.Object["rows"].([]any)) != 1 {
		t.Fatalf("second watch event: %v", second.Object)
	}
}
