package server

import (
	"encoding/json"
	"net/http"
	"testing"
)

func containers(t *testing.T, d map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

func TestPatchTypes(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "patch")
	deps := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	const smp = "application/strategic-merge-patch+json"
	tests := []struct {
		name  string
		ct    string
		patch string
		check func(t *testing.T, d map[string]any)
	}{
		{"strategic merge patch merges containers by name", smp,
			`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}}}`,
			func(t *testing.T, d map[string]any) {
				cs := containers(t, d)
				if len(cs) != 2 || cs[0]["image"] != "busybox:2" || cs[1]["image"] != "nginx" {
					t.Fatalf("containers %v", cs)
				}
				if env := cs[0]["env"].([]any); len(env) != 1 {
					t.Fatalf("merge lost the env of c: %v", cs[0])
				}
			}},
		{"strategic merge patch merges env by name", smp,
			`{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}}}}`,
			func(t *testing.T, d map[string]any) {
				if env := containers(t, d)[0]["env"].([]any); len(env) != 2 {
					t.Fatalf("env %v", env)
				}
			}},
		{"$patch: delete removes one list element", smp,
			`{"spec":{"template":{"spec":{"containers":[{"name":"d","$patch":"delete"}]}}}}`,
			func(t *testing.T, d map[string]any) {
				if cs := containers(t, d); len(cs) != 1 || cs[0]["name"] != "c" {
					t.Fatalf("containers %v", cs)
				}
			}},
		{"$setElementOrder orders the merged list", smp,
			`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"e"},{"name":"c"}],"containers":[{"name":"e","image":"e"}]}}}}`,
			func(t *testing.T, d map[string]any) {
				// Elements the order does not name (d) stay, after the named ones.
				if cs := containers(t, d); len(cs) != 3 || cs[0]["name"] != "e" || cs[1]["name"] != "c" {
					t.Fatalf("containers %v", cs)
				}
			}},
		{"$patch: replace replaces a list", smp,
			`{"spec":{"template":{"spec":{"containers":[{"name":"z","image":"z"},{"$patch":"replace"}]}}}}`,
			func(t *testing.T, d map[string]any) {
				if cs := containers(t, d); len(cs) != 1 || cs[0]["name"] != "z" {
					t.Fatalf("containers %v", cs)
				}
			}},
		{"merge patch replaces lists and null deletes", "application/merge-patch+json",
			`{"metadata":{"labels":{"a":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"m","image":"m"}]}}}}`,
			func(t *testing.T, d map[string]any) {
				if cs := containers(t, d); len(cs) != 1 || cs[0]["name"] != "m" || str(d, "metadata.labels.a") != "1" {
					t.Fatalf("containers %v labels %v", cs, d["metadata"])
				}
			}},
		{"merge patch null removes a key", "application/merge-patch+json", `{"metadata":{"labels":{"a":null}}}`,
			func(t *testing.T, d map[string]any) {
				if str(d, "metadata.labels.a") != "" {
					t.Fatalf("label a kept: %v", d["metadata"])
				}
			}},
		{"JSON patch add, replace and test", "application/json-patch+json",
			`[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/metadata/labels","value":{"j":"p"}}]`,
			func(t *testing.T, d map[string]any) {
				if str(d, "spec.replicas") != "4" || str(d, "metadata.labels.j") != "p" {
					t.Fatalf("spec.replicas %s labels %v", str(d, "spec.replicas"), d["metadata"])
				}
			}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "d" + string(rune('a'+i))
			ts.must(t, http.StatusCreated, "POST", deps, jsonCT, func() map[string]any {
				d := deployment(name, 1)
				d["metadata"].(map[string]any)["name"] = name
				return d
			}())
			got := ts.must(t, http.StatusOK, "PATCH", deps+"/"+name+"?fieldManager=kubectl&fieldValidation=Strict", tc.ct, tc.patch)
			tc.check(t, got)
			again := ts.must(t, http.StatusOK, "GET", deps+"/"+name, "", nil)
			tc.check(t, again)
		})
	}

	ts.must(t, http.StatusCreated, "POST", deps, jsonCT, deployment("failing", 1))
	failing := []struct {
		name, ct, patch string
		code            int
	}{
		{"a failed JSON patch test", "application/json-patch+json", `[{"op":"test","path":"/spec/replicas","value":9}]`, 422},
		{"a JSON patch that is not a list", "application/json-patch+json", `{"op":"add"}`, 400},
		{"a merge patch that is not JSON", "application/merge-patch+json", `{"spec":`, 400},
		{"a strategic patch with an unknown directive", smp, `{"spec":{"template":{"spec":{"containers":[{"name":"c","$patch":"explode"}]}}}}`, 400},
		{"a patch that changes the name", "application/merge-patch+json", `{"metadata":{"name":"other"}}`, 400},
		{"a patch that makes the object invalid", "application/merge-patch+json", `{"spec":{"replicas":-1}}`, 422},
		{"a strict patch with an unknown field", "application/merge-patch+json", `{"spec":{"bogus":1}}`, 400},
	}
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.req(t, "PATCH", deps+"/failing?fieldValidation=Strict", tc.ct, tc.patch)
			if r.code != tc.code || str(r.json(t), "kind") != "Status" {
				t.Fatalf("got %d, want %d: %s", r.code, tc.code, truncate(r.body))
			}
		})
	}

	t.Run("a JSON patch over the operation limit is 413", func(t *testing.T) {
		ops := make([]map[string]any, 10001)
		for i := range ops {
			ops[i] = map[string]any{"op": "test", "path": "/kind", "value": "Deployment"}
		}
		data, _ := json.Marshal(ops)
		if r := ts.req(t, "PATCH", deps+"/failing", "application/json-patch+json", data); r.code != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d: %s", r.code, truncate(r.body))
		}
	})
	t.Run("JSON patch copies cannot blow up the object", func(t *testing.T) {
		ops := []map[string]any{{"op": "add", "path": "/metadata/annotations", "value": map[string]any{"x": string(make([]byte, 0))}}}
		for i := 0; i < 40; i++ {
			ops = append(ops, map[string]any{"op": "copy", "from": "/spec", "path": "/metadata/annotations/x" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
		}
		data, _ := json.Marshal(ops)
		r := ts.req(t, "PATCH", deps+"/failing", "application/json-patch+json", data)
		if r.code < 400 || r.code >= 500 {
			t.Fatalf("got %d: %s", r.code, truncate(r.body))
		}
	})
	t.Run("server-side apply creates, then merges", func(t *testing.T) {
		const apply = "application/apply-patch+yaml"
		body := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: \"1\"\n"
		ts.must(t, http.StatusCreated, "PATCH", "/api/v1/namespaces/"+ns+"/configmaps/ssa?fieldManager=kubectl", apply, body)
		got := ts.must(t, http.StatusOK, "PATCH", "/api/v1/namespaces/"+ns+"/configmaps/ssa?fieldManager=kubectl", apply, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  b: \"2\"\n")
		if str(got, "data.a") != "1" || str(got, "data.b") != "2" {
			t.Fatalf("data %v", got["data"])
		}
	})
}

func TestSelectors(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "selectors")
	pods := "/api/v1/namespaces/" + ns + "/pods"
	for _, p := range []struct {
		name   string
		labels map[string]string
	}{{"a", map[string]string{"app": "web", "tier": "front"}}, {"b", map[string]string{"app": "web", "tier": "back"}}, {"c", map[string]string{"app": "db"}}, {"d", nil}} {
		ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod(p.name, p.labels))
	}
	ts.must(t, http.StatusOK, "PATCH", pods+"/c/status", "application/merge-patch+json", `{"status":{"phase":"Running"}}`)
	tests := []struct {
		query string
		want  string
	}{
		{"labelSelector=app%3Dweb", "ab"},
		{"labelSelector=app%3D%3Dweb", "ab"},
		{"labelSelector=app!%3Dweb", "cd"},
		{"labelSelector=tier%20in%20(front%2Cother)", "a"},
		{"labelSelector=tier%20notin%20(front)", "bcd"},
		{"labelSelector=tier", "ab"},
		{"labelSelector=!tier", "cd"},
		{"labelSelector=app%3Dweb%2Ctier%3Dback", "b"},
		{"fieldSelector=metadata.name%3Dc", "c"},
		{"fieldSelector=metadata.name!%3Dc", "abd"},
		{"fieldSelector=metadata.namespace%3D" + ns, "abcd"},
		{"fieldSelector=status.phase%3DRunning", "c"},
		{"fieldSelector=status.phase!%3DRunning%2Cstatus.phase!%3DFailed", "abd"},
		{"fieldSelector=spec.nodeName%3D", "abcd"},
		{"labelSelector=app%3Dweb&fieldSelector=metadata.name%3Da", "a"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			list := ts.must(t, http.StatusOK, "GET", pods+"?"+tc.query, "", nil)
			got := ""
			for _, it := range list["items"].([]any) {
				got += str(it.(map[string]any), "metadata.name")
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
