package pods

import (
	"context"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/nodeagent/internal/staticpod"
)

// setStaticPods replaces the set of static pods (from the manifest folder) and syncs what changed;
// a static pod that is gone, or whose manifest changed (a new UID), is stopped.
func (m *Manager) setStaticPods(pods []*corev1.Pod) {
	next := map[string]*corev1.Pod{}
	for _, p := range pods {
		next[p.Namespace+"/"+p.Name] = p
	}
	m.mu.Lock()
	old := m.static
	m.static = next
	for key := range m.staticStatus {
		if _, ok := next[key]; !ok {
			delete(m.staticStatus, key)
		}
	}
	var stop []*record
	var stopPods []*corev1.Pod
	for key, p := range old {
		if n, ok := next[key]; !ok || n.UID != p.UID {
			if r := m.records[string(p.UID)]; r != nil && !m.terminating[string(p.UID)] {
				stop = append(stop, r)
				stopPods = append(stopPods, p)
			}
		}
	}
	ctx := m.baseCtx
	m.mu.Unlock()
	for i, r := range stop {
		m.log.Info("stopping static pod whose manifest is gone or changed", zap.String("pod", r.Namespace+"/"+r.Name))
		m.startTermination(ctx, stopPods[i], r, graceSeconds(stopPods[i]))
	}
	for key, p := range next {
		if o, ok := old[key]; !ok || o.UID != p.UID {
			m.queue.Add(key)
		}
	}
}

// staticPod returns the static pod of key, if any.
func (m *Manager) staticPod(key string) (*corev1.Pod, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.static[key]
	return p, ok
}

// nodeOwner is the ownerReference of mirror pods: the Node.
func (m *Manager) nodeOwner(ctx context.Context) (metav1.OwnerReference, error) {
	m.mu.Lock()
	uid := m.nodeUID
	m.mu.Unlock()
	if uid == "" {
		n, err := m.api.Nodes.Get(ctx, "", m.cfg.NodeName, client.GetOptions{})
		if err != nil {
			return metav1.OwnerReference{}, err
		}
		uid = string(n.UID)
		m.mu.Lock()
		m.nodeUID = uid
		m.mu.Unlock()
	}
	t := true
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: m.cfg.NodeName, UID: uid, Controller: &t}, nil
}

// syncMirror makes the API hold a current mirror of the static pod and returns it (nil while there is
// none: the apiserver is away, or a stale or deleted mirror is being replaced). Deleting a mirror pod
// does not stop the static pod: the mirror is simply created again.
func (m *Manager) syncMirror(ctx context.Context, static *corev1.Pod) *corev1.Pod {
	key := static.Namespace + "/" + static.Name
	mirror, ok := m.informer.Get(key)
	if ok && mirror.Annotations[staticpod.AnnotationMirror] == string(static.UID) && mirror.DeletionTimestamp == nil {
		return mirror
	}
	if !m.isReady() {
		m.queue.AddAfter(key, 5*time.Second)
		return nil
	}
	if ok {
		// A stale mirror (older manifest), a pod that is not ours, or a mirror being deleted.
		zero := int64(0)
		uid := string(mirror.UID)
		err := m.api.Pods.Delete(ctx, mirror.Namespace, mirror.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !client.IsNotFound(err) && !client.IsConflict(err) {
			m.log.Info("deleting stale mirror pod", zap.String("pod", key), zap.Error(err))
		}
		m.queue.AddAfter(key, time.Second)
		return nil
	}
	owner, err := m.nodeOwner(ctx)
	if err != nil {
		m.log.Info("creating mirror pod: reading the node", zap.String("pod", key), zap.Error(err))
		m.queue.AddAfter(key, 5*time.Second)
		return nil
	}
	mp := &corev1.Pod{Spec: static.Spec}
	mp.Name, mp.Namespace = static.Name, static.Namespace
	mp.Labels = static.Labels
	mp.Annotations = map[string]string{}
	for k, v := range static.Annotations {
		mp.Annotations[k] = v
	}
	mp.Annotations[staticpod.AnnotationMirror] = string(static.UID)
	mp.OwnerReferences = []metav1.OwnerReference{owner}
	created, err := m.api.Pods.Create(ctx, mp.Namespace, mp, client.CreateOptions{})
	if err != nil {
		if !client.IsAlreadyExists(err) {
			m.log.Info("creating mirror pod", zap.String("pod", key), zap.Error(err))
		}
		m.queue.AddAfter(key, 5*time.Second)
		return nil
	}
	m.log.Info("mirror pod created", zap.String("pod", key))
	return created
}

// deleteOrphanMirror removes a mirror pod whose static pod is gone.
func (m *Manager) deleteOrphanMirror(ctx context.Context, mirror *corev1.Pod) {
	zero := int64(0)
	uid := string(mirror.UID)
	err := m.api.Pods.Delete(ctx, mirror.Namespace, mirror.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !client.IsNotFound(err) && !client.IsConflict(err) {
		m.log.Info("deleting mirror pod of a removed static pod", zap.String("pod", mirror.Namespace+"/"+mirror.Name), zap.Error(err))
		return
	}
	m.log.Info("mirror pod of a removed static pod deleted", zap.String("pod", mirror.Namespace+"/"+mirror.Name))
}

func (m *Manager) isReady() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}
