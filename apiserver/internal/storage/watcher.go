package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
)

// watcherOutBuffer is the small buffer of a watcher's outgoing channel; the real queue is its input.
const watcherOutBuffer = 16

// watcher is one Watch. Its input queue is fed by the watch cache (or, for a revision older than the
// cache's window, by a direct etcd watch); its goroutine first delivers the backlog taken from the
// cache's ring, then the queue, so the consumer sees every event once and in order.
type watcher struct {
	prefix  string
	from    int64
	in      chan *Event // bounded; closed by the feeder when it lets the watcher go
	out     chan Event
	backlog []*Event
	termErr atomic.Pointer[error] // set by the feeder before it closes in
	ctx     context.Context
	cancel  context.CancelFunc
	exited  chan struct{}
	detach  func() // unregisters from the feeder; safe to call more than once
}

func newWatcher(ctx context.Context, storeCtx context.Context, prefix string, from int64, queue int) *watcher {
	wctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(storeCtx, cancel)
	w := &watcher{
		prefix: prefix, from: from,
		in:     make(chan *Event, queue),
		out:    make(chan Event, watcherOutBuffer),
		ctx:    wctx,
		cancel: func() { stopOnClose(); cancel() },
		exited: make(chan struct{}),
		detach: func() {},
	}
	return w
}

// Events returns the channel of events; it is closed after Stop, the context's end or an Error event.
func (w *watcher) Events() <-chan Event { return w.out }

// Stop ends the watch and waits until its channel is closed.
func (w *watcher) Stop() {
	w.cancel()
	<-w.exited
}

// terminate records why the feeder is letting the watcher go; the feeder closes in afterwards.
func (w *watcher) terminate(err error) {
	if err != nil {
		w.termErr.CompareAndSwap(nil, &err)
	}
}

func (w *watcher) run() {
	defer close(w.exited)
	defer close(w.out)
	defer w.cancel()
	defer w.detach()
	for _, ev := range w.backlog {
		if !w.send(*ev) {
			return
		}
	}
	w.backlog = nil
	for {
		select {
		case ev, ok := <-w.in:
			if perr := w.termErr.Load(); perr != nil {
				w.send(Event{Type: Error, Err: *perr})
				return
			}
			if !ok {
				return
			}
			if !w.send(*ev) {
				return
			}
		case <-w.ctx.Done():
			return
		}
	}
}

