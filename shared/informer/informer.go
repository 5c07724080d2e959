package informer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// ListerWatcher is what an informer needs from the API; *client.Resource[T] implements it.
type ListerWatcher[T any] interface {
	ListAll(ctx context.Context, namespace string, opts client.ListOptions) (*metav1.List[T], error)
	Watch(ctx context.Context, namespace string, opts client.ListOptions) (*client.Watcher[T], error)
}

// Handler receives an informer's events. Nil funcs are skipped. Handlers run one at a time on the
// informer's goroutine, in event order, after the cache has been updated: they must be quick (enqueue a
// key) and must not call AddHandler.
type Handler[T any] struct {
	// OnAdd is called for an object new to the cache (from the initial list, a watch, or a relist).
	OnAdd func(obj *T)
	// OnUpdate is called when an object changed, and with old == new on a periodic resync.
	OnUpdate func(old, new *T)
	// OnDelete is called when an object left the cache. After a DELETED event obj is the server's final
	// state. When the delete was missed (the watch was down) and found by a relist, obj is the last state
	// the cache held, and the handler may see it with a stale resourceVersion (a tombstone).
	OnDelete func(obj *T)
}

// KeyHandler returns a Handler that calls add with the object's MetaKey for every add, update and
// delete: the usual way to feed a work queue.
func KeyHandler[T any](add func(key string)) Handler[T] {
	return Handler[T]{
		OnAdd:    func(obj *T) { add(keyOf(obj)) },
		OnUpdate: func(_, obj *T) { add(keyOf(obj)) },
		OnDelete: func(obj *T) { add(keyOf(obj)) },
	}
}

// Options configure an informer. Zero values are defaults.
type Options struct {
	// Namespace limits the informer to one namespace; "" watches all namespaces (or a cluster-scoped
	// resource).
	Namespace string
	// LabelSelector and FieldSelector filter the objects; an object that stops matching is deleted from
	// the cache.
	LabelSelector string
	FieldSelector string
	// ResyncPeriod, when > 0, calls OnUpdate(obj, obj) for every cached object that often.
	ResyncPeriod time.Duration
	// PageSize is the list page size; 500 by default.
	PageSize int64
	// MinBackoff and MaxBackoff bound the delay between failed list/watch attempts (200ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// WatchTimeout is the longest single watch request; the server ends it and the informer re-watches.
	// A random duration between 5 and 10 minutes by default.
	WatchTimeout time.Duration
	// Name appears in logs; the resource name by default.
	Name string
	// Logger receives Info logs for recovered failures and Debug logs for relists; nop by default.
	Logger *zap.Logger
}

// Informer keeps a Store in sync with the API by list+watch and calls handlers on changes. Create it with
// New, add indexers and handlers, then Run it.
type Informer[T any] struct {
	lw    ListerWatcher[T]
	opts  Options
	store *Store[T]
	log   *zap.Logger

	// dispatch serializes cache updates and handler calls, so AddHandler can replay a consistent cache.
	dispatch sync.Mutex
	handlers []Handler[T]

	synced     atomic.Bool
	lastSyncRV atomic.Value // string
	running    atomic.Bool
}

