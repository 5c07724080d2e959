package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// write makes n changes under prefix (creates, updates and deletes in turn) and returns the events
// they must produce, in order.
func write(t testing.TB, s Store, prefix string, n int) []Event {
	t.Helper()
	ctx := context.Background()
	var want []Event
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%sk%d", prefix, i/3)
		switch i % 3 {
		case 0:
			kv, err := s.Create(ctx, key, []byte(fmt.Sprint(i)))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, Event{Type: Added, KV: kv})
		case 1:
			kv, err := s.Update(ctx, key, 0, func(KV) ([]byte, error) { return []byte(fmt.Sprint(i)), nil })
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, Event{Type: Modified, KV: kv})
		case 2:
			kv, err := s.Delete(ctx, key, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, Event{Type: Deleted, KV: kv})
		}
	}
	return want
}

// sameEvents fails unless got matches want in type, key, revision and value.
func sameEvents(t testing.TB, what string, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d (last got %s, last want %s)", what, len(got), len(want), lastOf(got), lastOf(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.KV.Key != w.KV.Key || g.KV.Revision != w.KV.Revision || string(g.KV.Value) != string(w.KV.Value) {
			t.Fatalf("%s: event %d is %v %s@%d %q, want %v %s@%d %q", what, i,
				g.Type, g.KV.Key, g.KV.Revision, g.KV.Value, w.Type, w.KV.Key, w.KV.Revision, w.KV.Value)
		}
	}
}

// expectError reads until the Error event, allowing data events before it, then expects the channel
// to close.
func expectError(t testing.TB, w Watcher, want error) {
	t.Helper()
	for {
		ev := nextEvent(t, w, fmt.Sprintf("an error event %v", want))
		if ev.Type != Error {
			continue
		}
		if !errors.Is(ev.Err, want) {
			t.Fatalf("error event %v, want %v", ev.Err, want)
		}
		select {
		case _, ok := <-w.Events():
			if ok {
				t.Fatal("an event followed the error event")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the channel stayed open after the error event")
		}
		return
	}
}

func TestWatchFromRevision(t *testing.T) {
	cases := []struct {
		name      string
		cacheSize int
	}{
		{"served from the watch cache", 10000},
		{"older than the cache window, served by a direct etcd watch", 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, func(c *Config) { c.WatchCacheSize = tc.cacheSize })
			ctx := testCtx(t)
			// Start the cache before the writes, so the window holds them in the first case.
			w0, err := s.Watch(ctx, "/registry/pods/", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w0.Stop()
			want := write(t, s, "/registry/pods/a/", 30)
			other := write(t, s, "/registry/pods/b/", 3)
			sameEvents(t, "watch from now", collect(t, w0, 33), append(append([]Event{}, want...), other...))

			from := want[9].KV.Revision
			w, err := s.Watch(ctx, "/registry/pods/a/", from)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			more := write(t, s, "/registry/pods/a/more-", 6)
			sameEvents(t, "watch from a revision", collect(t, w, 26), append(append([]Event{}, want[10:]...), more...))
			if string(collectLast(want[10:], Deleted).KV.Value) == "" {
				t.Fatal("a deleted event lost its last value")
			}
		})
	}
}

func collectLast(evs []Event, typ EventType) Event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == typ {
			return evs[i]
		}
	}
	return Event{}
}

