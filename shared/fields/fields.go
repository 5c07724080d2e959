// Package fields provides field selectors (?fieldSelector=) with Kubernetes's semantics: parsing
// "k=v", "k==v", "k!=v" joined by commas (AND), matching against an object's field set, the field set
// of each kind (ForObject) and the check that a selector only uses fields the resource serves
// (Validate, whose error reads "field label not supported: X" as kube-apiserver's does).
//
// Parsing and matching are k8s.io/apimachinery/pkg/fields (Selector and Set are its types); this
// package adds the per-kind field sets. It does not handle label selectors (see shared/labels).
package fields

import (
	"fmt"
	"strconv"

	k8sfields "k8s.io/apimachinery/pkg/fields"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
)

// Selector matches field sets; it is apimachinery's fields.Selector.
type Selector = k8sfields.Selector

// Set is the field set of one object; it is apimachinery's fields.Set.
type Set = k8sfields.Set

// ParseSelector parses a field selector. The empty string selects everything.
func ParseSelector(s string) (Selector, error) {
	sel, err := k8sfields.ParseSelector(s)
	if err != nil {
		return nil, fmt.Errorf("parsing field selector %q: %w", s, err)
	}
	return sel, nil
}

// Everything returns a selector that matches every object.
func Everything() Selector { return k8sfields.Everything() }

// OneTermEqualSelector returns the selector k=v, e.g. spec.nodeName=n1.
func OneTermEqualSelector(k, v string) Selector { return k8sfields.OneTermEqualSelector(k, v) }

// extra lists the fields each resource serves beyond metadata.name and metadata.namespace.
var extra = map[string][]string{
	"pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
		"spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"},
	"events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
		"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
		"reason", "reportingComponent", "source", "type"},
	"nodes":       {"spec.unschedulable"},
	"namespaces":  {"status.phase"},
	"secrets":     {"type"},
	"services":    {"spec.clusterIP", "spec.type"},
	"replicasets": {"status.replicas"},
	"jobs":        {"status.successful"},
}

// noNamespaceField lists the cluster-scoped resources whose field selectors reject metadata.namespace,
// as Kubernetes's do; other cluster-scoped resources accept it and always see "".
var noNamespaceField = map[string]bool{"nodes": true, "namespaces": true}

// SupportedFields lists the field selector keys a resource (by plural) serves.
func SupportedFields(resourcePlural string) []string {
	out := []string{"metadata.name"}
	if !noNamespaceField[resourcePlural] {
		out = append(out, "metadata.namespace")
	}
	return append(out, extra[resourcePlural]...)
}

// Validate checks that every term of sel uses a field the resource serves; otherwise it returns
// "field label not supported: <field>", which the apiserver answers with 400 BadRequest.
func Validate(resourcePlural string, sel Selector) error {
	if sel == nil {
		return nil
	}
	supported := map[string]bool{}
	for _, f := range SupportedFields(resourcePlural) {
		supported[f] = true
	}
	for _, r := range sel.Requirements() {
		if !supported[r.Field] {
			return fmt.Errorf("field label not supported: %s", r.Field)
		}
	}
	return nil
}

// ForObject returns the field set of an object: metadata.name (and metadata.namespace for namespaced
// kinds) plus the kind's own fields listed by SupportedFields.
func ForObject(obj metav1.Object) Set {
	m := obj.GetObjectMeta()
	set := Set{"metadata.name": m.Name}
	if r, ok := resources.ForObject(obj); !ok || r.Namespaced {
		set["metadata.namespace"] = m.Namespace
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		podIP := ""
		if len(o.Status.PodIPs) > 0 {
			podIP = o.Status.PodIPs[0].IP
		} else {
			podIP = o.Status.PodIP
		}
		set["spec.nodeName"] = o.Spec.NodeName
		set["spec.restartPolicy"] = string(o.Spec.RestartPolicy)
		set["spec.schedulerName"] = o.Spec.SchedulerName
		set["spec.serviceAccountName"] = o.Spec.ServiceAccountName
		set["spec.hostNetwork"] = strconv.FormatBool(o.Spec.HostNetwork)
		set["status.phase"] = string(o.Status.Phase)
		set["status.podIP"] = podIP
		set["status.nominatedNodeName"] = o.Status.NominatedNodeName
	case *corev1.Event:
		io := o.InvolvedObject
		set["involvedObject.kind"] = io.Kind
		set["involvedObject.namespace"] = io.Namespace
		set["involvedObject.name"] = io.Name
		set["involvedObject.uid"] = io.UID
		set["involvedObject.apiVersion"] = io.APIVersion
		set["involvedObject.resourceVersion"] = io.ResourceVersion
		set["involvedObject.fieldPath"] = io.FieldPath
		set["reason"] = o.Reason
		set["reportingComponent"] = o.ReportingController
		set["source"] = o.Source.Component
		set["type"] = o.Type
	case *corev1.Node:
		set["spec.unschedulable"] = strconv.FormatBool(o.Spec.Unschedulable)
	case *corev1.Namespace:
		set["status.phase"] = string(o.Status.Phase)
	case *corev1.Secret:
		set["type"] = string(o.Type)
	case *corev1.Service:
		set["spec.clusterIP"] = o.Spec.ClusterIP
		set["spec.type"] = string(o.Spec.Type)
	case *appsv1.ReplicaSet:
		set["status.replicas"] = strconv.Itoa(int(o.Status.Replicas))
	case *batchv1.Job:
		set["status.successful"] = strconv.Itoa(int(o.Status.Succeeded))
	}
	return set
}

// Matches reports whether obj's field set satisfies sel.
func Matches(sel Selector, obj metav1.Object) bool {
	return sel == nil || sel.Matches(ForObject(obj))
}
