// Package queue is the scheduler's queue of pending pods: an active heap ordered by priority and then by
// time in the queue, a back-off heap for pods that just failed, a set of unschedulable pods waiting for a
// cluster change that may help them, and the pods held by scheduling gates. It also tracks which pods
// preemption nominated to which node.
//
// The queue knows nothing about the apiserver; the scheduler feeds it from the pod informer and tells it
// about cluster events.
package queue

import (
	"container/heap"
	"context"
	"errors"
	"maps"
	"reflect"
	"sync"
	"time"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue closed")

// QueuedPod is a pending pod and its scheduling history.
type QueuedPod struct {
	Info *framework.PodInfo
	// Timestamp is when the pod last entered the active queue; equal priorities go oldest first.
	Timestamp time.Time
	// InitialAttempt is when the scheduler first saw the pod, the start of its end-to-end latency.
	InitialAttempt time.Time
	// Attempts counts scheduling attempts; the back-off doubles with each.
	Attempts int
	// UnschedulablePlugins are the filters that rejected the pod last time; only events that may change
	// their verdict bring it back early. Empty means any event does.
	UnschedulablePlugins map[string]bool

	backoffUntil time.Time
	index        int
	seq          uint64
	// While the pod is in flight the queue never touches Info; a deletion or a newer version seen
	// meanwhile is parked here and applied when the pod comes back.
	deleted bool
	next    *framework.PodInfo
}

// Config are the queue's timings.
type Config struct {
	InitialBackoff time.Duration // 1s in Kubernetes
	MaxBackoff     time.Duration // 10s
	// MaxUnschedulable is how long a pod waits for a helpful event before it is retried anyway (5m).
	MaxUnschedulable time.Duration
}

// Queue is safe for concurrent use.
type Queue struct {
	cfg Config
	now func() time.Time

	mu            sync.Mutex
	cond          *sync.Cond
	closed        bool
	active        podHeap
	backoff       podHeap
	unschedulable map[string]*QueuedPod
	gated         map[string]*QueuedPod
	inFlight      map[string]*QueuedPod
	all           map[string]*QueuedPod // every queued pod by UID (not in flight)
	seq           uint64

	schedulingCycle  int64
	moveRequestCycle int64

	nominatedByNode map[string][]*framework.PodInfo
	nominatedNode   map[string]string
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.InitialBackoff {
		cfg.MaxBackoff = 10 * cfg.InitialBackoff
	}
	if cfg.MaxUnschedulable <= 0 {
		cfg.MaxUnschedulable = 5 * time.Minute
	}
	q := &Queue{
		cfg: cfg, now: time.Now,
		active:          podHeap{less: activeLess},
		backoff:         podHeap{less: backoffLess},
		unschedulable:   map[string]*QueuedPod{},
		gated:           map[string]*QueuedPod{},
		inFlight:        map[string]*QueuedPod{},
		all:             map[string]*QueuedPod{},
		nominatedByNode: map[string][]*framework.PodInfo{},
		nominatedNode:   map[string]string{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// SetClock replaces the clock (tests).
func (q *Queue) SetClock(now func() time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.now = now
}

func activeLess(a, b *QueuedPod) bool {
	if a.Info.Priority != b.Info.Priority {
		return a.Info.Priority > b.Info.Priority
	}
	if !a.Timestamp.Equal(b.Timestamp) {
		return a.Timestamp.Before(b.Timestamp)
	}
	return a.seq < b.seq
}

func backoffLess(a, b *QueuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }

func gated(pi *framework.PodInfo) bool { return len(pi.Pod.Spec.SchedulingGates) > 0 }

// Add queues a new pending pod, or updates a queued one.
func (q *Queue) Add(pi *framework.PodInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if qp, ok := q.inFlight[pi.UID]; ok {
		qp.next = pi // the running attempt sees the old spec; the next one the new
		return
	}
	if qp, ok := q.all[pi.UID]; ok {
		q.update(qp, pi, now)
		return
	}
	qp := &QueuedPod{Info: pi, Timestamp: now, InitialAttempt: now}
	q.all[pi.UID] = qp
	q.place(qp, now)
}

// Update applies a new version of a pending pod. A change to its spec or labels gives it a fresh look at
// once; a change to its status only (the scheduler's own condition updates) leaves it where it is, so that
// writing PodScheduled=False does not retry the pod in a loop.
func (q *Queue) Update(old, pi *framework.PodInfo) {
	if old == nil || relevantChange(old.Pod, pi.Pod) {
		q.Add(pi)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.inFlight[pi.UID]; ok {
		qp.next = pi
		return
	}
	if qp, ok := q.all[pi.UID]; ok {
		qp.Info = pi
		return
	}
	qp := &QueuedPod{Info: pi, Timestamp: q.now(), InitialAttempt: q.now()}
	q.all[pi.UID] = qp
	q.place(qp, q.now())
}

func relevantChange(a, b *v1.Pod) bool {
	return !reflect.DeepEqual(a.Spec, b.Spec) || !maps.Equal(a.Labels, b.Labels) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil)
}

// update applies a new version of a queued pod: a changed pod gets a fresh look.
func (q *Queue) update(qp *QueuedPod, pi *framework.PodInfo, now time.Time) {
	q.removeFromSubqueue(qp)
	qp.Info = pi
	qp.UnschedulablePlugins = nil
	q.place(qp, now)
}

// place puts a pod not in any sub-queue where it belongs now.
func (q *Queue) place(qp *QueuedPod, now time.Time) {
	switch {
	case gated(qp.Info):
		q.gated[qp.Info.UID] = qp
	case qp.backoffUntil.After(now):
		heap.Push(&q.backoff, qp)
	default:
		q.pushActive(qp, now)
	}
}

func (q *Queue) pushActive(qp *QueuedPod, now time.Time) {
	q.seq++
	qp.seq = q.seq
	qp.Timestamp = now
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

func (q *Queue) removeFromSubqueue(qp *QueuedPod) {
	uid := qp.Info.UID
	if _, ok := q.unschedulable[uid]; ok {
		delete(q.unschedulable, uid)
		return
	}
	if _, ok := q.gated[uid]; ok {
		delete(q.gated, uid)
		return
	}
	if qp.index >= 0 && qp.index < q.active.Len() && q.active.items[qp.index] == qp {
		heap.Remove(&q.active, qp.index)
		return
	}
	if qp.index >= 0 && qp.index < q.backoff.Len() && q.backoff.items[qp.index] == qp {
		heap.Remove(&q.backoff, qp.index)
	}
}

// Delete drops a pod (deleted, or bound by someone else).
func (q *Queue) Delete(uid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.all[uid]; ok {
		q.removeFromSubqueue(qp)
		delete(q.all, uid)
	}
	if qp, ok := q.inFlight[uid]; ok {
		qp.deleted = true
	}
	q.deleteNominatedLocked(uid)
}

// Pop blocks until a pod is active, then hands it to the caller, who must finish with Done or one of the
// Requeue calls.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, int64, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed {
			return nil, 0, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		q.cond.Wait()
	}
	qp := heap.Pop(&q.active).(*QueuedPod)
	delete(q.all, qp.Info.UID)
	q.inFlight[qp.Info.UID] = qp
	qp.Attempts++
	q.schedulingCycle++
	return qp, q.schedulingCycle, nil
}

// Done ends an attempt that bound the pod (or gave up on it).
func (q *Queue) Done(uid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, uid)
}

// RequeueUnschedulable returns a pod that fits nowhere. If a cluster event arrived while it was being
// scheduled it backs off and retries; otherwise it waits for an event that may help it.
func (q *Queue) RequeueUnschedulable(qp *QueuedPod, cycle int64, plugins map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.takeBack(qp) {
		return
	}
	qp.UnschedulablePlugins = plugins
	now := q.now()
	qp.backoffUntil = now.Add(q.backoffFor(qp))
	if q.moveRequestCycle >= cycle || gated(qp.Info) {
		q.place(qp, now)
		return
	}
	qp.Timestamp = now
	q.unschedulable[qp.Info.UID] = qp
}

// RequeueBackoff returns a pod whose attempt failed for a transient reason (an API error, a bind
// conflict); it retries after its back-off.
func (q *Queue) RequeueBackoff(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.takeBack(qp) {
		return
	}
	now := q.now()
	qp.backoffUntil = now.Add(q.backoffFor(qp))
	q.place(qp, now)
}

func (q *Queue) takeBack(qp *QueuedPod) bool {
	delete(q.inFlight, qp.Info.UID)
	if qp.deleted || q.closed {
		return false
	}
	if qp.next != nil {
		qp.Info, qp.next = qp.next, nil
		qp.UnschedulablePlugins = nil
	}
	if _, ok := q.all[qp.Info.UID]; ok {
		return false // re-added meanwhile
	}
	q.all[qp.Info.UID] = qp
	return true
}

func (q *Queue) backoffFor(qp *QueuedPod) time.Duration {
	d := q.cfg.InitialBackoff
	for i := 1; i < qp.Attempts && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.cfg.MaxBackoff)
}

// Event is a cluster change that may make unschedulable pods schedulable.
type Event struct {
	Name string
	// Plugins are the filters whose verdict the event may change; nil means all.
	Plugins map[string]bool
}

// The cluster events the scheduler reports.
var (
	EventNodeAdd           = Event{Name: "NodeAdd"}
	EventNodeUpdate        = Event{Name: "NodeUpdate"}
	EventAssignedPodDelete = Event{Name: "AssignedPodDelete", Plugins: map[string]bool{
		framework.NodeResourcesFit: true, framework.NodePorts: true, framework.InterPodAffinity: true,
		framework.PodTopologySpread: true, framework.DefaultPreemption: true,
	}}
	EventAssignedPodAdd = Event{Name: "AssignedPodAdd", Plugins: map[string]bool{
		framework.InterPodAffinity: true, framework.PodTopologySpread: true,
	}}
	EventPriorityClassChange = Event{Name: "PriorityClassChange"}
)

// MoveOnEvent sends the unschedulable pods the event may help to the active queue (or to back-off if
// they are still backing off).
func (q *Queue) MoveOnEvent(ev Event) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveRequestCycle = q.schedulingCycle
	now := q.now()
	moved := 0
	for uid, qp := range q.unschedulable {
		if !affected(ev, qp.UnschedulablePlugins) {
			continue
		}
		delete(q.unschedulable, uid)
		q.place(qp, now)
		moved++
	}
	return moved
}

