package node

import (
	"testing"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func TestParseTaints(t *testing.T) {
	got, err := ParseTaints("dedicated=gpu:NoSchedule, spot:PreferNoSchedule")
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}, {Key: "spot", Effect: "PreferNoSchedule"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"nokey", "k=v:Sometimes", "=v:NoSchedule"} {
		if _, err := ParseTaints(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels("zone=a,tier=web")
	if err != nil || got["zone"] != "a" || got["tier"] != "web" || len(got) != 2 {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := ParseLabels("novalue"); err == nil {
		t.Error("want an error for a label without =")
	}
}

func TestCapacityReadsTheMachine(t *testing.T) {
	c := Capacity("/", 110)
	if c.Cpu().Value() < 1 || c.Memory().Value() < 1<<20 || c.Pods().Value() != 110 || c.EphemeralStorage().IsZero() {
		t.Fatalf("capacity %v", c)
	}
}
