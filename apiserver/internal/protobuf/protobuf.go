// Package protobuf turns Kubernetes protobuf request bodies into JSON, so that clients built on client-go's
// typed clientsets (kubectl create deployment, kubectl run, kubectl drain's evictions, ...) which send
// `application/vnd.kubernetes.protobuf` bodies are understood.
//
// A protobuf body is the 4-byte magic "k8s\x00" followed by a runtime.Unknown envelope naming the
// apiVersion and kind; the raw bytes inside are decoded with the generated code of k8s.io/api's type for
// that kind and re-encoded as JSON, which is what the rest of the apiserver stores and validates. Skiff
// never answers in protobuf: responses are JSON, which every client accepts.
package protobuf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Magic is the prefix of every Kubernetes protobuf-encoded object.
var Magic = []byte{'k', '8', 's', 0}

// ErrNotProtobuf is returned for a body that does not start with Magic.
var ErrNotProtobuf = errors.New("body is not a Kubernetes protobuf object (missing the k8s\\x00 prefix)")

// message is what k8s.io/api's generated types provide.
type message interface {
	Unmarshal([]byte) error
}

// decoders maps "apiVersion/Kind" to a constructor of the k8s.io/api type.
var decoders = map[string]func() message{
	"v1/Pod":                       func() message { return &corev1.Pod{} },
	"v1/Service":                   func() message { return &corev1.Service{} },
	"v1/Namespace":                 func() message { return &corev1.Namespace{} },
	"v1/Node":                      func() message { return &corev1.Node{} },
	"v1/ConfigMap":                 func() message { return &corev1.ConfigMap{} },
	"v1/Secret":                    func() message { return &corev1.Secret{} },
	"v1/ServiceAccount":            func() message { return &corev1.ServiceAccount{} },
	"v1/Endpoints":                 func() message { return &corev1.Endpoints{} },
	"v1/Event":                     func() message { return &corev1.Event{} },
	"v1/PersistentVolume":          func() message { return &corev1.PersistentVolume{} },
	"v1/PersistentVolumeClaim":     func() message { return &corev1.PersistentVolumeClaim{} },
	"v1/PodTemplate":               func() message { return &corev1.PodTemplate{} },
	"v1/Binding":                   func() message { return &corev1.Binding{} },
	"v1/DeleteOptions":             func() message { return &metav1.DeleteOptions{} },
	"meta.k8s.io/v1/DeleteOptions": func() message { return &metav1.DeleteOptions{} },
	"apps/v1/Deployment":           func() message { return &appsv1.Deployment{} },
	"apps/v1/ReplicaSet":           func() message { return &appsv1.ReplicaSet{} },
	"apps/v1/DaemonSet":            func() message { return &appsv1.DaemonSet{} },
	"apps/v1/StatefulSet":          func() message { return &appsv1.StatefulSet{} },
	"apps/v1/ControllerRevision":   func() message { return &appsv1.ControllerRevision{} },
	"batch/v1/Job":                 func() message { return &batchv1.Job{} },
	"batch/v1/CronJob":             func() message { return &batchv1.CronJob{} },
	"autoscaling/v1/Scale":         func() message { return &autoscalingv1.Scale{} },
	"autoscaling/v1/HorizontalPodAutoscaler": func() message {
		return &autoscalingv1.HorizontalPodAutoscaler{}
	},
	"autoscaling/v2/HorizontalPodAutoscaler": func() message {
		return &autoscalingv2.HorizontalPodAutoscaler{}
	},
	"coordination.k8s.io/v1/Lease":      func() message { return &coordinationv1.Lease{} },
	"discovery.k8s.io/v1/EndpointSlice": func() message { return &discoveryv1.EndpointSlice{} },
	"policy/v1/Eviction":                func() message { return &policyv1.Eviction{} },
	"policy/v1/PodDisruptionBudget":     func() message { return &policyv1.PodDisruptionBudget{} },
	"scheduling.k8s.io/v1/PriorityClass": func() message {
		return &schedulingv1.PriorityClass{}
	},
	"storage.k8s.io/v1/StorageClass": func() message { return &storagev1.StorageClass{} },
	"authorization.k8s.io/v1/SelfSubjectAccessReview": func() message {
		return &authorizationv1.SelfSubjectAccessReview{}
	},
}

// ToJSON decodes a protobuf body and returns the same object as JSON, with apiVersion and kind set.
func ToJSON(body []byte) ([]byte, error) {
	if !bytes.HasPrefix(body, Magic) {
		return nil, ErrNotProtobuf
	}
	var u runtime.Unknown
	if err := u.Unmarshal(body[len(Magic):]); err != nil {
		return nil, fmt.Errorf("decoding protobuf envelope: %w", err)
	}
	key := u.APIVersion + "/" + u.Kind
	newMsg, ok := decoders[key]
	if !ok {
		return nil, fmt.Errorf("protobuf bodies of kind %q (apiVersion %q) are not supported; send JSON", u.Kind, u.APIVersion)
	}
	msg := newMsg()
	if err := msg.Unmarshal(u.Raw); err != nil {
		return nil, fmt.Errorf("decoding protobuf %s: %w", u.Kind, err)
	}
	out, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encoding %s as JSON: %w", u.Kind, err)
	}
	// The envelope, not the inner object, carries apiVersion and kind.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(out, &obj); err != nil {
		return nil, fmt.Errorf("re-reading %s: %w", u.Kind, err)
	}
	obj["apiVersion"], _ = json.Marshal(u.APIVersion)
	obj["kind"], _ = json.Marshal(u.Kind)
	return json.Marshal(obj)
}
