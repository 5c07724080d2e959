package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
)

// newTestStore opens a store over a fresh embedded etcd in a temporary directory.
func newTestStore(t testing.TB, mods ...func(*Config)) *etcdStore {
	t.Helper()
	cfg := Config{DataDir: t.TempDir(), UnsafeNoFsync: true, CompactionInterval: -1}
	for _, m := range mods {
		m(&cfg)
	}
	return openTestStore(t, cfg)
}

func openTestStore(t testing.TB, cfg Config) *etcdStore {
	t.Helper()
	if cfg.Logger == nil {
		if tt, ok := t.(*testing.T); ok {
			cfg.Logger = zaptest.NewLogger(tt, zaptest.Level(warnLevel))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := NewEtcd(ctx, cfg)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	s := st.(*etcdStore)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// nextEvent waits for one event, failing the test with what it waited for if none comes.
func nextEvent(t testing.TB, w Watcher, what string) Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("waiting for %s: the watch channel closed", what)
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatalf("waiting for %s: no event within 30s", what)
	}
	return Event{}
}

// collect reads n events (or fails saying how many it got and the last one).
func collect(t testing.TB, w Watcher, n int) []Event {
	t.Helper()
	var got []Event
	deadline := time.After(60 * time.Second)
	for len(got) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("waiting for %d events: channel closed after %d (last %s)", n, len(got), lastOf(got))
			}
			if ev.Type == Error {
				t.Fatalf("waiting for %d events: error after %d: %v", n, len(got), ev.Err)
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("waiting for %d events: got %d within 60s (last %s)", n, len(got), lastOf(got))
		}
	}
	return got
}

func lastOf(evs []Event) string {
	if len(evs) == 0 {
		return "none"
	}
	e := evs[len(evs)-1]
	return fmt.Sprintf("%v %s@%d", e.Type, e.KV.Key, e.KV.Revision)
}

// waitFor polls cond until it holds or a deadline passes, reporting what it saw last.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: last saw %s", what, last)
}

func mustCreate(t testing.TB, s Store, key, value string) KV {
	t.Helper()
	kv, err := s.Create(context.Background(), key, []byte(value))
	if err != nil {
		t.Fatalf("create %s: %v", key, err)
	}
	return kv
}

func isErr(err, target error) bool { return errors.Is(err, target) }

func testutilCounter(s *etcdStore, resource, reason string) float64 {
	return testutil.ToFloat64(s.metrics.cacheTerminated.WithLabelValues(resource, reason))
}
