package registry

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/storage"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// ServiceConfig configures Service address allocation.
type ServiceConfig struct {
	// ClusterIPRange is the IPv4 range ClusterIPs come from (10.96.0.0/16).
	ClusterIPRange netip.Prefix
	// NodePortRange is the inclusive range of node ports (30000-32767).
	NodePortRange [2]int
}

// DefaultServiceConfig is Kubernetes's defaults.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{
		ClusterIPRange: netip.MustParsePrefix("10.96.0.0/16"),
		NodePortRange:  [2]int{30000, 32767},
	}
}

// Allocation keys: one key per allocated address, created in the same etcd as the Services, so that two
// apiservers can never hand out the same address (the create of the key is the lock).
const (
	ipAllocationPrefix   = "/registry/serviceipallocations/"
	portAllocationPrefix = "/registry/servicenodeportallocations/"
)

// allocation is the value of an allocation key: who holds it, for the leak repair.
type allocation struct {
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
}

// ipAllocator hands out ClusterIPs from a range.
type ipAllocator struct {
	store storage.Store
	cidr  netip.Prefix
	base  uint32
	size  uint32
}

func newIPAllocator(store storage.Store, cidr netip.Prefix) (*ipAllocator, error) {
	if !cidr.IsValid() {
		cidr = DefaultServiceConfig().ClusterIPRange
	}
	if !cidr.Addr().Is4() {
		return nil, fmt.Errorf("service cluster IP range %s: only IPv4 ranges are supported", cidr)
	}
	if cidr.Bits() > 29 || cidr.Bits() < 12 {
		return nil, fmt.Errorf("service cluster IP range %s: the prefix length must be between /12 and /29", cidr)
	}
	cidr = cidr.Masked()
	a := cidr.Addr().As4()
	return &ipAllocator{store: store, cidr: cidr, base: binary.BigEndian.Uint32(a[:]), size: 1 << (32 - cidr.Bits())}, nil
}

func (a *ipAllocator) addr(offset uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a.base+offset)
	return netip.AddrFrom4(b)
}

// First is the first usable address (the kubernetes Service's).
func (a *ipAllocator) First() netip.Addr { return a.addr(1) }

// staticBand is the low part of the range that random allocation avoids, so that well-known addresses
// (the kubernetes Service at .1, cluster DNS at .10) stay free for the Services that ask for them.
func (a *ipAllocator) staticBand() uint32 {
	return min(max(16, a.size/16), 256)
}

func (a *ipAllocator) reserve(ctx context.Context, ip netip.Addr, owner string) error {
	val, _ := json.Marshal(allocation{Service: owner, Time: time.Now().UTC()})
	_, err := a.store.Create(ctx, ipAllocationPrefix+ip.String(), val)
	return err
}

