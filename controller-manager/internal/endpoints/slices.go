package endpoints

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/podstate"
)

// SliceName is the EndpointSlice controller's name in --controllers and metrics.
const SliceName = "endpointslice"

// ManagedBy is the value of endpointslice.kubernetes.io/managed-by on the slices this controller owns.
const ManagedBy = "endpointslice-controller.k8s.io"

// DefaultMaxEndpointsPerSlice is Kubernetes's default --max-endpoints-per-slice.
const DefaultMaxEndpointsPerSlice = 100

// SliceClient is the part of the endpointslices API the controller uses.
type SliceClient interface {
	Create(ctx context.Context, ns string, s *discoveryv1.EndpointSlice, opts client.CreateOptions) (*discoveryv1.EndpointSlice, error)
	Update(ctx context.Context, ns string, s *discoveryv1.EndpointSlice, opts client.UpdateOptions) (*discoveryv1.EndpointSlice, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error
}

// SliceController maintains discovery.k8s.io/v1 EndpointSlices.
type SliceController struct {
	Services controller.Store[corev1.Service]
	Pods     controller.Store[corev1.Pod]
	Nodes    controller.Store[corev1.Node]
	// Slices must have the IndexServiceName index.
	Slices      controller.Store[discoveryv1.EndpointSlice]
	API         SliceClient
	Queue       controller.Queue
	Log         *zap.Logger
	MaxPerSlice int

	// created remembers, per service key, the slices this controller created that the Slices cache
	// has not shown yet. Until the cache has them, a sync would see too few slices and create
	// duplicates, so it waits instead (Kubernetes keeps an endpointSliceTracker for the same reason).
	mu      sync.Mutex
	created map[string]map[string]time.Time
}

// createdTTL bounds how long a sync waits for the cache to show a created slice (one deleted at once
// by someone else never shows up).
const createdTTL = 30 * time.Second

// cacheBehind reports whether a slice created for key is still missing from the cache, forgetting
// the ones it has caught up with.
func (c *SliceController) cacheBehind(key string, existing []*discoveryv1.EndpointSlice) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := c.created[key]
	for _, s := range existing {
		delete(names, s.Name)
	}
	for name, at := range names {
		if time.Since(at) > createdTTL {
			delete(names, name)
		}
	}
	if len(names) == 0 {
		delete(c.created, key)
		return false
	}
	return true
}

func (c *SliceController) noteCreated(key, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.created == nil {
		c.created = map[string]map[string]time.Time{}
	}
	if c.created[key] == nil {
		c.created[key] = map[string]time.Time{}
	}
	c.created[key][name] = time.Now()
}

// IndexServiceName indexes slices by namespace/<kubernetes.io/service-name>.
const IndexServiceName = "serviceName"

// SliceServiceKey is the IndexServiceName index function.
func SliceServiceKey(s *discoveryv1.EndpointSlice) []string {
	if n, ok := s.Labels[discoveryv1.LabelServiceName]; ok {
		return []string{s.Namespace + "/" + n}
	}
	return nil
}

type group struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   map[string]discoveryv1.Endpoint // by endpoint key
}

func epKey(e *discoveryv1.Endpoint) string {
	if e.TargetRef != nil && e.TargetRef.UID != "" {
		return e.TargetRef.UID
	}
	if len(e.Addresses) > 0 {
		return e.Addresses[0]
	}
	return ""
}

func groupKey(t discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	var b strings.Builder
	b.WriteString(string(t))
	for _, p := range ports {
		fmt.Fprintf(&b, "|%s/%d/%s", deref(p.Name), derefI(p.Port), derefP(p.Protocol))
	}
	return b.String()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
func derefI(i *int32) int32 {
	if i == nil {
		return 0
	}
	return *i
}
func derefP(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return ""
	}
	return *p
}

// desiredGroups computes the endpoints of a service grouped by address type and port mapping (pods
// that resolve a named port differently land in different slices, as in Kubernetes).
func (c *SliceController) desiredGroups(svc *corev1.Service, pods []*corev1.Pod) map[string]*group {
	out := map[string]*group{}
	for _, p := range pods {
		if !includePod(p, true) {
			continue
		}
		var ports []discoveryv1.EndpointPort
		missing := false
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := findPort(p, sp)
			if !ok {
				missing = true
				continue
			}
			name, proto := sp.Name, sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
		}
		if missing && len(ports) == 0 {
			continue
		}
		sort.Slice(ports, func(i, j int) bool { return deref(ports[i].Name) < deref(ports[j].Name) })
		at := discoveryv1.AddressTypeIPv4
		if strings.Contains(p.Status.PodIP, ":") {
			at = discoveryv1.AddressTypeIPv6
		}
		terminating := p.DeletionTimestamp != nil
		serving := podstate.IsReady(p) || svc.Spec.PublishNotReadyAddresses
		ready := serving && (!terminating || svc.Spec.PublishNotReadyAddresses)
		e := discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  podRef(p),
		}
		if p.Spec.NodeName != "" {
			node := p.Spec.NodeName
			e.NodeName = &node
			if c.Nodes != nil {
				if n, ok := c.Nodes.Get(node); ok {
					if z, ok := n.Labels["topology.kubernetes.io/zone"]; ok {
						e.Zone = &z
					}
				}
			}
		}
		if h := hostnameFor(p, svc); h != "" {
			e.Hostname = &h
		}
		k := groupKey(at, ports)
		g := out[k]
		if g == nil {
			g = &group{addressType: at, ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
			out[k] = g
		}
		g.endpoints[epKey(&e)] = e
	}
	return out
}

