package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
)

// fakeAPI stands in for the apiserver in the in-process tests: it records bindings, checks that no node
// is ever overcommitted, and reports bound pods back to the scheduler the way the pod informer would,
// after a random delay. The integration tests use the real apiserver instead.
type fakeAPI struct {
	t     *testing.T
	s     *Scheduler
	rng   *rand.Rand
	fail  float64 // share of bindings rejected with a conflict
	delay time.Duration

	mu         sync.Mutex
	nodes      map[string]*v1.Node
	cpu, mem   map[string]int64
	count      map[string]int
	bound      map[string]string // pod UID -> node
	conditions map[string]v1.PodCondition
	nominated  map[string]string
	evicted    []string
	events     []string
	violations []string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{
		t: t, rng: rand.New(rand.NewPCG(1, 2)), nodes: map[string]*v1.Node{},
		cpu: map[string]int64{}, mem: map[string]int64{}, count: map[string]int{}, bound: map[string]string{},
		conditions: map[string]v1.PodCondition{}, nominated: map[string]string{},
	}
}

var errFakeConflict = errors.New("fake conflict")

func (f *fakeAPI) Bind(_ context.Context, pod *v1.Pod, node string) error {
	f.mu.Lock()
	if f.rng.Float64() < f.fail {
		f.mu.Unlock()
		return errFakeConflict
	}
	if prev, ok := f.bound[pod.UID]; ok {
		f.violations = append(f.violations, fmt.Sprintf("pod %s bound twice (%s, %s)", pod.Name, prev, node))
	}
	r := framework.PodRequests(pod)
	n := f.nodes[node]
	alloc := framework.NewResource(n.Status.Allocatable)
	f.cpu[node] += r.MilliCPU
	f.mem[node] += r.Memory
	f.count[node]++
	if f.cpu[node] > alloc.MilliCPU || f.mem[node] > alloc.Memory || int64(f.count[node]) > alloc.AllowedPodNumber {
		f.violations = append(f.violations, fmt.Sprintf("node %s overcommitted: %dm cpu, %d bytes, %d pods", node, f.cpu[node], f.mem[node], f.count[node]))
	}
	f.bound[pod.UID] = node
	d := time.Duration(f.rng.Int64N(int64(f.delay) + 1))
	f.mu.Unlock()
	go func() {
		time.Sleep(d) // the informer's lag
		b := *pod
		b.Spec.NodeName = node
		f.s.OnPodUpdate(pod, &b)
	}()
	return nil
}

func (f *fakeAPI) UpdateCondition(_ context.Context, pod *v1.Pod, cond v1.PodCondition, nominated *string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cond.Type != "" {
		f.conditions[pod.Name] = cond
	}
	if nominated != nil {
		f.nominated[pod.Name] = *nominated
	}
	return nil
}

func (f *fakeAPI) Evict(_ context.Context, victim, _ *v1.Pod, _ string) error {
	f.mu.Lock()
	f.evicted = append(f.evicted, victim.Name)
	if node, ok := f.bound[victim.UID]; ok {
		r := framework.PodRequests(victim)
		f.cpu[node] -= r.MilliCPU
		f.mem[node] -= r.Memory
		f.count[node]--
		delete(f.bound, victim.UID)
	}
	f.mu.Unlock()
	go f.s.OnPodDelete(victim) // no grace period in the fake
	return nil
}

func (f *fakeAPI) Event(_ context.Context, pod *v1.Pod, _, reason, _, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, reason+" "+pod.Name+": "+message)
}

func (f *fakeAPI) addNode(n *v1.Node) {
	f.mu.Lock()
	f.nodes[n.Name] = n
	f.mu.Unlock()
	f.s.OnNodeAdd(n)
}

func testNode(name, cpu, mem string, pods int64, labels ...string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	n.Status.Allocatable = v1.ResourceList{
		v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem),
		v1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI),
	}
	return n
}

func testPod(name, cpu, mem string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name,
		CreationTimestamp: metav1.Time{Time: time.Now()}}}
	req := v1.ResourceList{}
	if cpu != "" {
		req[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[v1.ResourceMemory] = resource.MustParse(mem)
	}
	p.Spec.Containers = []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: req}}}
	p.Spec.SchedulerName = v1.DefaultSchedulerName
	return p
}

func startScheduler(t *testing.T, f *fakeAPI, mutate func(*Config)) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Queue.InitialBackoff = 5 * time.Millisecond
	cfg.Queue.MaxBackoff = 20 * time.Millisecond
	cfg.Algorithm.Seed = 7
	if mutate != nil {
		mutate(&cfg)
	}
	f.s = New(cfg, f, zap.NewNop(), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, v := range f.violations {
			t.Error(v)
		}
	})
}

