package config

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
	"github.com/skiffhq/skiff/scheduler/internal/scheduler"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		err   string
		check func(t *testing.T, c scheduler.Config)
	}{
		{"empty file keeps the defaults", "", "", func(t *testing.T, c scheduler.Config) {
			d := scheduler.DefaultConfig()
			if c.SchedulerName != "default-scheduler" || c.Algorithm.Weights[framework.TaintToleration] != 3 ||
				c.Algorithm.PercentageOfNodesToScore != 0 || !c.Algorithm.EquivalenceClasses || c.Queue != d.Queue {
				t.Errorf("defaults changed: %+v", c)
			}
		}},
		{"every field is applied", `
apiVersion: skiff.io/v1alpha1
kind: SchedulerConfiguration
schedulerName: batch-scheduler
percentageOfNodesToScore: 30
equivalenceClasses: false
preemption: false
podInitialBackoffSeconds: 0.5
podMaxBackoffSeconds: 4
scoring:
  leastAllocated: 1
  mostAllocated: 3
  weights: {SelectorSpread: 0, NodeAffinity: 5}
  resources: [{name: cpu, weight: 2}]
`, "", func(t *testing.T, c scheduler.Config) {
			a := c.Algorithm
			if c.SchedulerName != "batch-scheduler" || a.PercentageOfNodesToScore != 30 || a.EquivalenceClasses || !c.DisablePreemption {
				t.Errorf("top-level fields not applied: %+v", c)
			}
			if c.Queue.InitialBackoff != 500*time.Millisecond || c.Queue.MaxBackoff != 4*time.Second {
				t.Errorf("back-off = %v..%v", c.Queue.InitialBackoff, c.Queue.MaxBackoff)
			}
			if a.MostAllocatedWeight != 3 || a.Weights[framework.SelectorSpread] != 0 || a.Weights[framework.NodeAffinity] != 5 ||
				a.Weights[framework.TaintToleration] != 3 || len(a.Resources) != 1 || a.Resources[0].Weight != 2 {
				t.Errorf("scoring not applied: %+v", a)
			}
		}},
		{"unknown field is rejected", "percentageOfNodes: 10", `unknown field "percentageOfNodes"`, nil},
		{"unknown score is rejected", "scoring: {weights: {Magic: 1}}", `unknown score "Magic"`, nil},
		{"percentage out of range is rejected", "percentageOfNodesToScore: 150", "percentageOfNodesToScore: 150 is not in 0..100", nil},
		{"negative weight is rejected", "scoring: {weights: {NodeAffinity: -1}}", "must not be negative", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFile([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f.Apply(scheduler.DefaultConfig()))
		})
	}
}