// Sync brings one service's EndpointSlices in line with its pods, changing as few slices as it can:
// endpoints stay in the slice that already holds them, new ones fill free room first.
func (c *SliceController) Sync(ctx context.Context, key string) error {
	svc, ok := c.Services.Get(key)
	if !ok {
		return nil // the garbage collector removes slices owned by a deleted service
	}
	var existing []*discoveryv1.EndpointSlice
	var all []*discoveryv1.EndpointSlice
	for _, s := range c.Slices.ByIndex(IndexServiceName, key) {
		all = append(all, s)
		if s.Labels[discoveryv1.LabelManagedBy] == ManagedBy && s.DeletionTimestamp == nil {
			existing = append(existing, s)
		}
	}
	if c.cacheBehind(key, all) {
		c.Queue.AddAfter(key, 100*time.Millisecond)
		return nil
	}
	var desired map[string]*group
	if len(svc.Spec.Selector) > 0 {
		desired = c.desiredGroups(svc, selectedPods(c.Pods, svc))
	}
	max := c.MaxPerSlice
	if max <= 0 {
		max = DefaultMaxEndpointsPerSlice
	}
	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := groupKey(s.AddressType, s.Ports)
		byGroup[k] = append(byGroup[k], s)
	}
	var errs []error
	labels := sliceLabels(svc)
	for k, g := range desired {
		slices := byGroup[k]
		delete(byGroup, k)
		sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
		placed := map[string]bool{}
		plans := make([][]discoveryv1.Endpoint, len(slices))
		for i, s := range slices {
			for _, e := range s.Endpoints {
				ek := epKey(&e)
				if d, ok := g.endpoints[ek]; ok && !placed[ek] && len(plans[i]) < max {
					plans[i] = append(plans[i], d)
					placed[ek] = true
				}
			}
		}
		var rest []string
		for ek := range g.endpoints {
			if !placed[ek] {
				rest = append(rest, ek)
			}
		}
		sort.Strings(rest)
		for _, ek := range rest {
			put := false
			for i := range plans {
				if len(plans[i]) < max {
					plans[i] = append(plans[i], g.endpoints[ek])
					put = true
					break
				}
			}
			if !put {
				plans = append(plans, []discoveryv1.Endpoint{g.endpoints[ek]})
			}
		}
		for i, eps := range plans {
			sortEndpoints(eps)
			if i >= len(slices) {
				if err := c.create(ctx, svc, g, eps, labels); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			s := slices[i]
			if len(eps) == 0 {
				errs = append(errs, c.remove(ctx, s))
				continue
			}
			if reflect.DeepEqual(s.Endpoints, eps) && labelsEqual(s.Labels, labels) {
				continue
			}
			upd := *s
			upd.Endpoints = eps
			upd.Labels = labels
			if _, err := c.API.Update(ctx, s.Namespace, &upd, client.UpdateOptions{}); err != nil {
				errs = append(errs, fmt.Errorf("updating endpointslice %s/%s: %w", s.Namespace, s.Name, err))
			}
		}
	}
	for _, slices := range byGroup {
		for _, s := range slices {
			errs = append(errs, c.remove(ctx, s))
		}
	}
	return errors.Join(errs...)
}

func sortEndpoints(eps []discoveryv1.Endpoint) {
	sort.Slice(eps, func(i, j int) bool { return epKey(&eps[i]) < epKey(&eps[j]) })
}

func sliceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		l[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[corev1.LabelIsHeadlessService] = ""
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ManagedBy
	return l
}

func (c *SliceController) create(ctx context.Context, svc *corev1.Service, g *group, eps []discoveryv1.Endpoint, labels map[string]string) error {
	s := &discoveryv1.EndpointSlice{}
	s.APIVersion, s.Kind = "discovery.k8s.io/v1", "EndpointSlice"
	s.Namespace = svc.Namespace
	s.GenerateName = svc.Name + "-"
	s.Labels = labels
	s.OwnerReferences = []metav1.OwnerReference{ownership.NewControllerRef(&svc.ObjectMeta, "v1", "Service")}
	s.AddressType = g.addressType
	s.Ports = g.ports
	if s.Ports == nil {
		s.Ports = []discoveryv1.EndpointPort{}
	}
	s.Endpoints = eps
	created, err := c.API.Create(ctx, svc.Namespace, s, client.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating endpointslice for service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	c.noteCreated(svc.Namespace+"/"+svc.Name, created.Name)
	return nil
}

func (c *SliceController) remove(ctx context.Context, s *discoveryv1.EndpointSlice) error {
	if err := c.API.Delete(ctx, s.Namespace, s.Name, nil); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("deleting endpointslice %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}
