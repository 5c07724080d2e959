package handlers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// selector is a parsed labelSelector plus fieldSelector of one request.
type selector struct {
	labels labels.Selector
	fields fields.Selector
	res    *registry.Resource
}

// parseSelector reads labelSelector and fieldSelector; a bad selector is 400, an unsupported field label
// is 400 `field label not supported: X`.
func parseSelector(res *registry.Resource, labelSel, fieldSel string) (*selector, error) {
	s := &selector{res: res, labels: labels.Everything(), fields: fields.Everything()}
	if labelSel != "" {
		ls, err := labels.Parse(labelSel)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		s.labels = ls
	}
	if fieldSel != "" {
		fs, err := fields.ParseSelector(fieldSel)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector %q: %v", fieldSel, err))
		}
		supported := supportedFields(res)
		for _, req := range fs.Requirements() {
			if !supported[req.Field] {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		s.fields = fs
	}
	return s, nil
}

// empty reports whether the selector matches everything.
func (s *selector) empty() bool { return s.labels.Empty() && s.fields.Empty() }

// matches applies both selectors to an object.
func (s *selector) matches(obj metav1.Object) bool {
	m := obj.GetObjectMeta()
	if !s.labels.Empty() && !s.labels.Matches(labels.Set(m.Labels)) {
		return false
	}
	if !s.fields.Empty() && !s.fields.Matches(fields.Set(fieldsOf(s.res, obj))) {
		return false
	}
	return true
}

// supportedFields lists the field labels a resource can be selected by.
func supportedFields(res *registry.Resource) map[string]bool {
	out := map[string]bool{"metadata.name": true}
	if res.Namespaced {
		out["metadata.namespace"] = true
	}
	for k := range extraFieldGetters(res) {
		out[k] = true
	}
	return out
}

// fieldsOf returns the selectable fields of an object.
func fieldsOf(res *registry.Resource, obj metav1.Object) map[string]string {
	m := obj.GetObjectMeta()
	out := map[string]string{"metadata.name": m.Name}
	if res.Namespaced {
		out["metadata.namespace"] = m.Namespace
	}
	getters := extraFieldGetters(res)
	if len(getters) == 0 {
		return out
	}
	doc := toMap(obj)
	for k, path := range getters {
		out[k] = stringAt(doc, strings.Split(path, ".")...)
	}
	return out
}

// extraFieldGetters maps a field label to its JSON path in the object, per resource (Kubernetes's
// field label conversion functions).
func extraFieldGetters(res *registry.Resource) map[string]string {
	switch res.Group + "/" + res.Plural {
	case "/pods":
		return map[string]string{
			"spec.nodeName": "spec.nodeName", "spec.restartPolicy": "spec.restartPolicy",
			"spec.schedulerName": "spec.schedulerName", "spec.serviceAccountName": "spec.serviceAccountName",
			"spec.hostNetwork": "spec.hostNetwork", "status.phase": "status.phase", "status.podIP": "status.podIP",
			"status.nominatedNodeName": "status.nominatedNodeName",
		}
	case "/events", "events.k8s.io/events":
		return map[string]string{
			"involvedObject.kind": "involvedObject.kind", "involvedObject.namespace": "involvedObject.namespace",
			"involvedObject.name": "involvedObject.name", "involvedObject.uid": "involvedObject.uid",
			"involvedObject.apiVersion": "involvedObject.apiVersion", "involvedObject.resourceVersion": "involvedObject.resourceVersion",
			"involvedObject.fieldPath": "involvedObject.fieldPath", "reason": "reason", "reportingComponent": "reportingComponent",
			"source": "source.component", "type": "type",
		}
	case "/secrets":
		return map[string]string{"type": "type"}
	case "/nodes":
		return map[string]string{"spec.unschedulable": "spec.unschedulable"}
	case "/namespaces":
		return map[string]string{"status.phase": "status.phase"}
	case "/replicationcontrollers", "apps/replicasets":
		return map[string]string{"status.replicas": "status.replicas"}
	case "batch/jobs":
		return map[string]string{"status.successful": "status.succeeded"}
	case "/persistentvolumeclaims", "/persistentvolumes":
		return map[string]string{"status.phase": "status.phase"}
	}
	return nil
}
