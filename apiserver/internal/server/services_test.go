package server

import (
	"fmt"
	"net/http"
	"strings"
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

func TestHealthCheckNodePort(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "healthcheck")
	svcs := "/api/v1/namespaces/" + ns + "/services"
	merge := "application/merge-patch+json"
	hcPort := func(obj map[string]any) int {
		v, _ := obj["spec"].(map[string]any)["healthCheckNodePort"].(float64)
		return int(v)
	}
	local := func(name, typ string, hc int) map[string]any {
		s := service(name, "", typ)
		s["spec"].(map[string]any)["externalTrafficPolicy"] = "Local"
		if hc != 0 {
			s["spec"].(map[string]any)["healthCheckNodePort"] = hc
		}
		return s
	}
	// A port is free when a NodePort Service can take it.
	free := func(t *testing.T, port int) bool {
		t.Helper()
		probe := service("probe", "", "NodePort")
		probe["spec"].(map[string]any)["ports"] = []any{map[string]any{"port": 80, "nodePort": port}}
		r := ts.req(t, "POST", svcs, jsonCT, probe)
		if r.code == http.StatusCreated {
			ts.must(t, http.StatusOK, "DELETE", svcs+"/probe", "", nil)
		}
		return r.code == http.StatusCreated
	}

	lb := ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, local("lb", "LoadBalancer", 0))
	hc := hcPort(lb)
	nodePort := int(lb["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["nodePort"].(float64))
	if hc < 30000 || hc > 32767 || hc == nodePort {
		t.Fatalf("LoadBalancer Local: healthCheckNodePort %d (node port %v)", hc, lb["spec"])
	}
	if free(t, hc) {
		t.Fatalf("health-check port %d is not reserved", hc)
	}
	// A NodePort Service with Local gets none, as in Kubernetes; neither does a Cluster LoadBalancer.
	for _, c := range []struct {
		name, typ, policy string
	}{{"np-local", "NodePort", "Local"}, {"lb-cluster", "LoadBalancer", "Cluster"}} {
		s := service(c.name, "", c.typ)
		s["spec"].(map[string]any)["externalTrafficPolicy"] = c.policy
		if got := ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, s); hcPort(got) != 0 {
			t.Fatalf("%s: healthCheckNodePort %d, want none", c.name, hcPort(got))
		}
	}
	// Setting one where it is not needed, or taking one that is held, is 422.
	bad := service("bad", "", "NodePort")
	bad["spec"].(map[string]any)["healthCheckNodePort"] = 31999
	for name, body := range map[string]map[string]any{"not needed": bad, "taken": local("dup", "LoadBalancer", hc)} {
		if r := ts.req(t, "POST", svcs, jsonCT, body); r.code != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "spec.healthCheckNodePort") {
			t.Fatalf("%s: %d %s", name, r.code, truncate(r.body))
		}
	}
	// A requested port is honoured.
	var want int
	for want = 32767; !free(t, want); want-- {
	}
	req := ts.must(t, http.StatusCreated, "POST", svcs, jsonCT, local("req", "LoadBalancer", want))
	if hcPort(req) != want {
		t.Fatalf("requested %d, got %d", want, hcPort(req))
	}

	// Updates that do not touch it keep it (a PUT without it too); changing it is 422.
	u := ts.must(t, http.StatusOK, "PATCH", svcs+"/lb", merge, `{"metadata":{"labels":{"a":"b"}}}`)
	if hcPort(u) != hc {
		t.Fatalf("a label patch changed healthCheckNodePort %d -> %d", hc, hcPort(u))
	}
	put := local("lb", "LoadBalancer", 0)
	put["spec"].(map[string]any)["ports"] = u["spec"].(map[string]any)["ports"]
	if got := ts.must(t, http.StatusOK, "PUT", svcs+"/lb", jsonCT, put); hcPort(got) != hc {
		t.Fatalf("a PUT without healthCheckNodePort: %d, want %d", hcPort(got), hc)
	}
	if r := ts.req(t, "PATCH", svcs+"/lb", merge, fmt.Sprintf(`{"spec":{"healthCheckNodePort":%d}}`, hc-1)); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("changing healthCheckNodePort: %d %s", r.code, truncate(r.body))
	}
	// Switching the policy to Cluster drops and releases it; back to Local allocates one again.
	if got := ts.must(t, http.StatusOK, "PATCH", svcs+"/lb", merge, `{"spec":{"externalTrafficPolicy":"Cluster"}}`); hcPort(got) != 0 {
		t.Fatalf("policy Cluster kept healthCheckNodePort %d", hcPort(got))
	}
	if !free(t, hc) {
		t.Fatalf("health-check port %d not released when the policy changed", hc)
	}
	back := ts.must(t, http.StatusOK, "PATCH", svcs+"/lb", merge, `{"spec":{"externalTrafficPolicy":"Local"}}`)
	hc = hcPort(back)
	if hc == 0 || free(t, hc) {
		t.Fatalf("policy Local again: healthCheckNodePort %d (reserved: %v)", hc, hc != 0 && !free(t, hc))
	}
	// Changing the type to NodePort drops and releases it.
	if got := ts.must(t, http.StatusOK, "PATCH", svcs+"/lb", merge, `{"spec":{"type":"NodePort"}}`); hcPort(got) != 0 {
		t.Fatalf("type NodePort kept healthCheckNodePort %d", hcPort(got))
	}
	if !free(t, hc) {
		t.Fatalf("health-check port %d not released when the type changed", hc)
	}
	// Deleting releases it.
	ts.must(t, http.StatusOK, "DELETE", svcs+"/req", "", nil)
	if !free(t, want) {
		t.Fatalf("health-check port %d not released on delete", want)
	}
}
