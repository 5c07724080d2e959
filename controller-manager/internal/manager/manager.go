package manager

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/leaderelection"
	"github.com/skiffhq/skiff/shared/workqueue"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podcontrol"
	"github.com/skiffhq/skiff/controller-manager/internal/cronjob"
	"github.com/skiffhq/skiff/controller-manager/internal/daemonset"
	"github.com/skiffhq/skiff/controller-manager/internal/deployment"
	"github.com/skiffhq/skiff/controller-manager/internal/endpoints"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
	"github.com/skiffhq/skiff/controller-manager/internal/garbagecollector"
	"github.com/skiffhq/skiff/controller-manager/internal/job"
	"github.com/skiffhq/skiff/controller-manager/internal/namespace"
	"github.com/skiffhq/skiff/controller-manager/internal/nodeipam"
	"github.com/skiffhq/skiff/controller-manager/internal/nodelifecycle"
	"github.com/skiffhq/skiff/controller-manager/internal/podautoscaler"
	"github.com/skiffhq/skiff/controller-manager/internal/replicaset"
	"github.com/skiffhq/skiff/controller-manager/internal/serviceaccount"
	"github.com/skiffhq/skiff/controller-manager/internal/statefulset"
	"github.com/skiffhq/skiff/controller-manager/internal/volume"
)

// Component is the name in events and logs.
const Component = "skiff-controller-manager"

// InfoFor returns the client description of a resource in the table.
func InfoFor(r resources.Resource) client.ResourceInfo {
	return client.ResourceInfo{Group: r.Group, Version: r.Version, Resource: r.Plural, Kind: r.Kind, Namespaced: r.Namespaced}
}

func mustInfo(group, plural string) client.ResourceInfo {
	r, ok := resources.Lookup(group, plural)
	if !ok {
		panic(fmt.Sprintf("resource %s.%s missing from the resources table", plural, group))
	}
	return InfoFor(r)
}

// Manager runs the enabled controllers.
type Manager struct {
	cfg     Config
	client  *client.Client
	log     *zap.Logger
	metrics *controller.Metrics
	qm      *workqueue.Metrics
	ready   chan struct{}
}

// New builds a manager; reg receives the metrics.
func New(cfg Config, c *client.Client, reg prometheus.Registerer, log *zap.Logger) (*Manager, error) {
	on, err := cfg.Enabled()
	if err != nil {
		return nil, err
	}
	names := []string{nodelifecycle.EvictionName}
	if on[volume.Name] {
		names = append(names, volume.ClaimQueue)
	}
	for _, n := range AllControllers {
		if on[n] {
			names = append(names, n)
		}
	}
	qm, err := workqueue.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering work queue metrics: %w", err)
	}
	return &Manager{cfg: cfg, client: c, log: log, metrics: controller.NewMetrics(reg, names), qm: qm, ready: make(chan struct{})}, nil
}

// Ready is a readiness check: caches synced and controllers running.
func (m *Manager) Ready() error {
	select {
	case <-m.ready:
		return nil
	default:
		return fmt.Errorf("controllers not started yet")
	}
}

// Run campaigns for leadership (when configured) and runs the controllers until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	leases := client.NewResource[coordinationv1.Lease](m.client, mustInfo("coordination.k8s.io", "leases"))
	return leaderelection.RunOrLead(ctx, leases, m.cfg.Leader, m.log, m.runControllers)
}

func (m *Manager) queue(name string) *workqueue.Queue[string] {
	return workqueue.New(workqueue.Options[string]{Name: name, Metrics: m.qm})
}

