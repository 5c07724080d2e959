package deptest

import "testing"

func TestMatches(t *testing.T) {
	tests := []struct {
		path, prefix string
		want         bool
	}{
		{"go.etcd.io/etcd/client/v3", "go.etcd.io/etcd", true},
		{"go.etcd.io/etcd", "go.etcd.io/etcd", true},
		{"go.etcd.io/etcdx", "go.etcd.io/etcd", false},
		{"github.com/skiffhq/skiff/shared/api", "github.com/skiffhq/skiff/shared", true},
	}
	for _, tt := range tests {
		if got := matches(tt.path, tt.prefix); got != tt.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tt.path, tt.prefix, got, tt.want)
		}
	}
}

func TestOtherComponents(t *testing.T) {
	rules := OtherComponents("github.com/skiffhq/skiff/apiserver")
	if len(rules) != len(Components)-1 {
		t.Fatalf("got %d rules, want %d", len(rules), len(Components)-1)
	}
	for _, r := range rules {
		if r.Prefix == "github.com/skiffhq/skiff/apiserver" {
			t.Fatal("a component must not forbid itself")
		}
	}
}
