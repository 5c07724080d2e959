// Package volume is the PersistentVolume controller: it binds each PersistentVolumeClaim to the
// smallest Available PersistentVolume that fits (storageClassName, accessModes, capacity, label
// selector, volumeMode; a claim's spec.volumeName or a volume's claimRef pre-binds), keeps the phases
// (volumes Available/Bound/Released/Failed, claims Pending/Bound/Lost), and reclaims released volumes
// (Retain keeps them Released; Delete deletes volumes this controller provisioned and fails others).
//
// It also is the built-in local-path provisioner: a default StorageClass `local-path` (provisioner
// skiff.io/local-path, WaitForFirstConsumer, created at start when absent) whose claims get a hostPath
// volume (DirectoryOrCreate, <base dir>/<pv name>) with node affinity to the node of the first pod using
// the claim: the claim's volume.kubernetes.io/selected-node annotation when the scheduler sets it, else
// the spec.nodeName of a pod mounting the claim. The nodeagent creates the directory when it mounts it;
// nothing removes it when the volume is deleted. A claim without storageClassName gets the default
// class, as Kubernetes's DefaultStorageClass admission would have given it.
package volume

import (
	"context"
	"fmt"
	"path"
	"reflect"
	"sort"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/labels"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/nodefit"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Names in --controllers and metrics.
const (
	Name       = "persistentvolume-binder"
	ClaimQueue = "persistentvolume-claims"
)

// The local-path provisioner's identity.
const (
	LocalPathClass       = "local-path"
	LocalPathProvisioner = "skiff.io/local-path"
	DefaultLocalPathBase = "/var/lib/skiff/local-path"
)

// Annotations Kubernetes uses on claims and volumes.
const (
	AnnSelectedNode    = "volume.kubernetes.io/selected-node"
	AnnProvisionedBy   = "pv.kubernetes.io/provisioned-by"
	AnnBindCompleted   = "pv.kubernetes.io/bind-completed"
	AnnBoundByCtrl     = "pv.kubernetes.io/bound-by-controller"
	AnnStorageProvisnr = "volume.kubernetes.io/storage-provisioner"
)

// VolumeClient is the part of the persistentvolumes API the controller uses.
type VolumeClient interface {
	Create(ctx context.Context, ns string, pv *corev1.PersistentVolume, opts client.CreateOptions) (*corev1.PersistentVolume, error)
	Update(ctx context.Context, ns string, pv *corev1.PersistentVolume, opts client.UpdateOptions) (*corev1.PersistentVolume, error)
	UpdateStatus(ctx context.Context, ns string, pv *corev1.PersistentVolume, opts client.UpdateOptions) (*corev1.PersistentVolume, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// ClaimClient is the part of the persistentvolumeclaims API the controller uses.
type ClaimClient interface {
	Update(ctx context.Context, ns string, c *corev1.PersistentVolumeClaim, opts client.UpdateOptions) (*corev1.PersistentVolumeClaim, error)
	UpdateStatus(ctx context.Context, ns string, c *corev1.PersistentVolumeClaim, opts client.UpdateOptions) (*corev1.PersistentVolumeClaim, error)
}

// ClassClient creates the default storage class.
type ClassClient interface {
	Get(ctx context.Context, ns, name string, opts client.GetOptions) (*storagev1.StorageClass, error)
	Create(ctx context.Context, ns string, sc *storagev1.StorageClass, opts client.CreateOptions) (*storagev1.StorageClass, error)
}

// Controller binds claims and volumes and provisions local-path volumes.
type Controller struct {
	Volumes   controller.Store[corev1.PersistentVolume]
	Claims    controller.Store[corev1.PersistentVolumeClaim]
	Classes   controller.Store[storagev1.StorageClass]
	Pods      controller.Store[corev1.Pod]
	Nodes     controller.Store[corev1.Node]
	VolumeAPI VolumeClient
	ClaimAPI  ClaimClient
	ClassAPI  ClassClient
	Recorder  *events.Recorder
	// Queue holds volume names; ClaimsQueue holds claim keys.
	Queue       controller.Queue
	ClaimsQueue controller.Queue
	Log         *zap.Logger
	// BaseDir is where local-path volumes live on their node.
	BaseDir string
}

// EnsureDefaultClass creates the local-path StorageClass when it does not exist.
func (c *Controller) EnsureDefaultClass(ctx context.Context) error {
	if _, err := c.ClassAPI.Get(ctx, "", LocalPathClass, client.GetOptions{}); err == nil {
		return nil
	} else if !client.IsNotFound(err) {
		return fmt.Errorf("reading storage class %s: %w", LocalPathClass, err)
	}
	sc := &storagev1.StorageClass{}
	sc.APIVersion, sc.Kind = "storage.k8s.io/v1", "StorageClass"
	sc.Name = LocalPathClass
	sc.Annotations = map[string]string{storagev1.IsDefaultStorageClassAnnotation: "true"}
	sc.Provisioner = LocalPathProvisioner
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	sc.VolumeBindingMode = &mode
	del := corev1.PersistentVolumeReclaimDelete
	sc.ReclaimPolicy = &del
	if _, err := c.ClassAPI.Create(ctx, "", sc, client.CreateOptions{}); err != nil && !client.IsAlreadyExists(err) {
		return fmt.Errorf("creating storage class %s: %w", LocalPathClass, err)
	}
	c.Log.Info("default_storage_class_created", zap.String("storage_class", LocalPathClass))
	return nil
}

func claimRef(pvc *corev1.PersistentVolumeClaim) corev1.ObjectReference {
	return events.Ref("v1", "PersistentVolumeClaim", &pvc.ObjectMeta)
}

// classOf is the class a claim asks for: its storageClassName, or the default class when unset.
func (c *Controller) classOf(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	var def []string
	for _, sc := range c.Classes.List() {
		if sc.Annotations[storagev1.IsDefaultStorageClassAnnotation] == "true" {
			def = append(def, sc.Name)
		}
	}
	sort.Strings(def)
	if len(def) == 0 {
		return ""
	}
	return def[0]
}

func hasModes(pv *corev1.PersistentVolume, want []corev1.PersistentVolumeAccessMode) bool {
	for _, m := range want {
		found := false
		for _, h := range pv.Spec.AccessModes {
			if h == m {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func volumeMode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}

// fits reports whether pv can serve pvc of class.
func fits(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim, class string) bool {
	if pv.DeletionTimestamp != nil || pv.Spec.StorageClassName != class || !hasModes(pv, pvc.Spec.AccessModes) ||
		volumeMode(pv.Spec.VolumeMode) != volumeMode(pvc.Spec.VolumeMode) {
		return false
	}
	if req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		cap, ok := pv.Spec.Capacity[corev1.ResourceStorage]
		if !ok || cap.Cmp(req) < 0 {
			return false
		}
	}
	if pvc.Spec.Selector != nil && !labels.Matches(pvc.Spec.Selector, pv.Labels) {
		return false
	}
	return true
}

func boundTo(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	r := pv.Spec.ClaimRef
	return r != nil && r.Namespace == pvc.Namespace && r.Name == pvc.Name && (r.UID == "" || r.UID == pvc.UID)
}

// consumerNode is the node chosen for a claim's first consumer, or "".
func (c *Controller) consumerNode(pvc *corev1.PersistentVolumeClaim) string {
	if n := pvc.Annotations[AnnSelectedNode]; n != "" {
		return n
	}
	for _, p := range c.Pods.ByIndex(controller.IndexNamespace, pvc.Namespace) {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
				return p.Spec.NodeName
			}
		}
	}
	return ""
}

// SyncClaim binds one claim (or provisions a volume for it).
func (c *Controller) SyncClaim(ctx context.Context, key string) error {
	pvc, ok := c.Claims.Get(key)
	if !ok || pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Spec.VolumeName != "" {
		pv, ok := c.Volumes.Get(pvc.Spec.VolumeName)
		switch {
		case !ok:
			if pvc.Status.Phase == corev1.ClaimBound {
				return c.claimStatus(ctx, pvc, corev1.ClaimLost, nil)
			}
			return c.claimStatus(ctx, pvc, corev1.ClaimPending, nil)
		case pv.Spec.ClaimRef == nil:
			return c.bind(ctx, pv, pvc)
		case boundTo(pv, pvc):
			return c.bind(ctx, pv, pvc)
		default:
			return c.claimStatus(ctx, pvc, corev1.ClaimPending, nil) // the volume belongs to someone else
		}
	}
	class := c.classOf(pvc)
	var sc *storagev1.StorageClass
	if class != "" {
		sc, _ = c.Classes.Get(class)
	}
	wait := sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
	node := ""
	if wait {
		if node = c.consumerNode(pvc); node == "" {
			return c.claimStatus(ctx, pvc, corev1.ClaimPending, nil) // no consumer yet
		}
	}
	var best *corev1.PersistentVolume
	for _, pv := range c.Volumes.List() {
		if pv.Spec.ClaimRef != nil && !boundTo(pv, pvc) {
			continue
		}
		if pv.Spec.ClaimRef == nil && pv.Status.Phase != corev1.VolumeAvailable && pv.Status.Phase != corev1.VolumePending && pv.Status.Phase != "" {
			continue
		}
		if !fits(pv, pvc, class) {
			continue
		}
		if node != "" && pv.Spec.NodeAffinity != nil && pv.Spec.ClaimRef == nil {
			n, ok := c.Nodes.Get(node)
			if !ok || !nodefit.NodeSelectorTermsMatch(n, pv.Spec.NodeAffinity.Required) {
				continue
			}
		}
		if pv.Spec.ClaimRef != nil { // pre-bound to this claim: take it
			best = pv
			break
		}
		if best == nil || cmpCapacity(pv, best) < 0 || (cmpCapacity(pv, best) == 0 && pv.Name < best.Name) {
			best = pv
		}
	}
	if best != nil {
		return c.bind(ctx, best, pvc)
	}
	if sc != nil && sc.Provisioner == LocalPathProvisioner {
		if node == "" {
			node = c.consumerNode(pvc)
		}
		if node == "" {
			return c.claimStatus(ctx, pvc, corev1.ClaimPending, nil)
		}
		return c.provision(ctx, pvc, sc, node)
	}
	return c.claimStatus(ctx, pvc, corev1.ClaimPending, nil)
}

// cmpCapacity compares the storage capacity of two volumes.
func cmpCapacity(a, b *corev1.PersistentVolume) int {
	qa, qb := a.Spec.Capacity[corev1.ResourceStorage], b.Spec.Capacity[corev1.ResourceStorage]
	return qa.Cmp(qb)
}

// provision creates the local-path volume of a claim on node, pre-bound to the claim.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node string) error {
	name := "pvc-" + pvc.UID
	if _, ok := c.Volumes.Get(name); ok {
		return nil // created; binding follows from its event
	}
	hostname := node
	if n, ok := c.Nodes.Get(node); ok && n.Labels[corev1.LabelHostname] != "" {
		hostname = n.Labels[corev1.LabelHostname]
	}
	pv := &corev1.PersistentVolume{}
	pv.APIVersion, pv.Kind = "v1", "PersistentVolume"
	pv.Name = name
	pv.Annotations = map[string]string{AnnProvisionedBy: LocalPathProvisioner}
	pv.Spec.Capacity = corev1.ResourceList{}
	if req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		pv.Spec.Capacity[corev1.ResourceStorage] = req
	}
	pv.Spec.AccessModes = append([]corev1.PersistentVolumeAccessMode(nil), pvc.Spec.AccessModes...)
	if len(pv.Spec.AccessModes) == 0 {
		pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	dirType := corev1.HostPathType("DirectoryOrCreate")
	pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: path.Join(c.BaseDir, name), Type: &dirType}
	pv.Spec.StorageClassName = sc.Name
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		pv.Spec.PersistentVolumeReclaimPolicy = *sc.ReclaimPolicy
	}
	pv.Spec.VolumeMode = pvc.Spec.VolumeMode
	pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
	}}}}
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID}
	if _, err := c.VolumeAPI.Create(ctx, "", pv, client.CreateOptions{}); err != nil && !client.IsAlreadyExists(err) {
		c.Recorder.Eventf(claimRef(pvc), events.Warning, "ProvisioningFailed", "failed to provision volume with StorageClass %q: %v", sc.Name, err)
		return fmt.Errorf("provisioning a volume for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	c.Recorder.Eventf(claimRef(pvc), events.Normal, "ProvisioningSucceeded", "Successfully provisioned volume %s on node %s", name, node)
	return nil
}

// bind writes the binding on both sides: the volume's claimRef, then its phase, the claim's
// volumeName, then its phase. Each write is guarded by resourceVersion; a conflict just retries.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) error {
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
		upd := *pv
		upd.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion}
		upd.Annotations = withAnn(pv.Annotations, AnnBoundByCtrl, "yes")
		got, err := c.VolumeAPI.Update(ctx, "", &upd, client.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("binding volume %s to claim %s/%s: %w", pv.Name, pvc.Namespace, pvc.Name, err)
		}
		pv = got
	}
	if pv.Status.Phase != corev1.VolumeBound {
		upd := *pv
		upd.Status.Phase = corev1.VolumeBound
		upd.Status.Reason, upd.Status.Message = "", ""
		now := metav1.Now()
		upd.Status.LastPhaseTransitionTime = &now
		if _, err := c.VolumeAPI.UpdateStatus(ctx, "", &upd, client.UpdateOptions{}); err != nil {
			return fmt.Errorf("marking volume %s Bound: %w", pv.Name, err)
		}
	}
	if pvc.Spec.VolumeName != pv.Name || pvc.Annotations[AnnBindCompleted] != "yes" {
		upd := *pvc
		upd.Spec.VolumeName = pv.Name
		upd.Annotations = withAnn(pvc.Annotations, AnnBindCompleted, "yes")
		got, err := c.ClaimAPI.Update(ctx, pvc.Namespace, &upd, client.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("binding claim %s/%s to volume %s: %w", pvc.Namespace, pvc.Name, pv.Name, err)
		}
		pvc = got
		c.Log.Debug("claim_bound", zap.String("namespace", pvc.Namespace), zap.String("claim", pvc.Name), zap.String("volume", pv.Name))
	}
	return c.claimStatus(ctx, pvc, corev1.ClaimBound, pv)
}

