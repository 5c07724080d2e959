// Package events records the node agent's core/v1 Events (Pulling, Pulled, Created, Started, Killing,
// Unhealthy, BackOff, FailedMount, ...) with source.component "skiff-nodeagent" and the node as
// source.host, so that `kubectl describe pod` tells a pod's story. Delivery is asynchronous: the sync
// loop never blocks or fails on an event. A repeat of the same event (same object, type, reason and
// message) patches the first one's count and lastTimestamp instead of creating another object.
//
// It does not retry: events that cannot be written (the apiserver is down, the queue is full) are
// dropped and counted in skiff_nodeagent_events_dropped_total.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Component is the source.component of the agent's events.
const Component = "skiff-nodeagent"

// Sink is where events are written.
type Sink interface {
	Create(ctx context.Context, ns string, ev *corev1.Event) (*corev1.Event, error)
	Patch(ctx context.Context, ns, name string, mergePatch []byte) error
}

// APISink writes events through the typed events client.
type APISink struct {
	Events *client.Resource[corev1.Event]
}

// NewAPISink returns a sink for the events resource of c.
func NewAPISink(c *client.Client) APISink {
	return APISink{Events: client.NewResource[corev1.Event](c, client.ResourceInfo{Version: "v1", Resource: "events", Kind: "Event", Namespaced: true})}
}

// Create posts a new event.
func (s APISink) Create(ctx context.Context, ns string, ev *corev1.Event) (*corev1.Event, error) {
	return s.Events.Create(ctx, ns, ev, client.CreateOptions{})
}

// Patch merge-patches an existing event.
func (s APISink) Patch(ctx context.Context, ns, name string, p []byte) error {
	_, err := s.Events.Patch(ctx, ns, name, client.MergePatchType, p, client.PatchOptions{})
	return err
}

// PodRef is the involvedObject of an event about a pod, or about one of its containers when container
// is set (fieldPath spec.containers{name}, or spec.initContainers{name} when init).
func PodRef(pod *corev1.Pod, container string, init bool) corev1.ObjectReference {
	ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion}
	if container != "" {
		if init {
			ref.FieldPath = "spec.initContainers{" + container + "}"
		} else {
			ref.FieldPath = "spec.containers{" + container + "}"
		}
	}
	return ref
}

type item struct {
	ref                    corev1.ObjectReference
	eventType, reason, msg string
	at                     time.Time
}

type series struct {
	namespace, name string
	count           int32
}

// Recorder queues and writes events. It is safe for concurrent use; a nil Recorder drops everything.
type Recorder struct {
	sink    Sink
	host    string
	log     *zap.Logger
	ch      chan item
	dropped prometheus.Counter

	mu    sync.Mutex
	cache map[string]*series
}

// maxSeries bounds the dedup cache; when full it starts over (old series then get new objects).
const maxSeries = 4096

// New returns a recorder writing to sink with source.host = host.
func New(sink Sink, host string, reg prometheus.Registerer, log *zap.Logger) (*Recorder, error) {
	r := &Recorder{sink: sink, host: host, log: log, ch: make(chan item, 1000), cache: map[string]*series{},
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_nodeagent_events_dropped_total", Help: "Events not written: queue full or the apiserver refused them."})}
	if reg != nil {
		if err := reg.Register(r.dropped); err != nil {
			return nil, fmt.Errorf("registering event metrics: %w", err)
		}
	}
	return r, nil
}

// Event queues an event; it never blocks.
func (r *Recorder) Event(ref corev1.ObjectReference, eventType, reason, message string) {
	if r == nil {
		return
	}
	select {
	case r.ch <- item{ref: ref, eventType: eventType, reason: reason, msg: message, at: time.Now()}:
	default:
		r.dropped.Inc()
	}
}

// Eventf is Event with a format.
func (r *Recorder) Eventf(ref corev1.ObjectReference, eventType, reason, format string, args ...any) {
	r.Event(ref, eventType, reason, fmt.Sprintf(format, args...))
}

// Run writes queued events until ctx ends.
func (r *Recorder) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-r.ch:
			r.deliver(ctx, it)
		}
	}
}

func (r *Recorder) deliver(ctx context.Context, it item) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := string(it.ref.UID) + "\x00" + it.ref.FieldPath + "\x00" + it.eventType + "\x00" + it.reason + "\x00" + it.msg
	r.mu.Lock()
	s := r.cache[key]
	var count int32
	if s != nil {
		s.count++
		count = s.count
	}
	r.mu.Unlock()
	if s != nil {
		patch, _ := json.Marshal(map[string]any{"count": count, "lastTimestamp": metav1.NewTime(it.at)})
		err := r.sink.Patch(ctx, s.namespace, s.name, patch)
		if err == nil {
			return
		}
		if !client.IsNotFound(err) {
			r.dropped.Inc()
			r.log.Debug("event patch failed", zap.String("reason", it.reason), zap.Error(err))
			return
		}
		// The event expired: start a new series.
	}
	now := metav1.NewTime(it.at)
	ns := it.ref.Namespace
	if ns == "" {
		ns = "default"
	}
	ev := &corev1.Event{
		InvolvedObject: it.ref, Reason: it.reason, Message: it.msg, Type: it.eventType,
		Source:         corev1.EventSource{Component: Component, Host: r.host},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: Component, ReportingInstance: r.host,
	}
	ev.Namespace = ns
	ev.Name = it.ref.Name + "." + strconv.FormatInt(it.at.UnixNano(), 16)
	created, err := r.sink.Create(ctx, ns, ev)
	if err != nil {
		r.dropped.Inc()
		r.log.Debug("event create failed", zap.String("reason", it.reason), zap.Error(err))
		return
	}
	r.mu.Lock()
	if len(r.cache) >= maxSeries {
		r.cache = map[string]*series{}
	}
	r.cache[key] = &series{namespace: ns, name: created.Name, count: 1}
	r.mu.Unlock()
}
