package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/workqueue"

	"github.com/skiffhq/skiff/nodeagent/internal/events"
	"github.com/skiffhq/skiff/nodeagent/internal/image"
	"github.com/skiffhq/skiff/nodeagent/internal/network"
	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
	"github.com/skiffhq/skiff/nodeagent/internal/staticpod"
	"github.com/skiffhq/skiff/nodeagent/internal/volume"
)

// Config is the pod manager's configuration.
type Config struct {
	NodeName string
	NodeIP   string
	// RootDir holds pod records, sandboxes and container root filesystems (<RootDir>/pods/<uid>).
	RootDir string
	// LogDir holds container logs (<LogDir>/<namespace>_<name>_<uid>/<container>/<attempt>.log).
	LogDir string
	// CgroupRoot is the cgroup all pods live under ("/skiff").
	CgroupRoot string
	DNS        DNSConfig
	// NodeCPU and NodeMemory are allocatable, for resourceFieldRef without limits and OOM scores.
	NodeCPU, NodeMemory resource.Quantity
	// PodPidsLimit caps the processes of each container (0: no limit).
	PodPidsLimit int64
	// Workers is how many pods sync at once (4 when zero).
	Workers int
	// ResyncPeriod re-syncs every pod that often even without events (10s when zero).
	ResyncPeriod time.Duration
	// LogMaxSize and LogMaxFiles rotate container logs.
	LogMaxSize  int64
	LogMaxFiles int
	// ImageGC is the disk threshold for image garbage collection.
	ImageGC image.GCPolicy
	// Recorder writes the pods' events (nil: none).
	Recorder *events.Recorder
	// ManifestDir holds static pod manifests ("" for none).
	ManifestDir string
}

// API is what the manager needs from the apiserver.
type API struct {
	Pods       *client.Resource[corev1.Pod]
	ConfigMaps *client.Resource[corev1.ConfigMap]
	Secrets    *client.Resource[corev1.Secret]
	PVCs       *client.Resource[corev1.PersistentVolumeClaim]
	PVs        *client.Resource[corev1.PersistentVolume]
	Nodes      *client.Resource[corev1.Node]
}

// NewAPI builds the typed clients.
func NewAPI(c *client.Client) API {
	return API{
		Pods:       client.NewResource[corev1.Pod](c, client.ResourceInfo{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true}),
		ConfigMaps: client.NewResource[corev1.ConfigMap](c, client.ResourceInfo{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}),
		Secrets:    client.NewResource[corev1.Secret](c, client.ResourceInfo{Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true}),
		PVCs:       client.NewResource[corev1.PersistentVolumeClaim](c, client.ResourceInfo{Version: "v1", Resource: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Namespaced: true}),
		PVs:        client.NewResource[corev1.PersistentVolume](c, client.ResourceInfo{Version: "v1", Resource: "persistentvolumes", Kind: "PersistentVolume"}),
		Nodes:      client.NewResource[corev1.Node](c, client.ResourceInfo{Version: "v1", Resource: "nodes", Kind: "Node"}),
	}
}

func (a API) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return a.ConfigMaps.Get(ctx, ns, name, client.GetOptions{})
}

func (a API) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return a.Secrets.Get(ctx, ns, name, client.GetOptions{})
}

func (a API) IsNotFound(err error) bool { return client.IsNotFound(err) }

// Manager runs the pods of one node.
type Manager struct {
	cfg    Config
	log    *zap.Logger
	api    API
	rt     *runtime.Runtime
	images *image.Store
	net    *network.Manager
	vols   *volume.Manager

	informer *informer.Informer[corev1.Pod]
	queue    *workqueue.Queue[string]

	mu          sync.Mutex
	records     map[string]*record // by pod UID
	keys        map[string]string  // pod UID -> "ns/name"
	watching    map[string]bool    // runtime ids whose exit is watched
	terminating map[string]bool    // pod UIDs being stopped
	firstSeen   map[string]time.Time
	reported    map[string]bool // pods whose start latency was observed
	ready       bool

	recorder *events.Recorder
	baseCtx  context.Context // of Run: probe workers live as long as it

	probeMu sync.Mutex
	probes  map[string]*containerProbes // by runtime container id

	static       map[string]*corev1.Pod      // static pods by "namespace/name"
	staticStatus map[string]corev1.PodStatus // their last computed status, for /pods without an apiserver
	nodeUID      string                      // for mirror pods' owner reference

	startLatency prometheus.Histogram
	running      prometheus.Gauge
	syncs        *prometheus.CounterVec
}