// informers groups the shared typed informers; each is built on first use.
type informers struct {
	m        *Manager
	all      []informer.Synced
	runs     []func(context.Context) error
	pods     *informer.Informer[corev1.Pod]
	sets     *informer.Informer[appsv1.ReplicaSet]
	deploys  *informer.Informer[appsv1.Deployment]
	services *informer.Informer[corev1.Service]
	eps      *informer.Informer[corev1.Endpoints]
	slices   *informer.Informer[discoveryv1.EndpointSlice]
	nodes    *informer.Informer[corev1.Node]
	leases   *informer.Informer[coordinationv1.Lease]
	nss      *informer.Informer[corev1.Namespace]
	sas      *informer.Informer[corev1.ServiceAccount]
	dss      *informer.Informer[appsv1.DaemonSet]
	revs     *informer.Informer[appsv1.ControllerRevision]
	jobs     *informer.Informer[batchv1.Job]
	cronjobs *informer.Informer[batchv1.CronJob]
	stss     *informer.Informer[appsv1.StatefulSet]
	pvcs     *informer.Informer[corev1.PersistentVolumeClaim]
	pvs      *informer.Informer[corev1.PersistentVolume]
	classes  *informer.Informer[storagev1.StorageClass]
	hpas     *informer.Informer[autoscalingv2.HorizontalPodAutoscaler]
}

func newInformer[T any](ifs *informers, info client.ResourceInfo, opts informer.Options) *informer.Informer[T] {
	opts.Logger = ifs.m.log
	inf := informer.New[T](client.NewResource[T](ifs.m.client, info), opts)
	ifs.all = append(ifs.all, inf)
	ifs.runs = append(ifs.runs, inf.Run)
	return inf
}

func (ifs *informers) Pods() *informer.Informer[corev1.Pod] {
	if ifs.pods == nil {
		ifs.pods = newInformer[corev1.Pod](ifs, mustInfo("", "pods"), informer.Options{})
		_ = ifs.pods.AddIndexer(controller.IndexController, informer.IndexByControllerUID[corev1.Pod]())
		_ = ifs.pods.AddIndexer(controller.IndexNodeName, func(p *corev1.Pod) []string {
			if p.Spec.NodeName == "" {
				return nil
			}
			return []string{p.Spec.NodeName}
		})
	}
	return ifs.pods
}

func (ifs *informers) Sets() *informer.Informer[appsv1.ReplicaSet] {
	if ifs.sets == nil {
		ifs.sets = newInformer[appsv1.ReplicaSet](ifs, mustInfo("apps", "replicasets"), informer.Options{})
	}
	return ifs.sets
}

func (ifs *informers) Deployments() *informer.Informer[appsv1.Deployment] {
	if ifs.deploys == nil {
		ifs.deploys = newInformer[appsv1.Deployment](ifs, mustInfo("apps", "deployments"), informer.Options{})
	}
	return ifs.deploys
}

func (ifs *informers) Services() *informer.Informer[corev1.Service] {
	if ifs.services == nil {
		ifs.services = newInformer[corev1.Service](ifs, mustInfo("", "services"), informer.Options{})
	}
	return ifs.services
}

func (ifs *informers) Endpoints() *informer.Informer[corev1.Endpoints] {
	if ifs.eps == nil {
		ifs.eps = newInformer[corev1.Endpoints](ifs, mustInfo("", "endpoints"), informer.Options{})
	}
	return ifs.eps
}

func (ifs *informers) Slices() *informer.Informer[discoveryv1.EndpointSlice] {
	if ifs.slices == nil {
		ifs.slices = newInformer[discoveryv1.EndpointSlice](ifs, mustInfo("discovery.k8s.io", "endpointslices"), informer.Options{})
		_ = ifs.slices.AddIndexer(endpoints.IndexServiceName, endpoints.SliceServiceKey)
	}
	return ifs.slices
}

func (ifs *informers) Nodes() *informer.Informer[corev1.Node] {
	if ifs.nodes == nil {
		ifs.nodes = newInformer[corev1.Node](ifs, mustInfo("", "nodes"), informer.Options{})
	}
	return ifs.nodes
}

func (ifs *informers) Leases() *informer.Informer[coordinationv1.Lease] {
	if ifs.leases == nil {
		ifs.leases = newInformer[coordinationv1.Lease](ifs, mustInfo("coordination.k8s.io", "leases"), informer.Options{Namespace: corev1.NamespaceNodeLease})
	}
	return ifs.leases
}

