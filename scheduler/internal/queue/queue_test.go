package queue

import (
	"context"
	"testing"
	"time"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
)

func pi(name string, prio int32) *framework.PodInfo {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name}}
	return framework.NewPodInfo(p, prio)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newQueue() (*Queue, *clock) {
	c := &clock{t: time.Unix(1000, 0)}
	q := New(Config{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second, MaxUnschedulable: 5 * time.Minute})
	q.SetClock(c.now)
	return q, c
}

func pop(t *testing.T, q *Queue) (*QueuedPod, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	qp, cycle, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("Pop: %v (lengths %+v)", err, q.Len())
	}
	return qp, cycle
}

func TestOrderIsPriorityThenAge(t *testing.T) {
	q, c := newQueue()
	q.Add(pi("old-low", 0))
	c.advance(time.Second)
	q.Add(pi("high", 100))
	c.advance(time.Second)
	q.Add(pi("new-low", 0))
	q.Add(pi("mid", 50))
	var got []string
	for range 4 {
		qp, _ := pop(t, q)
		got = append(got, qp.Info.Pod.Name)
	}
	want := []string{"high", "mid", "old-low", "new-low"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestBackoffDoublesUpToTheMax(t *testing.T) {
	q, c := newQueue()
	q.Add(pi("p", 0))
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		qp, _ := pop(t, q)
		q.RequeueBackoff(qp)
		c.advance(want*time.Second - time.Millisecond)
		q.Flush()
		if q.Len().Active != 0 {
			t.Fatalf("attempt %d: active before %ds of back-off", i+1, want)
		}
		c.advance(time.Millisecond)
		q.Flush()
		if q.Len().Active != 1 {
			t.Fatalf("attempt %d: not active after %ds of back-off: %+v", i+1, want, q.Len())
		}
	}
}

func TestUnschedulablePodsMoveOnRelevantEvents(t *testing.T) {
	tests := []struct {
		name    string
		plugins map[string]bool
		event   Event
		moved   bool
	}{
		{"insufficient cpu moves when an assigned pod is deleted", map[string]bool{framework.NodeResourcesFit: true}, EventAssignedPodDelete, true},
		{"insufficient cpu moves when a node is added", map[string]bool{framework.NodeResourcesFit: true}, EventNodeAdd, true},
		{"a taint mismatch does not move when a pod is deleted", map[string]bool{framework.TaintToleration: true}, EventAssignedPodDelete, false},
		{"a taint mismatch moves when a node is updated", map[string]bool{framework.TaintToleration: true}, EventNodeUpdate, true},
		{"anti-affinity moves when an assigned pod is added", map[string]bool{framework.InterPodAffinity: true}, EventAssignedPodAdd, true},
		{"resources do not move when an assigned pod is added", map[string]bool{framework.NodeResourcesFit: true}, EventAssignedPodAdd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, c := newQueue()
			q.Add(pi("p", 0))
			qp, cycle := pop(t, q)
			q.RequeueUnschedulable(qp, cycle, tt.plugins)
			if l := q.Len(); l.Unschedulable != 1 {
				t.Fatalf("lengths %+v, want one unschedulable", l)
			}
			q.MoveOnEvent(tt.event)
			c.advance(time.Second)
			q.Flush()
			if got := q.Len().Active == 1; got != tt.moved {
				t.Errorf("moved = %v, want %v (lengths %+v)", got, tt.moved, q.Len())
			}
		})
	}
}

func TestEventDuringAttemptSendsPodToBackoff(t *testing.T) {
	q, c := newQueue()
	q.Add(pi("p", 0))
	qp, cycle := pop(t, q)
	q.MoveOnEvent(EventNodeAdd) // arrives while p is being scheduled
	q.RequeueUnschedulable(qp, cycle, map[string]bool{framework.NodeResourcesFit: true})
	if l := q.Len(); l.Backoff != 1 || l.Unschedulable != 0 {
		t.Fatalf("lengths %+v, want the pod backing off, not parked", l)
	}
	c.advance(time.Second)
	q.Flush()
	if q.Len().Active != 1 {
		t.Fatalf("lengths %+v, want active after back-off", q.Len())
	}
}

func TestStatusOnlyUpdateDoesNotRequeue(t *testing.T) {
	q, _ := newQueue()
	p := pi("p", 0)
	q.Add(p)
	qp, cycle := pop(t, q)
	q.RequeueUnschedulable(qp, cycle, map[string]bool{framework.NodeResourcesFit: true})
	withStatus := *p.Pod
	withStatus.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
	q.Update(p, framework.NewPodInfo(&withStatus, 0))
	if l := q.Len(); l.Unschedulable != 1 {
		t.Fatalf("status-only update moved the pod: %+v", l)
	}
	withLabel := withStatus
	withLabel.Labels = map[string]string{"a": "b"}
	q.Update(framework.NewPodInfo(&withStatus, 0), framework.NewPodInfo(&withLabel, 0))
	if l := q.Len(); l.Unschedulable != 0 || l.Active+l.Backoff != 1 {
		t.Fatalf("a label change did not bring the pod back (active, or backing off): %+v", l)
	}
}

func TestGatedPodsWaitForTheirGates(t *testing.T) {
	q, _ := newQueue()
	p := pi("p", 0)
	p.Pod.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "example.com/wait"}}
	q.Add(p)
	if l := q.Len(); l.Gated != 1 || l.Active != 0 {
		t.Fatalf("lengths %+v, want gated", l)
	}
	open := *p.Pod
	open.Spec.SchedulingGates = nil
	q.Update(p, framework.NewPodInfo(&open, 0))
	if l := q.Len(); l.Active != 1 {
		t.Fatalf("lengths %+v, want active once the gate is removed", l)
	}
}

func TestDeletedWhileInFlightIsNotRequeued(t *testing.T) {
	q, _ := newQueue()
	q.Add(pi("p", 0))
	qp, _ := pop(t, q)
	q.Delete("uid-p")
	q.RequeueBackoff(qp)
	if l := q.Len(); l != (Lengths{}) {
		t.Fatalf("lengths %+v, want empty", l)
	}
}

func TestNominations(t *testing.T) {
	q, _ := newQueue()
	q.AddNominated(pi("a", 10), "n1")
	q.AddNominated(pi("b", 10), "n1")
	q.AddNominated(pi("a", 10), "n2")
	m := q.Nominated()
	if len(m["n1"]) != 1 || m["n1"][0].Pod.Name != "b" || len(m["n2"]) != 1 {
		t.Fatalf("nominations %v", m)
	}
	q.DeleteNominated("uid-b")
	q.DeleteNominated("uid-a")
	if q.Nominated() != nil {
		t.Fatalf("nominations left: %v", q.Nominated())
	}
}
