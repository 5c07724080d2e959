package podautoscaler

import (
	"testing"
	"time"

	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
)

func TestStabilizeHoldsScaleDownForTheWindow(t *testing.T) {
	c := &Controller{DownscaleStabilization: 5 * time.Minute}
	c.Init()
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	t0 := time.Now()
	steps := []struct {
		name     string
		at       time.Duration
		current  int32
		proposal int32
		want     int32
	}{
		{"scale up happens at once", 0, 2, 6, 6},
		{"a lower recommendation inside the window is held back", time.Minute, 6, 2, 6},
		{"still held at four minutes", 4 * time.Minute, 6, 2, 6},
		{"after the window the highest recent recommendation wins", 5*time.Minute + time.Second, 6, 2, 2},
	}
	for _, s := range steps {
		if got := c.stabilize("k", h, s.current, s.proposal, t0.Add(s.at)); got != s.want {
			t.Fatalf("%s: stabilize = %d, want %d", s.name, got, s.want)
		}
	}
}

func TestLimitRateDefaults(t *testing.T) {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	tests := []struct {
		name             string
		current, desired int32
		want             int32
	}{
		{"up by at most max(100%, 4 pods): from 1, 5", 1, 20, 5},
		{"up by at most max(100%, 4 pods): from 10, 20", 10, 30, 20},
		{"down by at most 100%", 10, 0, 0},
		{"within limits unchanged", 4, 6, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := limitRate(h, tc.current, tc.desired); got != tc.want {
				t.Fatalf("limitRate(%d, %d) = %d, want %d", tc.current, tc.desired, got, tc.want)
			}
		})
	}
}
