package protobuf

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// encode builds a body the way client-go's protobuf serializer does: magic + runtime.Unknown.
func encode(t *testing.T, apiVersion, kind string, raw []byte) []byte {
	t.Helper()
	u := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}, Raw: raw, ContentType: "application/vnd.kubernetes.protobuf"}
	b, err := u.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{}, Magic...), b...)
}

func TestToJSON(t *testing.T) {
	replicas := int32(3)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "busybox", Image: "busybox", Command: []string{"httpd", "-f", "-p", "8080"},
				}}},
			},
		},
	}
	raw, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ToJSON(encode(t, "apps/v1", "Deployment", raw))
	if err != nil {
		t.Fatalf("ToJSON: %v", err)
	}
	var got struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Replicas int `json:"replicas"`
			Template struct {
				Spec struct {
					Containers []struct {
						Command []string `json:"command"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if got.APIVersion != "apps/v1" || got.Kind != "Deployment" || got.Metadata.Name != "web" || got.Spec.Replicas != 3 {
		t.Fatalf("decoded %+v from %s", got, out)
	}
	if c := got.Spec.Template.Spec.Containers; len(c) != 1 || strings.Join(c[0].Command, " ") != "httpd -f -p 8080" {
		t.Fatalf("containers = %+v", c)
	}
}

func TestToJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"no magic", []byte(`{"kind":"Pod"}`), "missing the k8s"},
		{"truncated envelope", append(append([]byte{}, Magic...), 0x0a, 0xff), "decoding protobuf envelope"},
		{"unknown kind", encode(t, "example.com/v1", "Widget", nil), `kind "Widget"`},
		{"garbage object", encode(t, "v1", "Pod", []byte{0x0a, 0xff, 0xff}), "decoding protobuf Pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ToJSON(tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ToJSON error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzToJSON(f *testing.F) {
	f.Add(append(append([]byte{}, Magic...), 0x0a, 0x02))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = ToJSON(body) // must never panic
	})
}
