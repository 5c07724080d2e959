package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/nodeagent/internal/events"
	"github.com/skiffhq/skiff/nodeagent/internal/image"
	"github.com/skiffhq/skiff/nodeagent/internal/network"
	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
	"github.com/skiffhq/skiff/nodeagent/internal/staticpod"
	"github.com/skiffhq/skiff/nodeagent/internal/volume"
)

// sync brings one pod (by "namespace/name") to its desired state. It is level-based: it reads the pod
// from the informer cache and the containers from the runtime, so running it again is harmless.
func (m *Manager) sync(ctx context.Context, key string) error {
	err := m.syncPod(ctx, key)
	if err != nil {
		m.syncs.WithLabelValues("error").Inc()
		m.log.Info("pod sync failed, will retry", zap.String("pod", key), zap.Error(err))
		return err
	}
	m.syncs.WithLabelValues("success").Inc()
	return nil
}

func (m *Manager) syncPod(ctx context.Context, key string) error {
	pod, ok := m.getPod(key)
	if !ok {
		m.cleanupOrphans(ctx)
		return nil
	}
	// statusTarget is the API object the status is written to: the pod, or a static pod's mirror.
	statusTarget := pod
	if staticpod.IsStatic(pod) {
		statusTarget = m.syncMirror(ctx, pod)
		p := *pod
		if statusTarget != nil {
			p.Status = statusTarget.Status
		}
		pod = &p
	} else if staticpod.IsMirror(pod) {
		// The mirror of a static pod whose manifest is gone: it never runs as an API pod.
		m.deleteOrphanMirror(ctx, pod)
		return nil
	}
	uid := string(pod.UID)
	m.mu.Lock()
	if m.terminating[uid] {
		m.mu.Unlock()
		return nil
	}
	r, ok := m.records[uid]
	if !ok {
		r = &record{UID: uid, Namespace: pod.Namespace, Name: pod.Name, HostNetwork: pod.Spec.HostNetwork,
			StartTime: time.Now(), Containers: map[string]*containerRecord{}}
		qos := QOSClass(&pod.Spec)
		r.CgroupParent = fmt.Sprintf("%s/%s/pod%s", m.cfg.CgroupRoot, strings.ToLower(string(qos)), uid)
		m.records[uid] = r
		m.keys[uid] = key
	}
	if _, seen := m.firstSeen[uid]; !seen {
		m.firstSeen[uid] = time.Now()
	}
	m.mu.Unlock()
	r.GraceSeconds = graceSeconds(pod)

	if pod.DeletionTimestamp != nil {
		m.startTermination(ctx, pod, r, graceSeconds(pod))
		return nil
	}
	apiTerminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if r.Finished || apiTerminal {
		if !r.Finished {
			// Terminal already (a restarted agent): make sure nothing runs and the IP is released.
			m.finish(ctx, r)
		}
		if !apiTerminal && r.FinalStatus != nil && statusTarget != nil {
			// The terminal status was computed but its write failed (a conflict, the apiserver away):
			// write it again, or the pod would look Pending or Running forever.
			return m.writeStatus(ctx, statusTarget, *r.FinalStatus)
		}
		return nil
	}

	now := time.Now()
	var requeue time.Duration
	after := func(d time.Duration) {
		if d > 0 && (requeue == 0 || d < requeue) {
			requeue = d
		}
	}
	var sandboxErr error
	if !r.NetworkReady {
		sandboxErr = m.setupSandbox(ctx, pod, r)
		if sandboxErr != nil {
			m.log.Info("pod sandbox not ready", zap.String("pod", key), zap.Error(sandboxErr))
		}
	}
	states := m.states(r)
	policy := pod.Spec.RestartPolicy
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}

	if sandboxErr == nil {
		if err := m.setupVolumes(ctx, pod, r); err != nil {
			m.log.Info("pod volumes not ready", zap.String("pod", key), zap.Error(err))
			sandboxErr = err
			after(5 * time.Second)
		}
	}
	initDone, initFailed := true, false
	if sandboxErr == nil {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			cr := r.container(c.Name)
			st := states[c.Name]
			switch {
			case st != nil && st.Status != runtime.StatusExited:
				initDone = false
			case st != nil && st.Exit.ExitCode == 0 && st.Exit.Reason != "StartError":
				continue
			case st != nil:
				if policy == corev1.RestartPolicyNever {
					initFailed = true
					break
				}
				initDone = false
				after(m.restartOrWait(ctx, pod, r, c, cr, st, now))
			default:
				initDone = false
				after(m.startContainer(ctx, pod, r, c))
			}
			break
		}
	} else {
		initDone = false
	}
	if initDone && !initFailed {
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			cr := r.container(c.Name)
			st := states[c.Name]
			switch {
			case st != nil && st.Status != runtime.StatusExited:
			case st != nil:
				if shouldRestart(policy, st.Exit) {
					after(m.restartOrWait(ctx, pod, r, c, cr, st, now))
				}
			default:
				after(m.startContainer(ctx, pod, r, c))
			}
		}
	}
	if err := m.saveRecord(r); err != nil {
		return err
	}
	states = m.states(r)
	m.syncProbes(pod, r, states)
	status := m.podStatus(pod, r, states, initFailed, sandboxErr, now)
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		r.FinalStatus = &status
		m.finish(ctx, r)
	}
	m.observeStart(pod, status)
	if staticpod.IsStatic(pod) {
		m.mu.Lock()
		m.staticStatus[key] = status
		m.mu.Unlock()
	}
	if statusTarget != nil {
		if err := m.writeStatus(ctx, statusTarget, status); err != nil {
			return err
		}
	}
	if sandboxErr != nil {
		var ve *volume.Error
		if errors.As(sandboxErr, &ve) {
			m.queue.AddAfter(key, requeue)
			return nil
		}
		return sandboxErr
	}
	if requeue > 0 {
		m.queue.AddAfter(key, requeue)
	}
	return nil
}

