package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInput sends hostile and malformed requests; each gets a 4xx Status (with a field path where
// a field is at fault) and the server keeps serving.
func TestBadInput(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "badinput")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	withName := func(name string) map[string]any { return configMap(name, nil, nil) }
	tests := []struct {
		name  string
		ct    string
		body  any
		code  int
		field string
	}{
		{"a body of 3 MiB + 1", jsonCT, `{"data":{"a":"` + strings.Repeat("x", 3<<20) + `"}}`, 413, ""},
		{"JSON nested 10,000 deep", jsonCT, strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), 400, ""},
		{"arrays nested 10,000 deep", jsonCT, `{"metadata":{"name":"x"},"data":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}", 400, ""},
		{"invalid UTF-8", jsonCT, "{\"metadata\":{\"name\":\"bad\xff\xfe\"}}", 400, ""},
		{"a YAML alias bomb", "application/yaml", "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", 400, ""},
		{"a JSON array instead of an object", jsonCT, `[1,2,3]`, 400, ""},
		{"an empty body", jsonCT, ``, 400, ""},
		{"a 254-character name", jsonCT, withName(strings.Repeat("a", 254)), 422, "metadata.name"},
		{"an upper-case name", jsonCT, withName("Bad_Name"), 422, "metadata.name"},
		{"a name with a slash", jsonCT, withName("a/b"), 422, "metadata.name"},
		{"a 64-character label value", jsonCT, configMap("lbl", nil, map[string]string{"k": strings.Repeat("v", 64)}), 422, "metadata.labels"},
		{"an invalid label key", jsonCT, configMap("lblk", nil, map[string]string{"bad key!": "v"}), 422, "metadata.labels"},
		{"annotations over 256 KiB", jsonCT, map[string]any{"metadata": map[string]any{"name": "ann", "annotations": map[string]any{"a": strings.Repeat("x", 257<<10)}}}, 422, "metadata.annotations"},
		{"a wrong field type", jsonCT, `{"metadata":{"name":"t"},"data":{"a":1}}`, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.req(t, "POST", cms, tc.ct, tc.body)
			if r.code != tc.code {
				t.Fatalf("got %d, want %d: %s", r.code, tc.code, truncate(r.body))
			}
			st := r.json(t)
			if str(st, "kind") != "Status" || str(st, "status") != "Failure" {
				t.Fatalf("not a Status: %s", truncate(r.body))
			}
			if tc.field != "" {
				found := false
				causes, _ := st["details"].(map[string]any)["causes"].([]any)
				for _, c := range causes {
					if strings.HasPrefix(str(c.(map[string]any), "field"), tc.field) {
						found = true
					}
				}
				if !found {
					t.Fatalf("no cause with field %s: %s", tc.field, truncate(r.body))
				}
			}
			if h := ts.req(t, "GET", "/healthz", "", nil); h.code != http.StatusOK {
				t.Fatalf("the server is not healthy after the request: %d", h.code)
			}
		})
	}
}
