package server

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestWatchFromZeroSendsCurrentStateThenChanges(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "watch-zero")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("a", nil, nil))
	ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("b", nil, nil))
	for _, rv := range []string{"0", ""} {
		t.Run("resourceVersion="+rv, func(t *testing.T) {
			w := ts.openWatch(t, cms+"?watch=true&resourceVersion="+rv)
			seen := map[string]bool{}
			for i := 0; i < 2; i++ {
				ev := w.next(t, "the synthetic ADDED events")
				if ev.Type != "ADDED" || str(ev.Object, "kind") != "ConfigMap" || str(ev.Object, "apiVersion") != "v1" {
					t.Fatalf("initial event %s kind %q apiVersion %q", ev.Type, str(ev.Object, "kind"), str(ev.Object, "apiVersion"))
				}
				seen[ev.name()] = true
			}
			if !seen["a"] || !seen["b"] {
				t.Fatalf("initial events named %v", seen)
			}
		})
	}
	// kubectl get NAME -w: fieldSelector metadata.name and resourceVersion=0.
	w := ts.openWatch(t, cms+"?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Da")
	if ev := w.next(t, "ADDED a"); ev.Type != "ADDED" || ev.name() != "a" {
		t.Fatalf("got %s %s", ev.Type, ev.name())
	}
	ts.must(t, http.StatusOK, "PATCH", cms+"/b", "application/merge-patch+json", `{"data":{"x":"1"}}`)
	ts.must(t, http.StatusOK, "PATCH", cms+"/a", "application/merge-patch+json", `{"data":{"x":"1"}}`)
	if ev := w.next(t, "MODIFIED a"); ev.Type != "MODIFIED" || ev.name() != "a" || str(ev.Object, "data.x") != "1" {
		t.Fatalf("got %s %s", ev.Type, ev.name())
	}
	// The same through the object's own path, old-style.
	w1 := ts.openWatch(t, "/api/v1/watch/namespaces/"+ns+"/configmaps/a?resourceVersion=0")
	if ev := w1.next(t, "ADDED a on the legacy path"); ev.Type != "ADDED" || ev.name() != "a" {
		t.Fatalf("got %s %s", ev.Type, ev.name())
	}
	ts.must(t, http.StatusOK, "DELETE", cms+"/a", "", nil)
	if ev := w1.next(t, "DELETED a on the legacy path"); ev.Type != "DELETED" || ev.name() != "a" {
		t.Fatalf("got %s %s", ev.Type, ev.name())
	}
	ev := w.next(t, "DELETED a")
	if ev.Type != "DELETED" || ev.name() != "a" {
		t.Fatalf("got %s %s", ev.Type, ev.name())
	}
}

func TestWatchFromRevisionHasNoGapsOrDuplicates(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "watch-rv")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	list := ts.must(t, http.StatusOK, "GET", cms, "", nil)
	start := str(list, "metadata.resourceVersion")
	var rvs []string
	for i := 0; i < 20; i++ {
		c := ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap(fmt.Sprintf("c%d", i), nil, nil))
		rvs = append(rvs, str(c, "metadata.resourceVersion"))
	}
	// A watch from each event's revision sees exactly the later events, in order.
	for _, from := range []int{0, 7, 19} {
		rv := start
		if from > 0 {
			rv = rvs[from-1]
		}
		w := ts.openWatch(t, cms+"?watch=true&resourceVersion="+rv)
		for i := from; i < 20; i++ {
			ev := w.next(t, "event "+strconv.Itoa(i))
			if ev.Type != "ADDED" || ev.rv() != rvs[i] {
				t.Fatalf("from %s: event %d is %s rv %s, want ADDED rv %s", rv, i, ev.Type, ev.rv(), rvs[i])
			}
		}
		w.stop()
	}
}

func TestWatchSelectorTransitions(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "watch-sel")
	pods := "/api/v1/namespaces/" + ns + "/pods"
	ts.must(t, http.StatusCreated, "POST", pods, jsonCT, pod("p", map[string]string{"app": "a"}))
	list := ts.must(t, http.StatusOK, "GET", pods, "", nil)
	w := ts.openWatch(t, pods+"?watch=true&labelSelector=app%3Db&resourceVersion="+str(list, "metadata.resourceVersion"))
	ts.must(t, http.StatusOK, "PATCH", pods+"/p", "application/merge-patch+json", `{"metadata":{"labels":{"app":"b"}}}`)
	if ev := w.next(t, "ADDED when p starts matching"); ev.Type != "ADDED" || ev.name() != "p" {
		t.Fatalf("got %s %s", ev.Type, ev.name())
	}
	ts.must(t, http.StatusOK, "PATCH", pods+"/p", "application/merge-patch+json", `{"metadata":{"labels":{"app":"c"}}}`)
	if ev := w.next(t, "DELETED when p stops matching"); ev.Type != "DELETED" || ev.name() != "p" {
		t.Fatalf("got %s %s", ev.Type, ev.name())
	}
	// The scheduler's informer: status.phase!=Succeeded.
	w2 := ts.openWatch(t, "/api/v1/pods?watch=true&resourceVersion=0&fieldSelector=status.phase!%3DSucceeded%2Cstatus.phase!%3DFailed%2Cmetadata.namespace%3D"+ns)
	var got watchEvent
	for got.name() != "p" {
		got = w2.next(t, "ADDED p for the phase selector")
	}
	ts.must(t, http.StatusOK, "PATCH", pods+"/p/status", "application/merge-patch+json", `{"status":{"phase":"Succeeded"}}`)
	for {
		ev := w2.next(t, "DELETED p once it succeeded")
		if ev.name() == "p" {
			if ev.Type != "DELETED" {
				t.Fatalf("got %s", ev.Type)
			}
			break
		}
	}
}

