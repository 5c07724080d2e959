// Package node registers the agent's Node object and keeps it alive: it creates (or adopts) the Node
// with capacity, allocatable, addresses, daemon endpoints, node info, labels and taints, updates its
// status conditions periodically, and renews the node's Lease in kube-node-lease every 10 seconds,
// which is what the node lifecycle controller watches.
//
// It does not decide pod admission or evictions.
package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/version"
)

// Config describes the node.
type Config struct {
	Name     string
	IP       string
	Hostname string
	Port     int32
	PodCIDR  string
	Labels   map[string]string
	Taints   []corev1.Taint
	// RootDir is the filesystem whose use decides DiskPressure.
	RootDir string
	// MaxPods is the pod capacity (110).
	MaxPods int64
	// LeaseDuration is written into the Lease (40s); RenewInterval is how often it is renewed (10s).
	LeaseDuration, RenewInterval time.Duration
	// StatusInterval is how often the Node status is written (10s).
	StatusInterval time.Duration
	// Images lists the images present, for status.images.
	Images func() []corev1.ContainerImage
}

// Agent keeps the Node and its Lease up to date.
type Agent struct {
	cfg    Config
	log    *zap.Logger
	nodes  *client.Resource[corev1.Node]
	leases *client.Resource[coordinationv1.Lease]
	uid    string
}

// New returns a node agent.
func New(cfg Config, c *client.Client, log *zap.Logger) *Agent {
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 40 * time.Second
	}
	if cfg.RenewInterval == 0 {
		cfg.RenewInterval = 10 * time.Second
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 10 * time.Second
	}
	return &Agent{
		cfg: cfg, log: log,
		nodes:  client.NewResource[corev1.Node](c, client.ResourceInfo{Version: "v1", Resource: "nodes", Kind: "Node"}),
		leases: client.NewResource[coordinationv1.Lease](c, client.ResourceInfo{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease", Namespaced: true}),
	}
}

// ParseTaints parses --register-with-taints: "key=value:Effect,key2:Effect".
func ParseTaints(s string) ([]corev1.Taint, error) {
	var out []corev1.Taint
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kv, effect, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("taint %q: want key[=value]:Effect", part)
		}
		switch corev1.TaintEffect(effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("taint %q: effect must be NoSchedule, PreferNoSchedule or NoExecute", part)
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("taint %q: empty key", part)
		}
		out = append(out, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
	}
	return out, nil
}

// ParseLabels parses --node-labels: "k=v,k2=v2".
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("node label %q: want key=value", part)
		}
		out[k] = v
	}
	return out, nil
}

// Capacity reads the machine's CPU, memory, storage and pod capacity.
func Capacity(rootDir string, maxPods int64) corev1.ResourceList {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	if kb := meminfo("MemTotal"); kb > 0 {
		rl[corev1.ResourceMemory] = *resource.NewQuantity(kb*1024, resource.BinarySI)
	}
	var st unix.Statfs_t
	if unix.Statfs(rootDir, &st) == nil {
		rl[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI)
	}
	return rl
}

func meminfo(key string) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			var n int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			return n
		}
	}
	return 0
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func osImage() string {
	for _, line := range strings.Split(readTrim("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (a *Agent) labels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:      a.cfg.Name,
		"kubernetes.io/os":        "linux",
		"kubernetes.io/arch":      goruntime.GOARCH,
		"beta.kubernetes.io/os":   "linux",
		"beta.kubernetes.io/arch": goruntime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		l[k] = v
	}
	return l
}

func (a *Agent) status(old *corev1.NodeStatus) corev1.NodeStatus {
	capacity := Capacity(a.cfg.RootDir, a.cfg.MaxPods)
	now := metav1.Now()
	diskPressure := false
	var st unix.Statfs_t
	if unix.Statfs(a.cfg.RootDir, &st) == nil && st.Blocks > 0 {
		diskPressure = st.Bavail*100/st.Blocks < 10
	}
	memPressure := false
	if total, avail := meminfo("MemTotal"), meminfo("MemAvailable"); total > 0 && avail > 0 {
		memPressure = avail*100/total < 5
	}
	cond := func(t corev1.NodeConditionType, bad bool, okReason, okMsg, badReason, badMsg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReason, Message: okMsg, LastHeartbeatTime: now, LastTransitionTime: now}
		if bad {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, badReason, badMsg
		}
		if old != nil {
			for _, o := range old.Conditions {
				if o.Type == t && o.Status == c.Status {
					c.LastTransitionTime = o.LastTransitionTime
				}
			}
		}
		return c
	}
	ready := cond(corev1.NodeReady, true, "", "", "KubeletReady", "skiff-nodeagent is posting ready status")
	s := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, memPressure, "KubeletHasSufficientMemory", "node has sufficient memory available", "KubeletHasInsufficientMemory", "node has insufficient memory available"),
			cond("DiskPressure", diskPressure, "KubeletHasNoDiskPressure", "node has no disk pressure", "KubeletHasDiskPressure", "node has disk pressure"),
			cond("PIDPressure", false, "KubeletHasSufficientPID", "node has sufficient PID available", "", ""),
			ready,
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.cfg.IP},
			{Type: corev1.NodeHostName, Address: a.cfg.Hostname},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: a.cfg.Port}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               readTrim("/etc/machine-id"),
			SystemUUID:              readTrim("/sys/class/dmi/id/product_uuid"),
			BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
			KernelVersion:           kernel(),
			OSImage:                 osImage(),
			ContainerRuntimeVersion: "skiff://" + version.Version,
			KubeletVersion:          version.Get().GitVersion,
			KubeProxyVersion:        version.Get().GitVersion,
			OperatingSystem:         "linux",
			Architecture:            goruntime.GOARCH,
		},
	}
	if a.cfg.Images != nil {
		s.Images = a.cfg.Images()
	}
	return s
}

