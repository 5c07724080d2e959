package pods

import (
	"context"
	"errors"
	"fmt"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/nodeagent/internal/events"
	"github.com/skiffhq/skiff/nodeagent/internal/volume"
)

// PersistentVolumeClaim reads a claim (volume.Source).
func (a API) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return a.PVCs.Get(ctx, ns, name, client.GetOptions{})
}

// PersistentVolume reads a volume (volume.Source).
func (a API) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return a.PVs.Get(ctx, "", name, client.GetOptions{})
}

// downward resolves a volume's downward API items for one pod.
type downward struct {
	pod  *corev1.Pod
	info podRuntimeInfo
}

func (d downward) FieldRef(sel *corev1.ObjectFieldSelector) (string, error) {
	return podField(d.pod, sel.FieldPath, d.info)
}

func (d downward) ResourceFieldRef(sel *corev1.ResourceFieldSelector) (string, error) {
	c := findContainer(d.pod, sel.ContainerName)
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: container %q not found in the pod", sel.ContainerName)
	}
	return resourceField(c, sel, d.info)
}

// setupVolumes makes the pod's volumes ready (and refreshes projected content); a failure is reported
// as a FailedMount event and keeps the containers from starting.
func (m *Manager) setupVolumes(ctx context.Context, pod *corev1.Pod, r *record) error {
	if len(pod.Spec.Volumes) == 0 {
		r.mounts = map[string]volume.Mounted{}
		return nil
	}
	info := podRuntimeInfo{PodIPs: r.PodIPs, HostIP: m.cfg.NodeIP, NodeCPU: m.cfg.NodeCPU, NodeMemory: m.cfg.NodeMemory}
	mounts, err := m.vols.SetUp(ctx, pod, m.podDir(r.UID), downward{pod: pod, info: info})
	if err != nil {
		var ve *volume.Error
		if errors.As(err, &ve) {
			m.recorder.Event(events.PodRef(pod, "", false), events.Warning, "FailedMount", ve.Error())
		}
		return err
	}
	r.mounts = mounts
	return nil
}