func TestWatchBookmarksTimeoutAndInitialEvents(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "watch-bm")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("a", nil, nil))
	list := ts.must(t, http.StatusOK, "GET", cms, "", nil)

	t.Run("periodic bookmarks carry the last revision", func(t *testing.T) {
		w := ts.openWatch(t, cms+"?watch=true&allowWatchBookmarks=true&resourceVersion="+str(list, "metadata.resourceVersion"))
		ev := w.next(t, "a BOOKMARK")
		if ev.Type != "BOOKMARK" || str(ev.Object, "kind") != "ConfigMap" || ev.rv() == "" {
			t.Fatalf("got %s %v", ev.Type, ev.Object)
		}
	})
	t.Run("timeoutSeconds ends the watch", func(t *testing.T) {
		w := ts.openWatch(t, cms+"?watch=true&timeoutSeconds=1&resourceVersion="+str(list, "metadata.resourceVersion"))
		w.ended(t, "BOOKMARK", 10*time.Second)
	})
	t.Run("sendInitialEvents ends the initial ADDED events with an annotated bookmark", func(t *testing.T) {
		w := ts.openWatch(t, cms+"?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
		if ev := w.next(t, "ADDED a"); ev.Type != "ADDED" || ev.name() != "a" {
			t.Fatalf("got %s %s", ev.Type, ev.name())
		}
		ev := w.next(t, "the initial-events-end bookmark")
		ann, _ := ev.Object["metadata"].(map[string]any)["annotations"].(map[string]any)
		if ev.Type != "BOOKMARK" || ann["k8s.io/initial-events-end"] != "true" {
			t.Fatalf("got %s %v", ev.Type, ev.Object)
		}
		ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("b", nil, nil))
		if ev := w.nextSkipping(t, "BOOKMARK", "ADDED b"); ev.Type != "ADDED" || ev.name() != "b" {
			t.Fatalf("got %s %s", ev.Type, ev.name())
		}
	})
	t.Run("headers come before any event", func(t *testing.T) {
		w := ts.openWatch(t, cms+"?watch=true&resourceVersion="+str(list, "metadata.resourceVersion"))
		if w.resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("Content-Type %q", w.resp.Header.Get("Content-Type"))
		}
	})
}

func TestWatchExpiredAfterCompaction(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) {
		c.EtcdCompactionInterval = 200 * time.Millisecond
		c.WatchCacheSize = 10
	})
	defer ts.stop(t)
	cms := "/api/v1/namespaces/default/configmaps"
	first := ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("c0", nil, nil))
	oldRV := str(first, "metadata.resourceVersion")
	for i := 1; i < 40; i++ {
		ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap(fmt.Sprintf("c%d", i), nil, nil))
	}
	eventually(t, "a watch from an old revision to end with ERROR 410", 30*time.Second, func() (bool, string) {
		// Keep writing so that each compaction cycle has a newer revision to compact to.
		ts.req(t, "PATCH", cms+"/c1", "application/merge-patch+json", fmt.Sprintf(`{"data":{"t":"%d"}}`, time.Now().UnixNano()))
		w := ts.openWatch(t, cms+"?watch=true&resourceVersion="+oldRV)
		defer w.stop()
		ev := w.next(t, "the first event of a watch from "+oldRV)
		if ev.Type != "ERROR" {
			return false, ev.Type + " " + ev.name()
		}
		if str(ev.Object, "code") != "410" || str(ev.Object, "reason") != "Expired" {
			t.Fatalf("ERROR event: %v", ev.Object)
		}
		return true, ""
	})
	// An exact list at a compacted revision is 410 too; a not-older-than one succeeds.
	r := ts.req(t, "GET", cms+"?resourceVersion="+oldRV+"&resourceVersionMatch=Exact", "", nil)
	if r.code != http.StatusGone {
		t.Fatalf("exact list at a compacted revision: got %d: %s", r.code, truncate(r.body))
	}
	ts.must(t, http.StatusOK, "GET", cms+"?resourceVersion="+oldRV, "", nil)
}
