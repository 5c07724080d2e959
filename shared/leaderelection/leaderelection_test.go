package leaderelection_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/internal/fakeapiserver"
	"github.com/skiffhq/skiff/shared/leaderelection"
)

var leasesInfo = client.ResourceInfo{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease", Namespaced: true}

const leaseGR = "leases.coordination.k8s.io"

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last saw: %s", what, last)
}

// cuttable wraps a lease client so a test can cut one candidate off the apiserver (a partition or a
// hung process) without stopping the server for everyone.
type cuttable struct {
	leaderelection.LeaseClient
	cut atomic.Bool
}

var errCut = errors.New("connection cut by the test")

func (c *cuttable) Get(ctx context.Context, ns, name string, o client.GetOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseClient.Get(ctx, ns, name, o)
}

func (c *cuttable) Update(ctx context.Context, ns string, l *coordinationv1.Lease, o client.UpdateOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseClient.Update(ctx, ns, l, o)
}

// leadership tracks how many candidates lead at once.
type leadership struct {
	mu      sync.Mutex
	current map[string]bool
	max     int
	terms   []string
}

func (l *leadership) start(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.current == nil {
		l.current = map[string]bool{}
	}
	l.current[id] = true
	l.max = max(l.max, len(l.current))
	l.terms = append(l.terms, id)
}

func (l *leadership) stop(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.current, id)
}

func (l *leadership) leaders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id := range l.current {
		out = append(out, id)
	}
	return out
}

type candidate struct {
	id     string
	leases *cuttable
	cancel context.CancelFunc
	done   chan error
}