// New returns an informer over lw. T's pointer must implement metav1.Object.
func New[T any](lw ListerWatcher[T], opts Options) *Informer[T] {
	if opts.PageSize == 0 {
		opts.PageSize = 500
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Name == "" {
		if r, ok := lw.(interface{ Info() client.ResourceInfo }); ok {
			opts.Name = r.Info().String()
		}
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	inf := &Informer[T]{lw: lw, opts: opts, store: NewStore[T](), log: log.With(zap.String("informer", opts.Name))}
	inf.lastSyncRV.Store("")
	return inf
}

// Store returns the cache. Do not modify it or the objects it holds.
func (i *Informer[T]) Store() *Store[T] { return i.store }

// Get returns a cached object by key ("namespace/name" or "name").
func (i *Informer[T]) Get(key string) (*T, bool) { return i.store.Get(key) }

// List returns every cached object, sorted by key.
func (i *Informer[T]) List() []*T { return i.store.List() }

// ByIndex returns the cached objects with the given index value.
func (i *Informer[T]) ByIndex(index, value string) []*T { return i.store.ByIndex(index, value) }

// AddIndexer adds a named index to the cache; allowed at any time.
func (i *Informer[T]) AddIndexer(name string, fn IndexFunc[T]) error {
	return i.store.AddIndexer(name, fn)
}

// AddHandler registers h. When the informer already holds objects, h first gets OnAdd for each of them.
func (i *Informer[T]) AddHandler(h Handler[T]) {
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	if h.OnAdd != nil {
		for _, obj := range i.store.List() {
			h.OnAdd(obj)
		}
	}
	i.handlers = append(i.handlers, h)
}

// HasSynced reports whether the first complete list has been stored and dispatched.
func (i *Informer[T]) HasSynced() bool { return i.synced.Load() }

// LastSyncResourceVersion returns the resourceVersion the cache is at (the last list, event or bookmark).
func (i *Informer[T]) LastSyncResourceVersion() string { return i.lastSyncRV.Load().(string) }

// Synced is anything with HasSynced; informers of different types all are.
type Synced interface{ HasSynced() bool }

// WaitForCacheSync waits until every informer has synced, or the context ends; it reports success.
func WaitForCacheSync(ctx context.Context, informers ...Synced) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		all := true
		for _, inf := range informers {
			if !inf.HasSynced() {
				all = false
				break
			}
		}
		if all {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

func (i *Informer[T]) notifyAdd(obj *T) {
	for _, h := range i.handlers {
		if h.OnAdd != nil {
			h.OnAdd(obj)
		}
	}
}

func (i *Informer[T]) notifyUpdate(old, obj *T) {
	for _, h := range i.handlers {
		if h.OnUpdate != nil {
			h.OnUpdate(old, obj)
		}
	}
}

func (i *Informer[T]) notifyDelete(obj *T) {
	for _, h := range i.handlers {
		if h.OnDelete != nil {
			h.OnDelete(obj)
		}
	}
}

// Run lists, watches and dispatches until ctx ends. It survives apiserver restarts and compactions:
// a watch that ends is resumed from the last resourceVersion seen, a 410 Gone relists and dispatches the
// difference, and failures are retried with capped exponential backoff. It returns ctx's error.
func (i *Informer[T]) Run(ctx context.Context) error {
	if !i.running.CompareAndSwap(false, true) {
		return errors.New("informer is already running")
	}
	defer i.running.Store(false)
	if i.opts.ResyncPeriod > 0 {
		go i.resyncLoop(ctx)
	}
	delay := i.opts.MinBackoff
	fail := func(what string, err error) {
		i.log.Info("informer "+what+" failed, retrying", zap.Error(err), zap.Duration("backoff", delay))
		t := time.NewTimer(delay + rand.N(delay/4+1))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		delay = min(delay*2, i.opts.MaxBackoff)
	}
	needList := true
	for ctx.Err() == nil {
		if needList {
			if err := i.relist(ctx); err != nil {
				if ctx.Err() == nil {
					fail("list", err)
				}
				continue
			}
			needList = false
		}
		started := time.Now()
		progressed, err := i.watch(ctx)
		switch {
		case ctx.Err() != nil:
		case client.IsGone(err):
			i.log.Debug("watch resourceVersion expired, relisting", zap.String("resource_version", i.LastSyncResourceVersion()))
			needList = true
		case err != nil:
			fail("watch", err)
		case !progressed && time.Since(started) < time.Second:
			// A watch that ended at once without delivering anything: don't spin on such a server.
			fail("watch", errors.New("watch closed with no events"))
		default:
			delay = i.opts.MinBackoff
		}
	}
	return ctx.Err()
}

// relist lists everything, replaces the cache and dispatches the difference from the previous content.
func (i *Informer[T]) relist(ctx context.Context) error {
	list, err := i.lw.ListAll(ctx, i.opts.Namespace, client.ListOptions{
		LabelSelector: i.opts.LabelSelector,
		FieldSelector: i.opts.FieldSelector,
		Limit:         i.opts.PageSize,
	})
	if err != nil {
		return err
	}
	if list.ResourceVersion == "" {
		return errors.New("list has no metadata.resourceVersion to watch from")
	}
	objs := make([]*T, len(list.Items))
	for n := range list.Items {
		objs[n] = &list.Items[n]
	}

	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	oldKeys := map[string]*T{}
	for _, obj := range i.store.List() {
		oldKeys[keyOf(obj)] = obj
	}
	type change struct{ old, obj *T }
	var adds, updates []change
	for _, obj := range objs {
		k := keyOf(obj)
		old, ok := oldKeys[k]
		delete(oldKeys, k)
		switch {
		case !ok:
			adds = append(adds, change{obj: obj})
		case resourceVersion(old) != resourceVersion(obj):
			updates = append(updates, change{old: old, obj: obj})
		}
	}
	i.store.Replace(objs)
	i.lastSyncRV.Store(list.ResourceVersion)
	for _, c := range adds {
		i.notifyAdd(c.obj)
	}
	for _, c := range updates {
		i.notifyUpdate(c.old, c.obj)
	}
	for _, old := range oldKeys {
		i.notifyDelete(old)
	}
	if i.synced.Load() {
		i.log.Debug("relisted", zap.Int("added", len(adds)), zap.Int("updated", len(updates)), zap.Int("deleted", len(oldKeys)))
	}
	i.synced.Store(true)
	return nil
}

// watch streams changes from the last resourceVersion into the cache. It returns nil when the server
// ended the stream normally, and reports whether any event arrived.
func (i *Informer[T]) watch(ctx context.Context) (progressed bool, err error) {
	timeout := i.opts.WatchTimeout
	if timeout <= 0 {
		timeout = 5*time.Minute + rand.N(5*time.Minute)
	}
	w, err := i.lw.Watch(ctx, i.opts.Namespace, client.ListOptions{
		LabelSelector:       i.opts.LabelSelector,
		FieldSelector:       i.opts.FieldSelector,
		ResourceVersion:     i.LastSyncResourceVersion(),
		AllowWatchBookmarks: true,
		TimeoutSeconds:      int64(max(timeout/time.Second, 1)),
	})
	if err != nil {
		return false, err
	}
	defer w.Stop()
	for ev := range w.Events() {
		progressed = true
		switch ev.Type {
		case metav1.Added, metav1.Modified:
			i.apply(ev.Object)
		case metav1.Deleted:
			i.remove(ev.Object)
		case metav1.Bookmark:
			if rv := resourceVersion(ev.Object); rv != "" {
				i.lastSyncRV.Store(rv)
			}
		case metav1.Error:
			return progressed, ev.Status
		default:
			i.log.Info("ignoring watch event of unknown type", zap.String("type", string(ev.Type)))
		}
	}
	return progressed, w.Err()
}

func (i *Informer[T]) apply(obj *T) {
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	rv := resourceVersion(obj)
	old, exists := i.store.Get(keyOf(obj))
	if exists && resourceVersion(old) == rv {
		// Already seen (a replayed event): same resourceVersion, same state.
		i.lastSyncRV.Store(rv)
		return
	}
	i.store.Upsert(obj)
	i.lastSyncRV.Store(rv)
	if exists {
		i.notifyUpdate(old, obj)
	} else {
		i.notifyAdd(obj)
	}
}

func (i *Informer[T]) remove(obj *T) {
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	if old := i.store.Delete(keyOf(obj)); old != nil {
		i.notifyDelete(obj)
	}
	if rv := resourceVersion(obj); rv != "" {
		i.lastSyncRV.Store(rv)
	}
}

func (i *Informer[T]) resyncLoop(ctx context.Context) {
	t := time.NewTicker(i.opts.ResyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !i.synced.Load() {
			continue
		}
		i.dispatch.Lock()
		for _, obj := range i.store.List() {
			i.notifyUpdate(obj, obj)
		}
		i.dispatch.Unlock()
	}
}

// String names the informer in messages.
func (i *Informer[T]) String() string { return fmt.Sprintf("informer(%s)", i.opts.Name) }
