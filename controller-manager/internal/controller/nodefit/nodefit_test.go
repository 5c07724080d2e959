package nodefit

import (
	"testing"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func TestTolerates(t *testing.T) {
	taint := corev1.Taint{Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name string
		tol  corev1.Toleration
		want bool
	}{
		{"equal key and value tolerates", corev1.Toleration{Key: "k", Value: "v"}, true},
		{"other value does not tolerate", corev1.Toleration{Key: "k", Value: "w"}, false},
		{"exists on the key tolerates any value", corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists}, true},
		{"empty key with exists tolerates everything", corev1.Toleration{Operator: corev1.TolerationOpExists}, true},
		{"other effect does not tolerate", corev1.Toleration{Key: "k", Value: "v", Effect: corev1.TaintEffectNoExecute}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Tolerates(&tc.tol, &taint); got != tc.want {
				t.Fatalf("Tolerates = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlacement(t *testing.T) {
	node := &corev1.Node{}
	node.Name = "n1"
	node.Labels = map[string]string{"disk": "ssd", "cores": "8"}
	term := func(reqs ...corev1.NodeSelectorRequirement) *corev1.PodSpec {
		return &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: reqs}}}}}}
	}
	pinned := &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}}}}}}
	tests := []struct {
		name string
		spec *corev1.PodSpec
		want bool
	}{
		{"no constraints fit", &corev1.PodSpec{}, true},
		{"matching nodeSelector fits", &corev1.PodSpec{NodeSelector: map[string]string{"disk": "ssd"}}, true},
		{"other nodeSelector value does not fit", &corev1.PodSpec{NodeSelector: map[string]string{"disk": "hdd"}}, false},
		{"In expression fits", term(corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd", "nvme"}}), true},
		{"DoesNotExist on a present label does not fit", term(corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpDoesNotExist}), false},
		{"Gt compares numbers", term(corev1.NodeSelectorRequirement{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}}), true},
		{"matchFields on the node name fits", pinned, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PlacementFits(tc.spec, node); got != tc.want {
				t.Fatalf("PlacementFits = %v, want %v", got, tc.want)
			}
		})
	}
	if got := PinnedNode(pinned); got != "n1" {
		t.Fatalf("PinnedNode = %q", got)
	}
}
