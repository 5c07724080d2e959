package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// bindRecorder watches pods and remembers every node each pod was ever seen on.
type bindRecorder struct {
	mu    sync.Mutex
	nodes map[string][]string
}

func (c *cluster) recordBindings(t *testing.T, ns string) *bindRecorder {
	t.Helper()
	r := &bindRecorder{nodes: map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.cs.Pods.Watch(ctx, ns, client.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatalf("watching pods: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ev := range w.Events() {
			p := ev.Object
			if p == nil || p.Spec.NodeName == "" {
				continue
			}
			r.mu.Lock()
			l := r.nodes[p.Name]
			if len(l) == 0 || l[len(l)-1] != p.Spec.NodeName {
				r.nodes[p.Name] = append(l, p.Spec.NodeName)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *bindRecorder) bound() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.nodes)
}

func (c *cluster) leaseHolder(t *testing.T) string {
	t.Helper()
	l, err := c.cs.Leases.Get(context.Background(), "kube-system", "skiff-scheduler", client.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestLeaderHandOver(t *testing.T) {
	const leaseDuration = 4 * time.Second
	c := startCluster(t)
	rec := c.recordBindings(t, "default")
	leader := c.startScheduler(t, "first")
	waitFor(t, "the first scheduler to lead", 20*time.Second, func() (bool, string) {
		h := c.leaseHolder(t)
		return h == "first", "holder " + h
	})
	c.startScheduler(t, "second")
	for i := range 3 {
		c.addNode(t, makeNode(fmt.Sprintf("n%d", i), "8", "16Gi", 110))
	}
	for i := range 30 {
		c.createPod(t, makePod("default", fmt.Sprintf("before-%02d", i), "100m"))
	}
	waitFor(t, "the first 30 pods bound", 30*time.Second, func() (bool, string) {
		n := rec.bound()
		return n == 30, fmt.Sprintf("%d bound", n)
	})
	if h := c.leaseHolder(t); h != "first" {
		t.Fatalf("holder changed to %q before the kill", h)
	}

	leader.kill()
	killed := time.Now()
	for i := range 30 {
		c.createPod(t, makePod("default", fmt.Sprintf("after-%02d", i), "100m"))
	}
	var takeover time.Duration
	waitFor(t, "the standby to take the lease", 30*time.Second, func() (bool, string) {
		h := c.leaseHolder(t)
		takeover = time.Since(killed)
		return h == "second", "holder " + h
	})
	waitFor(t, "all 60 pods bound", 30*time.Second, func() (bool, string) {
		n := rec.bound()
		return n == 60, fmt.Sprintf("%d bound", n)
	})
	firstBindAfter := time.Since(killed)
	t.Logf("standby took the lease %v after the leader was killed (lease duration %v); all pods bound %v after the kill",
		takeover.Round(10*time.Millisecond), leaseDuration, firstBindAfter.Round(10*time.Millisecond))
	// The lease may be taken once it expires, measured from the leader's last renewal (at most one retry
	// period before the kill), and the standby notices within one retry period; allow for polling.
	if limit := leaseDuration + 2*time.Second; takeover > limit {
		t.Errorf("takeover took %v, more than the lease duration plus retry slack (%v)", takeover, limit)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for name, nodes := range rec.nodes {
		if len(nodes) != 1 {
			t.Errorf("pod %s was bound more than once: %v", name, nodes)
		}
	}
	pods, err := c.cs.Pods.List(context.Background(), "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" {
			t.Errorf("pod %s not bound: %s", p.Name, describeScheduling(&p))
		}
		if cond, ok := scheduledCondition(&p); !ok || cond.Status != v1.ConditionTrue {
			t.Errorf("pod %s: %s", p.Name, describeScheduling(&p))
		}
	}
}
