package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// latencies collects per-operation durations from concurrent workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// result is one measured phase.
type result struct {
	ops      int
	elapsed  time.Duration
	lat      *latencies
	p50, p99 time.Duration
}

func (r *result) finish() *result {
	r.p50, r.p99 = r.lat.pct(0.50), r.lat.pct(0.99)
	return r
}

func (r *result) perSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func report(b *testing.B, r *result, baseline *result) {
	b.ReportMetric(r.perSec(), "ops/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	if baseline != nil && baseline.p50 > 0 {
		b.ReportMetric(float64(r.p50)/float64(baseline.p50), "p50-x-etcd")
	}
}

// parallel runs n operations over workers and times each.
func parallel(n, workers int, op func(i int) error) (*result, error) {
	r := &result{ops: n, lat: &latencies{}}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				r.lat.add(time.Since(t))
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	return r.finish(), nil
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func benchDo(method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", jsonCT)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func benchPod(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":"bench"}},"spec":{"containers":[{"name":"c","image":"busybox","command":["sleep","3600"]}]}}`, name)
}

// BenchmarkAPI measures the apiserver over HTTP against the store it sits on (etcd through the storage
// layer, same process, same disk): create, get and list of 1,000 and 10,000 pods, and watch fan-out to
// 100 watchers. The p50-x-etcd metric is the API's median latency over the store's.
func BenchmarkAPI(b *testing.B) {
	ts := startServer(b, b.TempDir(), func(c *Config) { c.UnsafeNoFsync = false })
	defer ts.stop(b)
	ctx := context.Background()
	const workers = 8
	for _, n := range []int{1000, 10000} {
		ns := fmt.Sprintf("bench-%d", n)
		ts.namespace(b, ns)
		var etcdPut, etcdGet *result
		round := 0 // b.Run may call the function more than once: each round writes new keys
		b.Run(fmt.Sprintf("etcd-put/%d", n), func(b *testing.B) {
			for it := 0; it < b.N; it++ {
				val := []byte(benchPod("x"))
				r, err := parallel(n, workers, func(i int) error {
					_, err := ts.Store().Create(ctx, fmt.Sprintf("/registry/benchraw/%d/%d/%d", n, round, i), val)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				etcdPut = r
				round++
			}
			report(b, etcdPut, nil)
		})
		b.Run(fmt.Sprintf("etcd-get/%d", n), func(b *testing.B) {
			for it := 0; it < b.N; it++ {
				r, err := parallel(n, workers, func(i int) error {
					_, err := ts.Store().Get(ctx, fmt.Sprintf("/registry/benchraw/%d/0/%d", n, i))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				etcdGet = r
			}
			report(b, etcdGet, nil)
		})
		var created int
		b.Run(fmt.Sprintf("create/%d", n), func(b *testing.B) {
			var r *result
			for it := 0; it < b.N; it++ {
				base := created
				var err error
				r, err = parallel(n, workers, func(i int) error {
					code, body, err := benchDo("POST", ts.url+"/api/v1/namespaces/"+ns+"/pods", benchPod(fmt.Sprintf("p-%d", base+i)))
					if err == nil && code != http.StatusCreated {
						err = fmt.Errorf("create: %d %s", code, body)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				created += n
			}
			report(b, r, etcdPut)
		})
		b.Run(fmt.Sprintf("get/%d", n), func(b *testing.B) {
			var r *result
			for it := 0; it < b.N; it++ {
				var err error
				r, err = parallel(n, workers, func(i int) error {
					code, body, err := benchDo("GET", ts.url+"/api/v1/namespaces/"+ns+"/pods/"+fmt.Sprintf("p-%d", i), "")
					if err == nil && code != http.StatusOK {
						err = fmt.Errorf("get: %d %s", code, body)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			report(b, r, etcdGet)
		})
		b.Run(fmt.Sprintf("list/%d", n), func(b *testing.B) {
			var r *result
			for it := 0; it < b.N; it++ {
				var err error
				r, err = parallel(5, 1, func(int) error {
					code, body, err := benchDo("GET", ts.url+"/api/v1/namespaces/"+ns+"/pods", "")
					if err != nil {
						return err
					}
					var l struct {
						Items []json.RawMessage `json:"items"`
					}
					if code != http.StatusOK || json.Unmarshal(body, &l) != nil || len(l.Items) < n {
						return fmt.Errorf("list: %d, %d items", code, len(l.Items))
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*r.perSec(), "objects/s")
			report(b, r, nil)
		})
	}

	watchRound := 0
	b.Run("watch-fanout/100-watchers", func(b *testing.B) {
		const watchers, events = 100, 200
		watchRound++ // b.Run may call the function more than once: each round uses a new namespace
		ns := ts.namespace(b, fmt.Sprintf("bench-watch-%d", watchRound))
		list := ts.must(b, http.StatusOK, "GET", "/api/v1/namespaces/"+ns+"/pods", "", nil)
		rv := str(list, "metadata.resourceVersion")
		type seen struct {
			name string
			at   time.Time
		}
		got := make(chan seen, watchers*events)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var ready sync.WaitGroup
		for w := 0; w < watchers; w++ {
			ready.Add(1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/api/v1/namespaces/"+ns+"/pods?watch=true&resourceVersion="+rv, nil)
				resp, err := benchClient.Do(req)
				ready.Done()
				if err != nil {
					return
				}
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					var ev struct {
						Object struct {
							Metadata struct {
								Name string `json:"name"`
							} `json:"metadata"`
						} `json:"object"`
					}
					if json.Unmarshal(sc.Bytes(), &ev) == nil {
						got <- seen{ev.Object.Metadata.Name, time.Now()}
					}
				}
			}()
		}
		ready.Wait()
		sent := map[string]time.Time{}
		var mu sync.Mutex
		start := time.Now()
		for it := 0; it < b.N; it++ {
			_, err := parallel(events, 4, func(i int) error {
				name := fmt.Sprintf("w-%d-%d", it, i)
				mu.Lock()
				sent[name] = time.Now()
				mu.Unlock()
				code, body, err := benchDo("POST", ts.url+"/api/v1/namespaces/"+ns+"/pods", benchPod(name))
				if err == nil && code != http.StatusCreated {
					err = fmt.Errorf("create: %d %s", code, body)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		lat := &latencies{}
		want := watchers * events * b.N
		deadline := time.After(2 * time.Minute)
		for i := 0; i < want; i++ {
			select {
			case s := <-got:
				mu.Lock()
				lat.add(s.at.Sub(sent[s.name]))
				mu.Unlock()
			case <-deadline:
				b.Fatalf("watchers received %d of %d events within 2 minutes", i, want)
			}
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(want)/elapsed.Seconds(), "events-delivered/s")
		b.ReportMetric(float64(lat.pct(0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat.pct(0.99).Microseconds())/1000, "p99-ms")
	})
}
