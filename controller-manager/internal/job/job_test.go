package job

import (
	"testing"
	"time"
)

func TestFormatIndexes(t *testing.T) {
	tests := []struct {
		name string
		in   []int
		want string
	}{
		{"empty set is empty", nil, ""},
		{"single index", []int{3}, "3"},
		{"runs collapse to ranges", []int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := map[int]bool{}
			for _, i := range tc.in {
				set[i] = true
			}
			if got := formatIndexes(set); got != tc.want {
				t.Fatalf("formatIndexes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	c := &Controller{BackoffBase: 10 * time.Second, BackoffMax: 6 * time.Minute}
	for failures, want := range map[int]time.Duration{0: 0, 1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 10: 6 * time.Minute} {
		if got := c.backoff(failures); got != want {
			t.Errorf("backoff(%d) = %v, want %v", failures, got, want)
		}
	}
}
