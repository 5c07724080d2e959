package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// watchCache holds one resource prefix (/registry/<resource>/) in memory: the current value of every key
// and a ring of the most recent events, kept current by a single etcd watch. It serves watches that start
// inside its window and lists that accept a not-quite-latest state, so neither reaches etcd.
//
// Invariant while synced: every event with revision in (bufStart, rev] is in the ring, in order, and
// items is the state of the prefix at revision rev.
type watchCache struct {
	s        *etcdStore
	prefix   string
	resource string
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}

	mu        sync.RWMutex
	synced    bool
	syncedCh  chan struct{} // closed when synced becomes true; replaced on reset
	lastErr   error         // why the last sync attempt failed
	rev       int64
	bufStart  int64
	ring      []*Event // circular, capacity WatchCacheSize
	head, n   int
	items     map[string]KV
	keys      []string // the keys of items, sorted
	watchers  map[*watcher]struct{}
	interrupt context.CancelFunc // ends the current etcd watch (it then resumes from rev+1)
	streamCtx context.Context    // the current etcd watch's context, for progress requests

	beforeResume func() // test hook: runs before the etcd watch resumes after an interruption
}

// cacheRoot is the watch-cache prefix covering prefix: its first two segments ("/registry/pods/" for
// "/registry/pods/default/"), so namespaced and cluster-wide requests of a resource share one cache.
func cacheRoot(prefix string) string {
	if !strings.HasPrefix(prefix, "/") {
		return prefix
	}
	parts := strings.SplitN(prefix[1:], "/", 3)
	if len(parts) < 3 {
		return prefix
	}
	return "/" + parts[0] + "/" + parts[1] + "/"
}