// New builds a manager. Call Run to start it.
func New(cfg Config, api API, rt *runtime.Runtime, images *image.Store, net *network.Manager, reg prometheus.Registerer, log *zap.Logger) (*Manager, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = 10 * time.Second
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/skiff"
	}
	m := &Manager{
		cfg: cfg, log: log, api: api, rt: rt, images: images, net: net,
		records: map[string]*record{}, keys: map[string]string{}, watching: map[string]bool{},
		terminating: map[string]bool{}, firstSeen: map[string]time.Time{}, reported: map[string]bool{},
		recorder: cfg.Recorder, baseCtx: context.Background(), probes: map[string]*containerProbes{},
		staticStatus: map[string]corev1.PodStatus{},
		startLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "skiff_nodeagent_pod_start_duration_seconds",
			Help:    "Time from the agent first seeing a pod to all of its containers running.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "skiff_nodeagent_running_pods", Help: "Pods with at least one running container."}),
		syncs:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skiff_nodeagent_pod_syncs_total", Help: "Pod syncs by result."}, []string{"result"}),
	}
	m.vols = volume.New(api, cfg.NodeMemory.Value())
	m.syncs.WithLabelValues("success").Add(0)
	m.syncs.WithLabelValues("error").Add(0)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.startLatency, m.running, m.syncs} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering pod metrics: %w", err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.RootDir, "pods"), 0o700); err != nil {
		return nil, fmt.Errorf("creating pods directory: %w", err)
	}
	recs, err := m.loadRecords()
	if err != nil {
		return nil, err
	}
	m.records = recs
	for uid, r := range recs {
		if r.Namespace != "" {
			m.keys[uid] = r.Namespace + "/" + r.Name
		}
	}
	m.informer = informer.New[corev1.Pod](api.Pods, informer.Options{
		FieldSelector: "spec.nodeName=" + cfg.NodeName,
		Name:          "pods",
		Logger:        log,
		ResyncPeriod:  cfg.ResyncPeriod,
	})
	m.queue = workqueue.New[string](workqueue.Options[string]{Name: "pods"})
	m.informer.AddHandler(informer.KeyHandler[corev1.Pod](m.queue.Add))
	return m, nil
}

// Ready reports whether the pod cache has synced.
func (m *Manager) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ready {
		return errors.New("pod cache not synced")
	}
	return nil
}

// Run adopts what the runtime has, syncs pods until ctx ends, and returns. Containers keep running.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.baseCtx = ctx
	m.mu.Unlock()
	// Watch the exits of every container found on disk, so that adopted containers are noticed.
	if states, err := m.rt.List(); err == nil {
		adopted := 0
		for _, s := range states {
			if s.Status != runtime.StatusExited {
				adopted++
			}
			m.watchExit(s.Labels[labelPodKey], s.ID)
		}
		m.log.Info("adopted containers from the runtime", zap.Int("running", adopted), zap.Int("total", len(states)))
	} else {
		m.log.Error("listing containers", zap.Error(err))
	}
	infCtx, cancelInf := context.WithCancel(ctx)
	defer cancelInf()
	infDone := make(chan error, 1)
	go func() { infDone <- m.informer.Run(infCtx) }()
	if m.cfg.ManifestDir != "" {
		// Known before anything is cleaned up, so that no static pod looks orphaned.
		pods, _ := staticpod.Load(m.cfg.ManifestDir, m.cfg.NodeName)
		m.setStaticPods(pods)
	}
	// Workers start at once: static pods run before (and without) the apiserver. API pods are only
	// queued by the informer, and nothing is cleaned up before its cache is synced.
	workersDone := make(chan struct{})
	go func() {
		m.queue.Run(ctx, m.cfg.Workers, m.sync)
		close(workersDone)
	}()
	if m.cfg.ManifestDir != "" {
		go func() {
			if err := staticpod.Watch(ctx, m.cfg.ManifestDir, m.cfg.NodeName, 20*time.Second, m.log, m.setStaticPods); err != nil {
				m.log.Error("static pods disabled", zap.Error(err))
			}
		}()
	}
	if informer.WaitForCacheSync(ctx, m.informer) {
		m.mu.Lock()
		m.ready = true
		m.mu.Unlock()
		// Pods that vanished while the agent was down.
		m.cleanupOrphans(ctx)
		go m.housekeeping(ctx)
	}
	<-workersDone
	cancelInf()
	if err := <-infDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// housekeeping removes orphans and collects unused images periodically.
