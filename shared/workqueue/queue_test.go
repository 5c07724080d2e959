package workqueue_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skiffhq/skiff/shared/workqueue"
)

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
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

func newQueue(t *testing.T) *workqueue.Queue[string] {
	q := workqueue.New(workqueue.Options[string]{Name: "test"})
	t.Cleanup(q.ShutDown)
	return q
}

// TestNoKeyOnTwoWorkers hammers a queue with adders and workers: a key must never be processed by two
// workers at once, and every add must be followed by a processing that started after it.
func TestNoKeyOnTwoWorkers(t *testing.T) {
	q := newQueue(t)
	const keys, workers, adders, addsEach = 20, 16, 8, 400
	var seq atomic.Int64
	var mu sync.Mutex
	running := map[string]bool{}
	lastAdd := map[string]int64{}
	lastStart := map[string]int64{}
	var overlaps, processed atomic.Int64

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, shutdown := q.Get()
				if shutdown {
					return
				}
				mu.Lock()
				if running[k] {
					overlaps.Add(1)
				}
				running[k] = true
				lastStart[k] = seq.Add(1)
				mu.Unlock()
				if rand.IntN(4) == 0 {
					time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				}
				mu.Lock()
				running[k] = false
				mu.Unlock()
				processed.Add(1)
				q.Done(k)
			}
		}()
	}
	var addWG sync.WaitGroup
	for a := 0; a < adders; a++ {
		addWG.Add(1)
		go func() {
			defer addWG.Done()
			for i := 0; i < addsEach; i++ {
				k := fmt.Sprintf("key-%d", rand.IntN(keys))
				mu.Lock()
				lastAdd[k] = seq.Add(1)
				mu.Unlock()
				q.Add(k)
			}
		}()
	}
	addWG.Wait()
	waitFor(t, "every added key to be processed after its last add", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for k, a := range lastAdd {
			if lastStart[k] < a || running[k] {
				return false, fmt.Sprintf("%s last added at %d, last started at %d", k, a, lastStart[k])
			}
		}
		return true, ""
	})
	q.ShutDownWithDrain()
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d times a key was handed to a second worker while the first still had it", n)
	}
	if p := processed.Load(); p >= adders*addsEach {
		t.Errorf("processed %d times for %d adds: no deduplication happened", p, adders*addsEach)
	}
	t.Logf("%d adds processed in %d runs", adders*addsEach, processed.Load())
}

func TestDeduplication(t *testing.T) {
	q := newQueue(t)
	q.Add("a")
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if q.Len() != 2 {
		t.Fatalf("Len = %d after adding a, a, b, a; want 2", q.Len())
	}
	k, _ := q.Get()
	if k != "a" {
		t.Fatalf("Get = %q, want a (FIFO)", k)
	}
	q.Add("a") // while a is processing: remembered, not handed out
	q.Add("a")
	if q.Len() != 1 {
		t.Fatalf("Len = %d while a is processing and re-added; want 1 (just b)", q.Len())
	}
	k2, _ := q.Get()
	if k2 != "b" {
		t.Fatalf("second Get = %q, want b", k2)
	}
	q.Done("a")
	if q.Len() != 1 {
		t.Fatalf("Len = %d after Done(a) with a re-added; want 1", q.Len())
	}
	k3, _ := q.Get()
	if k3 != "a" {
		t.Fatalf("third Get = %q, want a again", k3)
	}
	q.Done("a")
	q.Done("b")
	if q.Len() != 0 {
		t.Errorf("Len = %d at the end, want 0", q.Len())
	}
}

