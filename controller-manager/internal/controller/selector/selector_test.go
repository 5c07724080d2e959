package selector

import (
	"testing"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func TestFromLabelSelector(t *testing.T) {
	tests := []struct {
		name   string
		sel    *metav1.LabelSelector
		labels map[string]string
		want   bool
	}{
		{"nil selector matches nothing", nil, map[string]string{"a": "b"}, false},
		{"empty selector matches everything", &metav1.LabelSelector{}, map[string]string{"a": "b"}, true},
		{"matchLabels must all hold", &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b", "c": "d"}}, map[string]string{"a": "b"}, false},
		{"In matches a listed value", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "t", Operator: metav1.LabelSelectorOpIn, Values: []string{"x", "y"}}}}, map[string]string{"t": "y"}, true},
		{"NotIn rejects a listed value", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "t", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"x"}}}}, map[string]string{"t": "x"}, false},
		{"DoesNotExist rejects the key", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "t", Operator: metav1.LabelSelectorOpDoesNotExist}}}, map[string]string{"t": "x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := FromLabelSelector(tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if got := m(tc.labels); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := FromLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "t", Operator: "Near"}}}); err == nil {
		t.Fatal("an unknown operator was accepted")
	}
}