func startCandidate(t *testing.T, fake *fakeapiserver.Server, id string, lease time.Duration, track *leadership) *candidate {
	t.Helper()
	c, err := client.New(&client.Config{Server: fake.URL(), QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	cand := &candidate{id: id, leases: &cuttable{LeaseClient: client.NewResource[coordinationv1.Lease](c, leasesInfo)}, done: make(chan error, 1)}
	e, err := leaderelection.New(leaderelection.Config{
		Leases: cand.leases, Namespace: "kube-system", Name: "skiff-test", Identity: id,
		LeaseDuration: lease, RenewDeadline: 500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
		OnStartedLeading: func(ctx context.Context) {
			track.start(id)
			<-ctx.Done()
			track.stop(id)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cand.cancel = cancel
	go func() { cand.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-cand.done:
		case <-time.After(10 * time.Second):
			t.Errorf("candidate %s did not stop", id)
		}
	})
	return cand
}

func holder(fake *fakeapiserver.Server) (string, float64) {
	l := fake.Get(leaseGR, "kube-system", "skiff-test")
	if l == nil {
		return "", 0
	}
	spec, _ := l["spec"].(map[string]any)
	h, _ := spec["holderIdentity"].(string)
	tr, _ := spec["leaseTransitions"].(float64)
	return h, tr
}

// TestReleaseHandsOverAtOnce: with a one-minute lease, the second candidate can only take over within
// the test's deadline if the first releases the lease on a clean shutdown.
func TestReleaseHandsOverAtOnce(t *testing.T) {
	fake := fakeapiserver.New(t)
	track := &leadership{}
	a := startCandidate(t, fake, "a", time.Minute, track)
	waitFor(t, "a to lead", func() (bool, string) {
		return strings.Join(track.leaders(), ",") == "a", fmt.Sprint(track.leaders())
	})
	startCandidate(t, fake, "b", time.Minute, track)
	a.cancel()
	err := <-a.done
	a.done <- err // for the cleanup
	if err != nil {
		t.Fatalf("a clean shutdown returned %v, want nil", err)
	}
	waitFor(t, "b to take over the released lease", func() (bool, string) {
		h, _ := holder(fake)
		return strings.Join(track.leaders(), ",") == "b" && h == "b", fmt.Sprintf("leaders %v, holder %q", track.leaders(), h)
	})
	if _, tr := holder(fake); tr != 1 {
		t.Errorf("leaseTransitions = %v, want 1", tr)
	}
	if track.max != 1 {
		t.Errorf("%d candidates led at the same time", track.max)
	}
}

// TestOnlyOneLeadsAndTakeoverAfterExpiry starts three candidates at once, then cuts the leader off: it
// must stop leading (ErrLeadershipLost) before another candidate takes over the expired lease.
func TestOnlyOneLeadsAndTakeoverAfterExpiry(t *testing.T) {
	fake := fakeapiserver.New(t)
	track := &leadership{}
	cands := map[string]*candidate{}
	for _, id := range []string{"a", "b", "c"} {
		cands[id] = startCandidate(t, fake, id, 2*time.Second, track)
	}
	var first string
	waitFor(t, "one leader", func() (bool, string) {
		ls := track.leaders()
		if len(ls) == 1 {
			first = ls[0]
		}
		return len(ls) == 1, fmt.Sprint(ls)
	})
	if h, _ := holder(fake); h != first {
		t.Fatalf("lease holder %q, leader %q", h, first)
	}

	cands[first].leases.cut.Store(true)
	select {
	case err := <-cands[first].done:
		if !errors.Is(err, leaderelection.ErrLeadershipLost) {
			t.Fatalf("the cut-off leader returned %v, want ErrLeadershipLost", err)
		}
		cands[first].done <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("the cut-off leader kept leading")
	}
	var second string
	waitFor(t, "another candidate to take over", func() (bool, string) {
		ls := track.leaders()
		h, _ := holder(fake)
		if len(ls) == 1 && ls[0] != first && h == ls[0] {
			second = ls[0]
			return true, ""
		}
		return false, fmt.Sprintf("leaders %v, holder %q", ls, h)
	})
	if track.max != 1 {
		t.Errorf("%d candidates led at the same time", track.max)
	}
	t.Logf("%s led, was cut off, %s took over", first, second)
}

func TestConfigValidation(t *testing.T) {
	fake := fakeapiserver.New(t)
	c, _ := client.New(&client.Config{Server: fake.URL()})
	leases := client.NewResource[coordinationv1.Lease](c, leasesInfo)
	run := func(context.Context) {}
	tests := []struct {
		name string
		cfg  leaderelection.Config
		want string
	}{
		{"no lease client", leaderelection.Config{Namespace: "n", Name: "x", OnStartedLeading: run}, "Lease client"},
		{"no name", leaderelection.Config{Leases: leases, Namespace: "n", OnStartedLeading: run}, "namespace and name"},
		{"no callback", leaderelection.Config{Leases: leases, Namespace: "n", Name: "x"}, "OnStartedLeading"},
		{"lease not longer than renew deadline", leaderelection.Config{Leases: leases, Namespace: "n", Name: "x", OnStartedLeading: run,
			LeaseDuration: 5 * time.Second, RenewDeadline: 5 * time.Second}, "must be longer"},
		{"renew deadline not longer than retry", leaderelection.Config{Leases: leases, Namespace: "n", Name: "x", OnStartedLeading: run,
			RenewDeadline: time.Second, RetryPeriod: 2 * time.Second}, "must be longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := leaderelection.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	e, err := leaderelection.New(leaderelection.Config{Leases: leases, Namespace: "n", Name: "x", OnStartedLeading: run})
	if err != nil || e.Identity() == "" {
		t.Errorf("defaults: %v, identity %q", err, e.Identity())
	}
}

func TestRunOrLead(t *testing.T) {
	fake := fakeapiserver.New(t)
	c, _ := client.New(&client.Config{Server: fake.URL(), QPS: -1})
	leases := client.NewResource[coordinationv1.Lease](c, leasesInfo)
	opts := leaderelection.Options{Enabled: true, Namespace: "kube-system", Name: "skiff-test", Identity: "me",
		LeaseDuration: time.Minute, RenewDeadline: 500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}

	t.Run("disabled runs the work at once without a lease", func(t *testing.T) {
		o := opts
		o.Enabled = false
		ran := false
		err := leaderelection.RunOrLead(context.Background(), leases, o, nil, func(context.Context) error { ran = true; return nil })
		if err != nil || !ran || fake.Get(leaseGR, "kube-system", "skiff-test") != nil {
			t.Errorf("err %v, ran %v, lease %v", err, ran, fake.Get(leaseGR, "kube-system", "skiff-test"))
		}
	})
	t.Run("work failing while leading returns its error and releases the lease", func(t *testing.T) {
		boom := errors.New("boom")
		err := leaderelection.RunOrLead(context.Background(), leases, opts, nil, func(context.Context) error { return boom })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
		if h, _ := holder(fake); h != "" {
			t.Errorf("holder after the work ended = %q, want the lease released", h)
		}
	})
	t.Run("cancellation stops the work and returns nil", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- leaderelection.RunOrLead(ctx, leases, opts, nil, func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				return ctx.Err()
			})
		}()
		<-started
		if h, _ := holder(fake); h != "me" {
			t.Errorf("holder while leading = %q", h)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("err = %v, want nil", err)
		}
	})
}
