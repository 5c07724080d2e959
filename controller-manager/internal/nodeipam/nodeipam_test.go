package nodeipam

import "testing"

func TestAllocator(t *testing.T) {
	a, err := NewAllocator("10.244.0.0/16", 24)
	if err != nil {
		t.Fatal(err)
	}
	a.Occupy("old", "10.244.0.0/24")
	tests := []struct{ node, want string }{
		{"n1", "10.244.1.0/24"},
		{"n2", "10.244.2.0/24"},
		{"n1", "10.244.1.0/24"}, // stable for a node that already has one
		{"old", "10.244.0.0/24"},
	}
	for _, tc := range tests {
		got, err := a.Allocate(tc.node)
		if err != nil || got != tc.want {
			t.Fatalf("Allocate(%s) = %s, %v; want %s", tc.node, got, err, tc.want)
		}
	}
	small, _ := NewAllocator("10.0.0.0/30", 30)
	if _, err := small.Allocate("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := small.Allocate("b"); err == nil {
		t.Fatal("an exhausted range handed out a second subnet")
	}
	if _, err := NewAllocator("fd00::/48", 64); err == nil {
		t.Fatal("an IPv6 cluster CIDR was accepted")
	}
}
