package describe

import (
	"bytes"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func TestPrefixWriterSections(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *prefixWriter)
		want  string
	}{
		{"empty list prints none", func(w *prefixWriter) { w.writeList(0, "Taints", nil) }, "Taints:  <none>\n"},
		{"list puts the first item on the title line and aligns the rest", func(w *prefixWriter) {
			w.writeList(0, "Tolerations", []string{"a:NoSchedule", "b op=Exists"})
		}, "Tolerations:  a:NoSchedule\n              b op=Exists\n"},
		{"resources are printed in name order one level deeper", func(w *prefixWriter) {
			w.writeResources(1, "Limits", corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("500m")})
		}, "  Limits:\n    cpu:     500m\n    memory:  128Mi\n"},
		{"empty resources print the title alone", func(w *prefixWriter) { w.writeResources(0, "Capacity", nil) }, "Capacity:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			w := newWriter(&b)
			tt.write(w)
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}
