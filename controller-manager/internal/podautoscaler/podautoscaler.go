// Package podautoscaler is the HorizontalPodAutoscaler controller (autoscaling/v2): it scales a
// Deployment, ReplicaSet or StatefulSet through its /scale subresource so that the pods' average CPU
// use relative to their requests meets the target utilization (or average value), within
// minReplicas/maxReplicas. Ratios within the tolerance (10%) change nothing; scale-down takes the
// highest recommendation of the stabilization window (300 s, or behavior.scaleDown), scale-up the
// lowest of its window (0 s by default); behavior policies cap each step. Status: currentReplicas,
// desiredReplicas, currentMetrics and the AbleToScale, ScalingActive and ScalingLimited conditions.
//
// Usage comes from a MetricsSource; in a cluster that is AgentMetrics, reading each node agent's
// /stats/summary directly (there is no metrics.k8s.io API yet). Only Resource metrics for cpu are
// supported; pods without a measurement are left out of the average. Policy periods are applied per
// sync (no event history).
package podautoscaler

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"go.uber.org/zap"

	autoscalingv1 "github.com/skiffhq/skiff/shared/api/autoscaling/v1"
	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Name is the controller's name in --controllers and metrics.
const Name = "horizontalpodautoscaling"

// Defaults, as Kubernetes's.
const (
	DefaultSyncPeriod             = 15 * time.Second
	DefaultTolerance              = 0.1
	DefaultDownscaleStabilization = 5 * time.Minute
)

// Scaler reads and writes the scale subresource of one kind.
type Scaler interface {
	GetScale(ctx context.Context, namespace, name string) (*autoscalingv1.Scale, error)
	UpdateScale(ctx context.Context, namespace string, scale *autoscalingv1.Scale) (*autoscalingv1.Scale, error)
}

// HPAClient is the part of the horizontalpodautoscalers API the controller uses.
type HPAClient = controller.StatusClient[autoscalingv2.HorizontalPodAutoscaler]

// Controller reconciles autoscalers.
type Controller struct {
	HPAs     controller.Store[autoscalingv2.HorizontalPodAutoscaler]
	Pods     controller.Store[corev1.Pod]
	API      HPAClient
	Scalers  map[string]Scaler // by target kind: Deployment, ReplicaSet, StatefulSet
	Metrics  MetricsSource
	Recorder *events.Recorder
	Queue    controller.Queue
	Log      *zap.Logger
	// SyncPeriod is how often each autoscaler is evaluated.
	SyncPeriod time.Duration
	// Tolerance is the ratio change below which nothing is scaled.
	Tolerance float64
	// DownscaleStabilization is the scale-down window when behavior does not set one.
	DownscaleStabilization time.Duration

	mu   sync.Mutex
	recs map[string][]recommendation
	now  func() time.Time
}

type recommendation struct {
	at       time.Time
	replicas int32
}

// Init fills defaults.
func (c *Controller) Init() {
	if c.SyncPeriod <= 0 {
		c.SyncPeriod = DefaultSyncPeriod
	}
	if c.Tolerance <= 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.DownscaleStabilization < 0 {
		c.DownscaleStabilization = DefaultDownscaleStabilization
	}
	c.recs = map[string][]recommendation{}
	c.now = time.Now
}

func ref(h *autoscalingv2.HorizontalPodAutoscaler) corev1.ObjectReference {
	return events.Ref("autoscaling/v2", "HorizontalPodAutoscaler", &h.ObjectMeta)
}

