package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestStatusErrors(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "errors")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	deps := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("exists", nil, nil))
	cur := ts.must(t, http.StatusOK, "GET", cms+"/exists", "", nil)
	stale := configMap("exists", map[string]string{"a": "b"}, nil)
	stale["metadata"].(map[string]any)["resourceVersion"] = "1"

	tests := []struct {
		name         string
		method, path string
		ct           string
		body         any
		headers      []string
		code         int
		reason       string
		message      string // substring
	}{
		{"missing core object", "GET", cms + "/nope", "", nil, nil, 404, "NotFound", `configmaps "nope" not found`},
		{"missing grouped object", "GET", deps + "/d1", "", nil, nil, 404, "NotFound", `deployments.apps "d1" not found`},
		{"unknown resource", "GET", "/api/v1/namespaces/" + ns + "/widgets", "", nil, nil, 404, "NotFound", "the server could not find the requested resource"},
		{"unknown group", "GET", "/apis/nope.example/v1/things", "", nil, nil, 404, "NotFound", "the server could not find the requested resource"},
		{"duplicate name", "POST", cms, jsonCT, configMap("exists", nil, nil), nil, 409, "AlreadyExists", `configmaps "exists" already exists`},
		{"stale resourceVersion", "PUT", cms + "/exists", jsonCT, stale, nil, 409, "Conflict", `Operation cannot be fulfilled on configmaps "exists": the object has been modified; please apply your changes to the latest version and try again`},
		{"invalid object", "POST", "/api/v1/namespaces/" + ns + "/pods", jsonCT, map[string]any{"metadata": map[string]any{"name": "x"}, "spec": map[string]any{}}, nil, 422, "Invalid", `Pod "x" is invalid`},
		{"malformed JSON", "POST", cms, jsonCT, `{"metadata":`, nil, 400, "BadRequest", "not valid JSON"},
		{"malformed YAML", "POST", cms, "application/yaml", "metadata: [unclosed", nil, 400, "BadRequest", "YAML"},
		{"namespace mismatch", "POST", cms, jsonCT, map[string]any{"metadata": map[string]any{"name": "m", "namespace": "other"}}, nil, 400, "BadRequest", "does not match the namespace"},
		{"name mismatch on update", "PUT", cms + "/exists", jsonCT, configMap("other", nil, nil), nil, 400, "BadRequest", "does not match the name on the URL"},
		{"malformed protobuf body", "POST", cms, "application/vnd.kubernetes.protobuf", "k8s\x00", nil, 400, "BadRequest", "protobuf"},
		{"CBOR body", "POST", cms, "application/cbor", "\xa0", nil, 415, "UnsupportedMediaType", "unknown format"},
		{"protobuf-only Accept", "GET", cms, "", nil, []string{"Accept", "application/vnd.kubernetes.protobuf"}, 406, "NotAcceptable", "only the following media types"},
		{"unsupported verb", "POST", "/api/v1/namespaces/" + ns + "/bindings/x/status", jsonCT, "{}", nil, 404, "NotFound", "could not find"},
		{"bad label selector", "GET", cms + "?labelSelector=a%20in%20(", "", nil, nil, 400, "BadRequest", "unable to parse requirement"},
		{"unsupported field label", "GET", cms + "?fieldSelector=spec.foo%3Dbar", "", nil, nil, 400, "BadRequest", "field label not supported: spec.foo"},
		{"strict field validation", "POST", cms + "?fieldValidation=Strict", jsonCT, map[string]any{"metadata": map[string]any{"name": "s"}, "spec": map[string]any{"foo": 1}}, nil, 400, "BadRequest", `strict decoding error: unknown field "spec"`},
		{"strict nested unknown field", "POST", deps + "?fieldValidation=Strict", jsonCT, func() map[string]any {
			d := deployment("strict", 1)
			d["spec"].(map[string]any)["foo"] = 1
			return d
		}(), nil, 400, "BadRequest", `unknown field "spec.foo"`},
		{"wrong kind", "POST", cms, jsonCT, map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "k"}}, nil, 400, "BadRequest", "kind in the data (Secret)"},
		{"wrong apiVersion", "POST", deps, jsonCT, map[string]any{"apiVersion": "apps/v2", "kind": "Deployment", "metadata": map[string]any{"name": "k"}}, nil, 400, "BadRequest", "API version in the data (apps/v2)"},
		{"bad dryRun", "POST", cms + "?dryRun=Some", jsonCT, configMap("dry", nil, nil), nil, 400, "BadRequest", "dryRun"},
		{"sendInitialEvents without NotOlderThan", "GET", cms + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true", "", nil, nil, 422, "Invalid", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"},
		{"resourceVersionMatch without resourceVersion", "GET", cms + "?resourceVersionMatch=Exact", "", nil, nil, 422, "Invalid", "resourceVersionMatch"},
		{"patch of a missing object", "PATCH", cms + "/nope", "application/merge-patch+json", `{"data":{"a":"b"}}`, nil, 404, "NotFound", `configmaps "nope" not found`},
		{"unknown patch type", "PATCH", cms + "/exists", "text/plain", `x`, nil, 415, "UnsupportedMediaType", ""},
		{"create in a missing namespace", "POST", "/api/v1/namespaces/nowhere/configmaps", jsonCT, configMap("x", nil, nil), nil, 404, "NotFound", `namespaces "nowhere" not found`},
		{"deleting a protected namespace", "DELETE", "/api/v1/namespaces/default", "", nil, nil, 403, "Forbidden", "this namespace may not be deleted"},
		{"delete with an unknown propagation policy", "DELETE", cms + "/exists?propagationPolicy=Sideways", "", nil, nil, 422, "Invalid", "propagationPolicy"},
		{"delete with a wrong uid precondition", "DELETE", cms + "/exists", jsonCT, `{"preconditions":{"uid":"nope"}}`, nil, 409, "Conflict", "Precondition failed: UID in precondition: nope"},
	}
	_ = cur
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.req(t, tc.method, tc.path, tc.ct, tc.body, tc.headers...)
			if r.code != tc.code {
				t.Fatalf("got %d, want %d: %s", r.code, tc.code, truncate(r.body))
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Status Content-Type %q", ct)
			}
			st := r.json(t)
			if str(st, "kind") != "Status" || str(st, "apiVersion") != "v1" || str(st, "status") != "Failure" {
				t.Fatalf("not a failure Status: %s", truncate(r.body))
			}
			if str(st, "reason") != tc.reason || str(st, "code") != strconv.Itoa(tc.code) {
				t.Fatalf("reason %q code %s, want %q %d", str(st, "reason"), str(st, "code"), tc.reason, tc.code)
			}
			if !strings.Contains(str(st, "message"), tc.message) {
				t.Fatalf("message %q does not contain %q", str(st, "message"), tc.message)
			}
		})
	}
}

