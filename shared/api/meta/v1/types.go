package v1

import (
	"encoding/json"
)

// TypeMeta names an object's kind and API group/version on the wire.
type TypeMeta struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta; it lets generic code reach it through the Object interface.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// ObjectMeta is the metadata of every persisted object. Fields marked server-set are ignored on create.
type ObjectMeta struct {
	// Name is unique within a namespace (or the cluster for cluster-scoped kinds). Required unless
	// GenerateName is set.
	Name string `json:"name,omitempty"`
	// GenerateName asks the server to append 5 random characters to form Name.
	GenerateName string `json:"generateName,omitempty"`
	// Namespace is empty for cluster-scoped kinds; the request path decides it for namespaced ones.
	Namespace string `json:"namespace,omitempty"`
	// SelfLink is deprecated and never set; kept so old manifests round-trip.
	SelfLink string `json:"selfLink,omitempty"`
	// UID is server-set and immutable.
	UID string `json:"uid,omitempty"`
	// ResourceVersion is the etcd mod revision as a decimal string; server-set, opaque to clients.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Generation is server-set: 1 on create, incremented on every spec change.
	Generation int64 `json:"generation,omitempty"`
	// CreationTimestamp is server-set, second precision.
	CreationTimestamp Time `json:"creationTimestamp,omitempty"`
	// DeletionTimestamp is set when a graceful or finalizer-blocked deletion has started.
	DeletionTimestamp          *Time             `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences,omitempty" patchStrategy:"merge" patchMergeKey:"uid"`
	Finalizers                 []string          `json:"finalizers,omitempty" patchStrategy:"merge"`
	// ManagedFields is stored verbatim; Skiff does not compute it.
	ManagedFields []json.RawMessage `json:"managedFields,omitempty"`
}

// GetObjectMeta returns the object's metadata; it lets generic code reach it through the Object interface.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// OwnerReference points at the object that owns this one (same namespace). The garbage collector deletes
// dependents whose owners are gone.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ListMeta is the metadata of a list: the read revision and an optional continue token.
type ListMeta struct {
	SelfLink           string `json:"selfLink,omitempty"`
	ResourceVersion    string `json:"resourceVersion,omitempty"`
	Continue           string `json:"continue,omitempty"`
	RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
}

// Object is implemented by every top-level API type through its embedded TypeMeta and ObjectMeta.
type Object interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
}

// List is the generic envelope of a collection: {"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}.
type List[T any] struct {
	TypeMeta `json:",inline"`
	ListMeta `json:"metadata"`
	Items    []T `json:"items"`
}

// LabelSelector selects objects by labels: every matchLabels pair and every expression must hold.
// A nil selector selects nothing; an empty one selects everything.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorOperator is In, NotIn, Exists or DoesNotExist.
type LabelSelectorOperator string

// The label selector operators.
const (
	LabelSelectorOpIn           LabelSelectorOperator = "In"
	LabelSelectorOpNotIn        LabelSelectorOperator = "NotIn"
	LabelSelectorOpExists       LabelSelectorOperator = "Exists"
	LabelSelectorOpDoesNotExist LabelSelectorOperator = "DoesNotExist"
)

// LabelSelectorRequirement is one set-based requirement of a LabelSelector.
type LabelSelectorRequirement struct {
	Key      string                `json:"key"`
	Operator LabelSelectorOperator `json:"operator"`
	Values   []string              `json:"values,omitempty"`
}

// ConditionStatus is True, False or Unknown.
type ConditionStatus string

// The condition statuses.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// Condition is the standard condition shape (metav1.Condition) used by newer APIs.
type Condition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	ObservedGeneration int64           `json:"observedGeneration,omitempty"`
	LastTransitionTime Time            `json:"lastTransitionTime"`
	Reason             string          `json:"reason"`
	Message            string          `json:"message"`
}

// DeletionPropagation says what happens to an object's dependents when it is deleted.
type DeletionPropagation string

// The propagation policies.
const (
	DeletePropagationOrphan     DeletionPropagation = "Orphan"
	DeletePropagationBackground DeletionPropagation = "Background"
	DeletePropagationForeground DeletionPropagation = "Foreground"
)

// Preconditions must hold for a delete to proceed.
type Preconditions struct {
	UID             *string `json:"uid,omitempty"`
	ResourceVersion *string `json:"resourceVersion,omitempty"`
}

// DeleteOptions is the optional body of a DELETE request.
type DeleteOptions struct {
	TypeMeta           `json:",inline"`
	GracePeriodSeconds *int64               `json:"gracePeriodSeconds,omitempty"`
	Preconditions      *Preconditions       `json:"preconditions,omitempty"`
	OrphanDependents   *bool                `json:"orphanDependents,omitempty"`
	PropagationPolicy  *DeletionPropagation `json:"propagationPolicy,omitempty"`
	DryRun             []string             `json:"dryRun,omitempty"`
}

// WatchEventType is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.
type WatchEventType string

// The watch event types.
const (
	Added    WatchEventType = "ADDED"
	Modified WatchEventType = "MODIFIED"
	Deleted  WatchEventType = "DELETED"
	Bookmark WatchEventType = "BOOKMARK"
	Error    WatchEventType = "ERROR"
)

// WatchEvent is one line of a watch stream. Object is the full object (with kind and apiVersion), or a
// Status for ERROR events.
type WatchEvent struct {
	Type   WatchEventType  `json:"type"`
	Object json.RawMessage `json:"object"`
}

// InitialEventsAnnotation marks the bookmark that ends the initial events of a sendInitialEvents watch.
const InitialEventsAnnotation = "k8s.io/initial-events-end"

// PartialObjectMetadata is an object reduced to its metadata, used in Table rows.
type PartialObjectMetadata struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
}