// waitFor polls cond until it holds or the deadline passes, then reports what it saw last.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last saw: %s", what, last)
}

func TestBurstNeverOvercommits(t *testing.T) {
	f := newFakeAPI(t)
	f.fail = 0.05
	f.delay = 3 * time.Millisecond
	startScheduler(t, f, nil)
	for i := range 10 {
		f.addNode(testNode(fmt.Sprintf("n%d", i), "2", "4Gi", 30))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		cpu := fmt.Sprintf("%dm", 50+rng.IntN(250))
		mem := fmt.Sprintf("%dMi", 64+rng.IntN(256))
		f.s.OnPodAdd(testPod(fmt.Sprintf("p%04d", i), cpu, mem))
	}
	// Every pod ends up either bound or parked as unschedulable.
	waitFor(t, "every pod bound or unschedulable", 60*time.Second, func() (bool, string) {
		l := f.s.Queue().Len()
		f.mu.Lock()
		bound := len(f.bound)
		f.mu.Unlock()
		return bound+l.Unschedulable == 1000 && l.InFlight == 0 && l.Active == 0 && l.Backoff == 0,
			fmt.Sprintf("bound %d, queue %+v", bound, l)
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.violations) > 0 {
		t.Fatalf("%d violations, first: %s", len(f.violations), f.violations[0])
	}
	// The nodes are full: no unschedulable pod would fit anywhere.
	var free int64
	for n := range f.nodes {
		free = max(free, 2000-f.cpu[n])
	}
	if len(f.bound) < 100 {
		t.Errorf("only %d pods bound onto 20 cores of 50m-300m pods", len(f.bound))
	}
	t.Logf("bound %d pods; largest free cpu on a node: %dm", len(f.bound), free)
}

func TestUnschedulableCondition(t *testing.T) {
	f := newFakeAPI(t)
	startScheduler(t, f, nil)
	for i := range 3 {
		f.addNode(testNode(fmt.Sprintf("small%d", i), "1", "4Gi", 10))
	}
	tainted := testNode("tainted", "8", "4Gi", 10)
	tainted.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "infra", Effect: v1.TaintEffectNoSchedule}}
	f.addNode(tainted)
	f.s.OnPodAdd(testPod("big", "2", ""))
	want := "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 3 Insufficient cpu. " +
		"preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
	waitFor(t, "the PodScheduled=False condition", 5*time.Second, func() (bool, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		c, ok := f.conditions["big"]
		return ok && c.Message == want && c.Reason == "Unschedulable" && c.Status == v1.ConditionFalse, fmt.Sprintf("%+v", c)
	})
	f.mu.Lock()
	found := false
	for _, e := range f.events {
		found = found || e == "FailedScheduling big: "+want
	}
	f.mu.Unlock()
	if !found {
		t.Errorf("no FailedScheduling event with the message; events: %v", f.events)
	}
	// A bigger node arriving lets the pod in promptly.
	f.addNode(testNode("large", "4", "4Gi", 10))
	waitFor(t, "the pod bound to the new node", 5*time.Second, func() (bool, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.bound["uid-big"] == "large", fmt.Sprintf("bound %v", f.bound)
	})
}

func TestPreemptionInProcess(t *testing.T) {
	f := newFakeAPI(t)
	startScheduler(t, f, nil)
	f.addNode(testNode("n1", "1", "4Gi", 10))
	low := testPod("low", "800m", "")
	lp := int32(1)
	low.Spec.Priority = &lp
	f.s.OnPodAdd(low)
	waitFor(t, "the low-priority pod bound", 5*time.Second, func() (bool, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.bound["uid-low"] == "n1", fmt.Sprintf("%v", f.bound)
	})
	high := testPod("high", "800m", "")
	hp := int32(1000)
	high.Spec.Priority = &hp
	f.s.OnPodAdd(high)
	waitFor(t, "the high-priority pod bound after preempting", 5*time.Second, func() (bool, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.bound["uid-high"] == "n1", fmt.Sprintf("bound %v, evicted %v, nominated %v", f.bound, f.evicted, f.nominated)
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Join(f.evicted, ",") != "low" || f.nominated["high"] != "n1" {
		t.Errorf("evicted %v, nominated %v; want low evicted and high nominated to n1", f.evicted, f.nominated)
	}
}
