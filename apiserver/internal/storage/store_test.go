package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"go.uber.org/zap/zapcore"
)

const warnLevel = zapcore.ErrorLevel

func TestCreateGetUpdateDelete(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	const key = "/registry/pods/default/a"
	kv := mustCreate(t, s, key, "v1")
	if kv.Revision == 0 || kv.CreateRevision != kv.Revision {
		t.Fatalf("create returned %+v, want Revision == CreateRevision > 0", kv)
	}
	if _, err := s.Create(ctx, key, []byte("v2")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate create: got %v, want ErrAlreadyExists", err)
	}
	got, err := s.Get(ctx, key)
	if err != nil || string(got.Value) != "v1" || got.Revision != kv.Revision {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Get(ctx, "/registry/pods/default/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: got %v, want ErrNotFound", err)
	}
	set := func(v string) func(KV) ([]byte, error) { return func(KV) ([]byte, error) { return []byte(v), nil } }

	up, err := s.Update(ctx, key, kv.Revision, set("v2"))
	if err != nil || up.Revision <= kv.Revision || up.CreateRevision != kv.Revision || string(up.Value) != "v2" {
		t.Fatalf("update with a current precondition: %+v %v", up, err)
	}
	same, err := s.Update(ctx, key, 0, set("v2"))
	if err != nil || same.Revision != up.Revision {
		t.Fatalf("no-op update must not write: %+v %v (previous revision %d)", same, err, up.Revision)
	}
	up3, err := s.Update(ctx, key, 0, func(cur KV) ([]byte, error) { return append(cur.Value, '!'), nil })
	if err != nil || string(up3.Value) != "v2!" {
		t.Fatalf("update without precondition: %+v %v", up3, err)
	}

	errStop := errors.New("refused")
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"update with a stale precondition is a conflict", func() error {
			_, err := s.Update(ctx, key, kv.Revision, set("x"))
			return err
		}, ErrConflict},
		{"update of a missing key is not found", func() error {
			_, err := s.Update(ctx, "/registry/pods/default/missing", 0, set("x"))
			return err
		}, ErrNotFound},
		{"an error from tryUpdate is returned as is", func() error {
			_, err := s.Update(ctx, key, 0, func(KV) ([]byte, error) { return nil, errStop })
			return err
		}, errStop},
		{"delete with a stale precondition is a conflict", func() error {
			_, err := s.Delete(ctx, key, kv.Revision, nil)
			return err
		}, ErrConflict},
		{"delete refused by check", func() error {
			_, err := s.Delete(ctx, key, 0, func(KV) error { return errStop })
			return err
		}, errStop},
		{"delete of a missing key is not found", func() error {
			_, err := s.Delete(ctx, "/registry/pods/default/missing", 0, nil)
			return err
		}, ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if got, _ := s.Get(ctx, key); string(got.Value) != "v2!" {
		t.Fatalf("failed calls changed the value: %q", got.Value)
	}

	del, err := s.Delete(ctx, key, up3.Revision, func(cur KV) error { return nil })
	if err != nil || string(del.Value) != "v2!" || del.Revision <= up3.Revision {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: got %v, want ErrNotFound", err)
	}
	w, err := s.Watch(ctx, "/registry/pods/", kv.Revision-1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	evs := collect(t, w, 4)
	wantTypes := []EventType{Added, Modified, Modified, Deleted}
	for i, ev := range evs {
		if ev.Type != wantTypes[i] {
			t.Fatalf("event %d: %v, want %v (all: %+v)", i, ev.Type, wantTypes[i], evs)
		}
	}
	if string(evs[3].KV.Value) != "v2!" || evs[3].KV.Revision != del.Revision || string(evs[2].PrevValue) != "v2" {
		t.Fatalf("deleted event carries %+v, want the last value at the deletion revision %d", evs[3], del.Revision)
	}
}

// Reliability test 1: read-modify-write clients never lose an update, with or without preconditions.
func TestConcurrentReadModifyWrite(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	const clients = 50
	cases := []struct {
		name         string
		precondition bool
		perClient    int
	}{
		{"Update retries internally on a concurrent write", false, 10},
		{"stale preconditions get ErrConflict and the client re-reads", true, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "/registry/configmaps/default/counter-" + strconv.FormatBool(tc.precondition)
			mustCreate(t, s, key, "0")
			var conflicts atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			incr := func(cur KV) ([]byte, error) {
				n, err := strconv.Atoi(string(cur.Value))
				if err != nil {
					return nil, err
				}
				return []byte(strconv.Itoa(n + 1)), nil
			}
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range tc.perClient {
						for {
							var pre int64
							if tc.precondition {
								cur, err := s.Get(ctx, key)
								if err != nil {
									errs <- err
									return
								}
								pre = cur.Revision
							}
							_, err := s.Update(ctx, key, pre, incr)
							if errors.Is(err, ErrConflict) {
								conflicts.Add(1)
								continue
							}
							if err != nil {
								errs <- err
								return
							}
							break
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Value) != strconv.Itoa(clients*tc.perClient) {
				t.Fatalf("counter is %s, want %d: an update was lost", got.Value, clients*tc.perClient)
			}
			if tc.precondition && conflicts.Load() == 0 {
				t.Fatalf("50 clients with preconditions saw no conflict; the precondition is not enforced")
			}
			t.Logf("%d conflicts", conflicts.Load())
		})
	}
}

func TestConcurrentCreateOfOneName(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	const n = 50
	var ok, exists atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Create(ctx, "/registry/pods/default/one", []byte(fmt.Sprint(i)))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrAlreadyExists):
				exists.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || exists.Load() != n-1 {
		t.Fatalf("%d creates succeeded and %d got ErrAlreadyExists; want 1 and %d", ok.Load(), exists.Load(), n-1)
	}
}

