// Package podcontrol creates and deletes the pods of a workload controller (ReplicaSet today;
// DaemonSet, Job and StatefulSet reuse it): pods from a template with the owner's controller
// reference, deletions guarded by the pod's UID, an Event on the owner for each, and slow-start
// batching so a broken template costs one failed create rather than a thousand.
//
// It keeps no state; the caller pairs it with expectations (DeleteAll records and lowers them).
package podcontrol

import (
	"context"
	"fmt"
	"sync"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller/expectations"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// PodClient is the part of the pods API pod control uses; *client.Resource[corev1.Pod] implements it.
type PodClient interface {
	Create(ctx context.Context, ns string, pod *corev1.Pod, opts client.CreateOptions) (*corev1.Pod, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Event reasons, as Kubernetes names them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// Control creates and deletes pods for owners.
type Control struct {
	Pods     PodClient
	Recorder *events.Recorder
}

// FromTemplate builds the pod a controller creates from its template: the template's labels,
// annotations, finalizers and spec, generateName <prefix>, and ref as the sole controller reference.
func FromTemplate(t *corev1.PodTemplateSpec, namespace, prefix string, ref metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{}
	p.APIVersion, p.Kind = "v1", "Pod"
	p.Namespace = namespace
	p.GenerateName = prefix
	p.Labels = copyMap(t.Labels)
	p.Annotations = copyMap(t.Annotations)
	if len(t.Finalizers) > 0 {
		p.Finalizers = append([]string(nil), t.Finalizers...)
	}
	p.OwnerReferences = []metav1.OwnerReference{ref}
	p.Spec = t.Spec
	return p
}

// GenerateNamePrefix returns "<owner>-", shortened so generated names stay valid DNS subdomains.
func GenerateNamePrefix(owner string) string {
	const max = 253 - 5 - 1
	if len(owner) > max {
		owner = owner[:max]
	}
	return owner + "-"
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Create creates one pod for the owner described by ownerRef (an Event goes to the owner).
func (c *Control) Create(ctx context.Context, pod *corev1.Pod, owner corev1.ObjectReference) (*corev1.Pod, error) {
	created, err := c.Pods.Create(ctx, pod.Namespace, pod, client.CreateOptions{})
	if err != nil {
		c.Recorder.Eventf(owner, events.Warning, ReasonFailedCreate, "Error creating: %v", err)
		return nil, err
	}
	c.Recorder.Eventf(owner, events.Normal, ReasonSuccessfulCreate, "Created pod: %s", created.Name)
	return created, nil
}

// Delete deletes pod (only the very object with its UID) and records an Event on owner. A pod already
// gone is not an error.
func (c *Control) Delete(ctx context.Context, pod *corev1.Pod, owner corev1.ObjectReference) error {
	uid := pod.UID
	opts := &metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.Pods.Delete(ctx, pod.Namespace, pod.Name, opts)
	if err != nil && !client.IsNotFound(err) {
		c.Recorder.Eventf(owner, events.Warning, ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if err == nil {
		c.Recorder.Eventf(owner, events.Normal, ReasonSuccessfulDelete, "Deleted pod: %s", pod.Name)
	}
	return nil
}

// DeleteAll deletes pods in parallel for the owner whose expectations key is key. It records the
// deletions in exp before issuing them and lowers the expectation for each delete that fails (it will
// never be observed). It returns the first error.
func (c *Control) DeleteAll(ctx context.Context, exp *expectations.Expectations, key string, pods []*corev1.Pod, owner corev1.ObjectReference) error {
	if len(pods) == 0 {
		return nil
	}
	uids := make([]string, 0, len(pods))
	for _, p := range pods {
		uids = append(uids, p.UID)
	}
	exp.ExpectDeletions(key, uids)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Delete(ctx, p, owner); err != nil {
				exp.DeletionObserved(key, p.UID)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// SlowStart calls fn count times in batches of 1, 2, 4, ... (each batch in parallel), stopping after
// the first batch with a failure. It returns how many calls succeeded and the first error; the caller
// lowers its expectations by the calls never made.
func SlowStart(count, initialBatch int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initialBatch); batch > 0; batch = min(2*batch, remaining) {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, errs[0]
		}
		remaining -= batch
	}
	return successes, nil
}