// cacheFor returns the watch cache covering prefix, starting it on first use. It is nil once the store
// is closed.
func (s *etcdStore) cacheFor(prefix string) *watchCache {
	root := cacheRoot(prefix)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if c, ok := s.caches[root]; ok {
		return c
	}
	resource := strings.Trim(root, "/")
	if i := strings.LastIndex(resource, "/"); i >= 0 {
		resource = resource[i+1:]
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c := &watchCache{
		s: s, prefix: root, resource: resource, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		syncedCh: make(chan struct{}),
		ring:     make([]*Event, s.cfg.WatchCacheSize),
		items:    map[string]KV{},
		watchers: map[*watcher]struct{}{},
	}
	s.caches[root] = c
	go c.run()
	return c
}

// run keeps the cache synced: list, then watch from the list's revision; after a compaction took away
// revisions the cache had not seen, it ends its watchers with ErrExpired and starts over.
func (c *watchCache) run() {
	defer close(c.done)
	backoff := newBackoff()
	for c.ctx.Err() == nil {
		if err := c.resync(); err != nil {
			if c.ctx.Err() != nil {
				break
			}
			c.s.log.Warn("watch cache: listing from etcd", zap.String("resource", c.resource), zap.Error(err))
			backoff.wait(c.ctx)
			continue
		}
		backoff.reset()
		if err := c.follow(); errors.Is(err, ErrExpired) {
			c.s.log.Warn("watch cache: etcd watch compacted; relisting", zap.String("resource", c.resource))
			c.s.metrics.cacheResets.WithLabelValues(c.resource).Inc()
			c.reset(err)
		}
	}
	c.reset(nil)
}

// stop ends the cache and closes its watchers' event channels.
func (c *watchCache) stop() {
	c.cancel()
	<-c.done
}

func (c *watchCache) resync() error {
	res, err := c.s.listEtcd(c.ctx, c.prefix, c.prefix, 0, 0, nil)
	if err != nil {
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		return err
	}
	items := make(map[string]KV, len(res.Items))
	keys := make([]string, 0, len(res.Items))
	for _, kv := range res.Items {
		items[kv.Key] = kv
		keys = append(keys, kv.Key) // etcd returns keys sorted
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items, c.keys = items, keys
	c.rev, c.bufStart = res.Revision, res.Revision
	c.head, c.n = 0, 0
	clear(c.ring)
	c.synced, c.lastErr = true, nil
	close(c.syncedCh)
	c.s.metrics.cacheRevision.WithLabelValues(c.resource).Set(float64(c.rev))
	return nil
}

// reset ends every watcher (with err, or silently when err is nil) and marks the cache unsynced.
func (c *watchCache) reset(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watchers {
		c.removeLocked(w, err)
	}
	if c.synced {
		c.synced = false
		c.syncedCh = make(chan struct{})
	}
	c.head, c.n = 0, 0
	clear(c.ring)
}

// follow follows etcd from rev+1 until the cache stops (nil) or etcd compacted past rev (ErrExpired).
// Transient failures (a lost connection, a leader change) restart the etcd watch where it left off.
func (c *watchCache) follow() error {
	backoff := newBackoff()
	for {
		c.mu.Lock()
		from := c.rev + 1
		wctx, cancel := context.WithCancel(c.s.watchCtx(c.ctx, "cache/"+c.resource))
		c.interrupt = cancel
		c.streamCtx = wctx
		c.mu.Unlock()

		wch := c.s.client.Watch(wctx, c.prefix, clientv3.WithPrefix(), clientv3.WithRev(from),
			clientv3.WithPrevKV(), clientv3.WithProgressNotify())
		for resp := range wch {
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				cancel()
				return fmt.Errorf("watch cache of %s: %w: too old resource version: %d (%d)", c.prefix, ErrExpired, from-1, resp.CompactRevision)
			}
			if err := resp.Err(); err != nil {
				c.s.log.Info("watch cache: etcd watch ended; resuming", zap.String("resource", c.resource), zap.Error(err))
				break
			}
			if resp.IsProgressNotify() {
				c.progress(resp.Header.Revision)
				continue
			}
			if len(resp.Events) > 0 {
				c.apply(resp.Events)
				backoff.reset()
			}
		}
		cancel()
		if c.ctx.Err() != nil {
			return nil
		}
		backoff.wait(c.ctx)
		c.mu.RLock()
		hook := c.beforeResume
		c.mu.RUnlock()
		if hook != nil {
			hook()
		}
	}
}

// progress records that etcd has sent every event up to rev.
func (c *watchCache) progress(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev > c.rev {
		c.rev = rev
		c.s.metrics.cacheRevision.WithLabelValues(c.resource).Set(float64(rev))
	}
}

// apply adds etcd events to the state and the ring and hands them to the watchers. A watcher whose
// queue is full is ended with ErrTooSlow rather than allowed to hold up the others.
func (c *watchCache) apply(evs []*clientv3.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.rev
	for _, e := range evs {
		if e.Kv.ModRevision <= seen {
			continue // already seen (a resumed watch never repeats, but be sure)
		}
		ev := convertEvent(e, c.items)
		key := ev.KV.Key
		switch ev.Type {
		case Deleted:
			if _, ok := c.items[key]; ok {
				delete(c.items, key)
				i := sort.SearchStrings(c.keys, key)
				c.keys = append(c.keys[:i], c.keys[i+1:]...)
			}
		default:
			if _, ok := c.items[key]; !ok {
				i := sort.SearchStrings(c.keys, key)
				c.keys = append(c.keys, "")
				copy(c.keys[i+1:], c.keys[i:])
				c.keys[i] = key
			}
			c.items[key] = ev.KV
		}
		c.push(ev)
		c.rev = ev.KV.Revision
		for w := range c.watchers {
			if ev.KV.Revision <= w.from || !strings.HasPrefix(key, w.prefix) {
				continue
			}
			select {
			case w.in <- ev:
			default:
				c.removeLocked(w, ErrTooSlow)
			}
		}
	}
	c.s.metrics.cacheEvents.WithLabelValues(c.resource).Add(float64(len(evs)))
	c.s.metrics.cacheRevision.WithLabelValues(c.resource).Set(float64(c.rev))
}

// push appends to the ring, evicting the oldest event when full.
func (c *watchCache) push(ev *Event) {
	size := len(c.ring)
	if c.n == size {
		oldest := c.ring[c.head]
		c.bufStart = oldest.KV.Revision
		c.ring[c.head] = ev
		c.head = (c.head + 1) % size
		return
	}
	c.ring[(c.head+c.n)%size] = ev
	c.n++
}

// at returns the i-th oldest event in the ring.
func (c *watchCache) at(i int) *Event { return c.ring[(c.head+i)%len(c.ring)] }

// convertEvent turns an etcd event into a store Event. items supplies a deleted key's last value if etcd
// did not send the previous KV.
func convertEvent(e *clientv3.Event, items map[string]KV) *Event {
	kv := kvFrom(e.Kv)
	ev := &Event{KV: kv}
	switch {
	case e.Type == clientv3.EventTypeDelete:
		ev.Type = Deleted
		if e.PrevKv != nil {
			ev.KV.Value, ev.KV.CreateRevision = e.PrevKv.Value, e.PrevKv.CreateRevision
		} else if last, ok := items[kv.Key]; ok {
			ev.KV.Value, ev.KV.CreateRevision = last.Value, last.CreateRevision
		}
		ev.PrevValue = ev.KV.Value
	case e.IsCreate():
		ev.Type = Added
	default:
		ev.Type = Modified
		if e.PrevKv != nil {
			ev.PrevValue = e.PrevKv.Value
		} else if last, ok := items[kv.Key]; ok {
			ev.PrevValue = last.Value
		}
	}
	return ev
}

// waitSynced waits up to timeout for the cache to be synced.
func (c *watchCache) waitSynced(ctx context.Context, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.RLock()
		synced, ch := c.synced, c.syncedCh
		c.mu.RUnlock()
		if synced {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		case <-c.ctx.Done():
			return false
		}
	}
}