// Reliability test 4: 100 watchers, each opened at a different revision while writes go on, all see the
// same history from their start.
func TestWatchFanOut(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	const watchers, writes = 100, 300
	base, err := s.Watch(ctx, "/registry/configmaps/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Stop()
	var want []Event
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		evs := write(t, s, "/registry/configmaps/ns/", writes)
		mu.Lock()
		want = evs
		mu.Unlock()
	}()
	// Open the watchers at revisions spread over the writes.
	history := collect(t, base, watchers)
	ws := make([]Watcher, watchers)
	for i := range ws {
		from := history[i].KV.Revision - 1
		if ws[i], err = s.Watch(ctx, "/registry/configmaps/", from); err != nil {
			t.Fatal(err)
		}
		defer ws[i].Stop()
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	for i, w := range ws {
		sameEvents(t, fmt.Sprintf("watcher %d", i), collect(t, w, writes-i), want[i:])
	}
}

func TestSlowWatcherIsDroppedOthersContinue(t *testing.T) {
	s := newTestStore(t, func(c *Config) { c.WatcherBuffer = 100 })
	ctx := testCtx(t)
	slow, err := s.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := s.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	const n = 400 // the slow watcher holds 100 queued plus 16 in its channel, then is dropped
	var got []Event
	want := make(chan []Event, 1)
	go func() { want <- write(t, s, "/registry/pods/default/", n) }()
	got = collect(t, fast, n)
	sameEvents(t, "the fast watcher", got, <-want)
	expectError(t, slow, ErrTooSlow)
	if v := testutilCounter(s, "pods", "too_slow"); v != 1 {
		t.Fatalf("too_slow terminations metric is %v, want 1", v)
	}
}

// Reliability test 5 (storage part): compaction makes old revisions 410 for watches, exact lists and
// continue tokens; inside the cache window a watch is still served from memory.
func TestCompaction(t *testing.T) {
	s := newTestStore(t, func(c *Config) { c.WatchCacheSize = 20 })
	ctx := testCtx(t)
	load(t, s, "/registry/pods/default/", 50)
	first, err := s.List(ctx, "/registry/pods/", ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	old := first.Revision
	w0, err := s.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w0.Stop()
	recent := write(t, s, "/registry/pods/x/", 30)
	collect(t, w0, 30)
	cur, _ := s.Revision(ctx)
	if _, err := s.client.Compact(ctx, cur, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}

	t.Run("watch from a compacted revision outside the cache window gets ErrExpired", func(t *testing.T) {
		w, err := s.Watch(ctx, "/registry/pods/", old)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expectError(t, w, ErrExpired)
	})
	t.Run("watch from a compacted revision inside the cache window is served from memory", func(t *testing.T) {
		from := recent[len(recent)-5].KV.Revision - 1
		w, err := s.Watch(ctx, "/registry/pods/", from)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		sameEvents(t, "cached watch", collect(t, w, 5), recent[len(recent)-5:])
	})
	t.Run("exact list at a compacted revision gets ErrExpired", func(t *testing.T) {
		if _, err := s.List(ctx, "/registry/pods/", ListOptions{Revision: old, Exact: true}); !errors.Is(err, ErrExpired) {
			t.Fatalf("got %v, want ErrExpired", err)
		}
	})
	t.Run("a continue token of a compacted revision gets ErrExpired and an inconsistent token", func(t *testing.T) {
		_, err := s.List(ctx, "/registry/pods/", ListOptions{Limit: 10, Continue: first.Continue})
		var cerr *ContinueExpiredError
		if !errors.Is(err, ErrExpired) || !errors.As(err, &cerr) || cerr.Continue == "" {
			t.Fatalf("got %v, want a ContinueExpiredError matching ErrExpired", err)
		}
		rest, _ := paginate(t, s, "/registry/pods/", ListOptions{Limit: 10, Continue: cerr.Continue}, nil)
		if len(rest) != 40 { // the other 40 loaded keys (the writes under x/ deleted every key they made)
			t.Fatalf("inconsistent continuation listed %d items, want 40", len(rest))
		}
	})
	t.Run("the cache goes on serving new watches", func(t *testing.T) {
		w, err := s.Watch(ctx, "/registry/pods/", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		evs := write(t, s, "/registry/pods/y/", 3)
		sameEvents(t, "after compaction", collect(t, w, 3), evs)
	})
}

// The cache's own etcd watch may break (a lost connection, a leader change); it resumes from the last
// revision it saw and its watchers see no gap and no duplicate.
func TestWatchCacheResumesItsEtcdWatch(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	w, err := s.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c := s.cacheFor("/registry/pods/")
	var want []Event
	for round := range 5 {
		want = append(want, write(t, s, fmt.Sprintf("/registry/pods/r%d/", round), 9)...)
		c.mu.Lock()
		c.interrupt()
		c.mu.Unlock()
	}
	sameEvents(t, "across etcd watch restarts", collect(t, w, len(want)), want)
}

// If the cache's etcd watch cannot resume because etcd compacted the revisions it missed, the cache
// ends its watchers with ErrExpired, relists, and serves new watches.
func TestWatchCacheResetsWhenItsWatchIsCompacted(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	w, err := s.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c := s.cacheFor("/registry/pods/")
	c.mu.Lock()
	c.beforeResume = func() {
		c.mu.Lock()
		c.beforeResume = nil
		c.mu.Unlock()
		// While the cache's watch is down: writes, then a compaction past them.
		write(t, s, "/registry/pods/missed/", 3)
		rev, err := s.Revision(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := s.client.Compact(ctx, rev); err != nil {
			t.Error(err)
		}
	}
	c.interrupt()
	c.mu.Unlock()
	expectError(t, w, ErrExpired)
	w2, err := s.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	evs := write(t, s, "/registry/pods/after/", 3)
	sameEvents(t, "after the reset", collect(t, w2, 3), evs)
	res, err := s.List(ctx, "/registry/pods/", ListOptions{AnyRevision: true})
	if err != nil || len(res.Items) != 0 || res.Revision < evs[2].KV.Revision {
		t.Fatalf("after the reset the cache lists %d items at %d (%v), want none (every key written was deleted) at >= %d",
			len(res.Items), res.Revision, err, evs[2].KV.Revision)
	}
}

// Reliability test 3 (storage part): a store closed and reopened on its data directory has every
// acknowledged write, and a watch resumed from the last revision a client saw has no gap or duplicate.
func TestRestartKeepsWritesAndWatchResumes(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, UnsafeNoFsync: true, CompactionInterval: -1}
	s1, err := NewEtcd(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	w, err := s1.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	before := write(t, s1, "/registry/pods/default/", 60)
	seen := collect(t, w, 20)
	lastSeen := seen[len(seen)-1].KV.Revision
	w.Stop()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTestStore(t, cfg)
	res, err := s2.List(ctx, "/registry/pods/", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, e := range before {
		live[e.KV.Key] = e.Type != Deleted
	}
	for _, kv := range res.Items {
		if !live[kv.Key] {
			t.Fatalf("%s listed after the restart but deleted before it", kv.Key)
		}
		delete(live, kv.Key)
	}
	for k, ok := range live {
		if ok {
			t.Fatalf("acknowledged write of %s lost across the restart", k)
		}
	}
	after := write(t, s2, "/registry/pods/later/", 9)
	w2, err := s2.Watch(ctx, "/registry/pods/", lastSeen)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	want := append(append([]Event{}, before[20:]...), after...)
	sameEvents(t, "resumed watch", collect(t, w2, len(want)), want)
}

func TestCompactorKeepsOneCycleOfHistory(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	a := mustCreate(t, s, "/registry/pods/default/a", "1")
	version, rev, err := s.compactCycle(ctx, 0, 0)
	if err != nil || version != 1 || rev <= a.Revision {
		t.Fatalf("first cycle: version %d rev %d %v", version, rev, err)
	}
	if _, err := s.List(ctx, "/registry/pods/", ListOptions{Revision: a.Revision, Exact: true}); err != nil {
		t.Fatalf("the first cycle must not compact: %v", err)
	}
	mustCreate(t, s, "/registry/pods/default/b", "1")
	version, _, err = s.compactCycle(ctx, version, rev)
	if err != nil || version != 2 {
		t.Fatalf("second cycle: version %d %v", version, err)
	}
	if _, err := s.List(ctx, "/registry/pods/", ListOptions{Revision: rev - 1, Exact: true}); !errors.Is(err, ErrExpired) {
		t.Fatalf("before the first cycle's revision: got %v, want ErrExpired", err)
	}
	if _, err := s.List(ctx, "/registry/pods/", ListOptions{Revision: rev, Exact: true}); err != nil {
		t.Fatalf("the first cycle's revision must survive the second cycle: %v", err)
	}
	// A second apiserver that is a cycle behind loses the race and adopts the count.
	if v, _, err := s.compactCycle(ctx, 1, rev); err != nil || v != 2 {
		t.Fatalf("a stale cycle: version %d %v, want 2", v, err)
	}
}