func TestInvalidHasFieldCauses(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "invalid")
	r := ts.req(t, "POST", "/api/v1/namespaces/"+ns+"/pods", jsonCT, map[string]any{"metadata": map[string]any{"name": "x"}, "spec": map[string]any{}})
	st := r.json(t)
	if str(st, "details.kind") != "Pod" || str(st, "details.name") != "x" {
		t.Fatalf("details: %v", st["details"])
	}
	causes, _ := st["details"].(map[string]any)["causes"].([]any)
	found := false
	for _, c := range causes {
		if str(c.(map[string]any), "field") == "spec.containers" && str(c.(map[string]any), "reason") == "FieldValueRequired" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no spec.containers FieldValueRequired cause: %v", causes)
	}
}

func TestFieldValidationModes(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "fieldvalidation")
	deps := "/apis/apps/v1/namespaces/" + ns + "/deployments"
	body := func(name string) map[string]any {
		d := deployment(name, 1)
		d["spec"].(map[string]any)["foo"] = 1
		return d
	}
	r := ts.req(t, "POST", deps+"?fieldValidation=Warn", jsonCT, body("warn"))
	if r.code != http.StatusCreated || !strings.Contains(r.header.Get("Warning"), `unknown field \"spec.foo\"`) {
		t.Fatalf("Warn: %d, Warning %q", r.code, r.header.Get("Warning"))
	}
	r = ts.req(t, "POST", deps+"?fieldValidation=Ignore", jsonCT, body("ignore"))
	if r.code != http.StatusCreated || r.header.Get("Warning") != "" {
		t.Fatalf("Ignore: %d, Warning %q", r.code, r.header.Get("Warning"))
	}
}

func TestDryRunNeverPersists(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "dryrun")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	ts.must(t, http.StatusCreated, "POST", cms+"?dryRun=All", jsonCT, configMap("d", nil, nil))
	ts.must(t, http.StatusNotFound, "GET", cms+"/d", "", nil)
	ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("d", map[string]string{"a": "1"}, nil))
	ts.must(t, http.StatusOK, "PATCH", cms+"/d?dryRun=All", "application/merge-patch+json", `{"data":{"a":"2"}}`)
	ts.must(t, http.StatusOK, "PUT", cms+"/d?dryRun=All", jsonCT, configMap("d", map[string]string{"a": "3"}, nil))
	ts.must(t, http.StatusOK, "DELETE", cms+"/d?dryRun=All", "", nil)
	got := ts.must(t, http.StatusOK, "GET", cms+"/d", "", nil)
	if str(got, "data.a") != "1" {
		t.Fatalf("dry runs changed the object: %v", got["data"])
	}
}
