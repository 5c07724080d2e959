package pods

import (
	"context"
	"errors"
	"fmt"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
)

// ContainerRef says which runtime container a pod's container is now.
type ContainerRef struct {
	Pod *corev1.Pod
	// ID is the runtime id of the current attempt.
	ID string
}

// RunningContainer finds the running container of a pod, for exec and attach. Unknown pods and
// containers are ErrNotFound; a container that does not run now is ErrNotStarted.
func (m *Manager) RunningContainer(namespace, name, container string) (ContainerRef, error) {
	pod, ok := m.getPod(namespace + "/" + name)
	if !ok {
		return ContainerRef{}, fmt.Errorf("pod %s/%s: %w", namespace, name, ErrNotFound)
	}
	if findContainer(pod, container) == nil {
		return ContainerRef{}, fmt.Errorf("container %s is not valid for pod %s: %w", container, name, ErrNotFound)
	}
	m.mu.Lock()
	var id string
	if r := m.records[m.uidOf(pod)]; r != nil {
		if cr := r.Containers[container]; cr != nil {
			id = cr.ID
		}
	}
	m.mu.Unlock()
	if id == "" {
		return ContainerRef{}, fmt.Errorf("container %q in pod %q is not running: %w", container, name, ErrNotStarted)
	}
	st, err := m.rt.State(id)
	if err != nil || st.Status != runtime.StatusRunning {
		return ContainerRef{}, fmt.Errorf("container %q in pod %q is not running: %w", container, name, ErrNotStarted)
	}
	return ContainerRef{Pod: pod, ID: id}, nil
}

// Exec runs a command inside a running container of a pod (kubectl exec).
func (m *Manager) Exec(ctx context.Context, namespace, name, container string, opts runtime.ExecOptions) (int, error) {
	ref, err := m.RunningContainer(namespace, name, container)
	if err != nil {
		return -1, err
	}
	code, err := m.rt.Exec(ctx, ref.ID, opts)
	if errors.Is(err, runtime.ErrNotRunning) {
		return -1, fmt.Errorf("container %q in pod %q is not running: %w", container, name, ErrNotStarted)
	}
	return code, err
}

// findContainer returns the pod's init or app container of that name.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
