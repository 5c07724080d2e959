package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// load writes n keys prefix+"obj-%05d" with raw etcd transactions (fast set-up for list tests) and
// returns the revision after the last write.
func load(t testing.TB, s *etcdStore, prefix string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	var rev int64
	for i := 0; i < n; {
		var ops []clientv3.Op
		for ; i < n && len(ops) < 100; i++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("%sobj-%05d", prefix, i), fmt.Sprintf(`{"i":%d,"even":%t}`, i, i%2 == 0)))
		}
		resp, err := s.client.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			t.Fatalf("loading keys: %v", err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// paginate lists prefix page by page, failing on an error, and returns all items and each page's revision.
func paginate(t testing.TB, s Store, prefix string, opts ListOptions, between func(page int)) ([]KV, []int64) {
	t.Helper()
	var items []KV
	var revs []int64
	for page := 0; ; page++ {
		res, err := s.List(context.Background(), prefix, opts)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if opts.Limit > 0 && int64(len(res.Items)) > opts.Limit {
			t.Fatalf("page %d has %d items, limit %d", page, len(res.Items), opts.Limit)
		}
		items = append(items, res.Items...)
		revs = append(revs, res.Revision)
		if res.Continue == "" {
			return items, revs
		}
		if opts.Limit > 0 && int64(len(res.Items)) != opts.Limit {
			t.Fatalf("page %d has %d items and a continue token; want a full page of %d", page, len(res.Items), opts.Limit)
		}
		opts.Continue = res.Continue
		if between != nil {
			between(page)
		}
	}
}

func TestListPagination10000(t *testing.T) {
	s := newTestStore(t)
	const n = 10000
	even := func(kv KV) bool { return strings.Contains(string(kv.Value), `"even":true`) }

	cases := []struct {
		name      string
		opts      ListOptions
		wantCount int
		wantKey   func(i int) bool
	}{
		{"consistent list by pages of 500", ListOptions{Limit: 500}, n, func(int) bool { return true }},
		{"pages of 500 matching items with a predicate", ListOptions{Limit: 500, Predicate: even}, n / 2, func(i int) bool { return i%2 == 0 }},
		{"not-older-than list from the watch cache", ListOptions{Limit: 500, Revision: -1}, n, func(int) bool { return true }},
		{"any-revision list from the watch cache with a predicate", ListOptions{Limit: 500, AnyRevision: true, Predicate: even}, n / 2, func(i int) bool { return i%2 == 0 }},
		{"no limit", ListOptions{}, n, func(int) bool { return true }},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case lists its own namespace; the cache cases are served from the pods cache.
			prefix := fmt.Sprintf("/registry/pods/ns%d/", ci)
			loadRev := load(t, s, prefix, n)
			if tc.opts.Revision == -1 {
				tc.opts.Revision = loadRev
			}
			c := s.cacheFor(prefix)
			if !c.waitSynced(context.Background(), time.Minute) {
				t.Fatal("watch cache did not sync")
			}
			waitFor(t, "the watch cache to reach the load revision", func() (bool, string) {
				c.mu.RLock()
				defer c.mu.RUnlock()
				return c.rev >= loadRev, fmt.Sprintf("cache revision %d, want %d", c.rev, loadRev)
			})
			cacheLists := func() float64 { return testutil.ToFloat64(s.metrics.listSource.WithLabelValues("pods", "cache")) }
			before := cacheLists()
			defer func() {
				fromCache := tc.opts.AnyRevision || tc.opts.Revision > 0
				if got := cacheLists() - before; fromCache != (got == 1) {
					t.Errorf("%v lists served from the watch cache; want the first page from it: %t", got, fromCache)
				}
			}()
			writes := 0
			items, revs := paginate(t, s, prefix, tc.opts, func(page int) {
				// Writes during the pagination must not leak into it: a new key, a changed key, a deleted key.
				ctx := context.Background()
				mustCreate(t, s, fmt.Sprintf("%sobj-%05d-new-%d", prefix, page*7, ci), `{"new":true,"even":true}`)
				k := fmt.Sprintf("%sobj-%05d", prefix, n-1-page)
				if _, err := s.Update(ctx, k, 0, func(cur KV) ([]byte, error) { return append(cur.Value, ' '), nil }); err != nil {
					t.Fatal(err)
				}
				writes++
			})
			for i, r := range revs {
				if r != revs[0] {
					t.Fatalf("page %d read at revision %d, page 0 at %d: pages must share one revision", i, r, revs[0])
				}
			}
			seen := map[string]bool{}
			for _, kv := range items {
				if seen[kv.Key] {
					t.Fatalf("%s listed twice", kv.Key)
				}
				seen[kv.Key] = true
				if strings.Contains(kv.Key, "-new-") || strings.HasSuffix(string(kv.Value), " ") {
					t.Fatalf("a write made during the pagination leaked into it: %s = %q", kv.Key, kv.Value)
				}
			}
			if len(items) != tc.wantCount {
				t.Fatalf("listed %d items, want %d", len(items), tc.wantCount)
			}
			for i := range n {
				if k := fmt.Sprintf("%sobj-%05d", prefix, i); tc.wantKey(i) != seen[k] {
					t.Fatalf("%s listed: %t, want %t", k, seen[k], tc.wantKey(i))
				}
			}
			t.Logf("%d pages at revision %d, %d writes in between", len(revs), revs[0], writes)
		})
	}
}

