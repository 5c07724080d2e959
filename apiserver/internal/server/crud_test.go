package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestCRUDEveryVerb(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "crud")
	base := "/api/v1/namespaces/" + ns + "/configmaps"

	created := ts.must(t, http.StatusCreated, "POST", base, jsonCT, configMap("a", map[string]string{"k": "v"}, map[string]string{"app": "x"}))
	if str(created, "metadata.uid") == "" || str(created, "metadata.creationTimestamp") == "" || str(created, "metadata.resourceVersion") == "" {
		t.Fatalf("create did not set uid, creationTimestamp and resourceVersion: %v", created)
	}
	if str(created, "metadata.namespace") != ns {
		t.Fatalf("namespace from the path was not set: %v", created["metadata"])
	}
	got := ts.must(t, http.StatusOK, "GET", base+"/a", "", nil)
	if str(got, "kind") != "ConfigMap" || str(got, "apiVersion") != "v1" || str(got, "data.k") != "v" {
		t.Fatalf("get: %v", got)
	}

	list := ts.must(t, http.StatusOK, "GET", base, "", nil)
	if str(list, "kind") != "ConfigMapList" || str(list, "metadata.resourceVersion") == "" || len(list["items"].([]any)) != 1 {
		t.Fatalf("list envelope: %v", list)
	}
	if item := list["items"].([]any)[0].(map[string]any); str(item, "metadata.resourceVersion") != str(got, "metadata.resourceVersion") || str(item, "data.k") != "v" {
		t.Fatalf("list item %v, get %v", item, got)
	}

	got["data"] = map[string]any{"k": "v2"}
	updated := ts.must(t, http.StatusOK, "PUT", base+"/a", jsonCT, got)
	if str(updated, "data.k") != "v2" || str(updated, "metadata.uid") != str(created, "metadata.uid") {
		t.Fatalf("update: %v", updated)
	}
	if str(updated, "metadata.resourceVersion") == str(got, "metadata.resourceVersion") {
		t.Fatal("update did not change the resourceVersion")
	}

	patched := ts.must(t, http.StatusOK, "PATCH", base+"/a", "application/merge-patch+json", `{"data":{"k2":"x"}}`)
	if str(patched, "data.k2") != "x" || str(patched, "data.k") != "v2" {
		t.Fatalf("patch: %v", patched)
	}

	// All namespaces.
	other := ts.namespace(t, "crud-other")
	ts.must(t, http.StatusCreated, "POST", "/api/v1/namespaces/"+other+"/configmaps", jsonCT, configMap("b", nil, map[string]string{"app": "x"}))
	all := ts.must(t, http.StatusOK, "GET", "/api/v1/configmaps?labelSelector=app%3Dx", "", nil)
	if n := len(all["items"].([]any)); n != 2 {
		t.Fatalf("all-namespaces list found %d, want 2", n)
	}

	// Cluster-scoped.
	node := ts.must(t, http.StatusCreated, "POST", "/api/v1/nodes", jsonCT, map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": "crud-node"}})
	if str(node, "metadata.namespace") != "" {
		t.Fatalf("cluster-scoped object got a namespace: %v", node["metadata"])
	}
	ts.must(t, http.StatusOK, "GET", "/api/v1/nodes/crud-node", "", nil)
	if r := ts.req(t, "GET", "/api/v1/namespaces/"+ns+"/nodes/crud-node", "", nil); r.code != http.StatusNotFound {
		t.Fatalf("namespaced path of a cluster-scoped resource: got %d", r.code)
	}

	del := ts.must(t, http.StatusOK, "DELETE", base+"/a", "", nil)
	if str(del, "kind") != "Status" || str(del, "status") != "Success" || str(del, "details.name") != "a" || str(del, "details.kind") != "configmaps" || str(del, "details.uid") == "" {
		t.Fatalf("delete answer: %v", del)
	}
	ts.must(t, http.StatusNotFound, "GET", base+"/a", "", nil)

	for i := 0; i < 3; i++ {
		ts.must(t, http.StatusCreated, "POST", base, jsonCT, configMap(fmt.Sprintf("c%d", i), nil, map[string]string{"batch": "1"}))
	}
	ts.must(t, http.StatusCreated, "POST", base, jsonCT, configMap("keep", nil, nil))
	dc := ts.must(t, http.StatusOK, "DELETE", base+"?labelSelector=batch%3D1", "", nil)
	if n := len(dc["items"].([]any)); n != 3 {
		t.Fatalf("deletecollection deleted %d, want 3", n)
	}
	left := ts.must(t, http.StatusOK, "GET", base, "", nil)
	if n := len(left["items"].([]any)); n != 1 {
		t.Fatalf("after deletecollection %d left, want 1", n)
	}
}

func TestServerSetMetadata(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "meta")
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	obj := configMap("", nil, nil)
	obj["metadata"] = map[string]any{"generateName": "gen-", "uid": "client-uid", "resourceVersion": "12345",
		"creationTimestamp": "2001-01-01T00:00:00Z", "generation": 7}
	c := ts.must(t, http.StatusCreated, "POST", base, jsonCT, obj)
	name := str(c, "metadata.name")
	if !strings.HasPrefix(name, "gen-") || len(name) != len("gen-")+5 {
		t.Fatalf("generateName gave %q", name)
	}
	if str(c, "metadata.uid") == "client-uid" || strings.HasPrefix(str(c, "metadata.creationTimestamp"), "2001") {
		t.Fatalf("client-sent uid or creationTimestamp kept: %v", c["metadata"])
	}
	if str(c, "metadata.resourceVersion") == "12345" {
		t.Fatalf("client-sent resourceVersion kept")
	}
}

