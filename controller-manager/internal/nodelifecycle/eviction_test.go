package nodelifecycle

import (
	"testing"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func TestAllowance(t *testing.T) {
	secs := func(s int64) *int64 { return &s }
	unreachable := []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
	custom := []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoExecute}}
	tests := []struct {
		name    string
		tols    []corev1.Toleration
		taints  []corev1.Taint
		want    time.Duration
		forever bool
		ok      bool
	}{
		{"no toleration for unreachable means the 300s default", nil, unreachable, 300 * time.Second, false, true},
		{"a toleration with seconds is honoured", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(5)}}, unreachable, 5 * time.Second, false, true},
		{"a toleration without seconds tolerates forever", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists}}, unreachable, 0, true, true},
		{"an untolerated custom taint evicts at once", nil, custom, 0, false, false},
		{"an empty-key Exists toleration tolerates everything", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, custom, 0, true, true},
	}
	e := &Evictor{Cfg: DefaultConfig()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{}
			p.Spec.Tolerations = tc.tols
			d, forever, ok := e.allowance(p, tc.taints)
			if d != tc.want || forever != tc.forever || ok != tc.ok {
				t.Fatalf("allowance = %v forever=%v ok=%v, want %v %v %v", d, forever, ok, tc.want, tc.forever, tc.ok)
			}
		})
	}
}