func (ifs *informers) Namespaces() *informer.Informer[corev1.Namespace] {
	if ifs.nss == nil {
		ifs.nss = newInformer[corev1.Namespace](ifs, mustInfo("", "namespaces"), informer.Options{})
	}
	return ifs.nss
}

func (ifs *informers) ServiceAccounts() *informer.Informer[corev1.ServiceAccount] {
	if ifs.sas == nil {
		ifs.sas = newInformer[corev1.ServiceAccount](ifs, mustInfo("", "serviceaccounts"), informer.Options{})
	}
	return ifs.sas
}

func (ifs *informers) DaemonSets() *informer.Informer[appsv1.DaemonSet] {
	if ifs.dss == nil {
		ifs.dss = newInformer[appsv1.DaemonSet](ifs, mustInfo("apps", "daemonsets"), informer.Options{})
	}
	return ifs.dss
}

func (ifs *informers) Revisions() *informer.Informer[appsv1.ControllerRevision] {
	if ifs.revs == nil {
		ifs.revs = newInformer[appsv1.ControllerRevision](ifs, mustInfo("apps", "controllerrevisions"), informer.Options{})
		_ = ifs.revs.AddIndexer(controller.IndexController, informer.IndexByControllerUID[appsv1.ControllerRevision]())
	}
	return ifs.revs
}

func (ifs *informers) Jobs() *informer.Informer[batchv1.Job] {
	if ifs.jobs == nil {
		ifs.jobs = newInformer[batchv1.Job](ifs, mustInfo("batch", "jobs"), informer.Options{})
		_ = ifs.jobs.AddIndexer(controller.IndexController, informer.IndexByControllerUID[batchv1.Job]())
	}
	return ifs.jobs
}

func (ifs *informers) CronJobs() *informer.Informer[batchv1.CronJob] {
	if ifs.cronjobs == nil {
		ifs.cronjobs = newInformer[batchv1.CronJob](ifs, mustInfo("batch", "cronjobs"), informer.Options{})
	}
	return ifs.cronjobs
}

func (ifs *informers) StatefulSets() *informer.Informer[appsv1.StatefulSet] {
	if ifs.stss == nil {
		ifs.stss = newInformer[appsv1.StatefulSet](ifs, mustInfo("apps", "statefulsets"), informer.Options{})
	}
	return ifs.stss
}

func (ifs *informers) Claims() *informer.Informer[corev1.PersistentVolumeClaim] {
	if ifs.pvcs == nil {
		ifs.pvcs = newInformer[corev1.PersistentVolumeClaim](ifs, mustInfo("", "persistentvolumeclaims"), informer.Options{})
	}
	return ifs.pvcs
}

func (ifs *informers) Volumes() *informer.Informer[corev1.PersistentVolume] {
	if ifs.pvs == nil {
		ifs.pvs = newInformer[corev1.PersistentVolume](ifs, mustInfo("", "persistentvolumes"), informer.Options{})
	}
	return ifs.pvs
}

func (ifs *informers) StorageClasses() *informer.Informer[storagev1.StorageClass] {
	if ifs.classes == nil {
		ifs.classes = newInformer[storagev1.StorageClass](ifs, mustInfo("storage.k8s.io", "storageclasses"), informer.Options{})
	}
	return ifs.classes
}

func (ifs *informers) HPAs() *informer.Informer[autoscalingv2.HorizontalPodAutoscaler] {
	if ifs.hpas == nil {
		ifs.hpas = newInformer[autoscalingv2.HorizontalPodAutoscaler](ifs, mustInfo("autoscaling", "horizontalpodautoscalers"), informer.Options{})
	}
	return ifs.hpas
}

type runner struct {
	r      *controller.Runner
	before func() // called after caches sync, before workers start
	extra  func(ctx context.Context)
}

