package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Event is one decoded watch event. For ADDED, MODIFIED and DELETED, Object is the object (for DELETED its
// last state); for BOOKMARK, Object carries only metadata.resourceVersion (and annotations); for ERROR,
// Object is nil and Status says what went wrong (410 Expired: relist).
type Event[T any] struct {
	Type   metav1.WatchEventType
	Object *T
	Status *metav1.Status
}

// Watcher streams the events of one watch request.
type Watcher[T any] struct {
	ch     chan Event[T]
	cancel context.CancelFunc
	body   io.ReadCloser

	mu  sync.Mutex
	err error
}

func newWatcher[T any](ctx context.Context, body io.ReadCloser, cancel context.CancelFunc, fill func(*T)) *Watcher[T] {
	w := &Watcher[T]{ch: make(chan Event[T]), cancel: cancel, body: body}
	go w.run(ctx, fill)
	return w
}

// Events returns the channel of events. It is closed when the stream ends: the server closed it (for
// example at timeoutSeconds), the context was cancelled, Stop was called, or the stream broke (then Err
// says why).
func (w *Watcher[T]) Events() <-chan Event[T] { return w.ch }

// Stop ends the watch and releases its connection. It is safe to call more than once.
func (w *Watcher[T]) Stop() { w.cancel() }

// Err returns why the stream ended once Events is closed: nil for a normal end or a Stop, else the
// transport or decoding error.
func (w *Watcher[T]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Watcher[T]) run(ctx context.Context, fill func(*T)) {
	defer close(w.ch)
	defer w.body.Close()
	defer w.cancel()
	dec := json.NewDecoder(w.body)
	for {
		var raw metav1.WatchEvent
		if err := dec.Decode(&raw); err != nil {
			// A cancelled context (Stop, or the caller's) is a normal end, whatever error it surfaced as.
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				w.setErr(fmt.Errorf("reading watch stream: %w", err))
			}
			return
		}
		ev := Event[T]{Type: raw.Type}
		switch raw.Type {
		case metav1.Error:
			st := &metav1.Status{}
			if err := json.Unmarshal(raw.Object, st); err != nil {
				w.setErr(fmt.Errorf("decoding watch ERROR event: %w", err))
				return
			}
			ev.Status = st
		default:
			if len(raw.Object) == 0 || string(raw.Object) == "null" {
				w.setErr(fmt.Errorf("%s event: %w", raw.Type, errNoObject))
				return
			}
			obj := new(T)
			if err := json.Unmarshal(raw.Object, obj); err != nil {
				w.setErr(fmt.Errorf("decoding watch %s event: %w", raw.Type, err))
				return
			}
			if fill != nil {
				fill(obj)
			}
			ev.Object = obj
		}
		select {
		case w.ch <- ev:
		case <-ctx.Done():
			return
		}
	}
}

func (w *Watcher[T]) setErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}
