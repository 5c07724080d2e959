package server

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// TestWatchResumesAcrossRestart: a client that watched until the apiserver stopped resumes from the last
// revision it saw on a new apiserver over the same data, and sees every later write exactly once.
func TestWatchResumesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	a := startServer(t, dir)
	cms := "/api/v1/namespaces/default/configmaps"
	list := a.must(t, http.StatusOK, "GET", cms, "", nil)
	w := a.openWatch(t, cms+"?watch=true&resourceVersion="+str(list, "metadata.resourceVersion"))
	var written []string
	for i := 0; i < 10; i++ {
		c := a.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap(fmt.Sprintf("before-%d", i), nil, nil))
		written = append(written, str(c, "metadata.resourceVersion"))
	}
	var seen []string
	for len(seen) < 5 {
		seen = append(seen, w.next(t, "events before the restart").rv())
	}
	a.stop(t)
	// The stream ends cleanly at shutdown; events already on the wire are still read.
	for ev := range w.events {
		if ev.Type != "ADDED" {
			t.Fatalf("after shutdown: got %s %s", ev.Type, ev.name())
		}
		seen = append(seen, ev.rv())
	}
	lastRV := seen[len(seen)-1]

	b := startServer(t, dir)
	defer b.stop(t)
	for i := 0; i < 10; i++ {
		c := b.must(t, http.StatusCreated, "POST", cms, jsonCT, configMap(fmt.Sprintf("after-%d", i), nil, nil))
		written = append(written, str(c, "metadata.resourceVersion"))
	}
	// The data survived.
	got := b.must(t, http.StatusOK, "GET", cms+"/before-9", "", nil)
	if str(got, "metadata.resourceVersion") != written[9] {
		t.Fatalf("before-9 has resourceVersion %s after the restart, %s before", str(got, "metadata.resourceVersion"), written[9])
	}
	w2 := b.openWatch(t, cms+"?watch=true&resourceVersion="+lastRV)
	var resumed []string
	for len(seen)+len(resumed) < len(written) {
		ev := w2.next(t, "events after the restart")
		if ev.Type != "ADDED" {
			t.Fatalf("got %s %s", ev.Type, ev.name())
		}
		resumed = append(resumed, ev.rv())
	}
	all := append(append([]string{}, seen...), resumed...)
	for i := range written {
		if all[i] != written[i] {
			t.Fatalf("event %d has resourceVersion %s, write %d had %s: gap or duplicate (saw %v, wrote %v)", i, all[i], i, written[i], all, written)
		}
	}
	// Revisions keep growing across the restart.
	n1, _ := strconv.Atoi(written[9])
	n2, _ := strconv.Atoi(written[10])
	if n2 <= n1 {
		t.Fatalf("revision went from %d to %d across the restart", n1, n2)
	}
}