// Register creates the Node, or adopts an existing one (adding labels and refreshing status).
func (a *Agent) Register(ctx context.Context) error {
	n := &corev1.Node{}
	n.Name = a.cfg.Name
	n.Labels = a.labels()
	n.Spec.Taints = a.cfg.Taints
	if a.cfg.PodCIDR != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = a.cfg.PodCIDR, []string{a.cfg.PodCIDR}
	}
	n.Status = a.status(nil)
	created, err := a.nodes.Create(ctx, "", n, client.CreateOptions{})
	switch {
	case err == nil:
		a.uid = created.UID
		a.log.Info("node registered", zap.String("node", a.cfg.Name))
		// Status is ignored on create by Kubernetes-compatible servers; write it explicitly.
		return a.updateStatus(ctx)
	case client.IsAlreadyExists(err):
		existing, err := a.nodes.Get(ctx, "", a.cfg.Name, client.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading existing node: %w", err)
		}
		a.uid = existing.UID
		changed := false
		if existing.Labels == nil {
			existing.Labels = map[string]string{}
		}
		for k, v := range a.labels() {
			if existing.Labels[k] != v {
				existing.Labels[k] = v
				changed = true
			}
		}
		if existing.Spec.PodCIDR == "" && a.cfg.PodCIDR != "" {
			existing.Spec.PodCIDR, existing.Spec.PodCIDRs = a.cfg.PodCIDR, []string{a.cfg.PodCIDR}
			changed = true
		}
		if changed {
			if _, err := a.nodes.Update(ctx, "", existing, client.UpdateOptions{}); err != nil {
				return fmt.Errorf("updating existing node: %w", err)
			}
		}
		a.log.Info("node already registered, adopted", zap.String("node", a.cfg.Name))
		return a.updateStatus(ctx)
	default:
		return fmt.Errorf("registering node %s: %w", a.cfg.Name, err)
	}
}

func (a *Agent) updateStatus(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
		n, err := a.nodes.Get(ctx, "", a.cfg.Name, client.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading node: %w", err)
		}
		n.Status = a.status(&n.Status)
		if _, err := a.nodes.UpdateStatus(ctx, "", n, client.UpdateOptions{}); err != nil {
			if client.IsConflict(err) {
				continue
			}
			return fmt.Errorf("updating node status: %w", err)
		}
		return nil
	}
	return errors.New("updating node status: repeated conflicts")
}

func (a *Agent) renewLease(ctx context.Context) error {
	const ns = "kube-node-lease"
	dur := int32(a.cfg.LeaseDuration / time.Second)
	now := metav1.NowMicro()
	holder := a.cfg.Name
	l, err := a.leases.Get(ctx, ns, a.cfg.Name, client.GetOptions{})
	if client.IsNotFound(err) {
		l = &coordinationv1.Lease{}
		l.Name, l.Namespace = a.cfg.Name, ns
		if a.uid != "" {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a.cfg.Name, UID: a.uid}}
		}
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now, AcquireTime: &now}
		_, err = a.leases.Create(ctx, ns, l, client.CreateOptions{})
		if err != nil && !client.IsAlreadyExists(err) {
			return fmt.Errorf("creating node lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading node lease: %w", err)
	}
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &dur, &now
	if _, err := a.leases.Update(ctx, ns, l, client.UpdateOptions{}); err != nil {
		return fmt.Errorf("renewing node lease: %w", err)
	}
	return nil
}

// Run registers the node (retrying until it works), then renews the lease and the status until ctx
// ends.
func (a *Agent) Run(ctx context.Context) error {
	delay := 500 * time.Millisecond
	for {
		err := a.Register(ctx)
		if err == nil {
			break
		}
		a.log.Info("node registration failed, retrying", zap.Error(err), zap.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		if delay < 10*time.Second {
			delay *= 2
		}
	}
	if err := a.renewLease(ctx); err != nil {
		a.log.Info("lease renewal failed", zap.Error(err))
	}
	lease := time.NewTicker(a.cfg.RenewInterval)
	defer lease.Stop()
	status := time.NewTicker(a.cfg.StatusInterval)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-lease.C:
			if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
				a.log.Info("lease renewal failed", zap.Error(err))
			}
		case <-status.C:
			if err := a.updateStatus(ctx); err != nil && ctx.Err() == nil {
				a.log.Info("node status update failed", zap.Error(err))
			}
		}
	}
}
