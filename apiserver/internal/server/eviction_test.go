package server

import (
	"net/http"
	"testing"
)

func TestEvictionHonoursDisruptionBudgets(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "eviction")
	pods := "/api/v1/namespaces/" + ns + "/pods"
	pdbs := "/apis/policy/v1/namespaces/" + ns + "/poddisruptionbudgets"
	running := func(name string) {
		ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod(name, map[string]string{"app": "guarded"}))
		ts.must(t, http.StatusCreated, "POST", pods+"/"+name+"/binding", jsonCT, map[string]any{"kind": "Binding", "apiVersion": "v1",
			"metadata": map[string]any{"name": name}, "target": map[string]any{"kind": "Node", "name": "n1"}})
		ts.must(t, http.StatusOK, "PATCH", pods+"/"+name+"/status", "application/merge-patch+json", `{"status":{"phase":"Running"}}`)
	}
	evict := func(name string) response {
		return ts.req(t, "POST", pods+"/"+name+"/eviction", jsonCT, map[string]any{"apiVersion": "policy/v1", "kind": "Eviction",
			"metadata": map[string]any{"name": name}})
	}
	pdb := ts.must(t, http.StatusCreated, "POST", pdbs, jsonCT, map[string]any{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
		"metadata": map[string]any{"name": "budget"},
		"spec":     map[string]any{"minAvailable": 1, "selector": map[string]any{"matchLabels": map[string]any{"app": "guarded"}}}})
	running("a")
	running("b")

	tests := []struct {
		name    string
		status  string // the disruption controller's view, written to the budget's status first
		pod     string
		code    int
		deleted bool
	}{
		{"a budget not yet processed refuses", "", "a", 429, false},
		{"a budget with no disruptions allowed refuses", `{"status":{"observedGeneration":` + str(pdb, "metadata.generation") + `,"disruptionsAllowed":0,"currentHealthy":2,"desiredHealthy":2,"expectedPods":2}}`, "a", 429, false},
		{"a budget that allows one lets one go", `{"status":{"observedGeneration":` + str(pdb, "metadata.generation") + `,"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2}}`, "a", 201, true},
		{"and then refuses the next", "", "b", 429, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status != "" {
				ts.must(t, http.StatusOK, "PATCH", pdbs+"/budget/status", "application/merge-patch+json", tc.status)
			}
			r := evict(tc.pod)
			if r.code != tc.code {
				t.Fatalf("eviction: %d %s", r.code, truncate(r.body))
			}
			if tc.code == 429 && str(r.json(t), "reason") != "TooManyRequests" {
				t.Fatalf("refusal: %s", truncate(r.body))
			}
			got := ts.must(t, http.StatusOK, "GET", pods+"/"+tc.pod, "", nil)
			if deleting := str(got, "metadata.deletionTimestamp") != ""; deleting != tc.deleted {
				t.Fatalf("pod %s terminating=%v, want %v", tc.pod, deleting, tc.deleted)
			}
		})
	}
	b := ts.must(t, http.StatusOK, "GET", pdbs+"/budget", "", nil)
	if str(b, "status.disruptionsAllowed") != "0" || str(b, "status.disruptedPods.a") == "" {
		t.Fatalf("budget status after the eviction: %v", b["status"])
	}
	// A pending pod is evicted whatever the budget says.
	ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod("pending", map[string]string{"app": "guarded"}))
	if r := evict("pending"); r.code != http.StatusCreated {
		t.Fatalf("evicting a pending pod: %d %s", r.code, truncate(r.body))
	}
	ts.must(t, http.StatusNotFound, "GET", pods+"/pending", "", nil)
}
