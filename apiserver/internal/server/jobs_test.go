package server

import (
	"net/http"
	"testing"

	k8sbatchv1 "k8s.io/api/batch/v1"
	k8scorev1 "k8s.io/api/core/v1"
	k8smetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffhq/skiff/apiserver/internal/protobuf"
)

func job(name string, extra map[string]any) map[string]any {
	spec := map[string]any{
		"template": map[string]any{"spec": map[string]any{
			"restartPolicy": "Never",
			"containers":    []any{map[string]any{"name": "c", "image": "busybox", "command": []any{"echo", "hi"}}},
		}},
	}
	for k, v := range extra {
		spec[k] = v
	}
	return map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": name}, "spec": spec}
}

// protobufJob is what `kubectl create job x --image=busybox -- echo hi` sends: a protobuf body with no
// selector and no labels.
func protobufJob(t *testing.T, name string) []byte {
	t.Helper()
	j := &k8sbatchv1.Job{
		ObjectMeta: k8smetav1.ObjectMeta{Name: name},
		Spec: k8sbatchv1.JobSpec{Template: k8scorev1.PodTemplateSpec{Spec: k8scorev1.PodSpec{
			RestartPolicy: k8scorev1.RestartPolicyNever,
			Containers:    []k8scorev1.Container{{Name: name, Image: "busybox", Command: []string{"echo", "hi"}}},
		}}},
	}
	raw, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	u := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, Raw: raw, ContentType: "application/vnd.kubernetes.protobuf"}
	b, err := u.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{}, protobuf.Magic...), b...)
}

func TestJobSelectorGeneration(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "jobs")
	base := "/apis/batch/v1/namespaces/" + ns + "/jobs"

	generated := []struct {
		name        string
		contentType string
		body        any
	}{
		{"a JSON job without a selector gets the generated one", jsonCT, job("plain", nil)},
		{"a protobuf job without a selector (kubectl create job) gets the generated one", "application/vnd.kubernetes.protobuf", protobufJob(t, "proto")},
		{"manualSelector false still generates", jsonCT, job("manualfalse", map[string]any{"manualSelector": false})},
	}
	for _, tt := range generated {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.req(t, "POST", base, tt.contentType, tt.body)
			if r.code != http.StatusCreated {
				t.Fatalf("create: %d %s", r.code, truncate(r.body))
			}
			j := r.json(t)
			uid, name := str(j, "metadata.uid"), str(j, "metadata.name")
			sel := j["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
			if len(sel) != 1 || sel["batch.kubernetes.io/controller-uid"] != uid {
				t.Fatalf("selector matchLabels = %v, want only controller-uid=%s", sel, uid)
			}
			tl := j["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)
			for k, want := range map[string]string{
				"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
				"batch.kubernetes.io/job-name": name, "job-name": name,
			} {
				if tl[k] != want {
					t.Errorf("template label %s = %v, want %s (labels %v)", k, tl[k], want, tl)
				}
			}
			if l := j["metadata"].(map[string]any)["labels"].(map[string]any); l["batch.kubernetes.io/job-name"] != name {
				t.Errorf("job labels = %v, want the template's", l)
			}
			got := ts.must(t, http.StatusOK, "GET", base+"/"+name, "", nil)
			stored := got["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
			if stored["batch.kubernetes.io/controller-uid"] != uid {
				t.Fatalf("stored selector = %v", stored)
			}
		})
	}

	refused := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"a selector not auto-generated is refused without manualSelector",
			withTemplateLabels(job("handpicked", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "x"}}}), map[string]any{"app": "x"}),
			"spec.selector"},
		{"a conflicting controller-uid template label is refused",
			withTemplateLabels(job("wronguid", nil), map[string]any{"controller-uid": "not-the-uid"}),
			"spec.template.metadata.labels[controller-uid]"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.req(t, "POST", base, jsonCT, tt.body)
			if r.code != http.StatusUnprocessableEntity {
				t.Fatalf("create: %d %s, want 422", r.code, truncate(r.body))
			}
			if !causeField(r.json(t), tt.field) {
				t.Fatalf("no cause for %s: %s", tt.field, truncate(r.body))
			}
		})
	}

	t.Run("manualSelector true keeps the client's selector and labels", func(t *testing.T) {
		body := withTemplateLabels(job("manual", map[string]any{"manualSelector": true,
			"selector": map[string]any{"matchLabels": map[string]any{"app": "m"}}}), map[string]any{"app": "m"})
		j := ts.must(t, http.StatusCreated, "POST", base, jsonCT, body)
		sel := j["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
		tl := j["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)
		if len(sel) != 1 || sel["app"] != "m" || len(tl) != 1 {
			t.Fatalf("selector %v, template labels %v: want them untouched", sel, tl)
		}
	})

	t.Run("the generated selector is immutable", func(t *testing.T) {
		r := ts.req(t, "PATCH", base+"/plain", "application/merge-patch+json",
			`{"spec":{"selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"other"}}}}`)
		if r.code != http.StatusUnprocessableEntity {
			t.Fatalf("selector change: %d %s, want 422", r.code, truncate(r.body))
		}
	})
}

func withTemplateLabels(j map[string]any, labels map[string]any) map[string]any {
	tpl := j["spec"].(map[string]any)["template"].(map[string]any)
	tpl["metadata"] = map[string]any{"labels": labels}
	return j
}

// causeField reports whether a Status has a cause for field.
func causeField(st map[string]any, field string) bool {
	details, _ := st["details"].(map[string]any)
	causes, _ := details["causes"].([]any)
	for _, c := range causes {
		if m, ok := c.(map[string]any); ok && m["field"] == field {
			return true
		}
	}
	return false
}