func (m *Manager) observeStart(pod *corev1.Pod, st corev1.PodStatus) {
	if st.Phase != corev1.PodRunning {
		return
	}
	for _, cs := range st.ContainerStatuses {
		if cs.State.Running == nil {
			return
		}
	}
	uid := string(pod.UID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reported[uid] {
		return
	}
	m.reported[uid] = true
	if t, ok := m.firstSeen[uid]; ok {
		m.startLatency.Observe(time.Since(t).Seconds())
	}
}

// shouldRestart applies the restart policy to an exited container.
func shouldRestart(policy corev1.RestartPolicy, exit *runtime.ExitStatus) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exit == nil || exit.ExitCode != 0 || exit.Reason == "StartError"
	}
	return true
}

// restartOrWait restarts an exited container once its back-off has passed; it returns how long until
// it may (0 when it was restarted).
func (m *Manager) restartOrWait(ctx context.Context, pod *corev1.Pod, r *record, c *corev1.Container, cr *containerRecord, st *runtime.State, now time.Time) time.Duration {
	if cr.BackoffFor != cr.ID {
		ran := time.Duration(0)
		if st.Exit != nil && !st.Exit.StartedAt.IsZero() && !st.Exit.FinishedAt.IsZero() {
			ran = st.Exit.FinishedAt.Sub(st.Exit.StartedAt)
		}
		cr.Backoff = nextBackoff(cr.Backoff, ran)
		finished := now
		if st.Exit != nil && !st.Exit.FinishedAt.IsZero() {
			finished = st.Exit.FinishedAt
		}
		cr.NextStart = finished.Add(cr.Backoff)
		cr.BackoffFor = cr.ID
	}
	if wait := cr.NextStart.Sub(now); wait > 0 {
		m.recorder.Eventf(m.ref(pod, c.Name), events.Warning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		return wait
	}
	return m.startContainer(ctx, pod, r, c)
}

// states reads the runtime state of every container's current attempt.
func (m *Manager) states(r *record) map[string]*runtime.State {
	out := map[string]*runtime.State{}
	for name, cr := range r.Containers {
		if cr.ID == "" {
			continue
		}
		s, err := m.rt.State(cr.ID)
		if err != nil {
			continue // not created (yet): the start was interrupted and will be redone with this id
		}
		out[name] = s
	}
	return out
}

// setupSandbox creates the pod's namespaces, runs CNI and writes hosts and resolv.conf.
func (m *Manager) setupSandbox(ctx context.Context, pod *corev1.Pod, r *record) error {
	dir := m.podDir(r.UID)
	ns, err := network.CreateNamespaces(filepath.Join(dir, "ns"), network.NamespaceOptions{
		Hostname: podHostname(pod), HostNetwork: pod.Spec.HostNetwork, HostIPC: pod.Spec.HostIPC, HostUTS: pod.Spec.HostNetwork,
	})
	if err != nil {
		return err
	}
	if pod.Spec.HostNetwork {
		r.PodIPs = []string{m.cfg.NodeIP}
	} else {
		ips, err := m.net.Setup(ctx, network.Attachment{ID: r.UID, Namespace: pod.Namespace, Name: pod.Name, UID: r.UID, NetNS: ns.Net, Ports: hostPorts(pod)})
		if err != nil {
			return fmt.Errorf("setting up pod network: %w", err)
		}
		r.PodIPs = nil
		for _, ip := range ips {
			r.PodIPs = append(r.PodIPs, ip.String())
		}
	}
	hosts := hostsFile(pod, r.PodIPs, m.cfg.DNS.Domain)
	if pod.Spec.HostNetwork {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, "hosts"), hosts); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "resolv.conf"), resolvConf(pod, m.cfg.DNS)); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "hostname"), podHostname(pod)+"\n"); err != nil {
		return err
	}
	r.NetworkReady = true
	return m.saveRecord(r)
}

