package client

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	autoscalingv1 "github.com/skiffhq/skiff/shared/api/autoscaling/v1"
	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	policyv1 "github.com/skiffhq/skiff/shared/api/policy/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
)

// InfoFor converts an entry of the resources table into the client's resource description.
func InfoFor(r resources.Resource) ResourceInfo {
	return ResourceInfo{Group: r.Group, Version: r.Version, Resource: r.Plural, Kind: r.Kind, Namespaced: r.Namespaced}
}

// For returns the typed client of the served resource whose Go type is T (For[corev1.Pod] gives pods).
// It fails for a type that is not in shared/api/resources.
func For[T any](c *Client) (*Resource[T], error) {
	obj, ok := any(new(T)).(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T is not an API object", new(T))
	}
	r, ok := resources.ForObject(obj)
	if !ok {
		return nil, fmt.Errorf("%T is not a served resource", obj)
	}
	return NewResource[T](c, InfoFor(r)), nil
}

func mustFor[T any](c *Client) *Resource[T] {
	r, err := For[T](c)
	if err != nil {
		// Only reachable if the resources table and the Clientset fields disagree, which
		// TestClientsetCoversTable catches.
		panic(err)
	}
	return r
}

// Clientset holds a typed client for every resource Skiff serves, plus the helpers for subresources
// with their own body types (binding, eviction, scale, log). Build it once per component with
// NewClientset and share it; fields are safe for concurrent use.
type Clientset struct {
	*Client

	Namespaces             *Resource[corev1.Namespace]
	Nodes                  *Resource[corev1.Node]
	Pods                   *Resource[corev1.Pod]
	PodTemplates           *Resource[corev1.PodTemplate]
	Services               *Resource[corev1.Service]
	Endpoints              *Resource[corev1.Endpoints]
	ConfigMaps             *Resource[corev1.ConfigMap]
	Secrets                *Resource[corev1.Secret]
	ServiceAccounts        *Resource[corev1.ServiceAccount]
	Events                 *Resource[corev1.Event]
	PersistentVolumes      *Resource[corev1.PersistentVolume]
	PersistentVolumeClaims *Resource[corev1.PersistentVolumeClaim]

	Deployments         *Resource[appsv1.Deployment]
	ReplicaSets         *Resource[appsv1.ReplicaSet]
	DaemonSets          *Resource[appsv1.DaemonSet]
	StatefulSets        *Resource[appsv1.StatefulSet]
	ControllerRevisions *Resource[appsv1.ControllerRevision]

	Jobs     *Resource[batchv1.Job]
	CronJobs *Resource[batchv1.CronJob]

	EndpointSlices           *Resource[discoveryv1.EndpointSlice]
	Leases                   *Resource[coordinationv1.Lease]
	HorizontalPodAutoscalers *Resource[autoscalingv2.HorizontalPodAutoscaler]
	StorageClasses           *Resource[storagev1.StorageClass]
	PriorityClasses          *Resource[schedulingv1.PriorityClass]
	PodDisruptionBudgets     *Resource[policyv1.PodDisruptionBudget]
}

// NewClientset builds the typed clients over c.
func NewClientset(c *Client) *Clientset {
	return &Clientset{
		Client:                   c,
		Namespaces:               mustFor[corev1.Namespace](c),
		Nodes:                    mustFor[corev1.Node](c),
		Pods:                     mustFor[corev1.Pod](c),
		PodTemplates:             mustFor[corev1.PodTemplate](c),
		Services:                 mustFor[corev1.Service](c),
		Endpoints:                mustFor[corev1.Endpoints](c),
		ConfigMaps:               mustFor[corev1.ConfigMap](c),
		Secrets:                  mustFor[corev1.Secret](c),
		ServiceAccounts:          mustFor[corev1.ServiceAccount](c),
		Events:                   mustFor[corev1.Event](c),
		PersistentVolumes:        mustFor[corev1.PersistentVolume](c),
		PersistentVolumeClaims:   mustFor[corev1.PersistentVolumeClaim](c),
		Deployments:              mustFor[appsv1.Deployment](c),
		ReplicaSets:              mustFor[appsv1.ReplicaSet](c),
		DaemonSets:               mustFor[appsv1.DaemonSet](c),
		StatefulSets:             mustFor[appsv1.StatefulSet](c),
		ControllerRevisions:      mustFor[appsv1.ControllerRevision](c),
		Jobs:                     mustFor[batchv1.Job](c),
		CronJobs:                 mustFor[batchv1.CronJob](c),
		EndpointSlices:           mustFor[discoveryv1.EndpointSlice](c),
		Leases:                   mustFor[coordinationv1.Lease](c),
		HorizontalPodAutoscalers: mustFor[autoscalingv2.HorizontalPodAutoscaler](c),
		StorageClasses:           mustFor[storagev1.StorageClass](c),
		PriorityClasses:          mustFor[schedulingv1.PriorityClass](c),
		PodDisruptionBudgets:     mustFor[policyv1.PodDisruptionBudget](c),
	}
}

