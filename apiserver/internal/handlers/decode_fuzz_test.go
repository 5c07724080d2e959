package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/skiffhq/skiff/apiserver/internal/registry"
	"github.com/skiffhq/skiff/shared/api/resources"
)

// FuzzDecodeRequest feeds arbitrary bodies through request decoding and patching: every input must
// either decode or fail with a Status error, never panic.
func FuzzDecodeRequest(f *testing.F) {
	var pods, deps *registry.Resource
	for _, r := range registry.FromTable(resources.All()) {
		switch r.Group + "/" + r.Plural {
		case "/pods":
			pods = r
		case "apps/deployments":
			deps = r
		}
	}
	seeds := []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":"c","$patch":"delete"}]}}}}`,
		`[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`,
		"metadata:\n  name: x\n",
		`{"a":` + string(bytes.Repeat([]byte("["), 50)),
		"\xff\xfe",
		``,
	}
	for _, s := range seeds {
		for ct := byte(0); ct < 6; ct++ {
			f.Add(ct, []byte(s))
		}
	}
	cts := []string{"", mediaJSON, mediaYAML, mediaStrategicPatch, mediaMergePatch, mediaJSONPatch}
	current, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "i"}}}}}})
	f.Fuzz(func(t *testing.T, ctIndex byte, body []byte) {
		ct := cts[int(ctIndex)%len(cts)]
		r := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/pods", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if data, err := bodyJSON(r); err == nil {
			for _, mode := range []string{"Strict", "Warn", "Ignore"} {
				if _, _, err := decodeInto(pods, data, mode); err != nil && !isStatus(err) {
					t.Fatalf("decodeInto returned a non-Status error: %v", err)
				}
			}
		} else if !isStatus(err) {
			t.Fatalf("bodyJSON returned a non-Status error: %v", err)
		}
		if ct == "" || ct == mediaYAML {
			return
		}
		p, err := newPatcher(ct, body, deps.New())
		if err != nil {
			if !isStatus(err) {
				t.Fatalf("newPatcher returned a non-Status error: %v", err)
			}
			return
		}
		out, err := p.apply(current)
		if err != nil {
			if !isStatus(err) {
				t.Fatalf("apply returned a non-Status error: %v", err)
			}
			return
		}
		_, _, _ = decodeInto(deps, out, "Strict")
	})
}
