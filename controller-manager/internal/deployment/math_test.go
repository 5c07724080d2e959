package deployment

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func ios(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
func ioi(i int) *intstr.IntOrString    { v := intstr.FromInt32(int32(i)); return &v }

func TestFenceposts(t *testing.T) {
	tests := []struct {
		name                string
		surge, unavail      *intstr.IntOrString
		replicas            int32
		wantSurge, wantUnav int32
	}{
		{"25% of 10 rounds surge up and unavailable down", ios("25%"), ios("25%"), 10, 3, 2},
		{"absolute numbers pass through", ioi(2), ioi(1), 10, 2, 1},
		{"both zero makes unavailable 1", ioi(0), ioi(0), 10, 0, 1},
		{"10% of 3 rounds surge up to 1 and unavailable down to 0", ios("10%"), ios("10%"), 3, 1, 0},
		{"0% surge and 0% unavailable becomes 0/1", ios("0%"), ios("0%"), 5, 0, 1},
		{"100% unavailable of 4 is 4", ioi(0), ios("100%"), 4, 0, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, u, err := Fenceposts(tc.surge, tc.unavail, tc.replicas)
			if err != nil {
				t.Fatal(err)
			}
			if s != tc.wantSurge || u != tc.wantUnav {
				t.Fatalf("Fenceposts = %d/%d, want %d/%d", s, u, tc.wantSurge, tc.wantUnav)
			}
		})
	}
	if _, _, err := Fenceposts(ios("abc"), nil, 3); err == nil {
		t.Fatal("a malformed percentage was accepted")
	}
}

func rs(name string, created int64, replicas, available int32) *appsv1.ReplicaSet {
	r := &appsv1.ReplicaSet{}
	r.Name = name
	r.CreationTimestamp = metav1.NewTime(time.Unix(1000+created, 0))
	r.Spec.Replicas = &replicas
	r.Status.Replicas, r.Status.AvailableReplicas = replicas, available
	return r
}

func deploy(replicas int32, surge, unavail *intstr.IntOrString) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Spec.Replicas = &replicas
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: surge, MaxUnavailable: unavail}}
	return d
}

func TestNewRSNewReplicas(t *testing.T) {
	tests := []struct {
		name string
		d    *appsv1.Deployment
		old  []*appsv1.ReplicaSet
		new  *appsv1.ReplicaSet
		want int32
	}{
		{"first step surges by maxSurge", deploy(10, ioi(3), ioi(2)), []*appsv1.ReplicaSet{rs("old", 1, 10, 10)}, rs("new", 2, 0, 0), 3},
		{"no room above replicas+maxSurge keeps the size", deploy(10, ioi(3), ioi(2)), []*appsv1.ReplicaSet{rs("old", 1, 10, 10)}, rs("new", 2, 3, 0), 3},
		{"never beyond replicas", deploy(10, ioi(3), ioi(2)), []*appsv1.ReplicaSet{rs("old", 1, 0, 0)}, rs("new", 2, 9, 9), 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := append(append([]*appsv1.ReplicaSet{}, tc.old...), tc.new)
			if got := NewRSNewReplicas(tc.d, all, tc.new); got != tc.want {
				t.Fatalf("NewRSNewReplicas = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOldScaleDown(t *testing.T) {
	tests := []struct {
		name string
		d    *appsv1.Deployment
		old  []*appsv1.ReplicaSet
		new  *appsv1.ReplicaSet
		want map[string]int32
	}{
		{"healthy old set scales down by maxUnavailable while the new set is not available",
			deploy(10, ioi(3), ioi(2)), []*appsv1.ReplicaSet{rs("old", 1, 10, 10)}, rs("new", 2, 3, 0), map[string]int32{"old": 8}},
		{"unhealthy old pods are removed first, within the budget",
			deploy(10, ioi(0), ioi(1)), []*appsv1.ReplicaSet{rs("old", 1, 10, 7)}, rs("new", 2, 0, 0), map[string]int32{"old": 9}},
		{"no budget left means no scale down",
			deploy(10, ioi(3), ioi(0)), []*appsv1.ReplicaSet{rs("old", 1, 10, 10)}, rs("new", 2, 3, 0), map[string]int32{}},
		{"available new pods let old ones go",
			deploy(10, ioi(3), ioi(2)), []*appsv1.ReplicaSet{rs("old", 1, 8, 8)}, rs("new", 2, 5, 5), map[string]int32{"old": 3}},
		{"oldest set goes first",
			deploy(4, ioi(1), ioi(1)), []*appsv1.ReplicaSet{rs("older", 1, 2, 2), rs("old", 2, 2, 2)}, rs("new", 3, 1, 0), map[string]int32{"older": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := append(append([]*appsv1.ReplicaSet{}, tc.old...), tc.new)
			got := OldScaleDown(tc.d, all, tc.old, tc.new)
			if len(got) != len(tc.want) {
				t.Fatalf("OldScaleDown = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("OldScaleDown = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestTemplateHash(t *testing.T) {
	a := &corev1.PodTemplateSpec{}
	a.Labels = map[string]string{"app": "x"}
	a.Spec.Containers = []corev1.Container{{Name: "c", Image: "i:1"}}
	b := *a
	b.Labels = map[string]string{"app": "x", appsv1.DefaultDeploymentUniqueLabelKey: "zzz"}
	if TemplateHash(a, nil) != TemplateHash(&b, nil) {
		t.Fatal("the pod-template-hash label changed the hash")
	}
	if !EqualIgnoreHash(a, &b) {
		t.Fatal("templates differing only in pod-template-hash are not equal")
	}
	one := int32(1)
	if TemplateHash(a, nil) == TemplateHash(a, &one) {
		t.Fatal("the collision count did not change the hash")
	}
	c := *a
	c.Spec.Containers = []corev1.Container{{Name: "c", Image: "i:2"}}
	if TemplateHash(a, nil) == TemplateHash(&c, nil) || EqualIgnoreHash(a, &c) {
		t.Fatal("different images gave the same template")
	}
}
