package api_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	k8sappsv1 "k8s.io/api/apps/v1"
	k8sbatchv1 "k8s.io/api/batch/v1"
	k8scoordinationv1 "k8s.io/api/coordination/v1"
	k8scorev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/shared/api"
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
)

// TestRoundTripManifests decodes each real-world manifest in testdata/ into Skiff's type for its
// kind, re-encodes it and requires the same JSON back: every field survives, with Kubernetes's names
// and encodings (quantities, int-or-string, timestamps, base64). Only JSON nulls are dropped before
// comparing, since a null and an absent field mean the same.
func TestRoundTripManifests(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if ext := filepath.Ext(file); ext == ".yaml" || ext == ".yml" {
				if raw, err = yaml.YAMLToJSON(raw); err != nil {
					t.Fatalf("YAML to JSON: %v", err)
				}
			}
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := json.Unmarshal(raw, &tm); err != nil {
				t.Fatal(err)
			}
			r, ok := resources.ByAPIVersionKind(tm.APIVersion, tm.Kind)
			if !ok {
				t.Fatalf("no resource for %s %s", tm.APIVersion, tm.Kind)
			}
			obj := r.New()
			if err := api.DecodeStrict(raw, obj); err != nil {
				t.Fatalf("decoding %s strictly: %v", r.Kind, err)
			}
			out, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			want, got := normalize(t, raw), normalize(t, out)
			for _, d := range diff("", want, got) {
				// A manifest written by hand omits struct fields Kubernetes always encodes
				// ("resources": {}, "status": {}); re-encoding adds them back, as kubectl's does.
				if !strings.HasSuffix(d, "added by the round trip: {}") {
					t.Error(d)
				}
			}

			// And Kubernetes's own types must encode the manifest exactly as Skiff's do.
			k8sObj, ok := k8sTypes[tm.APIVersion+"/"+tm.Kind]
			if !ok {
				t.Fatalf("no k8s.io/api type registered for %s %s", tm.APIVersion, tm.Kind)
			}
			k := reflect.New(reflect.TypeOf(k8sObj)).Interface()
			if err := json.Unmarshal(raw, k); err != nil {
				t.Fatal(err)
			}
			kout, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diff("", normalize(t, kout), got) {
				t.Errorf("differs from k8s.io/api's encoding: %s", d)
			}
		})
	}
}

var k8sTypes = map[string]any{
	"v1/Pod":                       k8scorev1.Pod{},
	"v1/Service":                   k8scorev1.Service{},
	"v1/ConfigMap":                 k8scorev1.ConfigMap{},
	"v1/Secret":                    k8scorev1.Secret{},
	"v1/Event":                     k8scorev1.Event{},
	"apps/v1/Deployment":           k8sappsv1.Deployment{},
	"apps/v1/DaemonSet":            k8sappsv1.DaemonSet{},
	"batch/v1/Job":                 k8sbatchv1.Job{},
	"coordination.k8s.io/v1/Lease": k8scoordinationv1.Lease{},
}

func normalize(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return dropNulls(v)
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i := range x {
			x[i] = dropNulls(x[i])
		}
	}
	return v
}

// diff lists the paths where two decoded JSON values differ.
func diff(path string, want, got any) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		var out []string
		for k, w := range wm {
			g, ok := gm[k]
			if !ok {
				out = append(out, path+"."+k+": lost in the round trip")
				continue
			}
			out = append(out, diff(path+"."+k, w, g)...)
		}
		for k := range gm {
			if _, ok := wm[k]; !ok {
				b, _ := json.Marshal(gm[k])
				out = append(out, path+"."+k+": added by the round trip: "+string(b))
			}
		}
		return out
	}
	wa, wok := want.([]any)
	ga, gok := got.([]any)
	if wok && gok && len(wa) == len(ga) {
		var out []string
		for i := range wa {
			out = append(out, diff(path+"["+itoa(i)+"]", wa[i], ga[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got)
		return []string{path + ": want " + string(w) + ", got " + string(g)}
	}
	return nil
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		unknown []string
	}{
		{"known fields decode", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"},"spec":{"replicas":1}}`, nil},
		{"unknown top-level field", `{"kind":"Deployment","spex":{}}`, []string{"spex"}},
		{"unknown spec field", `{"spec":{"foo":1}}`, []string{"spec.foo"}},
		{"unknown field in a list element", `{"spec":{"template":{"spec":{"containers":[{"name":"a"},{"name":"b","imagePullPolcy":"Always"}]}}}}`,
			[]string{"spec.template.spec.containers[1].imagePullPolcy"}},
		{"unknown metadata field", `{"metadata":{"name":"a","labelz":{}}}`, []string{"metadata.labelz"}},
		{"several unknown fields are all named", `{"a":1,"spec":{"b":2}}`, []string{"a", "spec.b"}},
		{"values of self-decoding types are not inspected", `{"spec":{"strategy":{"rollingUpdate":{"maxSurge":"25%"}},"template":{"metadata":{"creationTimestamp":null}}}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d appsv1.Deployment
			err := api.DecodeStrict([]byte(tt.body), &d)
			if tt.unknown == nil {
				if err != nil {
					t.Fatalf("DecodeStrict: %v", err)
				}
				return
			}
			var se *api.StrictDecodingError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a StrictDecodingError", err)
			}
			if !reflect.DeepEqual(se.UnknownFields, tt.unknown) {
				t.Errorf("unknown fields = %v, want %v", se.UnknownFields, tt.unknown)
			}
			if !strings.HasPrefix(err.Error(), `strict decoding error: unknown field "`+tt.unknown[0]+`"`) {
				t.Errorf("message = %q", err.Error())
			}
		})
	}
	var d appsv1.Deployment
	if err := api.DecodeStrict([]byte(`{"spec":{"replicas":"three"}}`), &d); err == nil || errors.As(err, new(*api.StrictDecodingError)) {
		t.Errorf("type mismatch: err = %v, want a json type error", err)
	}
	if err := json.Unmarshal([]byte(`{"spec":{"foo":1,"replicas":2}}`), &d); err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("non-strict decoding must drop unknown fields silently: %v", err)
	}
}
