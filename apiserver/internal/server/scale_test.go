package server

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestPaginationOver10000Objects(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 objects")
	}
	ts := sharedServer(t)
	ns := ts.namespace(t, "paginate")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	const total = 10000
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if r := ts.req(t, "POST", cms, jsonCT, configMap(fmt.Sprintf("cm-%05d", i), nil, map[string]string{"even": fmt.Sprint(i%2 == 0)})); r.code != http.StatusCreated {
					t.Errorf("creating cm-%05d: %d %s", i, r.code, truncate(r.body))
				}
			}
		}()
	}
	start := time.Now()
	for i := 0; i < total; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("created %d configmaps in %s", total, time.Since(start))

	for _, tc := range []struct {
		name, query string
		limit, want int
	}{
		{"every object, 500 per page", "", 500, total},
		{"a selector, pages full of matches", "&labelSelector=even%3Dtrue", 700, total / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			cont, listRV, pages := "", "", 0
			for {
				q := fmt.Sprintf("%s?limit=%d%s", cms, tc.limit, tc.query)
				if cont != "" {
					q += "&continue=" + cont
				}
				page := ts.must(t, http.StatusOK, "GET", q, "", nil)
				pages++
				items := page["items"].([]any)
				if len(items) > tc.limit {
					t.Fatalf("page of %d items with limit %d", len(items), tc.limit)
				}
				rv := str(page, "metadata.resourceVersion")
				if listRV == "" {
					listRV = rv
				} else if rv != listRV {
					t.Fatalf("page %d has resourceVersion %s, the first had %s: pages must share one snapshot", pages, rv, listRV)
				}
				for _, it := range items {
					name := str(it.(map[string]any), "metadata.name")
					if seen[name] {
						t.Fatalf("%s appeared twice", name)
					}
					seen[name] = true
				}
				cont = str(page, "metadata.continue")
				if cont == "" {
					break
				}
				if n := len(items); n != tc.limit {
					t.Fatalf("a page before the last has %d items, want %d", n, tc.limit)
				}
			}
			if len(seen) != tc.want {
				t.Fatalf("paginated over %d objects, want %d (%d pages)", len(seen), tc.want, pages)
			}
		})
	}
	r := ts.req(t, "GET", cms+"?limit=10&continue=garbage", "", nil)
	if r.code != http.StatusGone && r.code != http.StatusBadRequest {
		t.Fatalf("a garbage continue token: got %d %s", r.code, truncate(r.body))
	}
}
