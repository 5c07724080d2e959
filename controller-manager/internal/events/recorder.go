// Package events records core/v1 Events about the objects controllers act on, the way Kubernetes's
// event broadcaster does: asynchronously (a controller never blocks or fails on an event), with
// repeats of the same event folded into one object whose count and lastTimestamp grow.
//
// It does not rate-limit per object beyond a bounded queue: when the queue is full, events are dropped
// and counted.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// Event types.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

// Sink is where events go: the events resource of the API.
type Sink interface {
	Create(ctx context.Context, ns string, ev *corev1.Event) (*corev1.Event, error)
	Patch(ctx context.Context, ns, name string, mergePatch []byte) error
}

// ClientSink adapts the typed events client to Sink.
type ClientSink struct {
	Events *client.Resource[corev1.Event]
}

// Create posts a new event.
func (s ClientSink) Create(ctx context.Context, ns string, ev *corev1.Event) (*corev1.Event, error) {
	return s.Events.Create(ctx, ns, ev, client.CreateOptions{})
}

// Patch merge-patches an existing event.
func (s ClientSink) Patch(ctx context.Context, ns, name string, p []byte) error {
	_, err := s.Events.Patch(ctx, ns, name, client.MergePatchType, p, client.PatchOptions{})
	return err
}

// Ref builds the involvedObject reference of an object.
func Ref(apiVersion, kind string, m *metav1.ObjectMeta) corev1.ObjectReference {
	return corev1.ObjectReference{
		APIVersion: apiVersion, Kind: kind, Namespace: m.Namespace, Name: m.Name, UID: m.UID,
		ResourceVersion: m.ResourceVersion,
	}
}

type item struct {
	ref                    corev1.ObjectReference
	eventType, reason, msg string
	at                     time.Time
}

type seen struct {
	name      string
	namespace string
	count     int32
	first     time.Time
	last      time.Time
}

// Recorder is safe for concurrent use. Call Run to deliver events.
type Recorder struct {
	sink      Sink
	component string
	log       *zap.Logger
	ch        chan item
	dropped   func()

	mu    sync.Mutex
	cache map[string]*seen
}

// maxCache bounds the dedup cache; when it is full, it is reset (old series then start new objects).
const maxCache = 4096

// New returns a recorder that writes events with source.component = component. dropped, when set, is
// called for every event that did not fit the queue.
func New(sink Sink, component string, log *zap.Logger, dropped func()) *Recorder {
	return &Recorder{sink: sink, component: component, log: log, ch: make(chan item, 1000), dropped: dropped, cache: map[string]*seen{}}
}

// Event queues an event about ref; it never blocks.
func (r *Recorder) Event(ref corev1.ObjectReference, eventType, reason, message string) {
	if r == nil {
		return
	}
	select {
	case r.ch <- item{ref: ref, eventType: eventType, reason: reason, msg: message, at: time.Now()}:
	default:
		if r.dropped != nil {
			r.dropped()
		}
	}
}

// Eventf is Event with a format.
func (r *Recorder) Eventf(ref corev1.ObjectReference, eventType, reason, format string, args ...any) {
	r.Event(ref, eventType, reason, fmt.Sprintf(format, args...))
}

// Run delivers queued events until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-r.ch:
			r.deliver(ctx, it)
		}
	}
}

func (r *Recorder) deliver(ctx context.Context, it item) {
	ns := it.ref.Namespace
	if ns == "" {
		ns = metav1NamespaceDefault
	}
	key := it.ref.UID + "\x00" + it.eventType + "\x00" + it.reason + "\x00" + it.msg
	r.mu.Lock()
	s := r.cache[key]
	if s != nil {
		s.count++
		s.last = it.at
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if s != nil {
		patch, _ := json.Marshal(map[string]any{"count": s.count, "lastTimestamp": metav1.NewTime(it.at)})
		err := r.sink.Patch(ctx, s.namespace, s.name, patch)
		if err == nil {
			return
		}
		if !client.IsNotFound(err) {
			r.log.Debug("event_patch_failed", zap.String("reason", it.reason), zap.Error(err))
			return
		}
		// the event expired; start a new series
	}
	now := metav1.NewTime(it.at)
	ev := &corev1.Event{
		InvolvedObject: it.ref, Reason: it.reason, Message: it.msg, Type: it.eventType,
		Source: corev1.EventSource{Component: r.component}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: r.component, ReportingInstance: r.component,
	}
	ev.Namespace = ns
	ev.Name = it.ref.Name + "." + strconv.FormatInt(it.at.UnixNano(), 16)
	created, err := r.sink.Create(ctx, ns, ev)
	if err != nil {
		r.log.Debug("event_create_failed", zap.String("reason", it.reason), zap.Error(err))
		return
	}
	r.mu.Lock()
	if len(r.cache) >= maxCache {
		r.cache = map[string]*seen{}
	}
	r.cache[key] = &seen{name: created.Name, namespace: ns, count: 1, first: it.at, last: it.at}
	r.mu.Unlock()
}

// metav1NamespaceDefault is where events about cluster-scoped objects go, as in Kubernetes.
const metav1NamespaceDefault = "default"