func (m *Manager) housekeeping(ctx context.Context) {
	t := time.NewTicker(m.cfg.ResyncPeriod)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.cleanupOrphans(ctx)
		n++
		if n%30 == 0 && m.images != nil {
			inUse := map[string]bool{}
			m.mu.Lock()
			for _, r := range m.records {
				for _, c := range r.Containers {
					if c.ImageID != "" {
						inUse[c.ImageID] = true
					}
				}
			}
			m.mu.Unlock()
			if removed, err := m.images.GC(inUse, m.cfg.ImageGC); err != nil {
				m.log.Error("image garbage collection", zap.Error(err))
			} else if len(removed) > 0 {
				m.log.Info("removed unused images", zap.Strings("images", removed))
			}
		}
	}
}

// cleanupOrphans stops and removes pods that have a record but no longer exist in the API.
func (m *Manager) cleanupOrphans(ctx context.Context) {
	if !m.isReady() {
		return // an unsynced cache would make every pod look deleted
	}
	live := map[string]bool{}
	for _, p := range m.informer.List() {
		live[string(p.UID)] = true
	}
	m.mu.Lock()
	for _, p := range m.static {
		live[string(p.UID)] = true
	}
	var orphans []*record
	for uid, r := range m.records {
		if !live[uid] && !m.terminating[uid] {
			// The list above may predate a pod that was added (and got its record) since.
			if p, ok := m.informer.Get(r.Namespace + "/" + r.Name); ok && string(p.UID) == uid {
				continue
			}
			orphans = append(orphans, r)
		}
	}
	m.mu.Unlock()
	for _, r := range orphans {
		m.log.Info("stopping pod that no longer exists", zap.String("pod", r.Namespace+"/"+r.Name), zap.String("uid", r.UID))
		m.startTermination(ctx, nil, r, r.GraceSeconds)
	}
	// Containers that belong to no record at all (a start interrupted before its record was saved
	// cannot happen, but a record deleted by hand can).
	states, err := m.rt.List()
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range states {
		uid := s.Labels[labelPodUID]
		if _, ok := m.records[uid]; !ok && !m.terminating[uid] {
			id := s.ID
			go func() {
				rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = m.rt.Remove(rctx, id)
				_ = volume.CleanupContainer(m.podDir(uid), id)
				_ = image.UnmountRootfs(filepath.Join(m.podDir(uid), "containers", id))
			}()
		}
	}
}

// Runtime labels on every container.
const (
	labelPodKey        = "skiff.pod.key"
	labelPodUID        = "skiff.pod.uid"
	labelContainerName = "skiff.container.name"
	labelAttempt       = "skiff.container.attempt"
)

// watchExit requeues the pod when the container exits.
func (m *Manager) watchExit(key, id string) {
	if key == "" {
		return
	}
	m.mu.Lock()
	if m.watching[id] {
		m.mu.Unlock()
		return
	}
	m.watching[id] = true
	m.mu.Unlock()
	ch := m.rt.Exited(id)
	go func() {
		<-ch
		m.mu.Lock()
		delete(m.watching, id)
		m.mu.Unlock()
		m.queue.Add(key)
	}()
}

// Pods returns the pods the agent runs, for its /pods endpoint: the API's, with static pods in
// place of their mirrors.
func (m *Manager) Pods() []*corev1.Pod {
	var out []*corev1.Pod
	m.mu.Lock()
	for key, p := range m.static {
		cp := *p
		cp.Status = m.staticStatus[key]
		out = append(out, &cp)
	}
	m.mu.Unlock()
	for _, p := range m.informer.List() {
		if _, static := m.staticPod(p.Namespace + "/" + p.Name); !static {
			out = append(out, p)
		}
	}
	return out
}

