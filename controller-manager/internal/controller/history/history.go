// Package history keeps the ControllerRevisions of a DaemonSet or StatefulSet: one immutable snapshot
// of the pod template per distinct template, named <owner>-<hash>, owned by the workload (controller
// reference), numbered by revision (a template that returns, as after `kubectl rollout undo`, gets the
// next number), and trimmed to revisionHistoryLimit revisions that no pod uses.
//
// The hash is what the controllers put in each pod's controller-revision-hash label. The package talks
// to the API only through the RevisionClient it is given.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// RevisionClient is the part of the controllerrevisions API the package uses.
type RevisionClient interface {
	Create(ctx context.Context, ns string, cr *appsv1.ControllerRevision, opts client.CreateOptions) (*appsv1.ControllerRevision, error)
	Update(ctx context.Context, ns string, cr *appsv1.ControllerRevision, opts client.UpdateOptions) (*appsv1.ControllerRevision, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

const alphanums = "bcdfghjklmnpqrstvwxz2456789"

// Hash returns the short, label-safe hash of a pod template (and collision count).
func Hash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	data, _ := json.Marshal(t)
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != nil {
		n := uint32(*collisionCount)
		h.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})
	}
	r := []byte(strconv.FormatUint(uint64(h.Sum32()), 10))
	for i, b := range r {
		r[i] = alphanums[int(b)%len(alphanums)]
	}
	return string(r)
}

// Data is what a revision stores: the template as a strategic merge patch that replaces it, the same
// shape Kubernetes writes (`kubectl rollout history --revision` shows it).
func Data(t *corev1.PodTemplateSpec) json.RawMessage {
	raw, _ := json.Marshal(t)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{}
	}
	m["$patch"] = "replace"
	out, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
	return out
}

// Template decodes the pod template stored in a revision.
func Template(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var d struct {
		Spec struct {
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(cr.Data, &d); err != nil {
		return nil, fmt.Errorf("decoding revision %s: %w", cr.Name, err)
	}
	var t corev1.PodTemplateSpec
	if err := json.Unmarshal(d.Spec.Template, &t); err != nil {
		return nil, fmt.Errorf("decoding the template of revision %s: %w", cr.Name, err)
	}
	return &t, nil
}

// Owner describes the workload whose revisions are kept.
type Owner struct {
	Meta       *metav1.ObjectMeta
	Ref        metav1.OwnerReference
	Labels     map[string]string // the labels every revision carries (the workload's selector labels)
	Template   *corev1.PodTemplateSpec
	Collisions *int32
}

// Sort orders revisions by revision number, then name.
func Sort(revs []*appsv1.ControllerRevision) {
	sort.Slice(revs, func(i, j int) bool {
		if revs[i].Revision != revs[j].Revision {
			return revs[i].Revision < revs[j].Revision
		}
		return revs[i].Name < revs[j].Name
	})
}

// Ensure returns the revision of the owner's current template, creating it with the next revision
// number, or renumbering it when an older template came back. revs are the owner's revisions.
func Ensure(ctx context.Context, api RevisionClient, o Owner, revs []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, string, error) {
	hash := Hash(o.Template, o.Collisions)
	name := o.Meta.Name + "-" + hash
	var max int64
	var cur *appsv1.ControllerRevision
	for _, r := range revs {
		if r.Revision > max {
			max = r.Revision
		}
		if r.Name == name {
			cur = r
		}
	}
	if cur != nil {
		if cur.Revision == max {
			return cur, hash, nil
		}
		upd := *cur
		upd.Revision = max + 1
		got, err := api.Update(ctx, o.Meta.Namespace, &upd, client.UpdateOptions{})
		if err != nil {
			return nil, "", fmt.Errorf("renumbering revision %s: %w", name, err)
		}
		return got, hash, nil
	}
	cr := &appsv1.ControllerRevision{}
	cr.APIVersion, cr.Kind = "apps/v1", "ControllerRevision"
	cr.Namespace, cr.Name = o.Meta.Namespace, name
	cr.Labels = map[string]string{}
	for k, v := range o.Labels {
		cr.Labels[k] = v
	}
	cr.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	cr.OwnerReferences = []metav1.OwnerReference{o.Ref}
	cr.Data = Data(o.Template)
	cr.Revision = max + 1
	got, err := api.Create(ctx, o.Meta.Namespace, cr, client.CreateOptions{})
	if client.IsAlreadyExists(err) {
		// created by an earlier sync whose result the cache has not shown yet
		return cr, hash, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("creating revision %s: %w", name, err)
	}
	return got, hash, nil
}

// DefaultRevisionHistoryLimit is the revisionHistoryLimit a DaemonSet or StatefulSet gets when it sets
// none, as in Kubernetes.
const DefaultRevisionHistoryLimit = 10

// TruncateForPods is Truncate with the revisions in use read from pods' controller-revision-hash
// labels (plus the hashes in keep) and a nil limit meaning DefaultRevisionHistoryLimit.
func TruncateForPods(ctx context.Context, api RevisionClient, revs []*appsv1.ControllerRevision, currentName string, pods []*corev1.Pod, limit *int32, keep ...string) error {
	inUse := map[string]bool{}
	for _, h := range keep {
		inUse[h] = true
	}
	for _, p := range pods {
		inUse[p.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
	}
	l := int32(DefaultRevisionHistoryLimit)
	if limit != nil {
		l = *limit
	}
	return Truncate(ctx, api, revs, currentName, inUse, l)
}

// Truncate deletes the oldest revisions beyond limit that are neither current nor used by a pod
// (inUse holds the hashes of live pods).
func Truncate(ctx context.Context, api RevisionClient, revs []*appsv1.ControllerRevision, currentName string, inUse map[string]bool, limit int32) error {
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if r.Name == currentName || inUse[r.Labels[appsv1.ControllerRevisionHashLabelKey]] {
			continue
		}
		old = append(old, r)
	}
	Sort(old)
	for i := 0; i < len(old)-int(limit); i++ {
		if err := api.Delete(ctx, old[i].Namespace, old[i].Name, nil); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("deleting revision %s: %w", old[i].Name, err)
		}
	}
	return nil
}