// Allocate reserves the requested address, or a free random one when requested is empty.
func (a *ipAllocator) Allocate(ctx context.Context, requested, owner string) (string, error) {
	path := field.NewPath("spec", "clusterIPs").Index(0)
	if requested != "" {
		ip, err := netip.ParseAddr(requested)
		if err != nil {
			return "", field.Invalid(path, requested, "must be a valid IP address")
		}
		if !a.cidr.Contains(ip) || ip == a.addr(0) || ip == a.addr(a.size-1) {
			return "", field.Invalid(path, requested, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", requested, requested, a.cidr))
		}
		err = a.reserve(ctx, ip, owner)
		if errors.Is(err, storage.ErrAlreadyExists) {
			return "", field.Invalid(path, requested, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", requested))
		}
		if err != nil {
			return "", fmt.Errorf("reserving cluster IP %s: %w", requested, err)
		}
		return requested, nil
	}
	lo, hi := a.staticBand(), a.size-2 // usable dynamic offsets [lo, hi]
	if hi < lo {
		lo = 1
	}
	n := hi - lo + 1
	start := lo + rand.Uint32N(n)
	// Random start, then a linear probe: cheap while the range is sparse, complete when it is not.
	for i := uint32(0); i < n; i++ {
		off := lo + (start-lo+i)%n
		ip := a.addr(off)
		err := a.reserve(ctx, ip, owner)
		if err == nil {
			return ip.String(), nil
		}
		if !errors.Is(err, storage.ErrAlreadyExists) {
			return "", fmt.Errorf("reserving cluster IP %s: %w", ip, err)
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
	return "", apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range %s is full", a.cidr))
}

// Release frees an address; a missing key is fine.
func (a *ipAllocator) Release(ctx context.Context, ip string) {
	if ip == "" || ip == corev1.ClusterIPNone {
		return
	}
	_, _ = a.store.Delete(ctx, ipAllocationPrefix+ip, 0, nil)
}

// portAllocator hands out node ports.
type portAllocator struct {
	store  storage.Store
	lo, hi int
}

func newPortAllocator(store storage.Store, r [2]int) (*portAllocator, error) {
	if r == [2]int{} {
		r = DefaultServiceConfig().NodePortRange
	}
	if r[0] < 1 || r[1] > 65535 || r[0] > r[1] {
		return nil, fmt.Errorf("service node port range %d-%d is invalid", r[0], r[1])
	}
	return &portAllocator{store: store, lo: r[0], hi: r[1]}, nil
}

func (p *portAllocator) reserve(ctx context.Context, port int, owner string) error {
	val, _ := json.Marshal(allocation{Service: owner, Time: time.Now().UTC()})
	_, err := p.store.Create(ctx, portAllocationPrefix+strconv.Itoa(port), val)
	return err
}

// Allocate reserves the requested port, or a free random one when requested is 0.
func (p *portAllocator) Allocate(ctx context.Context, requested int, owner string, path *field.Path) (int, error) {
	if requested != 0 {
		if requested < p.lo || requested > p.hi {
			return 0, field.Invalid(path, requested, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", p.lo, p.hi))
		}
		err := p.reserve(ctx, requested, owner)
		if errors.Is(err, storage.ErrAlreadyExists) {
			return 0, field.Invalid(path, requested, "provided port is already allocated")
		}
		if err != nil {
			return 0, fmt.Errorf("reserving node port %d: %w", requested, err)
		}
		return requested, nil
	}
	n := p.hi - p.lo + 1
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		port := p.lo + (start+i)%n
		err := p.reserve(ctx, port, owner)
		if err == nil {
			return port, nil
		}
		if !errors.Is(err, storage.ErrAlreadyExists) {
			return 0, fmt.Errorf("reserving node port %d: %w", port, err)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	return 0, apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: range %d-%d is full", p.lo, p.hi))
}

// Release frees a port.
func (p *portAllocator) Release(ctx context.Context, port int) {
	if port == 0 {
		return
	}
	_, _ = p.store.Delete(ctx, portAllocationPrefix+strconv.Itoa(port), 0, nil)
}

func needsClusterIP(s *corev1.Service) bool {
	return s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// needsHealthCheckNodePort is Kubernetes's rule: only a LoadBalancer Service with externalTrafficPolicy
// Local gets spec.healthCheckNodePort (NodePort Services with Local do not).
func needsHealthCheckNodePort(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

var healthCheckNodePortPath = field.NewPath("spec", "healthCheckNodePort")

// validateHealthCheckNodePort refuses a health-check port on a Service that has no use for one.
func validateHealthCheckNodePort(s *corev1.Service) field.ErrorList {
	if !needsHealthCheckNodePort(s) && s.Spec.HealthCheckNodePort != 0 {
		return field.ErrorList{field.Invalid(healthCheckNodePortPath, s.Spec.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")}
	}
	return nil
}

// allocationError turns a field error from an allocator into 422 Invalid for the service.
func allocationError(s *corev1.Service, err error) error {
	var fe *field.Error
	if errors.As(err, &fe) {
		return apierrors.NewInvalid("", "Service", s.Name, field.ErrorList{fe})
	}
	return err
}

func (r *Registry) attachServiceStrategy(res *Resource) {
	s := &res.strategy
	owner := func(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

	allocatePorts := func(ctx context.Context, svc *corev1.Service, keep map[int32]bool) (taken []int, err error) {
		if !needsNodePorts(svc) {
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
			return nil, nil
		}
		for i := range svc.Spec.Ports {
			pt := &svc.Spec.Ports[i]
			if pt.NodePort != 0 && keep[pt.NodePort] {
				continue
			}
			port, err := r.ports.Allocate(ctx, int(pt.NodePort), owner(svc), field.NewPath("spec", "ports").Index(i).Child("nodePort"))
			if err != nil {
				for _, t := range taken {
					r.ports.Release(ctx, t)
				}
				return nil, allocationError(svc, err)
			}
			pt.NodePort = int32(port)
			taken = append(taken, port)
		}
		return taken, nil
	}

	s.validateCreate = func(obj metav1.Object) field.ErrorList {
		if svc, ok := obj.(*corev1.Service); ok {
			return validateHealthCheckNodePort(svc)
		}
		return nil
	}

	// allocateHealthCheck reserves spec.healthCheckNodePort (the requested one, or a free one) when the
	// Service needs it and does not hold one in keep; it returns the port it reserved, or 0.
	allocateHealthCheck := func(ctx context.Context, svc *corev1.Service, keep int32) (int, error) {
		if !needsHealthCheckNodePort(svc) || (keep != 0 && svc.Spec.HealthCheckNodePort == keep) {
			return 0, nil
		}
		port, err := r.ports.Allocate(ctx, int(svc.Spec.HealthCheckNodePort), owner(svc), healthCheckNodePortPath)
		if err != nil {
			return 0, allocationError(svc, err)
		}
		svc.Spec.HealthCheckNodePort = int32(port)
		return port, nil
	}

	s.beforeCreate = func(ctx context.Context, obj metav1.Object) (func(), error) {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return nil, nil
		}
		var ip string
		if needsClusterIP(svc) {
			var err error
			if ip, err = r.ips.Allocate(ctx, svc.Spec.ClusterIP, owner(svc)); err != nil {
				return nil, allocationError(svc, err)
			}
			svc.Spec.ClusterIP = ip
			svc.Spec.ClusterIPs = []string{ip}
		} else if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		}
		taken, err := allocatePorts(ctx, svc, nil)
		if err != nil {
			r.ips.Release(ctx, ip)
			return nil, err
		}
		hc, err := allocateHealthCheck(ctx, svc, 0)
		if err != nil {
			r.ips.Release(ctx, ip)
			for _, p := range taken {
				r.ports.Release(ctx, p)
			}
			return nil, err
		}
		return func() {
			r.ips.Release(ctx, ip)
			for _, p := range taken {
				r.ports.Release(ctx, p)
			}
			r.ports.Release(ctx, hc)
		}, nil
	}

	s.prepareForUpdate = func(obj, old metav1.Object, sub string) {
		svc, ok1 := obj.(*corev1.Service)
		osvc, ok2 := old.(*corev1.Service)
		if !ok1 || !ok2 || sub != "" {
			return
		}
		// A PUT that leaves the allocated values out keeps them (kubectl replace of a saved manifest).
		if svc.Spec.ClusterIP == "" && svc.Spec.Type != corev1.ServiceTypeExternalName && osvc.Spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.ClusterIP = osvc.Spec.ClusterIP
			svc.Spec.ClusterIPs = slices.Clone(osvc.Spec.ClusterIPs)
		}
		if len(svc.Spec.ClusterIPs) == 0 && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP == osvc.Spec.ClusterIP {
			svc.Spec.ClusterIPs = slices.Clone(osvc.Spec.ClusterIPs)
		}
		// As Kubernetes: an update that leaves the health-check port out keeps it while it is needed; one
		// that stops needing it (type or policy changed) and did not touch it drops it.
		if needsHealthCheckNodePort(svc) && needsHealthCheckNodePort(osvc) && svc.Spec.HealthCheckNodePort == 0 {
			svc.Spec.HealthCheckNodePort = osvc.Spec.HealthCheckNodePort
		}
		if needsHealthCheckNodePort(osvc) && !needsHealthCheckNodePort(svc) && svc.Spec.HealthCheckNodePort == osvc.Spec.HealthCheckNodePort {
			svc.Spec.HealthCheckNodePort = 0
		}
		if needsNodePorts(svc) {
			oldPorts := map[string]int32{}
			for _, p := range osvc.Spec.Ports {
				oldPorts[string(p.Protocol)+"/"+strconv.Itoa(int(p.Port))] = p.NodePort
			}
			for i := range svc.Spec.Ports {
				p := &svc.Spec.Ports[i]
				if p.NodePort == 0 {
					proto := p.Protocol
					if proto == "" {
						proto = corev1.ProtocolTCP
					}
					p.NodePort = oldPorts[string(proto)+"/"+strconv.Itoa(int(p.Port))]
				}
			}
		}
	}

	s.validateUpdate = func(obj, old metav1.Object) field.ErrorList {
		svc, ok1 := obj.(*corev1.Service)
		osvc, ok2 := old.(*corev1.Service)
		if !ok1 || !ok2 {
			return nil
		}
		if errs := validateHealthCheckNodePort(svc); len(errs) > 0 {
			return errs
		}
		if needsHealthCheckNodePort(svc) && needsHealthCheckNodePort(osvc) && svc.Spec.HealthCheckNodePort != osvc.Spec.HealthCheckNodePort {
			return field.ErrorList{field.Invalid(healthCheckNodePortPath, svc.Spec.HealthCheckNodePort,
				"cannot change healthCheckNodePort on loadBalancer service with externalTraffic=Local during update")}
		}
		if svc.Spec.Type == corev1.ServiceTypeExternalName || osvc.Spec.Type == corev1.ServiceTypeExternalName {
			return nil
		}
		if svc.Spec.ClusterIP != osvc.Spec.ClusterIP {
			return field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIP, "may not change once set")}
		}
		return nil
	}

	s.beforeUpdate = func(ctx context.Context, obj, old metav1.Object) (func(), func(), error) {
		svc, ok1 := obj.(*corev1.Service)
		osvc, ok2 := old.(*corev1.Service)
		if !ok1 || !ok2 {
			return nil, nil, nil
		}
		var newIP string
		if needsClusterIP(svc) && svc.Spec.ClusterIP == "" {
			ip, err := r.ips.Allocate(ctx, "", owner(svc))
			if err != nil {
				return nil, nil, allocationError(svc, err)
			}
			newIP = ip
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
		}
		oldPorts := map[int32]bool{}
		for _, p := range osvc.Spec.Ports {
			if p.NodePort != 0 {
				oldPorts[p.NodePort] = true
			}
		}
		taken, err := allocatePorts(ctx, svc, oldPorts)
		if err != nil {
			r.ips.Release(ctx, newIP)
			return nil, nil, err
		}
		var oldHC int32
		if needsHealthCheckNodePort(osvc) {
			oldHC = osvc.Spec.HealthCheckNodePort
		}
		hc, err := allocateHealthCheck(ctx, svc, oldHC)
		if err != nil {
			r.ips.Release(ctx, newIP)
			for _, p := range taken {
				r.ports.Release(ctx, p)
			}
			return nil, nil, err
		}
		if hc != 0 {
			taken = append(taken, hc)
		}
		commit := func() {
			if osvc.Spec.HealthCheckNodePort != 0 && osvc.Spec.HealthCheckNodePort != svc.Spec.HealthCheckNodePort {
				r.ports.Release(ctx, int(osvc.Spec.HealthCheckNodePort))
			}
			kept := map[int32]bool{}
			for _, p := range svc.Spec.Ports {
				kept[p.NodePort] = true
			}
			for p := range oldPorts {
				if !kept[p] {
					r.ports.Release(ctx, int(p))
				}
			}
			if !needsClusterIP(svc) && needsClusterIP(osvc) {
				r.ips.Release(ctx, osvc.Spec.ClusterIP)
			}
		}
		undo := func() {
			r.ips.Release(ctx, newIP)
			for _, p := range taken {
				r.ports.Release(ctx, p)
			}
		}
		return commit, undo, nil
	}

	s.afterDelete = func(ctx context.Context, obj metav1.Object) {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return
		}
		// Release with a context of its own: the request may already be gone.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, ip := range svc.Spec.ClusterIPs {
			r.ips.Release(ctx, ip)
		}
		if len(svc.Spec.ClusterIPs) == 0 {
			r.ips.Release(ctx, svc.Spec.ClusterIP)
		}
		for _, p := range svc.Spec.Ports {
			r.ports.Release(ctx, int(p.NodePort))
		}
		r.ports.Release(ctx, int(svc.Spec.HealthCheckNodePort))
	}
}

// KubernetesServiceIP is the address of the kubernetes Service in default (the range's first address).
func (r *Registry) KubernetesServiceIP() string { return r.ips.First().String() }

// RepairAllocations releases allocation keys that no Service holds and that are older than grace: the
// leftovers of an apiserver that died between reserving an address and storing its Service.
func (r *Registry) RepairAllocations(ctx context.Context, grace time.Duration) (released int, err error) {
	svcRes := r.resource("", "services")
	if svcRes == nil {
		return 0, nil
	}
	held := map[string]bool{}
	lr, err := r.List(ctx, svcRes, "", ListOptions{})
	if err != nil {
		return 0, err
	}
	for _, obj := range lr.Items {
		svc := obj.(*corev1.Service)
		for _, ip := range svc.Spec.ClusterIPs {
			held[ipAllocationPrefix+ip] = true
		}
		held[ipAllocationPrefix+svc.Spec.ClusterIP] = true
		for _, p := range svc.Spec.Ports {
			held[portAllocationPrefix+strconv.Itoa(int(p.NodePort))] = true
		}
		if svc.Spec.HealthCheckNodePort != 0 {
			held[portAllocationPrefix+strconv.Itoa(int(svc.Spec.HealthCheckNodePort))] = true
		}
	}
	for _, prefix := range []string{ipAllocationPrefix, portAllocationPrefix} {
		keys, err := r.store.List(ctx, prefix, storage.ListOptions{})
		if err != nil {
			return released, fmt.Errorf("listing %s: %w", strings.Trim(prefix, "/"), err)
		}
		for _, kv := range keys.Items {
			if held[kv.Key] {
				continue
			}
			var a allocation
			if json.Unmarshal(kv.Value, &a) == nil && time.Since(a.Time) < grace {
				continue
			}
			if _, err := r.store.Delete(ctx, kv.Key, kv.Revision, nil); err == nil {
				released++
			}
		}
	}
	return released, nil
}