func affected(ev Event, plugins map[string]bool) bool {
	if ev.Plugins == nil || len(plugins) == 0 {
		return true
	}
	for p := range plugins {
		if ev.Plugins[p] {
			return true
		}
	}
	return false
}

// Flush moves pods whose back-off ended to the active queue, and pods unschedulable for longer than
// MaxUnschedulable back to be retried.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for q.backoff.Len() > 0 && !q.backoff.items[0].backoffUntil.After(now) {
		qp := heap.Pop(&q.backoff).(*QueuedPod)
		q.pushActive(qp, now)
	}
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.Timestamp) > q.cfg.MaxUnschedulable {
			delete(q.unschedulable, uid)
			q.place(qp, now)
		}
	}
}

// Run flushes every period until ctx ends, then closes the queue.
func (q *Queue) Run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			q.Close()
			return
		case <-t.C:
			q.Flush()
		}
	}
}

// Close wakes Pop callers with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Lengths are the sizes of the sub-queues.
type Lengths struct {
	Active, Backoff, Unschedulable, Gated, InFlight int
}

// Len returns the sizes of the sub-queues.
func (q *Queue) Len() Lengths {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Lengths{Active: q.active.Len(), Backoff: q.backoff.Len(), Unschedulable: len(q.unschedulable), Gated: len(q.gated), InFlight: len(q.inFlight)}
}