func hostPorts(pod *corev1.Pod) []network.PortMapping {
	var out []network.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, network.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}

// pullPolicy is the container's imagePullPolicy with Kubernetes's default.
func pullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	ref := c.Image
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	if strings.Contains(ref, "@") {
		return corev1.PullIfNotPresent
	}
	if !strings.Contains(ref, ":") || strings.HasSuffix(ref, ":latest") {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// ensureImage makes the container's image present according to its pull policy.
func (m *Manager) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (*image.Image, error) {
	policy := pullPolicy(c)
	ref := m.ref(pod, c.Name)
	if policy != corev1.PullAlways {
		img, err := m.images.Get(c.Image)
		if err == nil {
			m.recorder.Eventf(ref, events.Normal, "Pulled", "Container image %q already present on machine", c.Image)
			return img, nil
		}
		if !errors.Is(err, image.ErrNotFound) {
			return nil, &imageError{reason: "InvalidImageName", msg: err.Error()}
		}
		if policy == corev1.PullNever {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			m.recorder.Event(ref, events.Warning, "ErrImageNeverPull", msg)
			return nil, &imageError{reason: "ErrImageNeverPull", msg: msg}
		}
	}
	auth, err := m.pullAuth(ctx, pod)
	if err != nil {
		m.log.Info("reading image pull secrets", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
	}
	m.recorder.Eventf(ref, events.Normal, "Pulling", "Pulling image %q", c.Image)
	began := time.Now()
	img, err := m.images.Pull(ctx, c.Image, auth)
	if err != nil {
		msg := fmt.Sprintf("failed to pull image %q: %v", c.Image, err)
		m.recorder.Eventf(ref, events.Warning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		m.recorder.Event(ref, events.Warning, "Failed", "Error: ErrImagePull")
		return nil, &imageError{reason: "ErrImagePull", msg: msg}
	}
	m.recorder.Eventf(ref, events.Normal, "Pulled", "Successfully pulled image %q in %s. Image size: %d bytes.", c.Image, time.Since(began).Round(time.Millisecond), img.Size)
	return img, nil
}

type imageError struct{ reason, msg string }

func (e *imageError) Error() string { return e.msg }

// startContainer starts the next attempt of c. It returns when to look again (a retry delay after a
// failure that is reported in the status, not returned).
func (m *Manager) startContainer(ctx context.Context, pod *corev1.Pod, r *record, c *corev1.Container) time.Duration {
	cr := r.container(c.Name)
	now := time.Now()
	if !cr.NextPull.IsZero() && now.Before(cr.NextPull) {
		return cr.NextPull.Sub(now)
	}
	img, err := m.ensureImage(ctx, pod, c)
	if err != nil {
		var ie *imageError
		if errors.As(err, &ie) {
			cr.PullBackoff = nextBackoff(cr.PullBackoff, 0)
			cr.NextPull = now.Add(cr.PullBackoff)
			if cr.WaitingReason == "ErrImagePull" || cr.WaitingReason == "ImagePullBackOff" {
				cr.WaitingReason = "ImagePullBackOff"
				cr.WaitingMessage = fmt.Sprintf("Back-off pulling image %q: %s", c.Image, ie.msg)
				m.recorder.Eventf(m.ref(pod, c.Name), events.Normal, "BackOff", "Back-off pulling image %q", c.Image)
			} else {
				cr.WaitingReason, cr.WaitingMessage = ie.reason, ie.msg
			}
			// Show ErrImagePull first, then ImagePullBackOff while waiting for the retry.
			go func(key string) {
				time.Sleep(time.Second)
				m.queue.Add(key)
			}(pod.Namespace + "/" + pod.Name)
			return cr.PullBackoff
		}
		cr.WaitingReason, cr.WaitingMessage = "ErrImagePull", err.Error()
		return 10 * time.Second
	}
	cr.PullBackoff, cr.NextPull = 0, time.Time{}
	info := podRuntimeInfo{PodIPs: r.PodIPs, HostIP: m.cfg.NodeIP, NodeCPU: m.cfg.NodeCPU, NodeMemory: m.cfg.NodeMemory}
	env, err := containerEnv(ctx, m.api, pod, c, img.Config.Env, info)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			cr.WaitingReason, cr.WaitingMessage = "CreateContainerConfigError", ce.msg
		} else {
			cr.WaitingReason, cr.WaitingMessage = "CreateContainerConfigError", err.Error()
		}
		m.recorder.Eventf(m.ref(pod, c.Name), events.Warning, "Failed", "Error: %s", cr.WaitingMessage)
		return 10 * time.Second
	}
	args := commandLine(c, img.Config.Entrypoint, img.Config.Cmd, env)

	// The attempt (and so the container id) is decided and saved before the container exists: a
	// restarted agent then finds either the container or nothing, and starts no duplicate.
	if _, err := m.rt.State(cr.ID); cr.ID == "" || err == nil {
		if cr.PrevID != "" {
			m.removeContainer(ctx, r.UID, cr.PrevID)
		}
		if cr.ID != "" {
			cr.PrevID = cr.ID
		}
		cr.Attempt++
		cr.ID = fmt.Sprintf("%s_%s_%d", r.UID, c.Name, cr.Attempt)
	}
	cr.Image, cr.ImageID = c.Image, imageID(img)
	cr.WaitingReason, cr.WaitingMessage = "", ""
	if err := m.saveRecord(r); err != nil {
		cr.WaitingReason, cr.WaitingMessage = "RunContainerError", err.Error()
		return 10 * time.Second
	}
	cfg, err := m.containerConfig(pod, r, c, cr, img, args, env)
	if err != nil {
		cr.WaitingReason, cr.WaitingMessage = "CreateContainerError", err.Error()
		m.recorder.Eventf(m.ref(pod, c.Name), events.Warning, "Failed", "Error: %s", err)
		return 10 * time.Second
	}
	key := pod.Namespace + "/" + pod.Name
	ref := m.ref(pod, c.Name)
	m.recorder.Eventf(ref, events.Normal, "Created", "Created container: %s", c.Name)
	if _, err := m.rt.Start(ctx, cfg); err != nil {
		var se *runtime.StartError
		if !errors.As(err, &se) {
			cr.WaitingReason, cr.WaitingMessage = "RunContainerError", err.Error()
			m.recorder.Eventf(ref, events.Warning, "Failed", "Error: %s", err)
			return 10 * time.Second
		}
		// The runtime recorded the failure as an exit (StartError); the back-off applies.
		m.recorder.Eventf(ref, events.Warning, "Failed", "Error: failed to start container %q: %s", c.Name, se.Message)
	} else {
		m.recorder.Eventf(ref, events.Normal, "Started", "Started container %s", c.Name)
	}
	m.log.Debug("container started", zap.String("pod", key), zap.String("container", c.Name), zap.Int("attempt", cr.Attempt))
	m.watchExit(key, cr.ID)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		m.postStart(ctx, pod, r, c, cr.ID)
	}
	return 0
}