// list answers a List from memory if the cache is synced and, unless AnyRevision, at least at
// opts.Revision. Continuation pages are read from etcd at the cache's revision, which etcd still has.
func (c *watchCache) list(prefix string, opts ListOptions) (ListResult, bool) {
	c.mu.RLock()
	if !c.synced || !opts.AnyRevision && c.rev < opts.Revision {
		c.mu.RUnlock()
		return ListResult{}, false
	}
	rev := c.rev
	first := sort.SearchStrings(c.keys, prefix)
	last := first + sort.Search(len(c.keys)-first, func(i int) bool { return !strings.HasPrefix(c.keys[first+i], prefix) })
	if opts.Predicate == nil {
		n := last - first
		if opts.Limit > 0 && int64(n) > opts.Limit {
			n = int(opts.Limit)
		}
		res := ListResult{Revision: rev, Items: make([]KV, n)}
		for i := range n {
			res.Items[i] = c.items[c.keys[first+i]]
		}
		if first+n < last {
			res.Continue = encodeContinue(res.Items[n-1].Key+"\x00", rev)
			remaining := int64(last - first - n)
			res.RemainingItemCount = &remaining
		}
		c.mu.RUnlock()
		return res, true
	}
	// Copy the candidates and run the predicate (which decodes values) without holding the lock.
	candidates := make([]KV, last-first)
	for i := range candidates {
		candidates[i] = c.items[c.keys[first+i]]
	}
	c.mu.RUnlock()
	res := ListResult{Revision: rev}
	for i, kv := range candidates {
		if !opts.Predicate(kv) {
			continue
		}
		res.Items = append(res.Items, kv)
		if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
			if i < len(candidates)-1 {
				res.Continue = encodeContinue(kv.Key+"\x00", rev)
			}
			break
		}
	}
	return res, true
}

// backoff is a capped exponential delay between retries of a failing etcd call.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 50 * time.Millisecond} }

func (b *backoff) reset() { b.d = 50 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	if b.d *= 2; b.d > 2*time.Second {
		b.d = 2 * time.Second
	}
}