func TestListRemainingItemCountAndNamespacePrefix(t *testing.T) {
	s := newTestStore(t)
	load(t, s, "/registry/pods/a/", 25)
	load(t, s, "/registry/pods/b/", 10)
	for _, opts := range []ListOptions{{Limit: 10}, {Limit: 10, AnyRevision: true}} {
		res, err := s.List(context.Background(), "/registry/pods/a/", opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 10 || res.RemainingItemCount == nil || *res.RemainingItemCount != 15 {
			t.Fatalf("%+v: %d items, remaining %v; want 10 and 15", opts, len(res.Items), res.RemainingItemCount)
		}
		all, _ := paginate(t, s, "/registry/pods/a/", opts, nil)
		for _, kv := range all {
			if !strings.HasPrefix(kv.Key, "/registry/pods/a/") {
				t.Fatalf("namespace list returned %s", kv.Key)
			}
		}
		if len(all) != 25 {
			t.Fatalf("namespace a has %d items, want 25", len(all))
		}
	}
}

func TestListExactRevision(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	a := mustCreate(t, s, "/registry/pods/default/a", "a1")
	if _, err := s.Update(ctx, a.Key, 0, func(KV) ([]byte, error) { return []byte("a2"), nil }); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/registry/pods/default/b", "b1")
	res, err := s.List(ctx, "/registry/pods/", ListOptions{Revision: a.Revision, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != a.Revision || len(res.Items) != 1 || string(res.Items[0].Value) != "a1" {
		t.Fatalf("exact list at %d: %+v", a.Revision, res)
	}
	cur, _ := s.Revision(ctx)
	if _, err := s.List(ctx, "/registry/pods/", ListOptions{Revision: cur + 100, Exact: true}); !errors.Is(err, ErrTooLargeRevision) {
		t.Fatalf("exact list in the future: got %v, want ErrTooLargeRevision", err)
	}
}

func TestInvalidContinueToken(t *testing.T) {
	s := newTestStore(t)
	load(t, s, "/registry/pods/default/", 3)
	res, err := s.List(context.Background(), "/registry/pods/", ListOptions{Limit: 1})
	if err != nil || res.Continue == "" {
		t.Fatalf("first page: %+v %v", res, err)
	}
	for name, token := range map[string]string{
		"not base64":              "%%%",
		"not json":                "bm90IGpzb24",
		"token of another prefix": res.Continue,
	} {
		t.Run(name, func(t *testing.T) {
			prefix := "/registry/pods/"
			if name == "token of another prefix" {
				prefix = "/registry/secrets/"
			}
			if _, err := s.List(context.Background(), prefix, ListOptions{Limit: 1, Continue: token}); !errors.Is(err, ErrInvalidContinue) {
				t.Fatalf("got %v, want ErrInvalidContinue", err)
			}
		})
	}
}
