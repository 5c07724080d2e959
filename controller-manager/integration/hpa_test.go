package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/workqueue"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
	"github.com/skiffhq/skiff/controller-manager/internal/podautoscaler"
)

// fakeMetrics stands in for the node agents' /stats/summary: fake Node objects have no agent to ask.
// Every pod reports the same CPU use.
type fakeMetrics struct {
	mu    sync.Mutex
	milli int64
}

func (f *fakeMetrics) set(m int64) { f.mu.Lock(); f.milli = m; f.mu.Unlock() }

func (f *fakeMetrics) PodCPU(_ context.Context, pods []*corev1.Pod) (map[string]podautoscaler.PodUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]podautoscaler.PodUsage{}
	for _, p := range pods {
		out[string(p.UID)] = podautoscaler.PodUsage{MilliCPU: f.milli, Timestamp: time.Now()}
	}
	return out, nil
}

func TestHPAScalesUpOnLoadAndDownAfterTheStabilizationWindow(t *testing.T) {
	e := newEnv(t, "--controllers", "*,-horizontalpodautoscaling")
	newFakeAgent(e, "n1", "n2")
	c := ctx(t)
	d := newDeployment("web", 2, intstrInt(1), intstrInt(0))
	d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	if _, err := e.deploys.Create(c, "default", d, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpaAPI := client.NewResource[autoscalingv2.HorizontalPodAutoscaler](e.c, info("autoscaling", "horizontalpodautoscalers"))
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	h.Name, h.Namespace = "web", "default"
	h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	h.Spec.MinReplicas, h.Spec.MaxReplicas = int32p(1), 8
	target := int32(50)
	h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}}
	window := int32(3)
	h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window}}
	if _, err := hpaAPI.Create(c, "default", h, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// the autoscaler runs in the test with fakeMetrics, against the real apiserver and deployment
	metrics := &fakeMetrics{milli: 50} // 50% of the request: on target
	hpaInf := informer.New[autoscalingv2.HorizontalPodAutoscaler](hpaAPI, informer.Options{})
	podInf := informer.New[corev1.Pod](e.pods, informer.Options{})
	q := workqueue.New(workqueue.Options[string]{Name: "hpa-test"})
	rec := events.New(events.ClientSink{Events: client.NewResource[corev1.Event](e.c, info("", "events"))}, "test", zap.NewNop(), nil)
	ctrl := &podautoscaler.Controller{HPAs: hpaInf, Pods: podInf, API: hpaAPI,
		Scalers: map[string]podautoscaler.Scaler{"Deployment": client.NewResource[appsv1.Deployment](e.c, info("apps", "deployments"))},
		Metrics: metrics, Recorder: rec, Queue: q, Log: zap.NewNop(), SyncPeriod: 200 * time.Millisecond, DownscaleStabilization: 5 * time.Minute}
	ctrl.Init()
	hpaInf.AddHandler(informer.Handler[autoscalingv2.HorizontalPodAutoscaler]{OnAdd: ctrl.OnHPAChange})
	rctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go rec.Run(rctx)
	go func() { _ = hpaInf.Run(rctx) }()
	go func() { _ = podInf.Run(rctx) }()
	if !informer.WaitForCacheSync(rctx, hpaInf, podInf) {
		t.Fatal("caches did not sync")
	}
	go (&controller.Runner{Name: "hpa", Queue: q, Sync: ctrl.Sync, Workers: 1, Log: zap.NewNop()}).Run(rctx)

	waitReplicas := func(what string, want int32) *autoscalingv2.HorizontalPodAutoscaler {
		var last *autoscalingv2.HorizontalPodAutoscaler
		eventually(t, what, 30*time.Second, func() string {
			cur, err := hpaAPI.Get(c, "default", "web", client.GetOptions{})
			if err != nil {
				return err.Error()
			}
			dep, err := e.deploys.Get(c, "default", "web", client.GetOptions{})
			if err != nil {
				return err.Error()
			}
			n, ready := active(e.listPods("default", "app=web"))
			if *dep.Spec.Replicas != want || cur.Status.DesiredReplicas != want || n != int(want) || ready != int(want) {
				return fmt.Sprintf("deployment replicas %d, %d pods (%d ready), hpa status %+v", *dep.Spec.Replicas, n, ready, cur.Status)
			}
			last = cur
			return ""
		})
		return last
	}
	waitReplicas("the deployment at 2 replicas with usage on target", 2)

	// load: 200% of the request is 4x the 50% target → 8 pods (the max)
	metrics.set(200)
	up := waitReplicas("scale up to the maximum on high usage", 8)
	limited := false
	for _, cond := range up.Status.Conditions {
		if cond.Type == autoscalingv2.ScalingLimited && cond.Status == corev1.ConditionTrue && cond.Reason == "TooManyReplicas" {
			limited = true
		}
	}
	if !limited || len(up.Status.CurrentMetrics) != 1 || up.Status.CurrentMetrics[0].Resource.Current.AverageUtilization == nil ||
		*up.Status.CurrentMetrics[0].Resource.Current.AverageUtilization != 200 {
		t.Fatalf("status after scale-up: %+v", up.Status)
	}
	scaledUpAt := up.Status.LastScaleTime.Time

	// load gone: 10% of the request → 8*0.2 = 2 pods, but only after the 3s scale-down window
	lowered := time.Now()
	metrics.set(10)
	down := waitReplicas("scale down after the stabilization window", 2)
	if got := down.Status.LastScaleTime.Sub(lowered); got < time.Duration(window)*time.Second-time.Second {
		// LastScaleTime has one-second resolution; the window is 3 s
		t.Fatalf("scaled down %v after the load dropped (scale-up at %v); the stabilization window is %ds", got, scaledUpAt, window)
	}
}