func TestHealthyAndRevision(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	if err := s.Healthy(ctx); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	kv := mustCreate(t, s, "/registry/pods/default/a", "v")
	rev, err := s.Revision(ctx)
	if err != nil || rev < kv.Revision {
		t.Fatalf("revision %d (%v), want >= %d", rev, err, kv.Revision)
	}
}

// An etcd that goes away makes the store report ErrUnavailable instead of hanging.
func TestExternalEtcdAndUnavailable(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), UnsafeNoFsync: true, StartTimeout: time.Minute}.withDefaults()
	e, err := startEmbedded(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			e.close()
		}
	})
	s := openTestStore(t, Config{Endpoints: []string{e.clientURL}, CompactionInterval: -1, RequestTimeout: 2 * time.Second})
	if s.embedded != nil {
		t.Fatal("a store with endpoints must not start its own etcd")
	}
	ctx := testCtx(t)
	kv := mustCreate(t, s, "/registry/nodes/n1", "v")
	got, err := s.Get(ctx, "/registry/nodes/n1")
	if err != nil || got.Revision != kv.Revision {
		t.Fatalf("get through external etcd: %+v %v", got, err)
	}

	e.close()
	stopped = true
	if err := s.Healthy(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("healthy with etcd stopped: got %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "/registry/nodes/n1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("get with etcd stopped: got %v, want ErrUnavailable", err)
	}
}

// Close ends every watcher (its channel closes) and a closed store refuses new watches.
func TestCloseEndsWatchers(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), UnsafeNoFsync: true, CompactionInterval: -1}
	st, err := NewEtcd(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	mustCreate(t, st, "/registry/pods/default/a", "v") // so that revision 1 is older than the cache
	cached, err := st.Watch(ctx, "/registry/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := st.Watch(ctx, "/registry/pods/", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]Watcher{"cached": cached, "direct": direct} {
		for ev := range w.Events() { // must end
			if ev.Type != Error {
				t.Fatalf("%s watcher: unexpected event %+v", name, ev)
			}
		}
		w.Stop() // after Close, harmless
	}
	if _, err := st.Watch(ctx, "/registry/pods/", 0); err == nil {
		t.Fatal("watch on a closed store succeeded")
	}
}

// Operators may fix the embedded etcd's listeners (--etcd-listen-client-url).
func TestEmbeddedFixedListenURLs(t *testing.T) {
	client, err := listenURL("")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := listenURL("")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, func(c *Config) { c.ListenClientURL, c.ListenPeerURL = client.String(), peer.String() })
	if s.embedded.clientURL != client.String() {
		t.Fatalf("embedded etcd serves %s, want %s", s.embedded.clientURL, client)
	}
	mustCreate(t, s, "/registry/pods/default/a", "v")
	for _, bad := range []string{"ftp://127.0.0.1:1", "://x", "127.0.0.1:2379"} {
		if _, err := NewEtcd(context.Background(), Config{DataDir: t.TempDir(), ListenClientURL: bad}); err == nil {
			t.Fatalf("listen URL %q accepted", bad)
		}
	}
	if _, err := NewEtcd(context.Background(), Config{}); err == nil {
		t.Fatal("a store with neither endpoints nor a data directory opened")
	}
}
