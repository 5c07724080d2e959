package informer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/internal/fakeapiserver"
)

// widget is a test-local API type shaped like every Skiff object.
type widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              widgetSpec `json:"spec,omitempty"`
}

type widgetSpec struct {
	Size     int    `json:"size,omitempty"`
	NodeName string `json:"nodeName,omitempty"`
}

var widgets = client.ResourceInfo{Group: "example.skiff.dev", Version: "v1", Resource: "widgets", Kind: "Widget", Namespaced: true}

const gr = "widgets.example.skiff.dev"

func newWidget(ns, name string, size int) *widget {
	return &widget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "w"}}, Spec: widgetSpec{Size: size}}
}

// recorder logs handler calls as "ADD ns/name rv", "UPDATE ns/name oldrv>rv", "DELETE ns/name rv".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = nil
}

func (r *recorder) handler() informer.Handler[widget] {
	return informer.Handler[widget]{
		OnAdd: func(o *widget) { r.add(fmt.Sprintf("ADD %s %s", informer.MetaKey(o), o.ResourceVersion)) },
		OnUpdate: func(old, o *widget) {
			r.add(fmt.Sprintf("UPDATE %s %s>%s", informer.MetaKey(o), old.ResourceVersion, o.ResourceVersion))
		},
		OnDelete: func(o *widget) { r.add(fmt.Sprintf("DELETE %s %s", informer.MetaKey(o), o.ResourceVersion)) },
	}
}

// waitFor polls cond until it holds or 15s pass, then fails saying what it waited for and saw last.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last saw: %s", what, last)
}

func waitEvents(t *testing.T, rec *recorder, want []string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("events %q", want), func() (bool, string) {
		got := rec.get()
		return len(got) >= len(want), fmt.Sprintf("%q", got)
	})
	if got := rec.get(); !slices.Equal(got, want) {
		t.Fatalf("events:\n got  %q\n want %q", got, want)
	}
}

type env struct {
	fake *fakeapiserver.Server
	res  *client.Resource[widget]
	inf  *informer.Informer[widget]
	rec  *recorder
	logs *observer.ObservedLogs
}

