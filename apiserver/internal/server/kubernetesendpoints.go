package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	"github.com/skiffhq/skiff/apiserver/internal/storage"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// The kubernetes Service's identity and labels, as Kubernetes's control plane writes them.
const (
	kubernetesService   = "kubernetes"
	kubernetesNamespace = "default"
	skipMirrorLabel     = "endpointslice.kubernetes.io/skip-mirror"
	apiserverPortName   = "https"
)

// endpointReconciler keeps the kubernetes Service's Endpoints and EndpointSlice (both default/kubernetes)
// pointing at this apiserver's advertise address and port, as Kubernetes's endpoint reconciler does:
// at start, whenever either object is changed or deleted by someone else, and every interval. It also
// keeps the Service's targetPort at the apiserver's port. One apiserver's address is kept (there is no
// lease reconciler): of several apiservers over one etcd, the last to reconcile wins.
type endpointReconciler struct {
	reg      *registry.Registry
	log      *zap.Logger
	ip       string
	port     int32
	interval time.Duration
	// minGap spaces reconciles triggered by changes, so that two writers never spin.
	minGap time.Duration
}

// run reconciles until ctx ends.
func (e *endpointReconciler) run(ctx context.Context) {
	epRes, ok1 := e.reg.Lookup("", "v1", "endpoints")
	sliceRes, ok2 := e.reg.Lookup("discovery.k8s.io", "v1", "endpointslices")
	if !ok1 || !ok2 {
		return
	}
	changed := make(chan struct{}, 1)
	for _, res := range []*registry.Resource{epRes, sliceRes} {
		go e.watch(ctx, res, changed)
	}
	ticker := time.NewTicker(e.interval)
	defer ticker.Stop()
	for {
		if err := e.reconcile(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("reconciling the kubernetes service endpoints", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-changed:
			select {
			case <-ctx.Done():
				return
			case <-time.After(e.minGap):
			}
		}
	}
}

// watch signals changed on every event of default/kubernetes in res, re-watching when a watch ends.
func (e *endpointReconciler) watch(ctx context.Context, res *registry.Resource, changed chan<- struct{}) {
	key := res.Key(kubernetesNamespace, kubernetesService)
	for ctx.Err() == nil {
		w, err := e.reg.Watch(ctx, res, kubernetesNamespace, 0)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		for ev := range w.Events() {
			if ev.Type == storage.Error || ev.KV.Key != key {
				continue
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		w.Stop()
	}
}

func (e *endpointReconciler) desiredSubsets() []corev1.EndpointSubset {
	return []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: e.ip}},
		Ports:     []corev1.EndpointPort{{Name: apiserverPortName, Port: e.port, Protocol: corev1.ProtocolTCP}},
	}}
}

func (e *endpointReconciler) desiredSlice(s *discoveryv1.EndpointSlice) {
	ready := true
	name, proto, port := apiserverPortName, corev1.ProtocolTCP, e.port
	addrType := discoveryv1.AddressTypeIPv4
	if ip := net.ParseIP(e.ip); ip != nil && ip.To4() == nil {
		addrType = discoveryv1.AddressTypeIPv6
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels[discoveryv1.LabelServiceName] = kubernetesService
	s.AddressType = addrType
	s.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}
	s.Ports = []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}}
}

// reconcile brings the three objects to the desired state, writing only what differs.
func (e *endpointReconciler) reconcile(ctx context.Context) error {
	epRes, _ := e.reg.Lookup("", "v1", "endpoints")
	sliceRes, _ := e.reg.Lookup("discovery.k8s.io", "v1", "endpointslices")
	svcRes, _ := e.reg.Lookup("", "v1", "services")
	var errs []error

	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: kubernetesService, Namespace: kubernetesNamespace,
		Labels: map[string]string{skipMirrorLabel: "true"}}, Subsets: e.desiredSubsets()}
	errs = append(errs, e.ensure(ctx, epRes, ep, func(cur metav1.Object) bool {
		c := cur.(*corev1.Endpoints)
		if sameJSON(c.Subsets, ep.Subsets) && c.Labels[skipMirrorLabel] == "true" {
			return false
		}
		c.Subsets = ep.Subsets
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[skipMirrorLabel] = "true"
		return true
	}))

	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: kubernetesService, Namespace: kubernetesNamespace}}
	e.desiredSlice(slice)
	errs = append(errs, e.ensure(ctx, sliceRes, slice, func(cur metav1.Object) bool {
		c := cur.(*discoveryv1.EndpointSlice)
		want := &discoveryv1.EndpointSlice{}
		want.Labels = c.Labels
		e.desiredSlice(want)
		if sameJSON(c.Endpoints, want.Endpoints) && sameJSON(c.Ports, want.Ports) && c.AddressType == want.AddressType &&
			c.Labels[discoveryv1.LabelServiceName] == kubernetesService {
			return false
		}
		c.Labels, c.AddressType, c.Endpoints, c.Ports = want.Labels, want.AddressType, want.Endpoints, want.Ports
		return true
	}))

	// The Service itself is created at bootstrap; here only its targetPort follows the real port.
	_, err := e.reg.Update(ctx, svcRes, kubernetesNamespace, kubernetesService, func(cur metav1.Object) (metav1.Object, error) {
		svc := cur.(*corev1.Service)
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Name == apiserverPortName {
				svc.Spec.Ports[i].TargetPort = intstr.FromInt32(e.port)
			}
		}
		return svc, nil
	}, registry.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("updating the kubernetes service's target port: %w", err))
	}
	return errors.Join(errs...)
}

// ensure creates obj if missing, else applies fix to the stored object when fix reports a change.
func (e *endpointReconciler) ensure(ctx context.Context, res *registry.Resource, obj metav1.Object, fix func(cur metav1.Object) bool) error {
	cur, err := e.reg.Get(ctx, res, kubernetesNamespace, kubernetesService)
	if apierrors.IsNotFound(err) {
		_, err = e.reg.Create(ctx, res, obj, registry.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s %s/%s: %w", res.Plural, kubernetesNamespace, kubernetesService, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !fix(res.DeepCopy(cur)) {
		return nil
	}
	_, err = e.reg.Update(ctx, res, kubernetesNamespace, kubernetesService, func(cur metav1.Object) (metav1.Object, error) {
		fix(cur)
		return cur, nil
	}, registry.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating %s %s/%s: %w", res.Plural, kubernetesNamespace, kubernetesService, err)
	}
	return nil
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// advertise is the address and port the kubernetes Endpoints carry: --advertise-address (else the bind
// address; localhost is 127.0.0.1) and the port actually listened on.
func advertise(cfg Config, listenAddr string) (string, int32, error) {
	_, p, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", 0, fmt.Errorf("reading the listen address %q: %w", listenAddr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("reading the listen port %q: %w", p, err)
	}
	ip := cfg.AdvertiseAddress
	if ip == "" {
		ip = cfg.BindAddress
	}
	if ip == "localhost" {
		ip = "127.0.0.1"
	}
	return ip, int32(port), nil
}
