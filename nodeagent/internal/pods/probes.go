package pods

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/internal/events"
	"github.com/skiffhq/skiff/nodeagent/internal/probe"
	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
)

type probeKind string

const (
	liveness  probeKind = "Liveness"
	readiness probeKind = "Readiness"
	startup   probeKind = "Startup"
)

// containerProbes is the probe state of one running container (one runtime id).
type containerProbes struct {
	podUID, name string
	cancel       context.CancelFunc

	mu      sync.Mutex
	started bool // the startup probe passed (or there is none)
	ready   bool // the readiness probe passed (or there is none)
}

func (cp *containerProbes) get() (started, ready bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.started, cp.ready
}

func (cp *containerProbes) set(f func(cp *containerProbes)) {
	cp.mu.Lock()
	f(cp)
	cp.mu.Unlock()
}

// probeStatus is a running container's started and ready flags for its status.
func (m *Manager) probeStatus(c *corev1.Container, id string) (started, ready bool) {
	m.probeMu.Lock()
	cp := m.probes[id]
	m.probeMu.Unlock()
	if cp != nil {
		started, ready = cp.get()
	}
	if c.StartupProbe == nil {
		started = true
	}
	if !started {
		return false, false
	}
	if c.ReadinessProbe == nil {
		return true, true
	}
	return true, ready
}

// syncProbes starts the probe workers of running app containers that have probes and stops those of
// containers that no longer run. A restarted agent picks up where the last status left off: a
// container the API reports as started and ready stays so until a probe says otherwise (no Ready flap).
func (m *Manager) syncProbes(pod *corev1.Pod, r *record, states map[string]*runtime.State) {
	m.probeMu.Lock()
	defer m.probeMu.Unlock()
	keep := map[string]bool{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st := states[c.Name]
		if st == nil || st.Status != runtime.StatusRunning {
			continue
		}
		if c.LivenessProbe == nil && c.ReadinessProbe == nil && c.StartupProbe == nil {
			continue
		}
		keep[st.ID] = true
		if m.probes[st.ID] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(m.baseCtx)
		cp := &containerProbes{podUID: r.UID, name: c.Name, cancel: cancel, started: c.StartupProbe == nil, ready: c.ReadinessProbe == nil}
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == c.Name && s.ContainerID == "skiff://"+st.ID && s.State.Running != nil {
				if s.Started != nil && *s.Started {
					cp.started = true
				}
				cp.ready = cp.ready || s.Ready
			}
		}
		m.probes[st.ID] = cp
		key := pod.Namespace + "/" + pod.Name
		podIP := ""
		if len(r.PodIPs) > 0 {
			podIP = r.PodIPs[0]
		}
		cc := *c
		for _, w := range []struct {
			kind probeKind
			p    *corev1.Probe
		}{{startup, c.StartupProbe}, {liveness, c.LivenessProbe}, {readiness, c.ReadinessProbe}} {
			if w.p != nil {
				go m.probeLoop(ctx, key, pod, &cc, st.ID, podIP, st.Created, w.kind, w.p, cp)
			}
		}
	}
	for id, cp := range m.probes {
		if cp.podUID == r.UID && !keep[id] {
			cp.cancel()
			delete(m.probes, id)
		}
	}
}

// stopProbes ends every probe worker of a pod.
func (m *Manager) stopProbes(uid string) {
	m.probeMu.Lock()
	defer m.probeMu.Unlock()
	for id, cp := range m.probes {
		if cp.podUID == uid {
			cp.cancel()
			delete(m.probes, id)
		}
	}
}

// execer runs exec probes and hooks inside the container id.
func (m *Manager) execer(id string) probe.Execer {
	return func(ctx context.Context, args []string, timeout time.Duration) (int, []byte, error) {
		var out probe.Limit
		code, err := m.rt.Exec(ctx, id, runtime.ExecOptions{Args: args, Stdout: &out, Stderr: &out, Timeout: timeout})
		if errors.Is(err, runtime.ErrExecTimeout) {
			return code, out.Bytes(), probe.ErrTimeout
		}
		return code, out.Bytes(), err
	}
}