// Sync evaluates one autoscaler and requeues it for the next period.
func (c *Controller) Sync(ctx context.Context, key string) error {
	h, ok := c.HPAs.Get(key)
	if !ok {
		c.mu.Lock()
		delete(c.recs, key)
		c.mu.Unlock()
		return nil
	}
	c.Queue.AddAfter(key, c.SyncPeriod)
	now := c.now()
	st := h.Status
	st.Conditions = append([]autoscalingv2.HorizontalPodAutoscalerCondition(nil), h.Status.Conditions...)
	gen := h.Generation
	st.ObservedGeneration = &gen

	scaler := c.Scalers[h.Spec.ScaleTargetRef.Kind]
	if scaler == nil {
		setCond(&st, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", fmt.Sprintf("the HPA controller cannot scale a %s", h.Spec.ScaleTargetRef.Kind), now)
		return c.writeStatus(ctx, h, st)
	}
	scale, err := scaler.GetScale(ctx, h.Namespace, h.Spec.ScaleTargetRef.Name)
	if err != nil {
		setCond(&st, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err), now)
		c.Recorder.Eventf(ref(h), events.Warning, "FailedGetScale", "%v", err)
		return c.writeStatus(ctx, h, st)
	}
	current := scale.Spec.Replicas
	st.CurrentReplicas = scale.Status.Replicas
	minR := int32(1)
	if h.Spec.MinReplicas != nil {
		minR = *h.Spec.MinReplicas
	}
	if current == 0 && minR != 0 {
		st.DesiredReplicas = 0
		setCond(&st, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero", now)
		return c.writeStatus(ctx, h, st)
	}
	setCond(&st, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale", now)

	proposal, metrics, reason, err := c.computeReplicas(ctx, h, scale, current)
	if err != nil {
		setCond(&st, autoscalingv2.ScalingActive, corev1.ConditionFalse, reason, err.Error(), now)
		c.Recorder.Eventf(ref(h), events.Warning, reason, "%v", err)
		st.DesiredReplicas = current
		return c.writeStatus(ctx, h, st)
	}
	st.CurrentMetrics = metrics
	setCond(&st, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)", now)

	desired := c.stabilize(key, h, current, proposal, now)
	desired = limitRate(h, current, desired)
	switch {
	case desired > h.Spec.MaxReplicas:
		desired = h.Spec.MaxReplicas
		setCond(&st, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooManyReplicas", "the desired replica count is more than the maximum replica count", now)
	case desired < minR:
		desired = minR
		setCond(&st, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooFewReplicas", "the desired replica count is less than the minimum replica count", now)
	default:
		setCond(&st, autoscalingv2.ScalingLimited, corev1.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range", now)
	}
	st.DesiredReplicas = desired
	if desired != current {
		upd := *scale
		upd.Spec.Replicas = desired
		if _, err := scaler.UpdateScale(ctx, h.Namespace, &upd); err != nil {
			setCond(&st, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err), now)
			c.Recorder.Eventf(ref(h), events.Warning, "FailedRescale", "New size: %d; error: %v", desired, err)
			_ = c.writeStatus(ctx, h, st)
			return fmt.Errorf("scaling %s %s/%s to %d: %w", h.Spec.ScaleTargetRef.Kind, h.Namespace, h.Spec.ScaleTargetRef.Name, desired, err)
		}
		setCond(&st, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired), now)
		c.Recorder.Eventf(ref(h), events.Normal, "SuccessfulRescale", "New size: %d; reason: cpu resource utilization (percentage of request) %s target", desired, map[bool]string{true: "above", false: "below"}[desired > current])
		t := metav1.NewTime(now)
		st.LastScaleTime = &t
		c.Log.Info("hpa_rescaled", zap.String("hpa", key), zap.Int32("from", current), zap.Int32("to", desired))
	} else {
		setCond(&st, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size", now)
	}
	return c.writeStatus(ctx, h, st)
}

// computeReplicas is the replica count the metrics ask for (the largest over the metrics).
func (c *Controller) computeReplicas(ctx context.Context, h *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale, current int32) (int32, []autoscalingv2.MetricStatus, string, error) {
	sel, err := labels.Parse(scale.Status.Selector)
	if err != nil || scale.Status.Selector == "" {
		return 0, nil, "InvalidSelector", fmt.Errorf("the target's selector %q is not usable: %v", scale.Status.Selector, err)
	}
	var pods []*corev1.Pod
	for _, p := range c.Pods.ByIndex(controller.IndexNamespace, h.Namespace) {
		if podstate.IsActive(p) && sel.Matches(labels.Set(p.Labels)) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return 0, nil, "FailedGetResourceMetric", fmt.Errorf("no pods match the target's selector")
	}
	var best int32 = -1
	var statuses []autoscalingv2.MetricStatus
	for _, m := range h.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil || m.Resource.Name != corev1.ResourceCPU {
			continue
		}
		usage, err := c.Metrics.PodCPU(ctx, pods)
		if err != nil {
			return 0, nil, "FailedGetResourceMetric", fmt.Errorf("failed to get cpu utilization: %w", err)
		}
		var used, requested int64
		var counted int32
		for _, p := range pods {
			u, ok := usage[string(p.UID)]
			if !ok || !podstate.IsReady(p) {
				continue
			}
			var req int64
			for _, ctr := range p.Spec.Containers {
				if q, ok := ctr.Resources.Requests[corev1.ResourceCPU]; ok {
					req += q.MilliValue()
				}
			}
			if req == 0 && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
				return 0, nil, "FailedGetResourceMetric", fmt.Errorf("failed to get cpu utilization: missing request for cpu in pod %s", p.Name)
			}
			used += u.MilliCPU
			requested += req
			counted++
		}
		if counted == 0 {
			return 0, nil, "FailedGetResourceMetric", fmt.Errorf("failed to get cpu utilization: no metrics returned for ready pods")
		}
		var ratio float64
		ms := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU}}
		avg := resourceMilli(used / int64(counted))
		ms.Resource.Current.AverageValue = &avg
		switch m.Resource.Target.Type {
		case autoscalingv2.UtilizationMetricType:
			if m.Resource.Target.AverageUtilization == nil {
				continue
			}
			util := int32(used * 100 / requested)
			ms.Resource.Current.AverageUtilization = &util
			ratio = float64(util) / float64(*m.Resource.Target.AverageUtilization)
		case autoscalingv2.AverageValueMetricType:
			if m.Resource.Target.AverageValue == nil {
				continue
			}
			ratio = float64(used/int64(counted)) / float64(m.Resource.Target.AverageValue.MilliValue())
		default:
			continue
		}
		statuses = append(statuses, ms)
		proposal := current
		if math.Abs(ratio-1) > c.tolerance(h, ratio) {
			proposal = int32(math.Ceil(ratio * float64(counted)))
		}
		if proposal > best {
			best = proposal
		}
	}
	if best < 0 {
		return 0, nil, "InvalidMetricSourceType", fmt.Errorf("no supported metric (Resource cpu with Utilization or AverageValue)")
	}
	return best, statuses, "", nil
}

