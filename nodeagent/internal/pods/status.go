package pods

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/nodeagent/internal/image"
	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
)

// terminatedState describes an exited container as Kubernetes reports it.
func terminatedState(st *runtime.State) *corev1.ContainerStateTerminated {
	e := st.Exit
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(e.ExitCode),
		Signal:      int32(e.Signal),
		StartedAt:   metav1.NewTime(e.StartedAt.UTC().Truncate(time.Second)),
		FinishedAt:  metav1.NewTime(e.FinishedAt.UTC().Truncate(time.Second)),
		ContainerID: "skiff://" + st.ID,
		Message:     e.Message,
	}
	switch {
	case e.Reason != "":
		t.Reason = e.Reason
	case e.OOMKilled:
		t.Reason = "OOMKilled"
	case e.ExitCode == 0:
		t.Reason = "Completed"
	default:
		t.Reason = "Error"
	}
	return t
}

// containerStatus is one container's status from its record and runtime state.
func (m *Manager) containerStatus(pod *corev1.Pod, c *corev1.Container, cr *containerRecord, st *runtime.State, prev *runtime.State, waitingDefault string, now time.Time) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: cr.ImageID}
	if cr.Attempt > 0 {
		cs.RestartCount = int32(cr.Attempt)
	}
	f := false
	cs.Started = &f
	if prev != nil && prev.Status == runtime.StatusExited {
		cs.LastTerminationState.Terminated = terminatedState(prev)
	}
	switch {
	case st != nil && st.Status == runtime.StatusRunning:
		started := st.Created
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started.UTC().Truncate(time.Second))}
		cs.ContainerID = "skiff://" + st.ID
		isStarted, ready := m.probeStatus(c, st.ID)
		cs.Started, cs.Ready = &isStarted, ready
	case st != nil && st.Status == runtime.StatusExited:
		term := terminatedState(st)
		cs.ContainerID = term.ContainerID
		if !cr.NextStart.IsZero() && cr.BackoffFor == st.ID && now.Before(cr.NextStart) {
			// Waiting out the back-off: report the last exit as the last state.
			cs.LastTerminationState.Terminated = term
			cs.State.Waiting = &corev1.ContainerStateWaiting{
				Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
					cr.Backoff, c.Name, pod.Name, pod.Namespace, pod.UID),
			}
		} else {
			cs.State.Terminated = term
		}
	case st != nil:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	case cr.WaitingReason != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: cr.WaitingReason, Message: cr.WaitingMessage}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitingDefault}
	}
	if cs.ImageID == "" && m.images != nil {
		if img, err := m.images.Get(c.Image); err == nil {
			cs.ImageID = imageID(img)
		}
	}
	return cs
}

