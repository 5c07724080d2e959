// Package source feeds the netproxy's store from the apiserver: it runs informers on Services and
// EndpointSlices (discovery.k8s.io/v1) in every namespace and converts each object to the proxy model.
// Conversion lives here so the model (internal/proxy) and the backends never see API types.
//
// It does not watch Endpoints: EndpointSlices carry everything the proxy needs (readiness, serving,
// terminating, node, hostname), and the legacy Endpoints object has no serving/terminating state.
package source

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// TriggerTimeAnnotation is set by the endpoints controller to when the change an EndpointSlice reflects
// happened; the network programming latency metric starts there.
const TriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"

var (
	servicesInfo = client.ResourceInfo{Version: "v1", Resource: "services", Kind: "Service", Namespaced: true}
	slicesInfo   = client.ResourceInfo{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices", Kind: "EndpointSlice", Namespaced: true}
)

// ServiceFromAPI converts a Service to the proxy model. Invalid addresses are skipped.
func ServiceFromAPI(s *corev1.Service) *proxy.Service {
	out := &proxy.Service{Key: proxy.ServiceKey{Namespace: s.Namespace, Name: s.Name}}
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		out.ExternalName = strings.TrimSuffix(s.Spec.ExternalName, ".")
		return out
	}
	ips := s.Spec.ClusterIPs
	if len(ips) == 0 && s.Spec.ClusterIP != "" {
		ips = []string{s.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if ip == "None" {
			out.Headless = true
			out.ClusterIPs = nil
			break
		}
		if a, err := netip.ParseAddr(ip); err == nil {
			out.ClusterIPs = append(out.ClusterIPs, a.Unmap())
		}
	}
	for _, ip := range s.Spec.ExternalIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out.ExternalIPs = append(out.ExternalIPs, a.Unmap())
		}
	}
	external := s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
	for _, p := range s.Spec.Ports {
		proto := proxy.Protocol(p.Protocol)
		if proto == "" {
			proto = proxy.TCP
		}
		sp := proxy.ServicePort{Name: p.Name, Protocol: proto, Port: p.Port}
		if external {
			sp.NodePort = p.NodePort
		}
		out.Ports = append(out.Ports, sp)
	}
	if s.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		out.AffinityClientIP = true
		out.AffinityTimeout = proxy.DefaultAffinityTimeout
		if c := s.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			out.AffinityTimeout = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	out.ExternalLocal = (external || len(out.ExternalIPs) > 0) && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if out.ExternalLocal && external {
		out.HealthCheckNodePort = s.Spec.HealthCheckNodePort
	}
	out.InternalLocal = s.Spec.InternalTrafficPolicy != nil && *s.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	return out
}

// SliceFromAPI converts an EndpointSlice; ok is false for slices that belong to no Service (no
// kubernetes.io/service-name label). received is used when the slice has no trigger-time annotation.
func SliceFromAPI(s *discoveryv1.EndpointSlice, received time.Time) (_ *proxy.EndpointSlice, ok bool) {
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil, false
	}
	out := &proxy.EndpointSlice{
		Key:         proxy.EndpointSliceKey{Namespace: s.Namespace, Name: s.Name},
		Service:     proxy.ServiceKey{Namespace: s.Namespace, Name: svc},
		AddressType: proxy.AddressType(s.AddressType),
		TriggerTime: received,
	}
	if v := s.Annotations[TriggerTimeAnnotation]; v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.Before(received) {
			out.TriggerTime = t
		}
	}
	for _, p := range s.Ports {
		if p.Port == nil {
			continue
		}
		ep := proxy.EndpointPort{Port: *p.Port, Protocol: proxy.TCP}
		if p.Name != nil {
			ep.Name = *p.Name
		}
		if p.Protocol != nil && *p.Protocol != "" {
			ep.Protocol = proxy.Protocol(*p.Protocol)
		}
		out.Ports = append(out.Ports, ep)
	}
	for _, e := range s.Endpoints {
		// A nil condition is unknown; consumers treat unknown readiness as ready, serving follows ready.
		ready := e.Conditions.Ready == nil || *e.Conditions.Ready
		serving := ready
		if e.Conditions.Serving != nil {
			serving = *e.Conditions.Serving
		}
		ep := proxy.Endpoint{Ready: ready, Serving: serving, Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating}
		if e.NodeName != nil {
			ep.NodeName = *e.NodeName
		}
		if e.Hostname != nil {
			ep.Hostname = *e.Hostname
		}
		for _, a := range e.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				ep.Addresses = append(ep.Addresses, ip.Unmap())
			}
		}
		if len(ep.Addresses) > 0 {
			out.Endpoints = append(out.Endpoints, ep)
		}
	}
	return out, true
}

// Source runs the informers that feed a store.
type Source struct {
	services *informer.Informer[corev1.Service]
	slices   *informer.Informer[discoveryv1.EndpointSlice]
	log      *zap.Logger
}

// New wires informers on c to store.
func New(c *client.Client, store *proxy.Store, log *zap.Logger) *Source {
	s := &Source{
		services: informer.New[corev1.Service](client.NewResource[corev1.Service](c, servicesInfo), informer.Options{Logger: log}),
		slices:   informer.New[discoveryv1.EndpointSlice](client.NewResource[discoveryv1.EndpointSlice](c, slicesInfo), informer.Options{Logger: log}),
		log:      log,
	}
	s.services.AddHandler(informer.Handler[corev1.Service]{
		OnAdd:    func(o *corev1.Service) { store.UpsertService(ServiceFromAPI(o)) },
		OnUpdate: func(_, o *corev1.Service) { store.UpsertService(ServiceFromAPI(o)) },
		OnDelete: func(o *corev1.Service) { store.DeleteService(proxy.ServiceKey{Namespace: o.Namespace, Name: o.Name}) },
	})
	upsert := func(o *discoveryv1.EndpointSlice) {
		if sl, ok := SliceFromAPI(o, time.Now()); ok {
			store.UpsertSlice(sl)
		} else {
			store.DeleteSlice(proxy.EndpointSliceKey{Namespace: o.Namespace, Name: o.Name}, time.Now())
		}
	}
	s.slices.AddHandler(informer.Handler[discoveryv1.EndpointSlice]{
		OnAdd:    upsert,
		OnUpdate: func(old, o *discoveryv1.EndpointSlice) { upsert(o) },
		OnDelete: func(o *discoveryv1.EndpointSlice) {
			store.DeleteSlice(proxy.EndpointSliceKey{Namespace: o.Namespace, Name: o.Name}, time.Now())
		},
	})
	return s
}

// Run runs the informers until ctx ends; synced is called once both have delivered their first list.
func (s *Source) Run(ctx context.Context, synced func()) error {
	errc := make(chan error, 2)
	go func() { errc <- s.services.Run(ctx) }()
	go func() { errc <- s.slices.Run(ctx) }()
	go func() {
		if informer.WaitForCacheSync(ctx, s.services, s.slices) {
			s.log.Info("informers synced", zap.Int("services", len(s.services.List())), zap.Int("endpointslices", len(s.slices.List())))
			synced()
		}
	}()
	var first error
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil && first == nil && ctx.Err() == nil {
			first = fmt.Errorf("informer: %w", err)
		}
	}
	return first
}