// probeLoop runs one probe of one container until ctx ends or the probe kills the container.
func (m *Manager) probeLoop(ctx context.Context, key string, pod *corev1.Pod, c *corev1.Container, id, podIP string, created time.Time, kind probeKind, p *corev1.Probe, cp *containerProbes) {
	params := probe.ParamsOf(p)
	initial := probe.Unknown
	switch kind {
	case liveness:
		initial = probe.Success
	case readiness:
		if _, ready := cp.get(); ready {
			initial = probe.Success
		} else {
			initial = probe.Failure
		}
	case startup:
		if started, _ := cp.get(); started {
			return
		}
	}
	tr := probe.NewTracker(params, initial)
	if wait := time.Until(created.Add(params.InitialDelay)); wait > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	target := probe.Target{PodIP: podIP, Container: c, Exec: m.execer(id)}
	ref := events.PodRef(pod, c.Name, false)
	t := time.NewTicker(params.Period)
	defer t.Stop()
	for {
		started, _ := cp.get()
		switch {
		case kind == startup && started:
			return
		case kind != startup && !started:
			// Startup probe still running: the others wait.
		default:
			res, msg := probe.Run(ctx, probe.FromProbe(p), target, params.Timeout)
			if ctx.Err() != nil {
				return
			}
			if res == probe.Failure {
				m.recorder.Eventf(ref, events.Warning, "Unhealthy", "%s probe failed: %s", kind, strings.TrimSpace(msg))
			}
			state, changed := tr.Observe(res)
			if changed {
				m.log.Debug("probe result changed", zap.String("pod", key), zap.String("container", c.Name), zap.String("probe", string(kind)), zap.String("result", state.String()))
				switch {
				case kind == readiness:
					cp.set(func(cp *containerProbes) { cp.ready = state == probe.Success })
					m.queue.Add(key)
				case kind == startup && state == probe.Success:
					cp.set(func(cp *containerProbes) { cp.started = true })
					m.queue.Add(key)
					return
				case state == probe.Failure: // liveness, or startup out of attempts
					cp.set(func(cp *containerProbes) { cp.ready = false })
					grace := graceSeconds(pod)
					if p.TerminationGracePeriodSeconds != nil {
						grace = *p.TerminationGracePeriodSeconds
					}
					m.recorder.Eventf(ref, events.Normal, "Killing", "Container %s failed %s probe, will be restarted", c.Name, strings.ToLower(string(kind)))
					m.queue.Add(key)
					if err := m.stopContainer(ctx, pod, c, id, podIP, grace); err != nil {
						m.log.Info("stopping unhealthy container", zap.String("pod", key), zap.String("container", c.Name), zap.Error(err))
					}
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stopContainer runs the container's preStop hook, then stops it with what is left of the grace
// period (at least 2 seconds, as the kubelet), SIGTERM then SIGKILL.
func (m *Manager) stopContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, podIP string, grace int64) error {
	deadline := time.Now().Add(time.Duration(grace) * time.Second)
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		if st, err := m.rt.State(id); err == nil && st.Status == runtime.StatusRunning {
			hctx, cancel := context.WithDeadline(ctx, deadline)
			msg, err := m.runHook(hctx, c.Lifecycle.PreStop, c, id, podIP, time.Until(deadline))
			cancel()
			if err != nil {
				m.recorder.Eventf(events.PodRef(pod, c.Name, false), events.Warning, "FailedPreStopHook", "PreStopHook failed: %s", strings.TrimSpace(msg+" "+err.Error()))
			}
		}
	}
	left := time.Until(deadline)
	if grace > 0 && left < 2*time.Second {
		left = 2 * time.Second
	}
	if grace <= 0 {
		left = 0
	}
	return m.rt.Kill(ctx, id, left)
}

// runHook runs a lifecycle hook handler against the container.
func (m *Manager) runHook(ctx context.Context, h *corev1.LifecycleHandler, c *corev1.Container, id, podIP string, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	res, msg := probe.Run(ctx, probe.FromHandler(h), probe.Target{PodIP: podIP, Container: c, Exec: m.execer(id)}, timeout)
	if res != probe.Success {
		return msg, fmt.Errorf("hook failed: %s", strings.TrimSpace(msg))
	}
	return msg, nil
}
