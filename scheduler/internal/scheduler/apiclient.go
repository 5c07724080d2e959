package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/scheduler/internal/metrics"
)

// ClientAPI implements API over the apiserver: pods/binding, strategic-merge patches of pods/status,
// graceful DELETEs of victims, and core/v1 Events sent by a small pool of workers so that a slow event
// never holds up scheduling.
type ClientAPI struct {
	cs        *client.Clientset
	log       *zap.Logger
	component string
	instance  string
	metrics   *metrics.Metrics
	events    chan *v1.Event
}

// NewClientAPI returns the API; component is the reporting controller ("default-scheduler"), instance
// this replica's identity. m may be nil.
func NewClientAPI(cs *client.Clientset, component, instance string, log *zap.Logger, m *metrics.Metrics) *ClientAPI {
	return &ClientAPI{cs: cs, log: log, component: component, instance: instance, metrics: m, events: make(chan *v1.Event, 4096)}
}

// RunEvents sends queued events with the given number of workers until ctx ends.
func (a *ClientAPI) RunEvents(ctx context.Context, workers int) error {
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-a.events:
					if _, err := a.cs.Events.Create(ctx, ev.Namespace, ev, client.CreateOptions{}); err != nil && ctx.Err() == nil {
						a.log.Debug("recording event", zap.String("pod", ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name), zap.Error(err))
					}
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	return nil
}

// Bind posts the Binding; the server checks the UID and refuses a pod already assigned (409).
func (a *ClientAPI) Bind(ctx context.Context, pod *v1.Pod, node string) error {
	b := &v1.Binding{
		TypeMeta:   metav1.TypeMeta{Kind: "Binding", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := a.cs.BindPod(ctx, b); err != nil {
		return fmt.Errorf("binding pod %s/%s to %s: %w", pod.Namespace, pod.Name, node, err)
	}
	return nil
}

// conditionPatch is a strategic merge patch of status.conditions (merge key type) and nominatedNodeName.
func conditionPatch(cond v1.PodCondition, nominated *string) ([]byte, error) {
	status := map[string]any{}
	if cond.Type != "" {
		now := metav1.Time{Time: time.Now().Truncate(time.Second)}
		status["conditions"] = []map[string]any{{
			"type": cond.Type, "status": cond.Status, "reason": cond.Reason, "message": cond.Message,
			"lastProbeTime": nil, "lastTransitionTime": now,
		}}
	}
	if nominated != nil {
		if *nominated == "" {
			status["nominatedNodeName"] = nil
		} else {
			status["nominatedNodeName"] = *nominated
		}
	}
	return json.Marshal(map[string]any{"status": status})
}

// UpdateCondition patches pods/status.
func (a *ClientAPI) UpdateCondition(ctx context.Context, pod *v1.Pod, cond v1.PodCondition, nominated *string) error {
	patch, err := conditionPatch(cond, nominated)
	if err != nil {
		return err
	}
	if _, err := a.cs.Pods.Patch(ctx, pod.Namespace, pod.Name, client.StrategicMergePatchType, patch, client.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("patching the status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// Evict marks the victim with a DisruptionTarget condition, as kube-scheduler does, and deletes it with
// its own grace period and a UID precondition, so a recreated pod of the same name is never hit.
func (a *ClientAPI) Evict(ctx context.Context, victim, _ *v1.Pod, _ string) error {
	cond := v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
		Message: a.component + ": preempting to accommodate a higher priority pod"}
	if err := a.UpdateCondition(ctx, victim, cond, nil); err != nil && !client.IsNotFound(err) {
		a.log.Info("marking preemption victim", zap.String("pod", victim.Namespace+"/"+victim.Name), zap.Error(err))
	}
	uid := victim.UID
	opts := &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, GracePeriodSeconds: victim.Spec.TerminationGracePeriodSeconds}
	if err := a.cs.Pods.Delete(ctx, victim.Namespace, victim.Name, opts); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("deleting preemption victim %s/%s: %w", victim.Namespace, victim.Name, err)
	}
	return nil
}

// Event queues a core/v1 Event; it never blocks, dropping the event when the queue is full.
func (a *ClientAPI) Event(_ context.Context, pod *v1.Pod, eventType, reason, action, message string) {
	now := time.Now()
	ev := &v1.Event{
		TypeMeta:   metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()), Namespace: pod.Namespace},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
			UID: pod.UID, ResourceVersion: pod.ResourceVersion},
		Reason: reason, Message: message, Type: eventType, Action: action,
		Source:              v1.EventSource{Component: a.component},
		FirstTimestamp:      metav1.Time{Time: now.Truncate(time.Second)},
		LastTimestamp:       metav1.Time{Time: now.Truncate(time.Second)},
		EventTime:           metav1.MicroTime{Time: now},
		Count:               1,
		ReportingController: a.component,
		ReportingInstance:   a.instance,
	}
	select {
	case a.events <- ev:
	default:
		if a.metrics != nil {
			a.metrics.EventsDropped.Inc()
		}
	}
}
