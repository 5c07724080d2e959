package workqueue

import (
	"container/heap"
	"sync"
	"time"
)

// Options configure a queue. Zero values are defaults.
type Options[T comparable] struct {
	// Name labels the queue's metrics (name="replicaset"); keep it a fixed, short identifier.
	Name string
	// RateLimiter decides AddRateLimited delays; DefaultRateLimiter when nil.
	RateLimiter RateLimiter[T]
	// Metrics, when set, receives the queue's measurements (see NewMetrics).
	Metrics *Metrics
}

// Queue is a work queue with per-item deduplication and delayed, rate-limited re-adds.
//
// An item added several times before a worker takes it is handed out once. An item is never handed to
// two workers at once: if it is added while being processed, it is marked dirty and queued again when
// the worker calls Done. Workers loop on Get ... Done.
type Queue[T comparable] struct {
	name    string
	limiter RateLimiter[T]
	metrics *queueMetrics

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []T
	dirty      map[T]struct{}
	processing map[T]struct{}
	addedAt    map[T]time.Time
	startedAt  map[T]time.Time
	shutdown   bool
	drainDone  chan struct{} // closed when processing becomes empty during a drain

	waitMu    sync.Mutex
	waiting   waitHeap[T]
	waitIndex map[T]*waitEntry[T]
	wake      chan struct{}
	stop      chan struct{}
	stopOnce  sync.Once
	waitDone  chan struct{}
}

// New returns a running queue. Call ShutDown when done with it.
func New[T comparable](opts Options[T]) *Queue[T] {
	q := &Queue[T]{
		name:       opts.Name,
		limiter:    opts.RateLimiter,
		dirty:      map[T]struct{}{},
		processing: map[T]struct{}{},
		addedAt:    map[T]time.Time{},
		startedAt:  map[T]time.Time{},
		waitIndex:  map[T]*waitEntry[T]{},
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		waitDone:   make(chan struct{}),
	}
	if q.limiter == nil {
		q.limiter = DefaultRateLimiter[T]()
	}
	q.cond = sync.NewCond(&q.mu)
	q.metrics = opts.Metrics.forQueue(opts.Name)
	go q.waitLoop()
	return q
}

// Add queues item unless it is already queued; an item being processed is queued again after Done.
// Adds after ShutDown are ignored.
func (q *Queue[T]) Add(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	if _, ok := q.dirty[item]; ok {
		return
	}
	q.metrics.add()
	q.dirty[item] = struct{}{}
	if _, ok := q.processing[item]; ok {
		return
	}
	q.addedAt[item] = time.Now()
	q.queue = append(q.queue, item)
	q.metrics.depth(len(q.queue))
	q.cond.Signal()
}

// Len returns the number of items ready to be handed out (not those waiting on a delay or in progress).
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

// Get blocks until an item is ready and returns it, or returns shutdown true once the queue has been
// shut down and emptied. The caller must call Done(item) when finished with it.
func (q *Queue[T]) Get() (item T, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if len(q.queue) == 0 {
		return item, true
	}
	item = q.queue[0]
	var zero T
	q.queue[0] = zero
	q.queue = q.queue[1:]
	q.metrics.depth(len(q.queue))
	now := time.Now()
	if t, ok := q.addedAt[item]; ok {
		q.metrics.queued(now.Sub(t))
		delete(q.addedAt, item)
	}
	q.startedAt[item] = now
	q.processing[item] = struct{}{}
	delete(q.dirty, item)
	return item, false
}

// Done marks item as processed. If it was added again meanwhile, it is queued again now.
func (q *Queue[T]) Done(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t, ok := q.startedAt[item]; ok {
		q.metrics.worked(time.Since(t))
		delete(q.startedAt, item)
	}
	delete(q.processing, item)
	if _, ok := q.dirty[item]; ok {
		q.addedAt[item] = time.Now()
		q.queue = append(q.queue, item)
		q.metrics.depth(len(q.queue))
		q.cond.Signal()
	}
	if len(q.processing) == 0 && q.drainDone != nil {
		close(q.drainDone)
		q.drainDone = nil
	}
}

// ShutDown stops accepting items and wakes every Get: workers receive what is still queued, then
// shutdown. It does not wait for them.
func (q *Queue[T]) ShutDown() {
	q.stopOnce.Do(func() { close(q.stop) })
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	q.cond.Broadcast()
}

// ShutDownWithDrain is ShutDown, then waits until workers have called Done on every item they took,
// including the items still queued at shutdown.
func (q *Queue[T]) ShutDownWithDrain() {
	q.ShutDown()
	for {
		q.mu.Lock()
		if len(q.processing) == 0 && len(q.queue) == 0 {
			q.mu.Unlock()
			return
		}
		if q.drainDone == nil {
			q.drainDone = make(chan struct{})
		}
		ch := q.drainDone
		q.mu.Unlock()
		<-ch
	}
}

// ShuttingDown reports whether ShutDown was called.
func (q *Queue[T]) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shutdown
}

// AddRateLimited adds item after the rate limiter's delay for it (a retry with backoff).
func (q *Queue[T]) AddRateLimited(item T) {
	q.metrics.retry()
	q.AddAfter(item, q.limiter.When(item))
}

// Forget clears item's retry history: call it when the item was processed successfully.
func (q *Queue[T]) Forget(item T) { q.limiter.Forget(item) }

// NumRequeues returns how many rate-limited retries item has had since it was last forgotten.
func (q *Queue[T]) NumRequeues(item T) int { return q.limiter.NumRequeues(item) }

// AddAfter adds item once delay has passed. An item already waiting keeps the earlier of its two times.
func (q *Queue[T]) AddAfter(item T, delay time.Duration) {
	if q.ShuttingDown() {
		return
	}
	if delay <= 0 {
		q.Add(item)
		return
	}
	at := time.Now().Add(delay)
	q.waitMu.Lock()
	if e, ok := q.waitIndex[item]; ok {
		if at.Before(e.at) {
			e.at = at
			heap.Fix(&q.waiting, e.index)
		}
	} else {
		e := &waitEntry[T]{item: item, at: at}
		heap.Push(&q.waiting, e)
		q.waitIndex[item] = e
	}
	q.waitMu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// waitLoop moves delayed items into the queue when their time comes.
func (q *Queue[T]) waitLoop() {
	defer close(q.waitDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.waitMu.Lock()
		now := time.Now()
		var ready []T
		for q.waiting.Len() > 0 && !q.waiting[0].at.After(now) {
			e := heap.Pop(&q.waiting).(*waitEntry[T])
			delete(q.waitIndex, e.item)
			ready = append(ready, e.item)
		}
		next := time.Hour
		if q.waiting.Len() > 0 {
			next = q.waiting[0].at.Sub(now)
		}
		q.waitMu.Unlock()
		for _, item := range ready {
			q.Add(item)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
		select {
		case <-q.stop:
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

type waitEntry[T comparable] struct {
	item  T
	at    time.Time
	index int
}

type waitHeap[T comparable] []*waitEntry[T]

func (h waitHeap[T]) Len() int           { return len(h) }
func (h waitHeap[T]) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap[T]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap[T]) Push(x any) {
	e := x.(*waitEntry[T])
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *waitHeap[T]) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