// NewForConfig is New followed by NewClientset.
func NewForConfig(cfg *Config) (*Clientset, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return NewClientset(c), nil
}

// BindPod assigns a pod to a node: POST pods/<name>/binding with the Binding (metadata.name and
// namespace are the pod's; metadata.uid, when set, is a precondition). A pod already bound gets Conflict.
func (cs *Clientset) BindPod(ctx context.Context, b *corev1.Binding) error {
	if b.TypeMeta.Kind == "" {
		b = withTypeMeta(b, "Binding", "v1")
	}
	return cs.Pods.CreateSubresource(ctx, b.Namespace, b.Name, "binding", b, nil)
}

func withTypeMeta(b *corev1.Binding, kind, apiVersion string) *corev1.Binding {
	cp := *b
	cp.TypeMeta = metav1.TypeMeta{Kind: kind, APIVersion: apiVersion}
	return &cp
}

// EvictPod asks for a pod's eviction (POST pods/<name>/eviction), which honours PodDisruptionBudgets;
// a refused eviction gets 429 TooManyRequests.
func (cs *Clientset) EvictPod(ctx context.Context, ev *policyv1.Eviction) error {
	cp := *ev
	if cp.Kind == "" {
		cp.TypeMeta = metav1.TypeMeta{Kind: "Eviction", APIVersion: "policy/v1"}
	}
	return cs.Pods.CreateSubresource(ctx, cp.Namespace, cp.Name, "eviction", &cp, nil)
}

// PodLogOptions are the query parameters of pods/log.
type PodLogOptions struct {
	Container    string
	Follow       bool
	Previous     bool
	Timestamps   bool
	TailLines    *int64
	SinceSeconds *int64
	SinceTime    *time.Time
	LimitBytes   *int64
}

func (o PodLogOptions) query() url.Values {
	q := url.Values{}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	for k, v := range map[string]bool{"follow": o.Follow, "previous": o.Previous, "timestamps": o.Timestamps} {
		if v {
			q.Set(k, "true")
		}
	}
	for k, v := range map[string]*int64{"tailLines": o.TailLines, "sinceSeconds": o.SinceSeconds, "limitBytes": o.LimitBytes} {
		if v != nil {
			q.Set(k, strconv.FormatInt(*v, 10))
		}
	}
	if o.SinceTime != nil {
		q.Set("sinceTime", o.SinceTime.UTC().Format(time.RFC3339))
	}
	return q
}

// PodLogs streams a container's log (text); with Follow it stays open until the container exits or ctx
// ends. The caller closes the stream.
func (cs *Clientset) PodLogs(ctx context.Context, namespace, name string, opts PodLogOptions) (io.ReadCloser, error) {
	return cs.Pods.StreamSubresource(ctx, namespace, name, "log", opts.query())
}

// GetScale reads the scale subresource (deployments, replicasets, statefulsets).
func (r *Resource[T]) GetScale(ctx context.Context, namespace, name string) (*autoscalingv1.Scale, error) {
	out := &autoscalingv1.Scale{}
	if err := r.GetSubresource(ctx, namespace, name, "scale", nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateScale writes the scale subresource; the Scale's resourceVersion, when set, is a precondition.
func (r *Resource[T]) UpdateScale(ctx context.Context, namespace string, scale *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
	cp := *scale
	if cp.Kind == "" {
		cp.TypeMeta = metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"}
	}
	if namespace == "" {
		namespace = cp.Namespace
	}
	out := &autoscalingv1.Scale{}
	if err := r.UpdateSubresource(ctx, namespace, cp.Name, "scale", &cp, out); err != nil {
		return nil, err
	}
	return out, nil
}