func (m *Manager) runControllers(ctx context.Context) error {
	on, _ := m.cfg.Enabled()
	ifs := &informers{m: m}
	rec := events.New(events.ClientSink{Events: client.NewResource[corev1.Event](m.client, mustInfo("", "events"))}, Component, m.log, m.metrics.Events.Inc)
	var runners []*runner
	add := func(name string, workers int, q controller.Queue, sync controller.SyncFunc) *runner {
		r := &runner{r: &controller.Runner{Name: name, Queue: q, Sync: sync, Workers: workers, Metrics: m.metrics, Log: m.log}}
		runners = append(runners, r)
		return r
	}
	podsAPI := client.NewResource[corev1.Pod](m.client, mustInfo("", "pods"))

	if on[replicaset.Name] {
		q := m.queue(replicaset.Name)
		c := &replicaset.Controller{
			Sets: ifs.Sets(), Pods: ifs.Pods(),
			SetClient:  client.NewResource[appsv1.ReplicaSet](m.client, mustInfo("apps", "replicasets")),
			PodPatch:   podsAPI,
			PodControl: &podcontrol.Control{Pods: podsAPI, Recorder: rec},
			Recorder:   rec, Queue: q, Log: m.log,
		}
		c.Init()
		ifs.Sets().AddHandler(informer.Handler[appsv1.ReplicaSet]{
			OnAdd: c.OnSetChange, OnUpdate: func(_, n *appsv1.ReplicaSet) { c.OnSetChange(n) }, OnDelete: c.OnSetChange,
		})
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnAdd: c.PodEvents.OnPodAdd, OnUpdate: c.PodEvents.OnPodUpdate, OnDelete: c.PodEvents.OnPodDelete})
		add(replicaset.Name, m.cfg.ConcurrentReplicaSetSyncs, q, c.Sync)
	}
	if on[deployment.Name] {
		q := m.queue(deployment.Name)
		c := &deployment.Controller{
			Deployments: ifs.Deployments(), Sets: ifs.Sets(), Pods: ifs.Pods(),
			DeployAPI: client.NewResource[appsv1.Deployment](m.client, mustInfo("apps", "deployments")),
			SetAPI:    client.NewResource[appsv1.ReplicaSet](m.client, mustInfo("apps", "replicasets")),
			Recorder:  rec, Queue: q, Log: m.log,
		}
		c.Init()
		ifs.Deployments().AddHandler(informer.Handler[appsv1.Deployment]{
			OnAdd: c.OnDeploymentChange, OnUpdate: func(_, n *appsv1.Deployment) { c.OnDeploymentChange(n) }, OnDelete: c.OnDeploymentChange,
		})
		ifs.Sets().AddHandler(informer.Handler[appsv1.ReplicaSet]{OnAdd: c.OnSetChange, OnUpdate: c.OnSetUpdate, OnDelete: c.OnSetChange})
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnDelete: c.OnPodDelete})
		add(deployment.Name, m.cfg.ConcurrentDeploymentSyncs, q, c.Sync)
	}
	if on[daemonset.Name] {
		q := m.queue(daemonset.Name)
		c := &daemonset.Controller{
			DaemonSets: ifs.DaemonSets(), Pods: ifs.Pods(), Nodes: ifs.Nodes(), Revisions: ifs.Revisions(),
			API:        client.NewResource[appsv1.DaemonSet](m.client, mustInfo("apps", "daemonsets")),
			PodPatch:   podsAPI,
			RevAPI:     client.NewResource[appsv1.ControllerRevision](m.client, mustInfo("apps", "controllerrevisions")),
			PodControl: &podcontrol.Control{Pods: podsAPI, Recorder: rec},
			Recorder:   rec, Queue: q, Log: m.log,
		}
		c.Init()
		ifs.DaemonSets().AddHandler(informer.Handler[appsv1.DaemonSet]{
			OnAdd: c.OnDaemonSetChange, OnUpdate: func(_, n *appsv1.DaemonSet) { c.OnDaemonSetChange(n) }, OnDelete: c.OnDaemonSetChange,
		})
		ifs.Nodes().AddHandler(informer.Handler[corev1.Node]{OnAdd: c.OnNodeChange, OnUpdate: c.OnNodeUpdate, OnDelete: c.OnNodeChange})
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnAdd: c.PodEvents.OnPodAdd, OnUpdate: c.PodEvents.OnPodUpdate, OnDelete: c.PodEvents.OnPodDelete})
		ifs.Revisions().AddHandler(informer.Handler[appsv1.ControllerRevision]{OnDelete: c.OnRevisionChange})
		add(daemonset.Name, m.cfg.ConcurrentDaemonSetSyncs, q, c.Sync)
	}
	if on[job.Name] {
		q := m.queue(job.Name)
		c := &job.Controller{
			Jobs: ifs.Jobs(), Pods: ifs.Pods(),
			API:        client.NewResource[batchv1.Job](m.client, mustInfo("batch", "jobs")),
			PodPatch:   podsAPI,
			PodControl: &podcontrol.Control{Pods: podsAPI, Recorder: rec},
			Recorder:   rec, Queue: q, Log: m.log,
			BackoffBase: m.cfg.JobBackoffBase, BackoffMax: m.cfg.JobBackoffMax,
		}
		c.Init()
		ifs.Jobs().AddHandler(informer.Handler[batchv1.Job]{
			OnAdd: c.OnJobChange, OnUpdate: func(_, n *batchv1.Job) { c.OnJobChange(n) }, OnDelete: c.OnJobChange,
		})
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnAdd: c.PodEvents.OnPodAdd, OnUpdate: c.PodEvents.OnPodUpdate, OnDelete: c.PodEvents.OnPodDelete})
		add(job.Name, m.cfg.ConcurrentJobSyncs, q, c.Sync)
	}
	if on[cronjob.Name] {
		q := m.queue(cronjob.Name)
		c := &cronjob.Controller{
			CronJobs: ifs.CronJobs(), Jobs: ifs.Jobs(),
			API:      client.NewResource[batchv1.CronJob](m.client, mustInfo("batch", "cronjobs")),
			JobAPI:   client.NewResource[batchv1.Job](m.client, mustInfo("batch", "jobs")),
			Recorder: rec, Queue: q, Log: m.log,
		}
		ifs.CronJobs().AddHandler(informer.Handler[batchv1.CronJob]{OnAdd: c.OnCronJobChange, OnUpdate: func(_, n *batchv1.CronJob) { c.OnCronJobChange(n) }})
		ifs.Jobs().AddHandler(informer.Handler[batchv1.Job]{OnAdd: c.OnJobChange, OnUpdate: func(_, n *batchv1.Job) { c.OnJobChange(n) }, OnDelete: c.OnJobChange})
		add(cronjob.Name, m.cfg.ConcurrentCronJobSyncs, q, c.Sync)
	}
	if on[statefulset.Name] {
		q := m.queue(statefulset.Name)
		c := &statefulset.Controller{
			Sets: ifs.StatefulSets(), Pods: ifs.Pods(), Claims: ifs.Claims(), Revisions: ifs.Revisions(),
			API:        client.NewResource[appsv1.StatefulSet](m.client, mustInfo("apps", "statefulsets")),
			ClaimAPI:   client.NewResource[corev1.PersistentVolumeClaim](m.client, mustInfo("", "persistentvolumeclaims")),
			PodPatch:   podsAPI,
			RevAPI:     client.NewResource[appsv1.ControllerRevision](m.client, mustInfo("apps", "controllerrevisions")),
			PodControl: &podcontrol.Control{Pods: podsAPI, Recorder: rec},
			Recorder:   rec, Queue: q, Log: m.log,
		}
		c.Init()
		ifs.StatefulSets().AddHandler(informer.Handler[appsv1.StatefulSet]{
			OnAdd: c.OnSetChange, OnUpdate: func(_, n *appsv1.StatefulSet) { c.OnSetChange(n) }, OnDelete: c.OnSetChange,
		})
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnAdd: c.PodEvents.OnPodAdd, OnUpdate: c.PodEvents.OnPodUpdate, OnDelete: c.PodEvents.OnPodDelete})
		ifs.Claims().AddHandler(informer.Handler[corev1.PersistentVolumeClaim]{OnDelete: c.OnClaimDelete})
		add(statefulset.Name, m.cfg.ConcurrentStatefulSetSyncs, q, c.Sync)
	}
	if on[volume.Name] {
		q, cq := m.queue(volume.Name), m.queue(volume.ClaimQueue)
		c := &volume.Controller{
			Volumes: ifs.Volumes(), Claims: ifs.Claims(), Classes: ifs.StorageClasses(), Pods: ifs.Pods(), Nodes: ifs.Nodes(),
			VolumeAPI: client.NewResource[corev1.PersistentVolume](m.client, mustInfo("", "persistentvolumes")),
			ClaimAPI:  client.NewResource[corev1.PersistentVolumeClaim](m.client, mustInfo("", "persistentvolumeclaims")),
			ClassAPI:  client.NewResource[storagev1.StorageClass](m.client, mustInfo("storage.k8s.io", "storageclasses")),
			Recorder:  rec, Queue: q, ClaimsQueue: cq, Log: m.log, BaseDir: m.cfg.LocalPathBaseDir,
		}
		ifs.Volumes().AddHandler(informer.Handler[corev1.PersistentVolume]{OnAdd: c.OnVolumeChange, OnUpdate: func(_, n *corev1.PersistentVolume) { c.OnVolumeChange(n) }})
		ifs.Claims().AddHandler(informer.Handler[corev1.PersistentVolumeClaim]{OnAdd: c.OnClaimChange, OnUpdate: func(_, n *corev1.PersistentVolumeClaim) { c.OnClaimChange(n) }, OnDelete: c.OnClaimDelete})
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnAdd: c.OnPodChange, OnUpdate: func(_, n *corev1.Pod) { c.OnPodChange(n) }})
		ifs.StorageClasses().AddHandler(informer.Handler[storagev1.StorageClass]{OnAdd: func(*storagev1.StorageClass) {
			for _, pvc := range ifs.Claims().List() {
				if pvc.Spec.VolumeName == "" {
					cq.Add(controller.KeyOf(&pvc.ObjectMeta))
				}
			}
		}})
		r := add(volume.Name, m.cfg.ConcurrentVolumeSyncs, q, c.SyncVolume)
		r.extra = func(ctx context.Context) {
			for ctx.Err() == nil {
				err := c.EnsureDefaultClass(ctx)
				if err == nil {
					return
				}
				m.log.Info("default_storage_class_failed", zap.Error(err))
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
			}
		}
		add(volume.ClaimQueue, m.cfg.ConcurrentVolumeSyncs, cq, c.SyncClaim)
	}
	if on[podautoscaler.Name] {
		q := m.queue(podautoscaler.Name)
		c := &podautoscaler.Controller{
			HPAs: ifs.HPAs(), Pods: ifs.Pods(),
			API: client.NewResource[autoscalingv2.HorizontalPodAutoscaler](m.client, mustInfo("autoscaling", "horizontalpodautoscalers")),
			Scalers: map[string]podautoscaler.Scaler{
				"Deployment":  client.NewResource[appsv1.Deployment](m.client, mustInfo("apps", "deployments")),
				"ReplicaSet":  client.NewResource[appsv1.ReplicaSet](m.client, mustInfo("apps", "replicasets")),
				"StatefulSet": client.NewResource[appsv1.StatefulSet](m.client, mustInfo("apps", "statefulsets")),
			},
			Metrics:  &podautoscaler.AgentMetrics{Nodes: ifs.Nodes()},
			Recorder: rec, Queue: q, Log: m.log,
			SyncPeriod: m.cfg.HPASyncPeriod, Tolerance: m.cfg.HPATolerance, DownscaleStabilization: m.cfg.HPADownscaleStabilization,
		}
		c.Init()
		ifs.HPAs().AddHandler(informer.Handler[autoscalingv2.HorizontalPodAutoscaler]{OnAdd: c.OnHPAChange, OnUpdate: func(_, n *autoscalingv2.HorizontalPodAutoscaler) { c.OnHPAChange(n) }})
		add(podautoscaler.Name, m.cfg.ConcurrentHPASyncs, q, c.Sync)
	}
	router := &endpoints.PodRouter{Services: ifs.Services()}
	if on[endpoints.Name] {
		q := m.queue(endpoints.Name)
		c := &endpoints.Controller{Services: ifs.Services(), Pods: ifs.Pods(), Endpoints: ifs.Endpoints(),
			API: client.NewResource[corev1.Endpoints](m.client, mustInfo("", "endpoints")), Queue: q, Log: m.log}
		ifs.Services().AddHandler(informer.KeyHandler[corev1.Service](q.Add))
		ifs.Endpoints().AddHandler(informer.Handler[corev1.Endpoints]{OnDelete: func(e *corev1.Endpoints) { q.Add(controller.KeyOf(&e.ObjectMeta)) }})
		router.Queues = append(router.Queues, q)
		add(endpoints.Name, m.cfg.ConcurrentEndpointSyncs, q, c.Sync)
	}
	if on[endpoints.SliceName] {
		q := m.queue(endpoints.SliceName)
		c := &endpoints.SliceController{Services: ifs.Services(), Pods: ifs.Pods(), Nodes: ifs.Nodes(), Slices: ifs.Slices(),
			API:   client.NewResource[discoveryv1.EndpointSlice](m.client, mustInfo("discovery.k8s.io", "endpointslices")),
			Queue: q, Log: m.log, MaxPerSlice: m.cfg.MaxEndpointsPerSlice}
		ifs.Services().AddHandler(informer.KeyHandler[corev1.Service](q.Add))
		sq := endpoints.SliceServiceQueue(q)
		ifs.Slices().AddHandler(informer.Handler[discoveryv1.EndpointSlice]{OnAdd: sq, OnUpdate: func(_, s *discoveryv1.EndpointSlice) { sq(s) }, OnDelete: sq})
		router.Queues = append(router.Queues, q)
		add(endpoints.SliceName, m.cfg.ConcurrentEndpointSyncs, q, c.Sync)
	}
	if len(router.Queues) > 0 {
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnAdd: router.OnPodAdd, OnUpdate: router.OnPodUpdate, OnDelete: router.OnPodDelete})
	}
	if on[nodelifecycle.Name] {
		nodesAPI := client.NewResource[corev1.Node](m.client, mustInfo("", "nodes"))
		mon := &nodelifecycle.Monitor{Cfg: m.cfg.Node, Nodes: ifs.Nodes(), Leases: ifs.Leases(), API: nodesAPI, Recorder: rec, Log: m.log}
		q := m.queue(nodelifecycle.EvictionName)
		ev := &nodelifecycle.Evictor{Cfg: m.cfg.Node, Nodes: ifs.Nodes(), Pods: ifs.Pods(), API: podsAPI, Recorder: rec,
			Queue: q, Log: m.log, Evicted: m.metrics.Evictions.Inc}
		ifs.Nodes().AddHandler(informer.Handler[corev1.Node]{OnAdd: ev.OnNodeChange, OnUpdate: func(_, n *corev1.Node) { ev.OnNodeChange(n) }})
		ifs.Pods().AddHandler(informer.Handler[corev1.Pod]{OnAdd: ev.OnPodChange, OnUpdate: func(_, p *corev1.Pod) { ev.OnPodChange(p) }})
		r := add(nodelifecycle.EvictionName, 2, q, ev.Sync)
		r.extra = mon.Run
	}
	if on[nodeipam.Name] {
		alloc, err := nodeipam.NewAllocator(m.cfg.ClusterCIDR, m.cfg.NodeCIDRMaskSize)
		if err != nil {
			return err
		}
		q := m.queue(nodeipam.Name)
		c := &nodeipam.Controller{Alloc: alloc, Nodes: ifs.Nodes(), API: client.NewResource[corev1.Node](m.client, mustInfo("", "nodes")),
			Recorder: rec, Queue: q, Log: m.log}
		ifs.Nodes().AddHandler(informer.KeyHandler[corev1.Node](q.Add))
		r := add(nodeipam.Name, 1, q, c.Sync)
		r.before = c.Prime
	}
	if on[namespace.Name] {
		q := m.queue(namespace.Name)
		content := map[string]namespace.ContentAPI{}
		for _, r := range namespace.ContentResources() {
			content[r.GroupResource()] = client.NewResource[namespace.Meta](m.client, InfoFor(r))
		}
		c := &namespace.Controller{Namespaces: ifs.Namespaces(), Content: content,
			API: client.NewResource[corev1.Namespace](m.client, mustInfo("", "namespaces")), Queue: q, Log: m.log}
		ifs.Namespaces().AddHandler(informer.KeyHandler[corev1.Namespace](q.Add))
		add(namespace.Name, m.cfg.ConcurrentNamespaceSyncs, q, c.Sync)
	}
	if on[serviceaccount.Name] {
		q := m.queue(serviceaccount.Name)
		c := &serviceaccount.Controller{Namespaces: ifs.Namespaces(), ServiceAccounts: ifs.ServiceAccounts(),
			API: client.NewResource[corev1.ServiceAccount](m.client, mustInfo("", "serviceaccounts")), Queue: q, Log: m.log}
		ifs.Namespaces().AddHandler(informer.Handler[corev1.Namespace]{OnAdd: c.OnNamespace, OnUpdate: func(_, n *corev1.Namespace) { c.OnNamespace(n) }})
		ifs.ServiceAccounts().AddHandler(informer.Handler[corev1.ServiceAccount]{OnDelete: c.OnServiceAccountDelete})
		add(serviceaccount.Name, m.cfg.ConcurrentServiceAccountSync, q, c.Sync)
	}
	if on[garbagecollector.Name] {
		q := m.queue(garbagecollector.Name)
		gc := &garbagecollector.Collector{Queue: q, Log: m.log, APIs: map[string]garbagecollector.API{}}
		for _, r := range garbagecollector.Tracked() {
			res := r
			api := client.NewResource[garbagecollector.Meta](m.client, InfoFor(res))
			gc.APIs[res.GroupResource()] = api
			inf := informer.New[garbagecollector.Meta](api, informer.Options{Logger: m.log, Name: "gc-" + res.GroupResource()})
			inf.AddHandler(informer.Handler[garbagecollector.Meta]{
				OnAdd:    func(o *garbagecollector.Meta) { gc.OnAdd(res, o) },
				OnUpdate: func(_, o *garbagecollector.Meta) { gc.OnUpdate(res, o) },
				OnDelete: func(o *garbagecollector.Meta) { gc.OnDelete(res, o) },
			})
			ifs.all = append(ifs.all, inf)
			ifs.runs = append(ifs.runs, inf.Run)
		}
		add(garbagecollector.Name, m.cfg.ConcurrentGCSyncs, q, gc.Sync)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go rec.Run(ctx)
	errc := make(chan error, len(ifs.runs))
	for _, run := range ifs.runs {
		go func() { errc <- run(ctx) }()
	}
	start := time.Now()
	if !informer.WaitForCacheSync(ctx, ifs.all...) {
		return ctx.Err()
	}
	m.log.Info("caches_synced", zap.Int("informers", len(ifs.all)), zap.Duration("took", time.Since(start)))
	done := make(chan struct{})
	count := 0
	for _, r := range runners {
		if r.before != nil {
			r.before()
		}
		count++
		go func() { r.r.Run(ctx); done <- struct{}{} }()
		if r.extra != nil {
			count++
			go func() { r.extra(ctx); done <- struct{}{} }()
		}
	}
	close(m.ready)
	m.log.Info("controllers_started", zap.Int("controllers", len(runners)))
	var firstErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && ctx.Err() == nil {
			firstErr = fmt.Errorf("informer stopped: %w", err)
		}
		cancel()
	}
	for i := 0; i < count; i++ {
		<-done
	}
	return firstErr
}
