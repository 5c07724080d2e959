package ownership

import (
	"context"
	"encoding/json"
	"sort"
	"testing"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func mkpod(name string, labels map[string]string, owner string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name, p.Namespace, p.Labels, p.ResourceVersion = name, "ns", labels, "7"
	if owner != "" {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: owner, UID: owner, Controller: &t}}
	}
	return p
}

func TestClaim(t *testing.T) {
	match := map[string]string{"app": "a"}
	other := map[string]string{"app": "b"}
	tests := []struct {
		name         string
		pods         []*corev1.Pod
		wantClaimed  []string
		wantPatched  []string
		ownerDeleted bool
	}{
		{"owned matching pod is kept without a write", []*corev1.Pod{mkpod("p1", match, "rs")}, []string{"p1"}, nil, false},
		{"matching orphan is adopted", []*corev1.Pod{mkpod("p1", match, "")}, []string{"p1"}, []string{"p1"}, false},
		{"owned pod that stopped matching is released", []*corev1.Pod{mkpod("p1", other, "rs")}, nil, []string{"p1"}, false},
		{"pod of another controller is ignored", []*corev1.Pod{mkpod("p1", match, "rs2")}, nil, nil, false},
		{"non-matching orphan is ignored", []*corev1.Pod{mkpod("p1", other, "")}, nil, nil, false},
		{"deleting owner adopts nothing", []*corev1.Pod{mkpod("p1", match, "")}, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			owner := &metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "rs"}
			if tc.ownerDeleted {
				now := metav1.Now()
				owner.DeletionTimestamp = &now
			}
			var patched []string
			c := &Claimer[corev1.Pod, *corev1.Pod]{
				Owner:   owner,
				Ref:     NewControllerRef(owner, "apps/v1", "ReplicaSet"),
				Matches: func(l map[string]string) bool { return l["app"] == "a" },
				Patch: func(_ context.Context, ns, name string, patch []byte) error {
					var p metaPatch
					if err := json.Unmarshal(patch, &p); err != nil || p.Metadata.ResourceVersion != "7" {
						t.Errorf("patch %s lacks the resourceVersion precondition", patch)
					}
					patched = append(patched, name)
					return nil
				},
			}
			got, err := c.Claim(context.Background(), tc.pods)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			sort.Strings(names)
			if !equal(names, tc.wantClaimed) || !equal(patched, tc.wantPatched) {
				t.Fatalf("claimed %v patched %v, want claimed %v patched %v", names, patched, tc.wantClaimed, tc.wantPatched)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRemoveOwnerPatchKeepsOtherOwners(t *testing.T) {
	m := &metav1.ObjectMeta{ResourceVersion: "3", OwnerReferences: []metav1.OwnerReference{{UID: "a"}, {UID: "b"}}}
	var p metaPatch
	if err := json.Unmarshal(RemoveOwnerPatch(m, "a"), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Metadata.OwnerReferences) != 1 || p.Metadata.OwnerReferences[0].UID != "b" {
		t.Fatalf("owner references after removal = %+v, want only b", p.Metadata.OwnerReferences)
	}
}

func TestSelectsEverything(t *testing.T) {
	tests := []struct {
		name string
		sel  *metav1.LabelSelector
		want bool
	}{
		{"missing selector selects everything", nil, true},
		{"empty selector selects everything", &metav1.LabelSelector{}, true},
		{"selector with a label does not", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}}, false},
		{"selector with an expression does not", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Exists"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SelectsEverything(tc.sel); got != tc.want {
				t.Errorf("SelectsEverything(%+v) = %v, want %v", tc.sel, got, tc.want)
			}
		})
	}
}