func (w *watcher) send(ev Event) bool {
	select {
	case w.out <- ev:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// watchCtx is the context of one etcd watch. WithRequireLeader makes etcd cancel the watch when its
// member loses the leader (the watch then resumes elsewhere). The etcd client multiplexes watches with
// equal metadata over one gRPC stream; each watch gets a stream of its own (labelled by name and a
// sequence number) so that one watch canceled by compaction never disturbs another's stream.
func (s *etcdStore) watchCtx(ctx context.Context, name string) context.Context {
	id := s.watchSeq.Add(1)
	return metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(ctx), "skiff-watch", name+"/"+strconv.FormatInt(id, 10))
}

// Watch serves from the watch cache when fromRevision is inside its window (or newer), else from a direct
// etcd watch. fromRevision 0 means the current etcd revision.
func (s *etcdStore) Watch(ctx context.Context, prefix string, fromRevision int64) (Watcher, error) {
	if fromRevision < 0 {
		return nil, fmt.Errorf("watching %s: negative revision %d", prefix, fromRevision)
	}
	if fromRevision == 0 {
		rev, err := s.Revision(ctx)
		if err != nil {
			return nil, fmt.Errorf("watching %s: %w", prefix, err)
		}
		fromRevision = rev
	}
	c := s.cacheFor(prefix)
	if c == nil {
		return nil, fmt.Errorf("watching %s: store closed: %w", prefix, ErrUnavailable)
	}
	if c.waitSynced(ctx, s.cfg.RequestTimeout) {
		if w := c.watch(ctx, prefix, fromRevision); w != nil {
			return w, nil
		}
	}
	return s.directWatch(ctx, prefix, fromRevision), nil
}

// watch registers a watcher served from the cache, or returns nil if fromRevision is older than the
// cache's window (or the cache is not synced).
func (c *watchCache) watch(ctx context.Context, prefix string, from int64) *watcher {
	w := newWatcher(ctx, c.s.ctx, prefix, from, c.s.cfg.WatcherBuffer)
	c.mu.Lock()
	if !c.synced || from < c.bufStart {
		c.mu.Unlock()
		w.cancel()
		return nil
	}
	// The ring is in revision order: find the first event after from.
	i := searchRing(c.n, func(i int) bool { return c.at(i).KV.Revision > from })
	for ; i < c.n; i++ {
		if ev := c.at(i); strings.HasPrefix(ev.KV.Key, prefix) {
			w.backlog = append(w.backlog, ev)
		}
	}
	c.watchers[w] = struct{}{}
	c.s.metrics.cacheWatchers.WithLabelValues(c.resource).Set(float64(len(c.watchers)))
	c.mu.Unlock()
	w.detach = func() {
		c.mu.Lock()
		c.removeLocked(w, nil)
		c.mu.Unlock()
	}
	go w.run()
	return w
}

func searchRing(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !f(mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// removeLocked lets a watcher go, ending it with err (nil: the channel just closes). c.mu must be held.
func (c *watchCache) removeLocked(w *watcher, err error) {
	if _, ok := c.watchers[w]; !ok {
		return
	}
	delete(c.watchers, w)
	w.terminate(err)
	close(w.in)
	c.s.metrics.cacheWatchers.WithLabelValues(c.resource).Set(float64(len(c.watchers)))
	switch {
	case errors.Is(err, ErrTooSlow):
		c.s.metrics.cacheTerminated.WithLabelValues(c.resource, "too_slow").Inc()
	case errors.Is(err, ErrExpired):
		c.s.metrics.cacheTerminated.WithLabelValues(c.resource, "expired").Inc()
	}
}

// directWatch serves a watch from its own etcd watch, for revisions older than the cache's window. etcd
// answers a compacted revision with ErrExpired; a watch interrupted otherwise resumes where it left off.
func (s *etcdStore) directWatch(ctx context.Context, prefix string, from int64) *watcher {
	w := newWatcher(ctx, s.ctx, prefix, from, s.cfg.WatcherBuffer)
	go func() {
		defer close(w.in)
		next := from + 1
		backoff := newBackoff()
		items := map[string]KV{}
		for w.ctx.Err() == nil {
			wch := s.client.Watch(s.watchCtx(w.ctx, "direct"), prefix, clientv3.WithPrefix(), clientv3.WithRev(next), clientv3.WithPrevKV())
			for resp := range wch {
				if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
					// Kubernetes's wording, which the handlers pass on in the 410 Status.
					w.terminate(fmt.Errorf("watching %s: %w: too old resource version: %d (%d)", prefix, ErrExpired, from, resp.CompactRevision))
					return
				}
				if resp.Err() != nil {
					break
				}
				for _, e := range resp.Events {
					ev := convertEvent(e, items)
					select {
					case w.in <- ev:
					default:
						w.terminate(ErrTooSlow)
						return
					}
					next = ev.KV.Revision + 1
				}
				backoff.reset()
			}
			backoff.wait(w.ctx)
		}
	}()
	go w.run()
	return w
}

// progressLoop asks etcd for a progress notification on each cache's watch stream every
// ProgressInterval, so each cache learns that it is current even when its prefix sees no writes.
func (s *etcdStore) progressLoop() {
	defer s.wg.Done()
	ticker := time.NewTicker(s.cfg.ProgressInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ticker.C:
		}
		s.mu.Lock()
		var streams []context.Context
		for _, c := range s.caches {
			c.mu.RLock()
			if c.streamCtx != nil && c.streamCtx.Err() == nil {
				streams = append(streams, c.streamCtx)
			}
			c.mu.RUnlock()
		}
		s.mu.Unlock()
		for _, sctx := range streams {
			// The request must carry the watch's metadata to reach its stream; a timeout bounds it.
			ctx, cancel := context.WithTimeout(sctx, s.cfg.RequestTimeout)
			_ = s.client.RequestProgress(ctx) // best effort: the next tick tries again
			cancel()
		}
	}
}