// ContainerLog says where a container's log is: the current attempt, or the previous one.
func (m *Manager) ContainerLog(namespace, name, container string, previous bool) (path string, done func() bool, err error) {
	pod, ok := m.informer.Get(namespace + "/" + name)
	if !ok {
		return "", nil, fmt.Errorf("pod %s/%s: %w", namespace, name, ErrNotFound)
	}
	uid := string(pod.UID)
	m.mu.Lock()
	r := m.records[uid]
	var cr *containerRecord
	if r != nil {
		cr = r.Containers[container]
	}
	m.mu.Unlock()
	known := false
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == container {
			known = true
		}
	}
	if !known {
		return "", nil, fmt.Errorf("container %s is not valid for pod %s: %w", container, name, ErrNotFound)
	}
	if cr == nil || cr.Attempt < 0 {
		return "", nil, fmt.Errorf("container %q in pod %q is waiting to start: %w", container, name, ErrNotStarted)
	}
	attempt, id := cr.Attempt, cr.ID
	if previous {
		if cr.PrevID == "" {
			return "", nil, fmt.Errorf("previous terminated container %q in pod %q not found: %w", container, name, ErrNotFound)
		}
		attempt, id = cr.Attempt-1, cr.PrevID
	}
	path = m.logPath(pod.Namespace, pod.Name, uid, container, attempt)
	done = func() bool {
		s, err := m.rt.State(id)
		return err != nil || s.Status == runtime.StatusExited
	}
	return path, done, nil
}

// Errors of ContainerLog.
var (
	ErrNotFound   = errors.New("not found")
	ErrNotStarted = errors.New("container not started")
)

func (m *Manager) logPath(ns, name, uid, container string, attempt int) string {
	return filepath.Join(m.cfg.LogDir, fmt.Sprintf("%s_%s_%s", ns, name, uid), container, fmt.Sprintf("%d.log", attempt))
}

// PodStats is one pod's resource usage, for /stats/summary.
type PodStats struct {
	Namespace        string `json:"namespace"`
	Name             string `json:"name"`
	UID              string `json:"uid"`
	CPUUsageNanos    uint64 `json:"cpuUsageCoreNanoSeconds"`
	MemoryUsageBytes uint64 `json:"memoryUsageBytes"`
	MemoryWorkingSet uint64 `json:"memoryWorkingSetBytes"`
	Containers       int    `json:"containers"`
}

// Stats sums the cgroup counters of each pod's running containers.
func (m *Manager) Stats() []PodStats {
	m.mu.Lock()
	type item struct {
		r   *record
		ids []string
	}
	var items []item
	for _, r := range m.records {
		it := item{r: r}
		for _, c := range r.Containers {
			if c.ID != "" {
				it.ids = append(it.ids, c.ID)
			}
		}
		items = append(items, it)
	}
	m.mu.Unlock()
	var out []PodStats
	for _, it := range items {
		ps := PodStats{Namespace: it.r.Namespace, Name: it.r.Name, UID: it.r.UID}
		for _, id := range it.ids {
			st, err := m.rt.Stats(id)
			if err != nil {
				continue
			}
			ps.Containers++
			ps.CPUUsageNanos += st.CPUUsageNanos
			ps.MemoryUsageBytes += st.MemoryUsageBytes
			ps.MemoryWorkingSet += st.MemoryWorkingSet
		}
		out = append(out, ps)
	}
	return out
}

func graceSeconds(pod *corev1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

var _ = metav1.Now

// getPod returns the pod of key ("namespace/name"): a static pod from the manifest folder, else the
// API's.
func (m *Manager) getPod(key string) (*corev1.Pod, bool) {
	if p, ok := m.staticPod(key); ok {
		return p, true
	}
	return m.informer.Get(key)
}

// uidOf is the UID the agent keeps the pod's record under.
func (m *Manager) uidOf(p *corev1.Pod) string { return string(p.UID) }
