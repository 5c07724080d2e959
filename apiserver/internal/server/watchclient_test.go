package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// watchEvent is one decoded watch line.
type watchEvent struct {
	Type   string         `json:"type"`
	Object map[string]any `json:"object"`
}

func (e watchEvent) name() string { return str(e.Object, "metadata.name") }
func (e watchEvent) rv() string   { return str(e.Object, "metadata.resourceVersion") }

// watchStream reads a watch response line by line.
type watchStream struct {
	resp   *http.Response
	events chan watchEvent
	cancel context.CancelFunc
}

// openWatch starts a watch; the stream ends at test cleanup.
func (ts *testServer) openWatch(t testing.TB, path string, headers ...string) *watchStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, "GET", ts.url+path, nil)
	if err != nil {
		cancel()
		t.Fatalf("building watch: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		cancel()
		t.Fatalf("opening watch %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("opening watch %s: got %d", path, resp.StatusCode)
	}
	w := &watchStream{resp: resp, events: make(chan watchEvent, 10000), cancel: cancel}
	go func() {
		defer close(w.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			var ev watchEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = watchEvent{Type: "UNDECODABLE:" + sc.Text()}
			}
			w.events <- ev
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *watchStream) stop() {
	w.cancel()
	w.resp.Body.Close()
}

// next waits for the next event.
func (w *watchStream) next(t testing.TB, what string) watchEvent {
	t.Helper()
	select {
	case ev, ok := <-w.events:
		if !ok {
			t.Fatalf("waiting for %s: the watch ended", what)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("waiting for %s: no event in 10s", what)
	}
	return watchEvent{}
}

// nextSkipping waits for the next event that is not of the skipped type.
func (w *watchStream) nextSkipping(t testing.TB, skip, what string) watchEvent {
	t.Helper()
	for {
		ev := w.next(t, what)
		if ev.Type != skip {
			return ev
		}
	}
}

// ended waits for the stream to end, failing on any event but the skipped type.
func (w *watchStream) ended(t testing.TB, skip string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				return
			}
			if ev.Type != skip {
				t.Fatalf("waiting for the watch to end: got %s %s", ev.Type, ev.name())
			}
		case <-deadline:
			t.Fatalf("the watch did not end within %s", within)
		}
	}
}