func imageID(img *image.Image) string {
	if len(img.RepoDigests) > 0 {
		return img.RepoDigests[0]
	}
	return img.ID
}

// containerConfig turns the pod's container into the runtime's configuration.
func (m *Manager) containerConfig(pod *corev1.Pod, r *record, c *corev1.Container, cr *containerRecord, img *image.Image, args, env []string) (*runtime.ContainerConfig, error) {
	dir := m.podDir(r.UID)
	rootfs, err := m.images.MountRootfs(img, filepath.Join(dir, "containers", cr.ID))
	if err != nil {
		return nil, err
	}
	user, err := image.ResolveUser(rootfs, img.Config.User)
	if err != nil {
		return nil, err
	}
	sc := c.SecurityContext
	psc := pod.Spec.SecurityContext
	if psc != nil {
		if psc.RunAsUser != nil {
			user.UID = uint32(*psc.RunAsUser)
		}
		if psc.RunAsGroup != nil {
			user.GID = uint32(*psc.RunAsGroup)
		}
		for _, g := range psc.SupplementalGroups {
			user.AdditionalGIDs = append(user.AdditionalGIDs, uint32(g))
		}
	}
	cfg := &runtime.ContainerConfig{
		ID: cr.ID,
		Labels: map[string]string{
			labelPodKey: pod.Namespace + "/" + pod.Name, labelPodUID: r.UID,
			labelContainerName: c.Name, labelAttempt: strconv.Itoa(cr.Attempt),
		},
		Rootfs:      rootfs,
		Args:        args,
		Env:         env,
		Cwd:         c.WorkingDir,
		Hostname:    podHostname(pod),
		HostNetwork: pod.Spec.HostNetwork,
		HostIPC:     pod.Spec.HostIPC,
		HostPID:     pod.Spec.HostPID,
		HostUTS:     pod.Spec.HostNetwork,
		CgroupsPath: r.CgroupParent + "/" + cr.ID,
		LogPath:     m.logPath(pod.Namespace, pod.Name, r.UID, c.Name, cr.Attempt),
		LogMaxSize:  m.cfg.LogMaxSize, LogMaxFiles: m.cfg.LogMaxFiles,
		Mounts: []runtime.Mount{
			{Source: filepath.Join(dir, "hosts"), Destination: "/etc/hosts"},
			{Source: filepath.Join(dir, "resolv.conf"), Destination: "/etc/resolv.conf"},
			{Source: filepath.Join(dir, "hostname"), Destination: "/etc/hostname"},
		},
	}
	vm, err := volume.ContainerMounts(c, r.mounts, dir, cr.ID)
	if err != nil {
		return nil, err
	}
	cfg.Mounts = append(cfg.Mounts, vm...)
	if cfg.Cwd == "" {
		cfg.Cwd = img.Config.WorkingDir
	}
	if !pod.Spec.HostNetwork {
		cfg.NetNamespace = filepath.Join(dir, "ns", "net")
		cfg.UTSNamespace = filepath.Join(dir, "ns", "uts")
	}
	if !pod.Spec.HostIPC {
		cfg.IPCNamespace = filepath.Join(dir, "ns", "ipc")
	}
	if sc != nil {
		if sc.RunAsUser != nil {
			user.UID = uint32(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			user.GID = uint32(*sc.RunAsGroup)
		}
		cfg.Privileged = sc.Privileged != nil && *sc.Privileged
		cfg.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		cfg.NoNewPrivileges = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
		if sc.Capabilities != nil {
			for _, a := range sc.Capabilities.Add {
				cfg.CapAdd = append(cfg.CapAdd, string(a))
			}
			for _, d := range sc.Capabilities.Drop {
				cfg.CapDrop = append(cfg.CapDrop, string(d))
			}
		}
		if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && user.UID == 0 {
			return nil, errors.New("container has runAsNonRoot and image will run as root")
		}
	}
	cfg.UID, cfg.GID, cfg.AdditionalGIDs = user.UID, user.GID, user.AdditionalGIDs
	shares, quota, mem := cgroupResources(c)
	cfg.Resources = runtime.Resources{CPUShares: shares, CPUQuota: quota, MemoryLimit: mem, PidsLimit: m.cfg.PodPidsLimit}
	cfg.OOMScoreAdj = OOMScoreAdj(QOSClass(&pod.Spec), c, m.cfg.NodeMemory.Value())
	return cfg, nil
}

func (m *Manager) removeContainer(ctx context.Context, uid, id string) {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.rt.Remove(rctx, id); err != nil {
		m.log.Info("removing container", zap.String("container", id), zap.Error(err))
	}
	if err := volume.CleanupContainer(m.podDir(uid), id); err != nil {
		m.log.Info("removing container subPath mounts", zap.String("container", id), zap.Error(err))
	}
	if err := image.UnmountRootfs(filepath.Join(m.podDir(uid), "containers", id)); err != nil {
		m.log.Info("removing container rootfs", zap.String("container", id), zap.Error(err))
	}
}

// finish is the end of a pod that reached Succeeded or Failed: nothing runs, and the sandbox is torn
// down so that the IP is free. Logs and the exited containers stay for `kubectl logs`.
func (m *Manager) finish(ctx context.Context, r *record) {
	for _, cr := range r.Containers {
		if cr.ID != "" {
			_ = m.rt.Kill(ctx, cr.ID, 0)
		}
	}
	if err := m.teardownNetwork(ctx, r); err != nil {
		m.log.Info("tearing down network of finished pod", zap.String("pod", r.Namespace+"/"+r.Name), zap.Error(err))
		return
	}
	r.Finished = true
	_ = m.saveRecord(r)
}

func (m *Manager) teardownNetwork(ctx context.Context, r *record) error {
	dir := m.podDir(r.UID)
	if !r.HostNetwork && r.Namespace != "" {
		a := network.Attachment{ID: r.UID, Namespace: r.Namespace, Name: r.Name, UID: r.UID, NetNS: filepath.Join(dir, "ns", "net")}
		if err := m.net.Teardown(ctx, a); err != nil {
			return err
		}
	}
	if err := network.RemoveNamespaces(filepath.Join(dir, "ns")); err != nil {
		return err
	}
	r.NetworkReady = false
	return nil
}

// startTermination stops the pod in the background (once per pod): containers get SIGTERM, then
// SIGKILL after the grace period; then the sandbox, cgroups, root filesystems, logs and the record go,
// and the pod object is deleted. pod is nil when the pod is gone from the API already.
func (m *Manager) startTermination(ctx context.Context, pod *corev1.Pod, r *record, grace int64) {
	m.mu.Lock()
	if m.terminating[r.UID] {
		m.mu.Unlock()
		return
	}
	m.terminating[r.UID] = true
	m.mu.Unlock()
	go func() {
		err := m.terminate(ctx, pod, r, grace)
		m.mu.Lock()
		delete(m.terminating, r.UID)
		if err == nil {
			delete(m.records, r.UID)
			delete(m.keys, r.UID)
			delete(m.firstSeen, r.UID)
			delete(m.reported, r.UID)
		}
		m.mu.Unlock()
		if err != nil {
			m.log.Info("pod termination failed, will retry", zap.String("pod", r.Namespace+"/"+r.Name), zap.Error(err))
			if pod != nil {
				m.queue.AddAfter(pod.Namespace+"/"+pod.Name, 2*time.Second)
			}
		}
	}()
}

func (m *Manager) terminate(ctx context.Context, pod *corev1.Pod, r *record, grace int64) error {
	m.stopProbes(r.UID)
	podIP := ""
	if len(r.PodIPs) > 0 {
		podIP = r.PodIPs[0]
	}
	var wg sync.WaitGroup
	for name, cr := range r.Containers {
		if cr.ID == "" {
			continue
		}
		var c *corev1.Container
		if pod != nil {
			c = findContainer(pod, name)
			if st, err := m.rt.State(cr.ID); err == nil && st.Status != runtime.StatusExited {
				m.recorder.Eventf(m.ref(pod, name), events.Normal, "Killing", "Stopping container %s", name)
			}
		}
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			// preStop first, inside the grace period, then SIGTERM.
			if err := m.stopContainer(ctx, pod, c, id, podIP, grace); err != nil {
				m.log.Info("stopping container", zap.String("container", id), zap.Error(err))
			}
		}(cr.ID)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := m.teardownNetwork(ctx, r); err != nil {
		return err
	}
	states, _ := m.rt.List()
	for _, s := range states {
		if s.Labels[labelPodUID] == r.UID {
			m.removeContainer(ctx, r.UID, s.ID)
		}
	}
	if r.CgroupParent != "" {
		if err := runtime.RemoveCgroup(r.CgroupParent); err != nil {
			return err
		}
	}
	// Volumes are unmounted first: removing the directory must never reach into a volume's content.
	if err := volume.Cleanup(m.podDir(r.UID)); err != nil {
		return fmt.Errorf("unmounting pod volumes: %w", err)
	}
	if err := os.RemoveAll(m.podDir(r.UID)); err != nil {
		return fmt.Errorf("removing pod directory: %w", err)
	}
	if r.Namespace != "" {
		_ = os.RemoveAll(filepath.Join(m.cfg.LogDir, fmt.Sprintf("%s_%s_%s", r.Namespace, r.Name, r.UID)))
	}
	if pod == nil {
		return nil
	}
	if staticpod.IsStatic(pod) {
		// A removed static pod: its mirror goes (a changed manifest's new pod replaces it itself).
		if _, still := m.staticPod(pod.Namespace + "/" + pod.Name); !still {
			if mirror, ok := m.informer.Get(pod.Namespace + "/" + pod.Name); ok && staticpod.IsMirror(mirror) {
				m.deleteOrphanMirror(ctx, mirror)
			}
		}
		m.log.Info("static pod stopped", zap.String("pod", pod.Namespace+"/"+pod.Name))
		return nil
	}
	zero := int64(0)
	uid := string(pod.UID)
	err := m.api.Pods.Delete(ctx, pod.Namespace, pod.Name, &metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !client.IsNotFound(err) && !client.IsConflict(err) {
		return fmt.Errorf("deleting pod: %w", err)
	}
	m.log.Info("pod terminated", zap.String("pod", pod.Namespace+"/"+pod.Name))
	return nil
}

// ref is the event reference of a pod's container.
func (m *Manager) ref(pod *corev1.Pod, container string) corev1.ObjectReference {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			return events.PodRef(pod, container, true)
		}
	}
	return events.PodRef(pod, container, false)
}

// postStart runs the container's postStart hook right after it started; a failing hook kills the
// container (FailedPostStartHook), which is then restarted by the restart policy.
func (m *Manager) postStart(ctx context.Context, pod *corev1.Pod, r *record, c *corev1.Container, id string) {
	podIP := ""
	if len(r.PodIPs) > 0 {
		podIP = r.PodIPs[0]
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	msg, err := m.runHook(hctx, c.Lifecycle.PostStart, c, id, podIP, 2*time.Minute)
	if err == nil {
		return
	}
	ref := m.ref(pod, c.Name)
	m.recorder.Eventf(ref, events.Warning, "FailedPostStartHook", "PostStartHook failed: %s", strings.TrimSpace(msg+" "+err.Error()))
	m.recorder.Eventf(ref, events.Normal, "Killing", "FailedPostStartHook")
	if err := m.rt.Kill(ctx, id, time.Duration(graceSeconds(pod))*time.Second); err != nil {
		m.log.Info("killing container after a failed postStart hook", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.String("container", c.Name), zap.Error(err))
	}
}
