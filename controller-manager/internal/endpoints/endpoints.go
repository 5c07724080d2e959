// Package endpoints holds the two controllers that publish a Service's backends: Endpoints (core/v1,
// one object named like the service, ready and not-ready addresses grouped by port set) and
// EndpointSlices (discovery.k8s.io/v1, slices of at most --max-endpoints-per-slice endpoints with
// ready/serving/terminating conditions, labelled kubernetes.io/service-name and owned by the service).
//
// Both act only on services with a selector; the Endpoints of a service without one belong to whoever
// wrote them and are left alone. Neither batches: a pod change is queued at once.
package endpoints

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
)

// Name is the Endpoints controller's name in --controllers and metrics.
const Name = "endpoints"

// EndpointsClient is the part of the endpoints API the controller uses.
type EndpointsClient interface {
	Create(ctx context.Context, ns string, e *corev1.Endpoints, opts client.CreateOptions) (*corev1.Endpoints, error)
	Update(ctx context.Context, ns string, e *corev1.Endpoints, opts client.UpdateOptions) (*corev1.Endpoints, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// Controller maintains core/v1 Endpoints.
type Controller struct {
	Services  controller.Store[corev1.Service]
	Pods      controller.Store[corev1.Pod]
	Endpoints controller.Store[corev1.Endpoints]
	API       EndpointsClient
	Queue     controller.Queue
	Log       *zap.Logger
}

// findPort resolves a service port's targetPort on a pod: a number as is (the service port when
// unset), a name through the pod's container ports with the same protocol.
func findPort(p *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				cproto := cp.Protocol
				if cproto == "" {
					cproto = corev1.ProtocolTCP
				}
				if cp.Name == tp.StrVal && cproto == proto {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, true
	}
	return sp.Port, true
}

// includePod says whether a pod can back a service at all: it has an IP, has not finished, and is not
// terminating (unless the service publishes not-ready addresses; EndpointSlices keep terminating pods
// with the terminating condition).
func includePod(p *corev1.Pod, keepTerminating bool) bool {
	if p.Status.PodIP == "" {
		return false
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.DeletionTimestamp != nil && !keepTerminating {
		return false
	}
	return true
}

func podRef(p *corev1.Pod) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
}

func hostnameFor(p *corev1.Pod, svc *corev1.Service) string {
	if svc.Spec.ClusterIP == corev1.ClusterIPNone && p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
		return p.Spec.Hostname
	}
	return ""
}

// selectedPods returns the pods of the service's namespace its selector matches.
func selectedPods(pods controller.Store[corev1.Pod], svc *corev1.Service) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods.ByIndex(controller.IndexNamespace, svc.Namespace) {
		if serviceSelects(svc, p.Labels) {
			out = append(out, p)
		}
	}
	return out
}

// DesiredSubsets computes the Endpoints subsets of a service: per address the set of ports it serves,
// addresses with the same port set grouped in one subset, everything sorted so the result is stable.
func DesiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type entry struct {
		addr  corev1.EndpointAddress
		ready bool
		ports []corev1.EndpointPort
	}
	var entries []entry
	for _, p := range pods {
		if !includePod(p, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		node := p.Spec.NodeName
		a := corev1.EndpointAddress{IP: p.Status.PodIP, Hostname: hostnameFor(p, svc), TargetRef: podRef(p)}
		if node != "" {
			a.NodeName = &node
		}
		ready := svc.Spec.PublishNotReadyAddresses || podstate.IsReady(p)
		e := entry{addr: a, ready: ready}
		if len(svc.Spec.Ports) == 0 {
			entries = append(entries, e)
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := findPort(p, sp)
			if !ok {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			e.ports = append(e.ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: proto, AppProtocol: sp.AppProtocol})
		}
		if len(e.ports) > 0 {
			entries = append(entries, e)
		}
	}
	groups := map[string]*corev1.EndpointSubset{}
	var order []string
	for _, e := range entries {
		sort.Slice(e.ports, func(i, j int) bool { return portKey(e.ports[i]) < portKey(e.ports[j]) })
		var kb strings.Builder
		for _, p := range e.ports {
			kb.WriteString(portKey(p))
			kb.WriteByte(';')
		}
		k := kb.String()
		g := groups[k]
		if g == nil {
			g = &corev1.EndpointSubset{Ports: e.ports}
			groups[k] = g
			order = append(order, k)
		}
		if e.ready {
			g.Addresses = append(g.Addresses, e.addr)
		} else {
			g.NotReadyAddresses = append(g.NotReadyAddresses, e.addr)
		}
	}
	sort.Strings(order)
	out := make([]corev1.EndpointSubset, 0, len(order))
	for _, k := range order {
		g := groups[k]
		sortAddrs(g.Addresses)
		sortAddrs(g.NotReadyAddresses)
		out = append(out, *g)
	}
	return out
}

