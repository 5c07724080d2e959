package server

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

func service(name, clusterIP, typ string) map[string]any {
	spec := map[string]any{"ports": []any{map[string]any{"port": 80}}, "selector": map[string]any{"app": name}}
	if clusterIP != "" {
		spec["clusterIP"] = clusterIP
	}
	if typ != "" {
		spec["type"] = typ
	}
	return map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": name}, "spec": spec}
}

func TestClusterIPAllocation(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "services")
	svcs := "/api/v1/namespaces/" + ns + "/services"

	k := ts.must(t, http.StatusOK, "GET", "/api/v1/namespaces/default/services/kubernetes", "", nil)
	if str(k, "spec.clusterIP") != "10.96.0.1" {
		t.Fatalf("kubernetes service has %q, want 10.96.0.1", str(k, "spec.clusterIP"))
	}

	const n = 40
	var wg sync.WaitGroup
	ips := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := ts.req(t, "POST", svcs, jsonCT, service(fmt.Sprintf("s%d", i), "", ""))
			if r.code != http.StatusCreated {
				t.Errorf("creating s%d: %d %s", i, r.code, truncate(r.body))
				return
			}
			ips <- str(r.json(t), "spec.clusterIP")
		}(i)
	}
	wg.Wait()
	close(ips)
	seen := map[string]bool{}
	for ip := range ips {
		if ip == "" || seen[ip] {
			t.Fatalf("concurrent creates handed out %q twice (or empty)", ip)
		}
		seen[ip] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ClusterIPs for %d services", len(seen), n)
	}

	got := ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, service("fixed", "10.96.0.10", ""))
	if str(got, "spec.clusterIP") != "10.96.0.10" {
		t.Fatalf("requested IP not honoured: %v", got["spec"])
	}
	r := ts.req(t, "POST", svcs, jsonCT, service("dup", "10.96.0.10", ""))
	if r.code != http.StatusUnprocessableEntity || str(r.json(t), "details.causes") == "" {
		t.Fatalf("a taken IP: %d %s", r.code, truncate(r.body))
	}
	r = ts.req(t, "POST", svcs, jsonCT, service("outside", "10.97.0.5", ""))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("an IP outside the range: %d %s", r.code, truncate(r.body))
	}
	h := ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, service("headless", "None", ""))
	if str(h, "spec.clusterIP") != "None" {
		t.Fatalf("headless: %v", h["spec"])
	}
	// A PUT that omits the allocated IP keeps it; changing it is refused.
	fixed := ts.must(t, http.StatusOK, "GET", svcs+"/fixed", "", nil)
	body := service("fixed", "", "")
	body["metadata"].(map[string]any)["resourceVersion"] = str(fixed, "metadata.resourceVersion")
	if u := ts.must(t, http.StatusOK, "PUT", svcs+"/fixed", jsonCT, body); str(u, "spec.clusterIP") != "10.96.0.10" {
		t.Fatalf("PUT without clusterIP: %v", u["spec"])
	}
	if r := ts.req(t, "PATCH", svcs+"/fixed", "application/merge-patch+json", `{"spec":{"clusterIP":"10.96.0.11","clusterIPs":["10.96.0.11"]}}`); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("changing clusterIP: %d %s", r.code, truncate(r.body))
	}
	// Deleting releases the address.
	ts.must(t, http.StatusOK, "DELETE", svcs+"/fixed", "", nil)
	ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, service("reuse", "10.96.0.10", ""))

	// Node ports.
	np := ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, service("np", "", "NodePort"))
	port := str(np, "spec.ports.0.nodePort")
	ports := np["spec"].(map[string]any)["ports"].([]any)
	p := int(ports[0].(map[string]any)["nodePort"].(float64))
	if p < 30000 || p > 32767 {
		t.Fatalf("node port %d (%s) outside 30000-32767", p, port)
	}
	dup := service("np2", "", "NodePort")
	dup["spec"].(map[string]any)["ports"] = []any{map[string]any{"port": 80, "nodePort": p}}
	if r := ts.req(t, "POST", svcs, jsonCT, dup); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("a taken node port: %d %s", r.code, truncate(r.body))
	}
	ts.must(t, http.StatusOK, "DELETE", svcs+"/np", "", nil)
	ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, dup)
}
