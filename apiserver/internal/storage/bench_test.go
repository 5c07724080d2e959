package storage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The benchmarks run against a real embedded etcd with fsync on, as in production. Each reports ops/s
// and p50/p99 latency; the Overhead benchmarks measure raw etcd and the Store in the same run and print
// the ratio.

func newBenchStore(b *testing.B) *etcdStore {
	b.Helper()
	return openTestStore(b, Config{DataDir: b.TempDir(), CompactionInterval: -1, Logger: zap.NewNop()})
}

// latencies collects per-operation durations and reports their percentiles.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func (l latencies) report(b *testing.B, name string) {
	b.Helper()
	if name != "" {
		name += "-"
	}
	b.ReportMetric(float64(l.percentile(0.50).Microseconds()), name+"p50-us")
	b.ReportMetric(float64(l.percentile(0.99).Microseconds()), name+"p99-us")
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func timed(l *latencies, f func()) {
	start := time.Now()
	f()
	*l = append(*l, time.Since(start))
}

var benchValue = []byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x","namespace":"default","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}` + strings.Repeat(" ", 350))

func BenchmarkEtcdPut(b *testing.B) {
	s := newBenchStore(b)
	ctx := context.Background()
	var l latencies
	b.ResetTimer()
	for i := range b.N {
		timed(&l, func() {
			if _, err := s.client.Put(ctx, fmt.Sprintf("/bench/raw/%d", i), string(benchValue)); err != nil {
				b.Fatal(err)
			}
		})
	}
	reportRate(b)
	l.report(b, "")
}

func BenchmarkStoreCreate(b *testing.B) {
	s := newBenchStore(b)
	ctx := context.Background()
	var l latencies
	b.ResetTimer()
	for i := range b.N {
		timed(&l, func() {
			if _, err := s.Create(ctx, fmt.Sprintf("/registry/pods/default/p%d", i), benchValue); err != nil {
				b.Fatal(err)
			}
		})
	}
	reportRate(b)
	l.report(b, "")
}

func BenchmarkStoreGet(b *testing.B) {
	s := newBenchStore(b)
	ctx := context.Background()
	mustCreate(b, s, "/registry/pods/default/p", string(benchValue))
	var l latencies
	b.ResetTimer()
	for range b.N {
		timed(&l, func() {
			if _, err := s.Get(ctx, "/registry/pods/default/p"); err != nil {
				b.Fatal(err)
			}
		})
	}
	reportRate(b)
	l.report(b, "")
}

// BenchmarkOverheadWrite alternates a raw etcd put and a Store create and reports both and their ratio.
func BenchmarkOverheadWrite(b *testing.B) {
	s := newBenchStore(b)
	ctx := context.Background()
	var raw, store latencies
	b.ResetTimer()
	for i := range b.N {
		timed(&raw, func() {
			if _, err := s.client.Put(ctx, fmt.Sprintf("/bench/raw/%d", i), string(benchValue)); err != nil {
				b.Fatal(err)
			}
		})
		timed(&store, func() {
			if _, err := s.Create(ctx, fmt.Sprintf("/registry/pods/default/p%d", i), benchValue); err != nil {
				b.Fatal(err)
			}
		})
	}
	raw.report(b, "etcd-put")
	store.report(b, "store-create")
	b.ReportMetric(float64(store.percentile(0.5))/float64(raw.percentile(0.5)), "create/put-p50-ratio")
}

// BenchmarkOverheadRead alternates a raw etcd get and a Store get.
func BenchmarkOverheadRead(b *testing.B) {
	s := newBenchStore(b)
	ctx := context.Background()
	mustCreate(b, s, "/registry/pods/default/p", string(benchValue))
	var raw, store latencies
	b.ResetTimer()
	for range b.N {
		timed(&raw, func() {
			if _, err := s.client.Get(ctx, "/registry/pods/default/p"); err != nil {
				b.Fatal(err)
			}
		})
		timed(&store, func() {
			if _, err := s.Get(ctx, "/registry/pods/default/p"); err != nil {
				b.Fatal(err)
			}
		})
	}
	raw.report(b, "etcd-get")
	store.report(b, "store-get")
	b.ReportMetric(float64(store.percentile(0.5))/float64(raw.percentile(0.5)), "get/get-p50-ratio")
}

// BenchmarkList lists 1,000 and 10,000 objects: raw etcd range, the Store's consistent list (etcd), the
// Store's list from the watch cache (resourceVersion=0), and pages of 500.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := newBenchStore(b)
			ctx := context.Background()
			prefix := "/registry/pods/default/"
			for i := 0; i < n; {
				var ops []clientv3.Op
				for ; i < n && len(ops) < 100; i++ {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("%sp%05d", prefix, i), string(benchValue)))
				}
				if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
					b.Fatal(err)
				}
			}
			c := s.cacheFor(prefix)
			if !c.waitSynced(ctx, time.Minute) {
				b.Fatal("watch cache did not sync")
			}
			cases := []struct {
				name string
				list func() int
			}{
				{"etcd-range", func() int {
					resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
					if err != nil {
						b.Fatal(err)
					}
					return len(resp.Kvs)
				}},
				{"store-consistent", func() int {
					res, err := s.List(ctx, prefix, ListOptions{})
					if err != nil {
						b.Fatal(err)
					}
					return len(res.Items)
				}},
				{"store-cache", func() int {
					res, err := s.List(ctx, prefix, ListOptions{AnyRevision: true})
					if err != nil {
						b.Fatal(err)
					}
					return len(res.Items)
				}},
				{"store-pages-of-500", func() int {
					total := 0
					opts := ListOptions{Limit: 500}
					for {
						res, err := s.List(ctx, prefix, opts)
						if err != nil {
							b.Fatal(err)
						}
						total += len(res.Items)
						if res.Continue == "" {
							return total
						}
						opts.Continue = res.Continue
					}
				}},
			}
			for _, tc := range cases {
				b.Run(tc.name, func(b *testing.B) {
					var l latencies
					for range b.N {
						timed(&l, func() {
							if got := tc.list(); got != n {
								b.Fatalf("listed %d, want %d", got, n)
							}
						})
					}
					reportRate(b)
					l.report(b, "")
				})
			}
		})
	}
}

// BenchmarkWatchFanOut measures one write reaching 100 watchers of the watch cache: latency from the
// write to the last watcher receiving it.
func BenchmarkWatchFanOut(b *testing.B) {
	const watchers = 100
	s := newBenchStore(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws := make([]Watcher, watchers)
	for i := range ws {
		w, err := s.Watch(ctx, "/registry/pods/", 0)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
		ws[i] = w
	}
	var l latencies
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		kv, err := s.Create(ctx, fmt.Sprintf("/registry/pods/default/p%d", i), benchValue)
		if err != nil {
			b.Fatal(err)
		}
		for _, w := range ws {
			ev := <-w.Events()
			if ev.KV.Revision != kv.Revision {
				b.Fatalf("watcher got %+v, want revision %d", ev, kv.Revision)
			}
		}
		l = append(l, time.Since(start))
	}
	reportRate(b)
	b.ReportMetric(float64(b.N*watchers)/b.Elapsed().Seconds(), "events/s")
	l.report(b, "")
}
