package cache

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
)

func testNode(name, zone string) *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelTopologyZone: zone}},
		Status: v1.NodeStatus{Allocatable: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("4Gi"), v1.ResourcePods: resource.MustParse("10"),
		}},
	}
}

func testPod(name, node string) *framework.PodInfo {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name}}
	p.Spec.NodeName = node
	p.Spec.Containers = []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m")}}}}
	return framework.NewPodInfo(p, 0)
}

func requestedCPU(t *testing.T, c *Cache, node string) int64 {
	t.Helper()
	r, _, _ := c.NodeRequested(node)
	return r.MilliCPU
}

func TestAssumeLifecycle(t *testing.T) {
	now := time.Unix(0, 0)
	tests := []struct {
		name    string
		steps   func(c *Cache)
		wantN1  int64
		wantN2  int64
		assumed bool
	}{
		{"assumed pod counts against its node at once", func(c *Cache) {
			_ = c.AssumePod(testPod("p", ""), "n1")
		}, 500, 0, true},
		{"forget after a failed bind gives the room back", func(c *Cache) {
			_ = c.AssumePod(testPod("p", ""), "n1")
			c.ForgetPod("uid-p")
		}, 0, 0, false},
		{"observing the bound pod confirms it once", func(c *Cache) {
			_ = c.AssumePod(testPod("p", ""), "n1")
			c.FinishBinding("uid-p")
			c.AddPod(testPod("p", "n1"))
		}, 500, 0, false},
		{"a pod observed on another node moves there", func(c *Cache) {
			_ = c.AssumePod(testPod("p", ""), "n1")
			c.AddPod(testPod("p", "n2"))
		}, 0, 500, false},
		{"an assumed pod never observed expires after the TTL", func(c *Cache) {
			_ = c.AssumePod(testPod("p", ""), "n1")
			c.FinishBinding("uid-p")
			now = now.Add(31 * time.Second)
			c.Cleanup()
		}, 0, 0, false},
		{"an assumed pod still binding does not expire", func(c *Cache) {
			_ = c.AssumePod(testPod("p", ""), "n1")
			now = now.Add(time.Hour)
			c.Cleanup()
		}, 500, 0, true},
		{"an observed pod never expires", func(c *Cache) {
			c.AddPod(testPod("p", "n1"))
			now = now.Add(time.Hour)
			c.Cleanup()
		}, 500, 0, false},
		{"a deleted pod is removed", func(c *Cache) {
			c.AddPod(testPod("p", "n1"))
			c.RemovePod("uid-p")
		}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = time.Unix(0, 0)
			c := New(30 * time.Second)
			c.SetClock(func() time.Time { return now })
			c.AddNode(testNode("n1", "a"))
			c.AddNode(testNode("n2", "b"))
			tt.steps(c)
			if got := requestedCPU(t, c, "n1"); got != tt.wantN1 {
				t.Errorf("n1 cpu = %dm, want %dm", got, tt.wantN1)
			}
			if got := requestedCPU(t, c, "n2"); got != tt.wantN2 {
				t.Errorf("n2 cpu = %dm, want %dm", got, tt.wantN2)
			}
			if got := c.IsAssumed("uid-p"); got != tt.assumed {
				t.Errorf("assumed = %v, want %v", got, tt.assumed)
			}
		})
	}
}

func TestAssumeTwiceFails(t *testing.T) {
	c := New(0)
	c.AddNode(testNode("n1", "a"))
	if err := c.AssumePod(testPod("p", ""), "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.AssumePod(testPod("p", ""), "n1"); err == nil {
		t.Fatal("second AssumePod of the same pod succeeded")
	}
}

func TestSnapshotIsIncremental(t *testing.T) {
	c := New(0)
	for _, n := range []string{"a1", "a2", "b1", "c1"} {
		c.AddNode(testNode(n, n[:1]))
	}
	snap := &framework.Snapshot{}
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 4 {
		t.Fatalf("snapshot has %d nodes, want 4", len(snap.Nodes))
	}
	// Zones are interleaved so an early stop still sees every zone.
	var order string
	for _, n := range snap.Nodes {
		order += n.Name + " "
	}
	if order != "a1 b1 c1 a2 " {
		t.Errorf("order = %q, want zones interleaved", order)
	}
	before := map[string]*framework.NodeInfo{}
	for _, n := range snap.Nodes {
		before[n.Name] = n
	}
	_ = c.AssumePod(testPod("p", ""), "b1")
	c.UpdateSnapshot(snap)
	for _, n := range snap.Nodes {
		changed := before[n.Name] != n
		if changed != (n.Name == "b1") {
			t.Errorf("node %s re-cloned = %v; only b1 changed", n.Name, changed)
		}
	}
	if got := snap.ByName["b1"].Requested.MilliCPU; got != 500 {
		t.Errorf("snapshot b1 cpu = %d, want 500", got)
	}
	if before["b1"].Requested.MilliCPU != 0 {
		t.Error("the old snapshot's node info was mutated")
	}
	c.RemoveNode("c1")
	c.AddNode(testNode("d1", "d"))
	c.UpdateSnapshot(snap)
	if _, ok := snap.ByName["c1"]; ok || len(snap.Nodes) != 4 || snap.ByName["d1"] == nil {
		t.Errorf("after removing c1 and adding d1: %d nodes, c1 present %v", len(snap.Nodes), ok)
	}
}