func TestExponentialBackoffGrowth(t *testing.T) {
	l := workqueue.NewExponentialLimiter[string](5*time.Millisecond, 1000*time.Second)
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	for i, w := range want {
		if got := l.When("x"); got != w {
			t.Errorf("retry %d: %v, want %v", i+1, got, w)
		}
	}
	if l.NumRequeues("x") != 5 || l.NumRequeues("y") != 0 {
		t.Errorf("NumRequeues x=%d y=%d, want 5 and 0", l.NumRequeues("x"), l.NumRequeues("y"))
	}
	for i := 0; i < 100; i++ {
		l.When("x")
	}
	if got := l.When("x"); got != 1000*time.Second {
		t.Errorf("after many retries: %v, want the 1000s cap", got)
	}
	l.Forget("x")
	if got := l.When("x"); got != 5*time.Millisecond {
		t.Errorf("after Forget: %v, want the base delay again", got)
	}
}

func TestRateLimiters(t *testing.T) {
	tests := []struct {
		name    string
		limiter workqueue.RateLimiter[string]
		calls   int
		last    func(time.Duration) bool
		want    string
	}{
		{"bucket allows its burst without delay", workqueue.NewBucketLimiter[string](10, 100), 100,
			func(d time.Duration) bool { return d == 0 }, "0"},
		{"bucket delays past the burst", workqueue.NewBucketLimiter[string](10, 100), 102,
			func(d time.Duration) bool { return d > 100*time.Millisecond && d <= 200*time.Millisecond }, "about 200ms"},
		{"default limiter: per-item backoff for a few retries", workqueue.DefaultRateLimiter[string](), 3,
			func(d time.Duration) bool { return d == 20*time.Millisecond }, "20ms"},
		{"default limiter: many retries of one item reach the 1000s cap", workqueue.DefaultRateLimiter[string](), 30,
			func(d time.Duration) bool { return d == 1000*time.Second }, "1000s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d time.Duration
			for i := 0; i < tt.calls; i++ {
				d = tt.limiter.When("item")
			}
			if !tt.last(d) {
				t.Errorf("delay after %d calls = %v, want %s", tt.calls, d, tt.want)
			}
		})
	}
}

func TestAddRateLimitedAndForget(t *testing.T) {
	q := workqueue.New(workqueue.Options[string]{RateLimiter: workqueue.NewExponentialLimiter[string](time.Millisecond, time.Second)})
	t.Cleanup(q.ShutDown)
	for i := 1; i <= 3; i++ {
		q.AddRateLimited("x")
		k, _ := q.Get()
		q.Done(k)
		if q.NumRequeues("x") != i {
			t.Fatalf("NumRequeues = %d after %d retries", q.NumRequeues("x"), i)
		}
	}
	q.Forget("x")
	if q.NumRequeues("x") != 0 {
		t.Errorf("NumRequeues = %d after Forget", q.NumRequeues("x"))
	}
}

func TestAddAfter(t *testing.T) {
	q := newQueue(t)
	q.AddAfter("later", time.Hour)
	q.AddAfter("soon", 5*time.Millisecond)
	if q.Len() != 0 {
		t.Fatalf("Len = %d right after delayed adds, want 0", q.Len())
	}
	k, _ := q.Get()
	if k != "soon" {
		t.Fatalf("Get = %q, want soon", k)
	}
	q.Done(k)
	q.AddAfter("later", time.Millisecond) // an earlier time wins over the hour
	k, _ = q.Get()
	if k != "later" {
		t.Fatalf("Get = %q, want later (moved up)", k)
	}
	q.Done(k)
	q.AddAfter("now", 0)
	if q.Len() != 1 {
		t.Errorf("AddAfter with no delay: Len = %d, want 1", q.Len())
	}
}

func TestShutDown(t *testing.T) {
	q := newQueue(t)
	q.Add("left")
	got := make(chan string, 2)
	go func() {
		for {
			k, shutdown := q.Get()
			if shutdown {
				got <- "SHUTDOWN"
				return
			}
			got <- k
			q.Done(k)
		}
	}()
	if k := <-got; k != "left" {
		t.Fatalf("got %q", k)
	}
	q.ShutDown()
	if k := <-got; k != "SHUTDOWN" {
		t.Fatalf("a blocked Get returned %q after ShutDown, want shutdown", k)
	}
	q.Add("ignored")
	q.AddAfter("ignored", time.Millisecond)
	if q.Len() != 0 || !q.ShuttingDown() {
		t.Errorf("adds after ShutDown were queued (Len %d)", q.Len())
	}
}