func TestGeneration(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "generation")
	base := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	d := ts.must(t, http.StatusCreated, "POST", base, jsonCT, deployment("d", 1))
	tests := []struct {
		name    string
		path    string
		patch   string
		wantGen string
	}{
		{"creation starts at 1", "", "", "1"},
		{"a label change keeps it", "", `{"metadata":{"labels":{"a":"b"}}}`, "1"},
		{"a spec change bumps it", "", `{"spec":{"replicas":3}}`, "2"},
		{"an annotation change bumps it for deployments", "", `{"metadata":{"annotations":{"a":"b"}}}`, "3"},
		{"a status write never does", "/status", `{"status":{"replicas":1}}`, "3"},
		{"a scale write does", "/scale", `{"spec":{"replicas":5}}`, "4"},
	}
	_ = d
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.patch != "" {
				ts.must(t, http.StatusOK, "PATCH", base+"/d"+tc.path, "application/merge-patch+json", tc.patch)
			}
			got := ts.must(t, http.StatusOK, "GET", base+"/d", "", nil)
			if g := str(got, "metadata.generation"); g != tc.wantGen {
				t.Fatalf("generation %s, want %s", g, tc.wantGen)
			}
		})
	}
}

func TestSpecStatusSplit(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "split")
	base := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	c := ts.must(t, http.StatusCreated, "POST", base, jsonCT, func() map[string]any {
		d := deployment("d", 1)
		d["status"] = map[string]any{"replicas": 9}
		return d
	}())
	if str(c, "status.replicas") != "" {
		t.Fatalf("create kept the client's status: %v", c["status"])
	}
	// The main resource ignores status.
	c["status"] = map[string]any{"replicas": 4}
	c["spec"].(map[string]any)["replicas"] = 2
	u := ts.must(t, http.StatusOK, "PUT", base+"/d", jsonCT, c)
	if str(u, "status.replicas") != "" || str(u, "spec.replicas") != "2" {
		t.Fatalf("main update: spec %v status %v", u["spec"].(map[string]any)["replicas"], u["status"])
	}
	// /status ignores everything but status.
	u["status"] = map[string]any{"replicas": 4}
	u["spec"].(map[string]any)["replicas"] = 7
	u["metadata"].(map[string]any)["labels"] = map[string]any{"x": "y"}
	s := ts.must(t, http.StatusOK, "PUT", base+"/d/status", jsonCT, u)
	if str(s, "status.replicas") != "4" || str(s, "spec.replicas") != "2" || str(s, "metadata.labels.x") != "" {
		t.Fatalf("status update: spec %v status %v labels %v", str(s, "spec.replicas"), s["status"], s["metadata"])
	}
	// Pods start Pending.
	p := ts.must(t, http.StatusCreated, "POST", "/api/v1/namespaces/"+ns+"/pods", jsonCT, pod("p", nil))
	if str(p, "status.phase") != "Pending" {
		t.Fatalf("pod phase %q, want Pending", str(p, "status.phase"))
	}
}

func TestConcurrentUpdatesExactlyOneWins(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "contention")
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	obj := ts.must(t, http.StatusCreated, "POST", base, jsonCT, configMap("c", map[string]string{"n": "0"}, nil))

	const writers = 20
	var wg sync.WaitGroup
	codes := make(chan int, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := configMap("c", map[string]string{"n": fmt.Sprint(i + 1)}, nil)
			body["metadata"].(map[string]any)["resourceVersion"] = str(obj, "metadata.resourceVersion")
			codes <- ts.req(t, "PUT", base+"/c", jsonCT, body).code
		}(i)
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusConflict] != writers-1 {
		t.Fatalf("PUTs with one stale resourceVersion: %v, want exactly one 200 and %d 409", count, writers-1)
	}

	// Concurrent creates of one name: one 201, the rest AlreadyExists.
	count = map[int]int{}
	var mu sync.Mutex
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ts.req(t, "POST", base, jsonCT, configMap("same", nil, nil)).code
			mu.Lock()
			count[c]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != writers-1 {
		t.Fatalf("concurrent creates: %v", count)
	}

	// Read-modify-write clients that retry on 409 lose no update.
	const clients, rounds = 10, 5
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				for {
					cur := ts.req(t, "GET", base+"/c", "", nil).json(t)
					data := cur["data"].(map[string]any)
					data[fmt.Sprintf("c%d-%d", i, r)] = "x"
					if code := ts.req(t, "PUT", base+"/c", jsonCT, cur).code; code == http.StatusOK {
						break
					} else if code != http.StatusConflict {
						t.Errorf("read-modify-write got %d", code)
						return
					}
				}
			}
		}(i)
	}
	wg.Wait()
	final := ts.must(t, http.StatusOK, "GET", base+"/c", "", nil)
	if n := len(final["data"].(map[string]any)); n != clients*rounds+1 {
		t.Fatalf("after %d read-modify-writes the object has %d keys: updates were lost", clients*rounds, n-1)
	}
}
