package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// next reads one event or fails the test after a deadline, saying what it waited for.
func next[T any](t *testing.T, w *client.Watcher[T], what string) client.Event[T] {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("waiting for %s: the watch ended (err %v)", what, w.Err())
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("waiting for %s: no event within 10s", what)
	}
	panic("unreachable")
}

func TestWatchDecodesEvents(t *testing.T) {
	ctx := context.Background()
	fake, res := setup(t)
	fake.Put(widgetsGR, newWidget("default", "existing", 1))

	w, err := res.Watch(ctx, "default", client.ListOptions{ResourceVersion: "0", AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := next(t, w, "the initial ADDED")
	if ev.Type != metav1.Added || ev.Object.Name != "existing" || ev.Object.Kind != "Widget" {
		t.Fatalf("initial event %s %+v", ev.Type, ev.Object)
	}

	created, err := res.Create(ctx, "default", newWidget("", "w1", 1), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev = next(t, w, "ADDED w1")
	if ev.Type != metav1.Added || ev.Object.Name != "w1" || ev.Object.ResourceVersion != created.ResourceVersion {
		t.Fatalf("got %s %s rv %s, want ADDED w1 rv %s", ev.Type, ev.Object.Name, ev.Object.ResourceVersion, created.ResourceVersion)
	}
	created.Spec.Size = 2
	if _, err := res.Update(ctx, "", created, client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev = next(t, w, "MODIFIED w1")
	if ev.Type != metav1.Modified || ev.Object.Spec.Size != 2 {
		t.Fatalf("got %s %+v", ev.Type, ev.Object)
	}
	if err := res.Delete(ctx, "default", "w1", nil); err != nil {
		t.Fatal(err)
	}
	ev = next(t, w, "DELETED w1")
	if ev.Type != metav1.Deleted || ev.Object.Name != "w1" || ev.Object.Spec.Size != 2 {
		t.Fatalf("got %s %+v, want DELETED with the last state", ev.Type, ev.Object)
	}
	fake.Bookmark()
	ev = next(t, w, "BOOKMARK")
	if ev.Type != metav1.Bookmark || ev.Object.ResourceVersion == "" {
		t.Fatalf("got %s %+v, want a BOOKMARK with a resourceVersion", ev.Type, ev.Object)
	}

	w.Stop()
	for range w.Events() {
	}
	if w.Err() != nil {
		t.Errorf("a stopped watch reports err %v, want nil", w.Err())
	}
}

func TestWatchFromCompactedRevisionGetsGone(t *testing.T) {
	fake, res := setup(t)
	rv := fake.Put(widgetsGR, newWidget("default", "a", 1))
	fake.Put(widgetsGR, newWidget("default", "b", 1))
	fake.Compact()
	w, err := res.Watch(context.Background(), "", client.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := next(t, w, "the ERROR event")
	if ev.Type != metav1.Error || ev.Status == nil || ev.Object != nil {
		t.Fatalf("got %+v, want ERROR with a Status", ev)
	}
	if !client.IsGone(ev.Status) || ev.Status.Code != 410 {
		t.Errorf("status %+v, want 410 Expired", ev.Status)
	}
}

func TestWatchStreamErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
		events  int
	}{
		{"clean end after events", `{"type":"ADDED","object":{"metadata":{"name":"a"}}}` + "\n", "", 1},
		{"malformed JSON", `{"type":"ADDED","object":{"metadata":` + "\n", "reading watch stream", 0},
		{"event without object", `{"type":"ADDED"}` + "\n", "no object", 0},
		{"undecodable object", `{"type":"MODIFIED","object":{"spec":{"size":"big"}}}` + "\n", "decoding watch MODIFIED", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			res := client.NewResource[widget](newClient(t, srv.URL), widgets)
			w, err := res.Watch(context.Background(), "", client.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for range w.Events() {
				n++
			}
			if n != tt.events {
				t.Errorf("got %d events, want %d", n, tt.events)
			}
			switch {
			case tt.wantErr == "" && w.Err() != nil:
				t.Errorf("err = %v, want nil", w.Err())
			case tt.wantErr != "" && (w.Err() == nil || !strings.Contains(w.Err().Error(), tt.wantErr)):
				t.Errorf("err = %v, want one containing %q", w.Err(), tt.wantErr)
			}
		})
	}
}

func TestWatchSendsQuery(t *testing.T) {
	fake, res := setup(t)
	w, err := res.Watch(context.Background(), "ns1", client.ListOptions{
		ResourceVersion: "5", AllowWatchBookmarks: true, TimeoutSeconds: 300, LabelSelector: "app=web",
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	reqs := fake.Requests()
	got := reqs[len(reqs)-1]
	for _, want := range []string{"GET /apis/example.skiff.dev/v1/namespaces/ns1/widgets?", "watch=true", "resourceVersion=5",
		"allowWatchBookmarks=true", "timeoutSeconds=300", "labelSelector=app%3Dweb"} {
		if !strings.Contains(got, want) {
			t.Errorf("request %q lacks %q", got, want)
		}
	}
}