func TestShutDownWithDrainWaitsForWorkers(t *testing.T) {
	q := newQueue(t)
	q.Add("a")
	q.Add("b")
	k, _ := q.Get()
	drained := make(chan struct{})
	go func() { q.ShutDownWithDrain(); close(drained) }()
	waitFor(t, "ShutDown to take effect", func() (bool, string) { return q.ShuttingDown(), "not shutting down" })
	select {
	case <-drained:
		t.Fatal("drain returned while an item was still being processed")
	default:
	}
	q.Done(k)
	k2, shutdown := q.Get() // the item still queued at shutdown is handed out
	if shutdown || k2 != "b" {
		t.Fatalf("Get during drain = %q %v, want b", k2, shutdown)
	}
	select {
	case <-drained:
		t.Fatal("drain returned before the last item was done")
	default:
	}
	q.Done(k2)
	<-drained
	if _, shutdown := q.Get(); !shutdown {
		t.Error("Get after drain did not report shutdown")
	}
}

func TestRunRetriesFailuresAndStops(t *testing.T) {
	q := workqueue.New(workqueue.Options[string]{RateLimiter: workqueue.NewExponentialLimiter[string](time.Millisecond, 10*time.Millisecond)})
	var mu sync.Mutex
	attempts := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx, 3, func(_ context.Context, k string) error {
			mu.Lock()
			defer mu.Unlock()
			attempts[k]++
			if k == "flaky" && attempts[k] < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	}()
	q.Add("ok")
	q.Add("flaky")
	waitFor(t, "flaky to succeed on its third attempt", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return attempts["flaky"] == 3 && attempts["ok"] == 1, fmt.Sprint(attempts)
	})
	waitFor(t, "flaky to be forgotten after success", func() (bool, string) {
		return q.NumRequeues("flaky") == 0, fmt.Sprint(q.NumRequeues("flaky"))
	})
	cancel()
	<-done
	if !q.ShuttingDown() {
		t.Error("Run returned without shutting the queue down")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := workqueue.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := workqueue.NewMetrics(reg)
	if err != nil {
		t.Fatalf("second NewMetrics on the same registry: %v", err)
	}
	a := workqueue.New(workqueue.Options[string]{Name: "alpha", Metrics: m,
		RateLimiter: workqueue.NewExponentialLimiter[string](time.Hour, time.Hour)})
	b := workqueue.New(workqueue.Options[string]{Name: "beta", Metrics: m2})
	t.Cleanup(a.ShutDown)
	t.Cleanup(b.ShutDown)
	a.Add("x")
	a.Add("x")
	a.Add("y")
	b.Add("z")
	k, _ := a.Get()
	a.Done(k)
	a.AddRateLimited("x")
	expected := `
# HELP skiff_workqueue_adds_total Items added to the work queue (after deduplication).
# TYPE skiff_workqueue_adds_total counter
skiff_workqueue_adds_total{name="alpha"} 2
skiff_workqueue_adds_total{name="beta"} 1
# HELP skiff_workqueue_retries_total Rate-limited re-adds of failed items.
# TYPE skiff_workqueue_retries_total counter
skiff_workqueue_retries_total{name="alpha"} 1
skiff_workqueue_retries_total{name="beta"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "skiff_workqueue_adds_total", "skiff_workqueue_retries_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.ToFloat64(prometheusGauge(t, reg, "alpha")); n != 1 {
		t.Errorf("alpha depth = %v, want 1", n)
	}
}

// prometheusGauge finds the depth gauge of one queue through the registry.
func prometheusGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "skiff_workqueue_depth" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == name {
					g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "copy"})
					g.Set(m.GetGauge().GetValue())
					return g
				}
			}
		}
	}
	t.Fatalf("no skiff_workqueue_depth for %s", name)
	return nil
}
