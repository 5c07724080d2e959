package integration

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/leaderelection"

	"github.com/skiffhq/skiff/scheduler/internal/scheduler"
)

// benchScale scales the SchedulingBasic workloads; -short runs them at a tenth.
var benchScale = flag.Float64("bench-scale", 1, "scale of the scheduling benchmarks' node and pod counts (-short: 0.1)")

func scaled(n int) int {
	s := *benchScale
	if testing.Short() && s == 1 {
		s = 0.1
	}
	return max(1, int(float64(n)*s))
}

// The shapes of kube-scheduler's scheduler_perf SchedulingBasic: node-default.yaml (4 cpu, 32Gi, 110
// pods) and pod-default.yaml (100m cpu, 500Mi).
func benchNode(name string) *v1.Node {
	n := makeNode(name, "4", "32Gi", 110)
	n.Labels[v1.LabelTopologyZone] = fmt.Sprintf("zone-%d", len(name)%3)
	return n
}

func benchPod(ns string, i int) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: ns, UID: fmt.Sprintf("bench-uid-%d", i),
		CreationTimestamp: metav1.Time{Time: time.Now()}}}
	p.Spec.SchedulerName = v1.DefaultSchedulerName
	p.Spec.Containers = []v1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10", Resources: v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("500Mi")}}}}
	return p
}

// latencyObserver collects per-pod latencies and signals when every pod is bound.
type latencyObserver struct {
	want    int64
	count   atomic.Int64
	started chan struct{}
	done    chan struct{}
	once    sync.Once
	start   time.Time
	end     time.Time

	mu       sync.Mutex
	attempts []time.Duration
	bounds   []time.Duration
}

func newObserver(want int) *latencyObserver {
	return &latencyObserver{want: int64(want), started: make(chan struct{}), done: make(chan struct{})}
}

func (o *latencyObserver) Started() {
	o.start = time.Now()
	close(o.started)
}

func (o *latencyObserver) Scheduled(_ *v1.Pod, _ string, attempt, bound, _ time.Duration) {
	o.mu.Lock()
	o.attempts = append(o.attempts, attempt)
	o.bounds = append(o.bounds, bound)
	o.mu.Unlock()
	if o.count.Add(1) == o.want {
		o.once.Do(func() { o.end = time.Now(); close(o.done) })
	}
}

type benchResult struct {
	podsPerSec                     float64
	attemptP50, attemptP99         time.Duration
	boundP50, boundP99             time.Duration
	elapsed                        time.Duration
	cacheHits, cacheMiss, examined int64
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func (o *latencyObserver) result() benchResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	el := o.end.Sub(o.start)
	return benchResult{
		podsPerSec: float64(len(o.attempts)) / el.Seconds(), elapsed: el,
		attemptP50: pct(o.attempts, 0.5), attemptP99: pct(o.attempts, 0.99),
		boundP50: pct(o.bounds, 0.5), boundP99: pct(o.bounds, 0.99),
	}
}

// variant is one algorithm configuration compared in the benchmark.
type variant struct {
	name   string
	mutate func(*scheduler.Config)
}

var variants = []variant{
	{"default", func(*scheduler.Config) {}},
	{"no-equivalence-classes", func(c *scheduler.Config) { c.Algorithm.EquivalenceClasses = false }},
	{"no-relaxed-randomisation", func(c *scheduler.Config) { c.Algorithm.PercentageOfNodesToScore = 100 }},
}

// fakeBinder is the in-process benchmark's stand-in for the apiserver: a binding succeeds at once and
// is reported back as the pod informer would.
type fakeBinder struct{ s *scheduler.Scheduler }

func (f *fakeBinder) Bind(_ context.Context, pod *v1.Pod, node string) error {
	b := *pod
	b.Spec.NodeName = node
	f.s.OnPodUpdate(pod, &b)
	return nil
}
func (f *fakeBinder) UpdateCondition(context.Context, *v1.Pod, v1.PodCondition, *string) error {
	return nil
}
func (f *fakeBinder) Evict(context.Context, *v1.Pod, *v1.Pod, string) error          { return nil }
func (f *fakeBinder) Event(context.Context, *v1.Pod, string, string, string, string) {}