// podStatus computes the pod's status: container statuses, phase (as the kubelet's getPhase does) and
// conditions.
func (m *Manager) podStatus(pod *corev1.Pod, r *record, states map[string]*runtime.State, initFailed bool, sandboxErr error, now time.Time) corev1.PodStatus {
	st := corev1.PodStatus{
		HostIP:   m.cfg.NodeIP,
		HostIPs:  []corev1.HostIP{{IP: m.cfg.NodeIP}},
		QOSClass: QOSClass(&pod.Spec),
	}
	start := metav1.NewTime(r.StartTime.UTC().Truncate(time.Second))
	if pod.Status.StartTime != nil {
		start = *pod.Status.StartTime
	}
	st.StartTime = &start
	for _, ip := range r.PodIPs {
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(r.PodIPs) > 0 {
		st.PodIP = r.PodIPs[0]
	}
	prevState := func(cr *containerRecord) *runtime.State {
		if cr.PrevID == "" {
			return nil
		}
		s, err := m.rt.State(cr.PrevID)
		if err != nil {
			return nil
		}
		return s
	}
	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cr := r.container(c.Name)
		cs := m.containerStatus(pod, c, cr, states[c.Name], prevState(cr), "PodInitializing", now)
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		if !cs.Ready {
			initDone = false
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	waitingReason := "ContainerCreating"
	if !initDone {
		waitingReason = "PodInitializing"
	}
	allReady := true
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cr := r.container(c.Name)
		cs := m.containerStatus(pod, c, cr, states[c.Name], prevState(cr), waitingReason, now)
		if !cs.Ready {
			allReady = false
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	st.Phase = podPhase(pod.Spec.RestartPolicy, st.InitContainerStatuses, st.ContainerStatuses, initFailed)

	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason}
		if ok {
			c.Status, c.Reason = corev1.ConditionTrue, ""
		}
		return c
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	notReady := "ContainersNotReady"
	if terminal {
		notReady = "PodCompleted"
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxErr == nil && (r.NetworkReady || terminal), ""),
		cond(corev1.PodInitialized, initDone || len(pod.Spec.InitContainers) == 0, "ContainersNotInitialized"),
		cond(corev1.ContainersReady, allReady && !terminal, notReady),
		cond(corev1.PodReady, allReady && !terminal, notReady),
		cond(corev1.PodScheduled, true, ""),
	}
	if terminal && len(pod.Spec.InitContainers) > 0 && initFailed {
		st.Conditions[1] = cond(corev1.PodInitialized, false, "ContainersNotInitialized")
	}
	// Keep transition times of conditions whose status did not change.
	old := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		old[c.Type] = c
	}
	nowT := metav1.NewTime(now.UTC().Truncate(time.Second))
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if o, ok := old[c.Type]; ok && o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
		} else {
			c.LastTransitionTime = nowT
		}
	}
	// Keep other writers' conditions (readiness gates, DisruptionTarget).
	for _, c := range pod.Status.Conditions {
		switch c.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled:
		default:
			st.Conditions = append(st.Conditions, c)
		}
	}
	if sandboxErr != nil {
		st.Message = sandboxErr.Error()
	}
	return st
}

// podPhase is the kubelet's getPhase.
func podPhase(policy corev1.RestartPolicy, inits, containers []corev1.ContainerStatus, initFailed bool) corev1.PodPhase {
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}
	if initFailed {
		return corev1.PodFailed
	}
	for _, cs := range inits {
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			continue
		}
		return corev1.PodPending
	}
	var waiting, running, stopped, succeeded int
	for _, cs := range containers {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if policy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if policy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// writeStatus writes the status if it changed.
func (m *Manager) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	st.ObservedGeneration = pod.Generation
	st.NominatedNodeName = pod.Status.NominatedNodeName
	if reflect.DeepEqual(normalize(pod.Status), normalize(st)) {
		return nil
	}
	p := *pod
	p.Status = st
	_, err := m.api.Pods.UpdateStatus(ctx, pod.Namespace, &p, client.UpdateOptions{})
	if err != nil {
		if client.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("updating status of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// normalize drops what does not matter for the "changed?" comparison.
func normalize(s corev1.PodStatus) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pullAuth reads the pod's imagePullSecrets (kubernetes.io/dockerconfigjson) into registry credentials.
func (m *Manager) pullAuth(ctx context.Context, pod *corev1.Pod) (image.Auth, error) {
	auth := image.Auth{}
	var errs []string
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := m.api.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		data := s.Data[".dockerconfigjson"]
		if len(data) == 0 {
			data = s.Data[".dockercfg"]
		}
		for host, a := range parseDockerConfig(data) {
			if _, ok := auth[host]; !ok {
				auth[host] = a
			}
		}
	}
	if len(errs) > 0 {
		return auth, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return auth, nil
}

// parseDockerConfig reads {"auths": {host: {username, password, auth}}} (or the old flat form).
func parseDockerConfig(b []byte) map[string]authn.AuthConfig {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	var doc struct {
		Auths map[string]entry `json:"auths"`
	}
	out := map[string]authn.AuthConfig{}
	if json.Unmarshal(b, &doc) != nil || doc.Auths == nil {
		var flat map[string]entry
		if json.Unmarshal(b, &flat) != nil {
			return out
		}
		doc.Auths = flat
	}
	for host, e := range doc.Auths {
		a := authn.AuthConfig{Username: e.Username, Password: e.Password}
		if a.Username == "" && e.Auth != "" {
			if dec, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
				a.Username, a.Password, _ = strings.Cut(string(dec), ":")
			}
		}
		host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
		host = strings.TrimSuffix(strings.Split(host, "/")[0], "/")
		if host == "docker.io" || host == "registry-1.docker.io" {
			host = "index.docker.io"
		}
		out[host] = a
	}
	return out
}