func start(t *testing.T, opts informer.Options, seed ...*widget) *env {
	t.Helper()
	fake := fakeapiserver.New(t)
	for _, w := range seed {
		fake.Put(gr, w)
	}
	c, err := client.New(&client.Config{Server: fake.URL(), QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	opts.Logger = zap.New(core)
	if opts.MaxBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	}
	res := client.NewResource[widget](c, widgets)
	e := &env{fake: fake, res: res, inf: informer.New[widget](res, opts), rec: &recorder{}, logs: logs}
	e.inf.AddHandler(e.rec.handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.inf.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelWait()
	if !informer.WaitForCacheSync(waitCtx, e.inf) {
		t.Fatalf("informer did not sync; requests: %q", fake.Requests())
	}
	return e
}

func (e *env) count(prefix string) int {
	n := 0
	for _, r := range e.fake.Requests() {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (e *env) lists() int {
	n := 0
	for _, r := range e.fake.Requests() {
		if strings.HasPrefix(r, "GET ") && !strings.Contains(r, "watch=true") {
			n++
		}
	}
	return n
}

func TestInitialSyncEventsAndIndexes(t *testing.T) {
	a, b := newWidget("ns1", "a", 1), newWidget("ns2", "b", 2)
	a.Spec.NodeName, b.Spec.NodeName = "node1", "node2"
	e := start(t, informer.Options{}, a, b)
	if err := e.inf.AddIndexer("node", func(w *widget) []string { return []string{w.Spec.NodeName} }); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, e.rec, []string{"ADD ns1/a 2", "ADD ns2/b 3"})
	if got, ok := e.inf.Get("ns1/a"); !ok || got.Spec.Size != 1 || got.Kind != "Widget" {
		t.Errorf("Get(ns1/a) = %+v, %v", got, ok)
	}

	ctx := context.Background()
	c := newWidget("ns1", "c", 3)
	c.Spec.NodeName = "node1"
	if _, err := e.res.Create(ctx, "", c, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur, _ := e.res.Get(ctx, "ns2", "b", client.GetOptions{})
	cur.Spec.NodeName = "node1"
	if _, err := e.res.Update(ctx, "", cur, client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.res.Delete(ctx, "ns1", "a", nil); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, e.rec, []string{"ADD ns1/a 2", "ADD ns2/b 3", "ADD ns1/c 4", "UPDATE ns2/b 3>5", "DELETE ns1/a 6"})

	names := func(ws []*widget) []string {
		var out []string
		for _, w := range ws {
			out = append(out, informer.MetaKey(w))
		}
		return out
	}
	if got := names(e.inf.ByIndex("node", "node1")); !slices.Equal(got, []string{"ns1/c", "ns2/b"}) {
		t.Errorf("by node1: %v", got)
	}
	if got := names(e.inf.ByIndex("node", "node2")); len(got) != 0 {
		t.Errorf("by node2 after b moved: %v", got)
	}
	if got := names(e.inf.Store().ByNamespace("ns1")); !slices.Equal(got, []string{"ns1/c"}) {
		t.Errorf("namespace ns1: %v", got)
	}
	if e.inf.LastSyncResourceVersion() != "6" {
		t.Errorf("last resourceVersion %q, want 6", e.inf.LastSyncResourceVersion())
	}
}

// TestWatchDropsResumeWithoutGapsOrDuplicates writes while watch streams keep being cut: the handlers
// must see every write exactly once, in order, without a relist.
func TestWatchDropsResumeWithoutGapsOrDuplicates(t *testing.T) {
	e := start(t, informer.Options{})
	var want []string
	sizes := map[string]int{}
	rvs := map[string]string{}
	for i := 0; i < 60; i++ {
		name := fmt.Sprintf("w%d", i%7)
		w := newWidget("default", name, sizes[name]+1)
		sizes[name]++
		rv := e.fake.Put(gr, w)
		if old, ok := rvs[name]; ok {
			want = append(want, fmt.Sprintf("UPDATE default/%s %s>%s", name, old, rv))
		} else {
			want = append(want, fmt.Sprintf("ADD default/%s %s", name, rv))
		}
		rvs[name] = rv
		if i%5 == 2 {
			e.fake.DropWatches()
		}
		if i%11 == 0 {
			e.fake.Bookmark()
		}
	}
	waitEvents(t, e.rec, want)
	if n := e.lists(); n != 1 {
		t.Errorf("the informer listed %d times, want only the initial list", n)
	}
	if n := e.count("GET /apis/example.skiff.dev/v1/widgets?allowWatchBookmarks=true&resourceVersion=0"); n != 0 {
		t.Errorf("%d watches restarted from resourceVersion 0", n)
	}
	for _, r := range e.fake.Requests() {
		if strings.Contains(r, "watch=true") && !strings.Contains(r, "resourceVersion=") {
			t.Errorf("watch without a resourceVersion: %s", r)
		}
	}
}

// TestGoneRelistsAndDispatchesTheDiff compacts history while the watch is down, so the resumed watch
// gets 410: the informer must relist and report exactly what changed.
func TestGoneRelistsAndDispatchesTheDiff(t *testing.T) {
	e := start(t, informer.Options{}, newWidget("default", "a", 1), newWidget("default", "b", 1), newWidget("default", "c", 1))
	waitEvents(t, e.rec, []string{"ADD default/a 2", "ADD default/b 3", "ADD default/c 4"})
	e.rec.reset()

	e.fake.BlockWatches(true)
	e.fake.Remove(gr, "default", "b")                    // rev 5
	e.fake.Put(gr, newWidget("default", "c", 2))         // rev 6
	e.fake.Put(gr, newWidget("default", "d", 1))         // rev 7
	e.fake.Put(gr, newWidget("default", "temporary", 1)) // rev 8
	e.fake.Remove(gr, "default", "temporary")            // rev 9: never seen, must not be reported
	e.fake.Compact()
	e.fake.BlockWatches(false)

	waitFor(t, "the relist", func() (bool, string) { return e.lists() == 2, fmt.Sprintf("%d lists", e.lists()) })
	waitEvents(t, e.rec, []string{"ADD default/d 7", "UPDATE default/c 4>6", "DELETE default/b 3"})
	if got := e.inf.Store().Keys(); !slices.Equal(got, []string{"default/a", "default/c", "default/d"}) {
		t.Errorf("cache keys after relist: %v", got)
	}

	// And it watches on from the relist's revision: a new write arrives as a normal event.
	rv := e.fake.Put(gr, newWidget("default", "e", 1))
	waitEvents(t, e.rec, []string{"ADD default/d 7", "UPDATE default/c 4>6", "DELETE default/b 3", "ADD default/e " + rv})
}

func TestHTTPGoneOnWatchStartRelists(t *testing.T) {
	e := start(t, informer.Options{}, newWidget("default", "a", 1))
	waitEvents(t, e.rec, []string{"ADD default/a 2"})
	e.fake.FailNext("GET", "watch=true", 410, "Expired", 1, "")
	e.fake.DropWatches()
	waitFor(t, "the relist after HTTP 410", func() (bool, string) { return e.lists() == 2, fmt.Sprintf("%d lists", e.lists()) })
	rv := e.fake.Put(gr, newWidget("default", "b", 1))
	waitEvents(t, e.rec, []string{"ADD default/a 2", "ADD default/b " + rv})
}

// TestSurvivesServerOutage stops the apiserver long enough for several failed watch attempts, changes
// the data meanwhile, and brings it back on the same address.
func TestSurvivesServerOutage(t *testing.T) {
	e := start(t, informer.Options{}, newWidget("default", "a", 1), newWidget("default", "b", 1))
	waitEvents(t, e.rec, []string{"ADD default/a 2", "ADD default/b 3"})
	e.rec.reset()

	e.fake.Stop()
	failures := func() int { return e.logs.FilterMessage("informer watch failed, retrying").Len() }
	before := failures()
	waitFor(t, "two failed watch attempts while the server is down", func() (bool, string) {
		return failures() >= before+2, fmt.Sprintf("%d failures", failures()-before)
	})
	rvC := e.fake.Put(gr, newWidget("default", "c", 1))
	rvA := e.fake.Put(gr, newWidget("default", "a", 2))
	e.fake.Remove(gr, "default", "b")
	e.fake.Start()

	waitEvents(t, e.rec, []string{"ADD default/c " + rvC, "UPDATE default/a 2>" + rvA, "DELETE default/b 6"})
	if n := e.lists(); n != 1 {
		t.Errorf("the informer listed %d times; resuming from the last resourceVersion needs no relist", n)
	}
}

func TestLabelSelectorTransitions(t *testing.T) {
	other := newWidget("default", "other", 1)
	other.Labels = map[string]string{"app": "x"}
	e := start(t, informer.Options{LabelSelector: "app=w"}, newWidget("default", "a", 1), other)
	waitEvents(t, e.rec, []string{"ADD default/a 2"})
	moved := newWidget("default", "a", 1)
	moved.Labels = map[string]string{"app": "x"}
	rv := e.fake.Put(gr, moved)
	waitEvents(t, e.rec, []string{"ADD default/a 2", "DELETE default/a " + rv})
	if _, ok := e.inf.Get("default/a"); ok {
		t.Error("an object that stopped matching stays in the cache")
	}
}

func TestPaginatedList(t *testing.T) {
	var seed []*widget
	for i := 0; i < 5; i++ {
		seed = append(seed, newWidget("default", fmt.Sprintf("w%d", i), i))
	}
	e := start(t, informer.Options{PageSize: 2}, seed...)
	if n := e.inf.Store().Len(); n != 5 {
		t.Errorf("synced %d objects, want 5", n)
	}
	if n := e.lists(); n != 3 {
		t.Errorf("%d list requests, want 3 pages of 2", n)
	}
}

func TestResyncAndLateHandler(t *testing.T) {
	e := start(t, informer.Options{ResyncPeriod: 20 * time.Millisecond}, newWidget("default", "a", 1))
	waitFor(t, "a resync update", func() (bool, string) {
		got := e.rec.get()
		return slices.Contains(got, "UPDATE default/a 2>2"), fmt.Sprintf("%q", got)
	})
	late := &recorder{}
	e.inf.AddHandler(informer.Handler[widget]{OnAdd: late.handler().OnAdd})
	if got := late.get(); !slices.Equal(got, []string{"ADD default/a 2"}) {
		t.Errorf("a handler added after sync got %q, want the cached objects replayed", got)
	}
}

func TestRunTwiceIsRefused(t *testing.T) {
	e := start(t, informer.Options{})
	if err := e.inf.Run(context.Background()); err == nil {
		t.Error("a second Run of a running informer returned nil")
	}
}