// Has reports whether the pod is queued or in flight.
func (q *Queue) Has(uid string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, a := q.all[uid]
	_, f := q.inFlight[uid]
	return a || f
}

// AddNominated records that preemption nominated pi to node.
func (q *Queue) AddNominated(pi *framework.PodInfo, node string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(pi.UID)
	q.nominatedNode[pi.UID] = node
	q.nominatedByNode[node] = append(q.nominatedByNode[node], pi)
}

// DeleteNominated forgets a pod's nomination (it was bound, deleted, or nominated elsewhere).
func (q *Queue) DeleteNominated(uid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(uid)
}

func (q *Queue) deleteNominatedLocked(uid string) {
	node, ok := q.nominatedNode[uid]
	if !ok {
		return
	}
	delete(q.nominatedNode, uid)
	list := q.nominatedByNode[node]
	for i, p := range list {
		if p.UID == uid {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(q.nominatedByNode, node)
	} else {
		q.nominatedByNode[node] = list
	}
}

// Nominated returns a copy of the nominations by node (nil when there are none).
func (q *Queue) Nominated() map[string][]*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.nominatedByNode) == 0 {
		return nil
	}
	m := make(map[string][]*framework.PodInfo, len(q.nominatedByNode))
	for k, v := range q.nominatedByNode {
		m[k] = append([]*framework.PodInfo(nil), v...)
	}
	return m
}

// podHeap is a heap of queued pods that tracks each pod's index.
type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}
func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	qp := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	qp.index = -1
	return qp
}
