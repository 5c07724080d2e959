package api_test

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/util/strategicpatch"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// TestStrategicMergePatchUsesSkiffTags checks that apimachinery's strategic merge patch reads the merge
// keys from Skiff's own struct tags, the way the apiserver will apply kubectl's patches.
func TestStrategicMergePatchUsesSkiffTags(t *testing.T) {
	tests := []struct {
		name     string
		current  string
		patch    string
		dataType any
		check    func(t *testing.T, out []byte)
	}{
		{
			name:     "containers merge by name: set image keeps the other container",
			dataType: &appsv1.Deployment{},
			current:  `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`,
			patch:    `{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"}]}}}}`,
			check: func(t *testing.T, out []byte) {
				var d appsv1.Deployment
				mustUnmarshal(t, out, &d)
				cs := d.Spec.Template.Spec.Containers
				if len(cs) != 2 || cs[0].Image != "a:1" || cs[1].Image != "b:2" {
					t.Fatalf("containers = %+v", cs)
				}
			},
		},
		{
			name:     "env merges by name",
			dataType: &corev1.Pod{},
			current:  `{"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}}`,
			patch:    `{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"3"}]}]}}`,
			check: func(t *testing.T, out []byte) {
				var p corev1.Pod
				mustUnmarshal(t, out, &p)
				env := p.Spec.Containers[0].Env
				if len(env) != 2 || env[0].Value != "1" || env[1].Value != "3" {
					t.Fatalf("env = %+v", env)
				}
			},
		},
		{
			name:     "ports merge by containerPort",
			dataType: &corev1.Pod{},
			current:  `{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"http"},{"containerPort":443}]}]}}`,
			patch:    `{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"web"}]}]}}`,
			check: func(t *testing.T, out []byte) {
				var p corev1.Pod
				mustUnmarshal(t, out, &p)
				ports := p.Spec.Containers[0].Ports
				if len(ports) != 2 || ports[0].Name != "web" || ports[1].ContainerPort != 443 {
					t.Fatalf("ports = %+v", ports)
				}
			},
		},
		{
			name:     "tolerations are replaced whole",
			dataType: &corev1.Pod{},
			current:  `{"spec":{"containers":[{"name":"c"}],"tolerations":[{"key":"a","operator":"Exists"},{"key":"b","operator":"Exists"}]}}`,
			patch:    `{"spec":{"tolerations":[{"key":"c","operator":"Exists"}]}}`,
			check: func(t *testing.T, out []byte) {
				var p corev1.Pod
				mustUnmarshal(t, out, &p)
				if len(p.Spec.Tolerations) != 1 || p.Spec.Tolerations[0].Key != "c" {
					t.Fatalf("tolerations = %+v", p.Spec.Tolerations)
				}
			},
		},
		{
			name:     "service ports merge by port",
			dataType: &corev1.Service{},
			current:  `{"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443}]}}`,
			patch:    `{"spec":{"ports":[{"port":80,"targetPort":9090}]}}`,
			check: func(t *testing.T, out []byte) {
				var s corev1.Service
				mustUnmarshal(t, out, &s)
				if len(s.Spec.Ports) != 2 || s.Spec.Ports[0].TargetPort.IntValue() != 9090 {
					t.Fatalf("ports = %+v", s.Spec.Ports)
				}
			},
		},
		{
			name:     "conditions merge by type",
			dataType: &corev1.Pod{},
			current:  `{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"}]}}`,
			patch:    `{"status":{"conditions":[{"type":"Ready","status":"True"}]}}`,
			check: func(t *testing.T, out []byte) {
				var p corev1.Pod
				mustUnmarshal(t, out, &p)
				if len(p.Status.Conditions) != 2 || p.Status.Conditions[0].Status != corev1.ConditionTrue {
					t.Fatalf("conditions = %+v", p.Status.Conditions)
				}
			},
		},
		{
			name:     "ownerReferences merge by uid and $setElementOrder is honoured",
			dataType: &corev1.Pod{},
			current:  `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"A","name":"a","uid":"1"}]}}`,
			patch:    `{"metadata":{"$setElementOrder/ownerReferences":[{"uid":"2"},{"uid":"1"}],"ownerReferences":[{"apiVersion":"v1","kind":"B","name":"b","uid":"2"}]}}`,
			check: func(t *testing.T, out []byte) {
				var p corev1.Pod
				mustUnmarshal(t, out, &p)
				refs := p.OwnerReferences
				if len(refs) != 2 || refs[0].UID != "2" || refs[1].UID != "1" {
					t.Fatalf("ownerReferences = %+v", refs)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := strategicpatch.StrategicMergePatch([]byte(tt.current), []byte(tt.patch), tt.dataType)
			if err != nil {
				t.Fatalf("StrategicMergePatch: %v", err)
			}
			tt.check(t, out)
		})
	}
}

func mustUnmarshal(t *testing.T, data []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
}