func portKey(p corev1.EndpointPort) string {
	return fmt.Sprintf("%s/%d/%s", p.Name, p.Port, p.Protocol)
}

func sortAddrs(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return a[i].TargetRef.UID < a[j].TargetRef.UID
	})
}

func serviceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		l[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[corev1.LabelIsHeadlessService] = ""
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

// Sync brings one service's Endpoints object in line with its pods.
func (c *Controller) Sync(ctx context.Context, key string) error {
	ns, name := controller.SplitKey(key)
	svc, ok := c.Services.Get(key)
	if !ok {
		// the service is gone; so goes its Endpoints object
		if _, exists := c.Endpoints.Get(key); exists {
			if err := c.API.Delete(ctx, ns, name, nil); err != nil && !client.IsNotFound(err) {
				return fmt.Errorf("deleting endpoints %s: %w", key, err)
			}
		}
		return nil
	}
	if len(svc.Spec.Selector) == 0 {
		return nil // not ours: a service without a selector keeps hand-written endpoints
	}
	subsets := DesiredSubsets(svc, selectedPods(c.Pods, svc))
	labels := serviceLabels(svc)
	cur, exists := c.Endpoints.Get(key)
	if exists && reflect.DeepEqual(normalize(cur.Subsets), normalize(subsets)) && labelsEqual(cur.Labels, labels) {
		return nil
	}
	ep := &corev1.Endpoints{}
	ep.APIVersion, ep.Kind = "v1", "Endpoints"
	ep.Namespace, ep.Name = ns, name
	ep.Labels = labels
	ep.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: time.Now().UTC().Format(time.RFC3339Nano)}
	ep.Subsets = subsets
	if !exists {
		if _, err := c.API.Create(ctx, ns, ep, client.CreateOptions{}); err != nil {
			return fmt.Errorf("creating endpoints %s: %w", key, err)
		}
		return nil
	}
	ep.ResourceVersion = cur.ResourceVersion
	ep.UID = cur.UID
	for k, v := range cur.Annotations {
		if k != corev1.EndpointsLastChangeTriggerTime {
			ep.Annotations[k] = v
		}
	}
	if _, err := c.API.Update(ctx, ns, ep, client.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating endpoints %s: %w", key, err)
	}
	return nil
}

// normalize makes nil and empty slices compare equal.
func normalize(s []corev1.EndpointSubset) []corev1.EndpointSubset {
	if len(s) == 0 {
		return nil
	}
	out := make([]corev1.EndpointSubset, len(s))
	for i, x := range s {
		if len(x.Addresses) == 0 {
			x.Addresses = nil
		}
		if len(x.NotReadyAddresses) == 0 {
			x.NotReadyAddresses = nil
		}
		if len(x.Ports) == 0 {
			x.Ports = nil
		}
		out[i] = x
	}
	return out
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// serviceSelects reports whether the service's selector selects the labels. A Service without a
// selector selects no pods (its Endpoints are written by its users), unlike an empty label selector.
func serviceSelects(svc *corev1.Service, lbls map[string]string) bool {
	if len(svc.Spec.Selector) == 0 {
		return false
	}
	for k, v := range svc.Spec.Selector {
		if got, ok := lbls[k]; !ok || got != v {
			return false
		}
	}
	return true
}