func withAnn(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func (c *Controller) claimStatus(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) error {
	st := pvc.Status
	st.Phase = phase
	if pv != nil && phase == corev1.ClaimBound {
		st.AccessModes = pv.Spec.AccessModes
		st.Capacity = pv.Spec.Capacity
	} else if phase != corev1.ClaimLost {
		st.AccessModes, st.Capacity = nil, nil
	}
	if reflect.DeepEqual(st, pvc.Status) {
		return nil
	}
	upd := *pvc
	upd.Status = st
	if _, err := c.ClaimAPI.UpdateStatus(ctx, pvc.Namespace, &upd, client.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// SyncVolume keeps one volume's phase and reclaims it when its claim is gone.
func (c *Controller) SyncVolume(ctx context.Context, name string) error {
	pv, ok := c.Volumes.Get(name)
	if !ok || pv.DeletionTimestamp != nil {
		return nil
	}
	r := pv.Spec.ClaimRef
	if r == nil {
		return c.volumeStatus(ctx, pv, corev1.VolumeAvailable, "", "")
	}
	pvc, ok := c.Claims.Get(r.Namespace + "/" + r.Name)
	switch {
	case ok && (r.UID == "" || r.UID == pvc.UID):
		if pvc.Spec.VolumeName == pv.Name {
			return c.volumeStatus(ctx, pv, corev1.VolumeBound, "", "")
		}
		// pre-bound (or binding in progress): the claim's sync finishes it
		c.ClaimsQueue.Add(r.Namespace + "/" + r.Name)
		return c.volumeStatus(ctx, pv, corev1.VolumeAvailable, "", "")
	case r.UID == "":
		return c.volumeStatus(ctx, pv, corev1.VolumeAvailable, "", "") // pre-bound to a claim not created yet
	}
	// the claim is gone: released, then reclaimed
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimDelete:
		if pv.Annotations[AnnProvisionedBy] != LocalPathProvisioner {
			return c.volumeStatus(ctx, pv, corev1.VolumeFailed, "VolumeFailedDelete", "no deleter for this volume type; delete it by hand")
		}
		if err := c.volumeStatus(ctx, pv, corev1.VolumeReleased, "", ""); err != nil {
			return err
		}
		uid := pv.UID
		err := c.VolumeAPI.Delete(ctx, "", pv.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("deleting released volume %s: %w", pv.Name, err)
		}
		c.Log.Info("volume_deleted", zap.String("volume", pv.Name))
		return nil
	case corev1.PersistentVolumeReclaimRecycle:
		return c.volumeStatus(ctx, pv, corev1.VolumeFailed, "VolumeFailedRecycle", "the Recycle reclaim policy is not supported")
	default:
		return c.volumeStatus(ctx, pv, corev1.VolumeReleased, "", "")
	}
}

func (c *Controller) volumeStatus(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, reason, msg string) error {
	if pv.Status.Phase == phase && pv.Status.Reason == reason && pv.Status.Message == msg {
		return nil
	}
	upd := *pv
	upd.Status.Phase, upd.Status.Reason, upd.Status.Message = phase, reason, msg
	now := metav1.Now()
	upd.Status.LastPhaseTransitionTime = &now
	if _, err := c.VolumeAPI.UpdateStatus(ctx, "", &upd, client.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of volume %s: %w", pv.Name, err)
	}
	return nil
}

// OnVolumeChange queues a volume and the claim it names.
func (c *Controller) OnVolumeChange(pv *corev1.PersistentVolume) {
	c.Queue.Add(pv.Name)
	if r := pv.Spec.ClaimRef; r != nil {
		c.ClaimsQueue.Add(r.Namespace + "/" + r.Name)
	}
}

// OnClaimChange queues a claim and, on deletion, the volume it was bound to.
func (c *Controller) OnClaimChange(pvc *corev1.PersistentVolumeClaim) {
	c.ClaimsQueue.Add(controller.KeyOf(&pvc.ObjectMeta))
	if pvc.Spec.VolumeName != "" {
		c.Queue.Add(pvc.Spec.VolumeName)
	}
}

// OnClaimDelete queues the volumes that named the deleted claim.
func (c *Controller) OnClaimDelete(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Spec.VolumeName != "" {
		c.Queue.Add(pvc.Spec.VolumeName)
	}
	for _, pv := range c.Volumes.List() {
		if r := pv.Spec.ClaimRef; r != nil && r.Namespace == pvc.Namespace && r.Name == pvc.Name {
			c.Queue.Add(pv.Name)
		}
	}
}

// OnPodChange queues the unbound claims of a pod that got a node (a first consumer).
func (c *Controller) OnPodChange(p *corev1.Pod) {
	if p.Spec.NodeName == "" {
		return
	}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			if pvc, ok := c.Claims.Get(p.Namespace + "/" + v.PersistentVolumeClaim.ClaimName); ok && pvc.Spec.VolumeName == "" {
				c.ClaimsQueue.Add(controller.KeyOf(&pvc.ObjectMeta))
			}
		}
	}
}