func (c *Controller) tolerance(h *autoscalingv2.HorizontalPodAutoscaler, ratio float64) float64 {
	if b := h.Spec.Behavior; b != nil {
		rules := b.ScaleDown
		if ratio > 1 {
			rules = b.ScaleUp
		}
		if rules != nil && rules.Tolerance != nil {
			return rules.Tolerance.AsApproximateFloat64()
		}
	}
	return c.Tolerance
}

// stabilize applies the stabilization windows to a new recommendation, as Kubernetes does: scale up
// no further than the lowest recommendation of the up window, down no further than the highest of the
// down window.
func (c *Controller) stabilize(key string, h *autoscalingv2.HorizontalPodAutoscaler, current, proposal int32, now time.Time) int32 {
	upWindow := time.Duration(0)
	downWindow := c.DownscaleStabilization
	if b := h.Spec.Behavior; b != nil {
		if b.ScaleUp != nil && b.ScaleUp.StabilizationWindowSeconds != nil {
			upWindow = time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second
		}
		if b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
			downWindow = time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	up, down := proposal, proposal
	var keep []recommendation
	for _, r := range c.recs[key] {
		if now.Sub(r.at) <= max(upWindow, downWindow) {
			keep = append(keep, r)
		}
		if now.Sub(r.at) <= upWindow {
			up = min(up, r.replicas)
		}
		if now.Sub(r.at) <= downWindow {
			down = max(down, r.replicas)
		}
	}
	c.recs[key] = append(keep, recommendation{at: now, replicas: proposal})
	out := current
	if out < up {
		out = up
	}
	if out > down {
		out = down
	}
	return out
}

// limitRate caps one step by the behavior policies (Kubernetes's defaults: up by max(100%, 4 pods),
// down by 100%), evaluated against the current count.
func limitRate(h *autoscalingv2.HorizontalPodAutoscaler, current, desired int32) int32 {
	var rules *autoscalingv2.HPAScalingRules
	up := desired > current
	if b := h.Spec.Behavior; b != nil {
		if up {
			rules = b.ScaleUp
		} else {
			rules = b.ScaleDown
		}
	}
	policies := []autoscalingv2.HPAScalingPolicy{{Type: "Percent", Value: 100}}
	if up {
		policies = append(policies, autoscalingv2.HPAScalingPolicy{Type: "Pods", Value: 4})
	}
	selectPolicy := autoscalingv2.ScalingPolicySelect("Max")
	if rules != nil {
		if len(rules.Policies) > 0 {
			policies = rules.Policies
		}
		if rules.SelectPolicy != nil {
			selectPolicy = *rules.SelectPolicy
		}
	}
	if selectPolicy == "Disabled" {
		return current
	}
	var limit int32 = -1
	for _, p := range policies {
		var change int32
		if p.Type == "Pods" {
			change = p.Value
		} else {
			change = int32(math.Ceil(float64(current) * float64(p.Value) / 100))
		}
		if limit < 0 || (selectPolicy == "Min" && change < limit) || (selectPolicy != "Min" && change > limit) {
			limit = change
		}
	}
	if up && desired > current+limit {
		return current + limit
	}
	if !up && desired < current-limit {
		return max(current-limit, 0)
	}
	return desired
}

func setCond(st *autoscalingv2.HorizontalPodAutoscalerStatus, t autoscalingv2.HorizontalPodAutoscalerConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			if st.Conditions[i].Status != s {
				st.Conditions[i].LastTransitionTime = metav1.NewTime(now)
			}
			st.Conditions[i].Status, st.Conditions[i].Reason, st.Conditions[i].Message = s, reason, msg
			return
		}
	}
	st.Conditions = append(st.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now)})
}

func (c *Controller) writeStatus(ctx context.Context, h *autoscalingv2.HorizontalPodAutoscaler, st autoscalingv2.HorizontalPodAutoscalerStatus) error {
	if st.CurrentMetrics == nil {
		st.CurrentMetrics = []autoscalingv2.MetricStatus{}
	}
	return controller.UpdateStatusIfChanged(ctx, c.API, "hpa", h,
		func(h *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscalerStatus {
			return &h.Status
		}, st, nil)
}

// OnHPAChange queues an autoscaler that was added or updated.
func (c *Controller) OnHPAChange(h *autoscalingv2.HorizontalPodAutoscaler) {
	c.Queue.Add(controller.KeyOf(&h.ObjectMeta))
}
