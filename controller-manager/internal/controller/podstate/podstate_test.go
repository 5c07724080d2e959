package podstate

import (
	"testing"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

var t0 = time.Unix(10000, 0).UTC()

func pod(name, node string, phase corev1.PodPhase, ready bool, readySince time.Duration, restarts int32, created time.Duration) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name = name
	p.CreationTimestamp = metav1.NewTime(t0.Add(created))
	p.Spec.NodeName = node
	p.Status.Phase = phase
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.NewTime(t0.Add(readySince))}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: restarts}}
	return p
}

func TestSortForDeletion(t *testing.T) {
	tests := []struct {
		name  string
		pods  []*corev1.Pod
		first string
	}{
		{"unscheduled pod goes before a scheduled one",
			[]*corev1.Pod{pod("sched", "n1", corev1.PodPending, false, 0, 0, 0), pod("unsched", "", corev1.PodPending, false, 0, 0, -time.Hour)}, "unsched"},
		{"pending goes before running",
			[]*corev1.Pod{pod("run", "n1", corev1.PodRunning, false, 0, 0, 0), pod("pend", "n2", corev1.PodPending, false, 0, 0, -time.Hour)}, "pend"},
		{"not ready goes before ready",
			[]*corev1.Pod{pod("ready", "n1", corev1.PodRunning, true, 0, 0, 0), pod("notready", "n2", corev1.PodRunning, false, 0, 0, -time.Hour)}, "notready"},
		{"ready for less time goes first",
			[]*corev1.Pod{pod("old", "n1", corev1.PodRunning, true, -time.Hour, 0, 0), pod("new", "n2", corev1.PodRunning, true, -time.Minute, 0, 0)}, "new"},
		{"more restarts goes first",
			[]*corev1.Pod{pod("calm", "n1", corev1.PodRunning, true, 0, 0, 0), pod("crashy", "n2", corev1.PodRunning, true, 0, 7, 0)}, "crashy"},
		{"newer goes first",
			[]*corev1.Pod{pod("older", "n1", corev1.PodRunning, true, 0, 0, -time.Hour), pod("newer", "n2", corev1.PodRunning, true, 0, 0, 0)}, "newer"},
		{"pod on a crowded node goes first",
			[]*corev1.Pod{pod("alone", "n1", corev1.PodRunning, true, 0, 0, 0), pod("crowd1", "n2", corev1.PodRunning, true, 0, 0, -time.Hour), pod("crowd2", "n2", corev1.PodRunning, true, 0, 0, -time.Hour)}, "crowd2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			SortForDeletion(tc.pods)
			if tc.pods[0].Name != tc.first {
				var names []string
				for _, p := range tc.pods {
					names = append(names, p.Name)
				}
				t.Fatalf("first = %s, want %s (order %v)", tc.pods[0].Name, tc.first, names)
			}
		})
	}
}

func TestIsAvailable(t *testing.T) {
	now := t0
	tests := []struct {
		name     string
		pod      *corev1.Pod
		minReady int32
		want     bool
	}{
		{"ready pod with minReadySeconds 0 is available", pod("a", "n", corev1.PodRunning, true, 0, 0, 0), 0, true},
		{"pod ready for 5s with minReadySeconds 10 is not available", pod("a", "n", corev1.PodRunning, true, -5*time.Second, 0, 0), 10, false},
		{"pod ready for 10s with minReadySeconds 10 is available", pod("a", "n", corev1.PodRunning, true, -10*time.Second, 0, 0), 10, true},
		{"not ready pod is not available", pod("a", "n", corev1.PodRunning, false, -time.Hour, 0, 0), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsAvailable(tc.pod, tc.minReady, now); got != tc.want {
				t.Fatalf("IsAvailable = %v, want %v", got, tc.want)
			}
		})
	}
}
