package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestWatchFromFutureResourceVersion(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "watch-future")
	cms := "/api/v1/namespaces/" + ns + "/configmaps"
	current := func() int64 {
		l := ts.must(t, http.StatusOK, "GET", cms, "", nil)
		n, err := strconv.ParseInt(str(l, "metadata.resourceVersion"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("a resourceVersion far ahead is 504 ResourceVersionTooLarge after a short wait", func(t *testing.T) {
		rv := current() + 1_000_000
		for _, path := range []string{
			cms + "?watch=true&resourceVersion=" + strconv.FormatInt(rv, 10),
			"/api/v1/watch/namespaces/" + ns + "/configmaps?resourceVersion=" + strconv.FormatInt(rv, 10),
		} {
			r := ts.req(t, "GET", path, "", nil)
			st := r.json(t)
			causes, _ := st["details"].(map[string]any)["causes"].([]any)
			if r.code != http.StatusGatewayTimeout || str(st, "reason") != "Timeout" || len(causes) != 1 ||
				str(causes[0].(map[string]any), "reason") != "ResourceVersionTooLarge" ||
				str(causes[0].(map[string]any), "message") != "Too large resource version" ||
				!strings.HasPrefix(str(st, "message"), "Timeout: Too large resource version: "+strconv.FormatInt(rv, 10)+", current: ") ||
				str(st, "details.retryAfterSeconds") != "1" {
				t.Fatalf("%s: got %d %s", path, r.code, truncate(r.body))
			}
		}
	})

	t.Run("a resourceVersion the store reaches during the wait starts the watch", func(t *testing.T) {
		rv := current() + 1 // the revision of the create below
		done := make(chan struct{})
		go func() {
			defer close(done)
			ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("next", nil, nil))
		}()
		w := ts.openWatch(t, cms+"?watch=true&resourceVersion="+strconv.FormatInt(rv, 10))
		defer w.stop()
		<-done
		ts.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap("after", nil, nil))
		if ev := w.next(t, "ADDED after"); ev.Type != "ADDED" || ev.name() != "after" {
			t.Fatalf("got %s %s", ev.Type, ev.name())
		}
	})
}