func runInProcess(b *testing.B, nodes, pods int, v variant) benchResult {
	cfg := scheduler.DefaultConfig()
	cfg.Events = false
	v.mutate(&cfg)
	obs := newObserver(pods)
	fb := &fakeBinder{}
	s := scheduler.New(cfg, fb, zap.NewNop(), nil, obs)
	fb.s = s
	for i := range nodes {
		s.OnNodeAdd(benchNode(fmt.Sprintf("node-%05d", i)))
	}
	for i := range pods {
		s.OnPodAdd(benchPod("default", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-obs.done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("timed out: %d of %d pods bound, queue %+v", obs.count.Load(), pods, s.Queue().Len())
	}
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	r := obs.result()
	st := s.AlgorithmStats()
	r.cacheHits, r.cacheMiss, r.examined = st.CacheHits, st.CacheMisses, st.NodesEvaluated
	return r
}

func runThroughAPI(b *testing.B, nodes, pods int, v variant) benchResult {
	c := startCluster(b)
	ctx := context.Background()
	parallel(b, nodes, 16, func(i int) error {
		_, err := c.cs.Nodes.Create(ctx, "", benchNode(fmt.Sprintf("node-%05d", i)), client.CreateOptions{})
		return err
	})
	parallel(b, pods, 16, func(i int) error {
		p := benchPod("default", i)
		p.UID = ""
		_, err := c.cs.Pods.Create(ctx, "default", p, client.CreateOptions{})
		return err
	})
	cfg := scheduler.DefaultConfig()
	v.mutate(&cfg)
	obs := newObserver(pods)
	cs, err := client.NewForConfig(&client.Config{Server: c.url, QPS: -1, UserAgent: "skiff-scheduler-bench"})
	if err != nil {
		b.Fatal(err)
	}
	le := leaderelection.DefaultOptions("skiff-scheduler")
	le.Enabled = false
	r := scheduler.NewRunner(cs, cfg, le, nil, zap.NewNop(), obs)
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- r.Run(runCtx) }()
	select {
	case <-obs.done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("timed out: %d of %d pods bound", obs.count.Load(), pods)
	}
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	res := obs.result()
	st := r.Scheduler.AlgorithmStats()
	res.cacheHits, res.cacheMiss, res.examined = st.CacheHits, st.CacheMisses, st.NodesEvaluated
	return res
}

func parallel(b *testing.B, n, workers int, f func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSchedulingBasic is kube-scheduler's scheduler_perf SchedulingBasic shape: 10,000 pods onto
// 5,000 nodes and 5,000 pods onto 1,000, in-process (a binding is observed at once) and through a real
// apiserver (pods/binding, informers, events), each with the default algorithm and with equivalence
// classes or relaxed randomisation switched off. It prints pods/s, per-pod latencies and the speed-up of
// each optimisation.
func BenchmarkSchedulingBasic(b *testing.B) {
	shapes := []struct{ nodes, pods int }{{5000, 10000}, {1000, 5000}}
	for _, mode := range []struct {
		name string
		run  func(*testing.B, int, int, variant) benchResult
	}{{"InProcess", runInProcess}, {"API", runThroughAPI}} {
		for _, sh := range shapes {
			nodes, pods := scaled(sh.nodes), scaled(sh.pods)
			results := map[string]benchResult{}
			for _, v := range variants {
				b.Run(fmt.Sprintf("%s/%dNodes/%dPods/%s", mode.name, nodes, pods, v.name), func(b *testing.B) {
					var r benchResult
					for range b.N {
						r = mode.run(b, nodes, pods, v)
					}
					results[v.name] = r
					b.ReportMetric(r.podsPerSec, "pods/s")
					b.ReportMetric(float64(r.attemptP50.Microseconds()), "attempt-p50-µs")
					b.ReportMetric(float64(r.attemptP99.Microseconds()), "attempt-p99-µs")
					b.ReportMetric(float64(r.boundP50.Microseconds()), "bound-p50-µs")
					b.ReportMetric(float64(r.boundP99.Microseconds()), "bound-p99-µs")
					fmt.Printf("%-9s %5d nodes %6d pods %-26s %8.0f pods/s  attempt p50 %8v p99 %8v  attempt+bind p50 %8v p99 %8v  (%v; cache hits %d misses %d, nodes examined %d)\n",
						mode.name, nodes, pods, v.name, r.podsPerSec, r.attemptP50, r.attemptP99, r.boundP50, r.boundP99,
						r.elapsed.Round(time.Millisecond), r.cacheHits, r.cacheMiss, r.examined)
				})
			}
			if d, ok := results["default"]; ok {
				for _, v := range variants[1:] {
					if o, ok := results[v.name]; ok && o.podsPerSec > 0 {
						fmt.Printf("%-9s %5d nodes %6d pods: default is %.2fx the throughput of %s\n", mode.name, nodes, pods, d.podsPerSec/o.podsPerSec, v.name)
					}
				}
			}
		}
	}
}
