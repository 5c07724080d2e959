package podcontrol

import (
	"errors"
	"sync/atomic"
	"testing"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func TestSlowStart(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		failAfter int64 // calls that succeed before every later call fails; -1 never fails
		wantOK    int
		wantCalls int64
	}{
		{"all succeed", 10, -1, 10, 10},
		{"first call fails and nothing else is tried", 100, 0, 0, 1},
		{"failure in the third batch stops there", 100, 4, 4, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := SlowStart(tc.count, 1, func() error {
				n := calls.Add(1)
				if tc.failAfter >= 0 && n > tc.failAfter {
					return errors.New("boom")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls {
				t.Fatalf("SlowStart = %d ok (%d calls), want %d ok (%d calls), err %v", ok, calls.Load(), tc.wantOK, tc.wantCalls, err)
			}
			if (tc.failAfter >= 0) != (err != nil) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestFromTemplate(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{}
	tmpl.Labels = map[string]string{"app": "web"}
	tmpl.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox"}}
	tr := true
	ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "u1", Controller: &tr}
	p := FromTemplate(tmpl, "ns", GenerateNamePrefix("web-abc"), ref)
	if p.GenerateName != "web-abc-" || p.Namespace != "ns" || p.Labels["app"] != "web" || len(p.OwnerReferences) != 1 || p.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("pod from template = %+v", p.ObjectMeta)
	}
	p.Labels["app"] = "changed"
	if tmpl.Labels["app"] != "web" {
		t.Fatal("the pod shares its labels map with the template")
	}
}
