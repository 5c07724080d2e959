package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/ipvs"

	"github.com/skiffhq/skiff/netproxy/internal/nftables"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// Defaults.
const (
	DefaultInterface = "skiff-ipvs0"
	DefaultTable     = "skiff-ipvs"
	DefaultScheduler = ipvs.RoundRobin
)

// Schedulers the backend accepts for --ipvs-scheduler.
var Schedulers = []string{ipvs.RoundRobin, ipvs.WeightedRoundRobin, ipvs.LeastConnection, ipvs.SourceHashing}

// Config configures the IPVS backend.
type Config struct {
	// Scheduler is the IPVS scheduler of every virtual server: rr (default), wrr, lc or sh.
	Scheduler string
	// Interface is the dummy interface holding cluster and external IPs; DefaultInterface when empty.
	Interface string
	// ClusterCIDRs are the pod networks; clients of a cluster IP outside them are masqueraded.
	ClusterCIDRs []netip.Prefix
	// NodePortAddresses restricts node ports to node addresses inside these prefixes; empty means all.
	NodePortAddresses []netip.Prefix
	// NodePortMin and NodePortMax bound node ports (30000-32767 when zero). Virtual servers on node
	// addresses in that range are the backend's own, even when left by an earlier run.
	NodePortMin, NodePortMax int
	// Table is the nftables table for masquerading; DefaultTable when empty.
	Table string
	// Kernel reaches IPVS and interfaces; Runner runs nft for the masquerade table.
	Kernel Kernel
	Runner nftables.Runner
}

// Backend programs Services as IPVS virtual servers.
type Backend struct {
	cfg Config
}

// New returns an IPVS backend. It fails on an unknown scheduler.
func New(cfg Config) (*Backend, error) {
	if cfg.Scheduler == "" {
		cfg.Scheduler = DefaultScheduler
	}
	if !slices.Contains(Schedulers, cfg.Scheduler) {
		return nil, fmt.Errorf("unknown IPVS scheduler %q: want one of %s", cfg.Scheduler, strings.Join(Schedulers, ", "))
	}
	if cfg.Interface == "" {
		cfg.Interface = DefaultInterface
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.NodePortMin == 0 {
		cfg.NodePortMin, cfg.NodePortMax = 30000, 32767
	}
	if cfg.Kernel == nil {
		return nil, errors.New("ipvs backend needs a Kernel")
	}
	if cfg.Runner == nil {
		cfg.Runner = nftables.ExecRunner{}
	}
	return &Backend{cfg: cfg}, nil
}

// Name implements proxy.Backend.
func (b *Backend) Name() string { return "ipvs" }

// virtualServer is one desired IPVS service.
type virtualServer struct {
	addr       netip.Addr
	proto      proxy.Protocol
	port       uint16
	persistent bool
	timeout    uint32
	reals      []netip.AddrPort
	// masquerade is true for node ports whose clients must be masqueraded (externalTrafficPolicy
	// Cluster); cluster IPs are masqueraded by source address instead.
	nodePort   bool
	masquerade bool
}

func vsKey(addr netip.Addr, proto proxy.Protocol, port uint16) string {
	return fmt.Sprintf("%s/%s/%d", proto.Lower(), addr, port)
}

func protoNumber(p proxy.Protocol) uint16 {
	switch p {
	case proxy.UDP:
		return syscall.IPPROTO_UDP
	case proxy.SCTP:
		return syscall.IPPROTO_SCTP
	}
	return syscall.IPPROTO_TCP
}

func protoName(n uint16) proxy.Protocol {
	switch n {
	case syscall.IPPROTO_UDP:
		return proxy.UDP
	case syscall.IPPROTO_SCTP:
		return proxy.SCTP
	}
	return proxy.TCP
}

// desired computes the virtual servers and the addresses to bind for a snapshot.
func (b *Backend) desired(snap *proxy.Snapshot, nodeIPs []netip.Addr) (map[string]*virtualServer, map[netip.Addr]bool) {
	vss := map[string]*virtualServer{}
	bound := map[netip.Addr]bool{}
	for _, svc := range snap.SortedServices() {
		if svc.Headless || svc.ExternalName != "" || len(svc.ClusterIPs) == 0 {
			continue
		}
		for _, port := range svc.Ports {
			sel := proxy.Select(snap.Endpoints(svc, port))
			add := func(addr netip.Addr, eps []proxy.EndpointAddr, nodePort bool, p uint16) {
				k := vsKey(addr, port.Protocol, p)
				if _, taken := vss[k]; taken {
					return // first Service in name order keeps a shared address:port
				}
				vs := &virtualServer{addr: addr, proto: port.Protocol, port: p, nodePort: nodePort,
					masquerade: nodePort && !svc.ExternalLocal}
				if svc.AffinityClientIP {
					vs.persistent = true
					t := svc.AffinityTimeout
					if t <= 0 {
						t = proxy.DefaultAffinityTimeout
					}
					vs.timeout = uint32(t.Seconds())
				}
				for _, e := range eps {
					if e.IP.Is4() == addr.Is4() {
						vs.reals = append(vs.reals, e.AddrPort())
					}
				}
				vss[k] = vs
			}
			for _, ip := range svc.ClusterIPs {
				bound[ip] = true
				add(ip, sel.Internal(svc), false, uint16(port.Port))
			}
			for _, ip := range svc.ExternalIPs {
				bound[ip] = true
				add(ip, sel.External(svc), false, uint16(port.Port))
			}
			if port.NodePort != 0 {
				for _, ip := range nodeIPs {
					add(ip, sel.External(svc), true, uint16(port.NodePort))
				}
			}
		}
	}
	return vss, bound
}

func (b *Backend) nodeIPs() ([]netip.Addr, error) {
	all, err := b.cfg.Kernel.NodeAddresses(b.cfg.Interface)
	if err != nil {
		return nil, err
	}
	if len(b.cfg.NodePortAddresses) == 0 {
		return all, nil
	}
	var out []netip.Addr
	for _, ip := range all {
		for _, p := range b.cfg.NodePortAddresses {
			if p.Contains(ip) {
				out = append(out, ip)
				break
			}
		}
	}
	return out, nil
}

// Sync implements proxy.Backend. Every sync reconciles against the kernel's listing, so full and
// partial syncs do the same work.
func (b *Backend) Sync(ctx context.Context, snap *proxy.Snapshot, _ bool) (proxy.RuleCounts, error) {
	k := b.cfg.Kernel
	if err := k.EnsureDummy(b.cfg.Interface); err != nil {
		return nil, err
	}
	nodeIPs, err := b.nodeIPs()
	if err != nil {
		return nil, err
	}
	want, bound := b.desired(snap, nodeIPs)
	boundNow, err := k.Addresses(b.cfg.Interface)
	if err != nil {
		return nil, err
	}
	current, err := k.Services()
	if err != nil {
		return nil, fmt.Errorf("listing IPVS services: %w", err)
	}
	isBound := map[netip.Addr]bool{}
	for _, ip := range boundNow {
		isBound[ip] = true
	}
	isNodeIP := map[netip.Addr]bool{}
	for _, ip := range nodeIPs {
		isNodeIP[ip] = true
	}
	var errs []error
	have := map[string]*ipvs.Service{}
	for _, s := range current {
		addr, ok := netip.AddrFromSlice(s.Address)
		if !ok || s.FWMark != 0 {
			continue
		}
		addr = addr.Unmap()
		key := vsKey(addr, protoName(s.Protocol), s.Port)
		_, wanted := want[key]
		nodePortRange := int(s.Port) >= b.cfg.NodePortMin && int(s.Port) <= b.cfg.NodePortMax
		if !wanted && !isBound[addr] && !(isNodeIP[addr] && nodePortRange) {
			continue // not ours
		}
		if !wanted {
			if err := k.DelService(s); err != nil {
				errs = append(errs, fmt.Errorf("deleting virtual server %s: %w", key, err))
			}
			continue
		}
		have[key] = s
	}
	counts := proxy.RuleCounts{"virtual_servers": len(want), "real_servers": 0, "addresses": len(bound)}
	for _, key := range sortedKeys(want) {
		vs := want[key]
		spec := b.spec(vs)
		cur, exists := have[key]
		switch {
		case !exists:
			if err := k.NewService(spec); err != nil {
				errs = append(errs, fmt.Errorf("adding virtual server %s: %w", key, err))
				continue
			}
		case cur.SchedName != spec.SchedName || cur.Flags&ipvsPersistent != spec.Flags&ipvsPersistent || (spec.Flags&ipvsPersistent != 0 && cur.Timeout != spec.Timeout):
			if err := k.UpdateService(spec); err != nil {
				errs = append(errs, fmt.Errorf("updating virtual server %s: %w", key, err))
			}
		}
		counts["real_servers"] += len(vs.reals)
		if err := b.syncDestinations(spec, vs, exists); err != nil {
			errs = append(errs, fmt.Errorf("real servers of %s: %w", key, err))
		}
	}
	for ip := range bound {
		if !isBound[ip] {
			if err := k.AddAddress(b.cfg.Interface, ip); err != nil {
				errs = append(errs, fmt.Errorf("binding %s to %s: %w", ip, b.cfg.Interface, err))
			}
		}
	}
	for _, ip := range boundNow {
		if !bound[ip] && !ip.IsLinkLocalUnicast() {
			if err := k.DelAddress(b.cfg.Interface, ip); err != nil {
				errs = append(errs, fmt.Errorf("unbinding %s from %s: %w", ip, b.cfg.Interface, err))
			}
		}
	}
	script, elems, hairpin := b.masqueradeScript(want)
	counts["masquerade_set_elements"] = elems
	counts["hairpin_set_elements"] = hairpin
	if _, err := b.cfg.Runner.Run(ctx, []byte(script), "nft", "-f", "-"); err != nil {
		errs = append(errs, fmt.Errorf("applying masquerade rules: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return counts, nil
}

// ipvsPersistent is IP_VS_SVC_F_PERSISTENT: session affinity by client address.
const ipvsPersistent = 0x1

func (b *Backend) spec(vs *virtualServer) *ipvs.Service {
	s := &ipvs.Service{
		Address:       vs.addr.AsSlice(),
		Protocol:      protoNumber(vs.proto),
		Port:          vs.port,
		SchedName:     b.cfg.Scheduler,
		AddressFamily: syscall.AF_INET,
		Netmask:       0xffffffff,
	}
	if vs.addr.Is6() {
		s.AddressFamily = syscall.AF_INET6
		s.Netmask = 128
	}
	if vs.persistent {
		s.Flags = ipvsPersistent
		s.Timeout = vs.timeout
	}
	return s
}

func (b *Backend) syncDestinations(spec *ipvs.Service, vs *virtualServer, exists bool) error {
	k := b.cfg.Kernel
	var cur []*ipvs.Destination
	if exists {
		var err error
		if cur, err = k.Destinations(spec); err != nil {
			return err
		}
	}
	want := map[netip.AddrPort]bool{}
	for _, r := range vs.reals {
		want[r] = true
	}
	have := map[netip.AddrPort]*ipvs.Destination{}
	var errs []error
	for _, d := range cur {
		ip, _ := netip.AddrFromSlice(d.Address)
		ap := netip.AddrPortFrom(ip.Unmap(), d.Port)
		if !want[ap] {
			if err := k.DelDestination(spec, d); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		have[ap] = d
	}
	for _, r := range vs.reals {
		d := &ipvs.Destination{Address: r.Addr().AsSlice(), Port: r.Port(), Weight: 1, ConnectionFlags: ipvs.ConnectionFlagMasq,
			AddressFamily: spec.AddressFamily}
		if cur, ok := have[r]; ok {
			if cur.Weight != 1 {
				if err := k.UpdateDestination(spec, d); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		if err := k.NewDestination(spec, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// masqueradeScript writes the masquerade table: marks for cluster IP clients outside the pod network
// and for node ports with externalTrafficPolicy Cluster, masquerade in postrouting, and masquerade of
// hairpin traffic (a real server that is also the client).
func (b *Backend) masqueradeScript(want map[string]*virtualServer) (script string, masqElems, hairpinElems int) {
	t := "inet " + b.cfg.Table
	var s strings.Builder
	fmt.Fprintf(&s, "add table %s { comment \"IPVS masquerading, programmed by skiff-netproxy\"; }\nflush table %s\n", t, t)
	for _, c := range []struct{ name, spec string }{
		{"nat-prerouting", "type nat hook prerouting priority dstnat; policy accept;"},
		{"nat-output", "type nat hook output priority -100; policy accept;"},
		{"nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;"},
	} {
		fmt.Fprintf(&s, "add chain %s %s { %s }\n", t, c.name, c.spec)
	}
	fmt.Fprintf(&s, "add chain %s mark-for-masquerade\n", t)
	sets := []struct{ name, typ string }{
		{"cluster-ips", "ipv4_addr . inet_proto . inet_service"}, {"cluster-ips6", "ipv6_addr . inet_proto . inet_service"},
		{"node-ports", "inet_proto . inet_service"},
		// Hairpin: a pod reaching itself through a virtual server (real server address . protocol .
		// port . the same address as source), as kube-proxy's KUBE-LOOP-BACK ipset does.
		{"hairpin", "ipv4_addr . inet_proto . inet_service . ipv4_addr"}, {"hairpin6", "ipv6_addr . inet_proto . inet_service . ipv6_addr"},
	}
	for _, st := range sets {
		fmt.Fprintf(&s, "add set %s %s { type %s; }\nflush set %s %s\n", t, st.name, st.typ, t, st.name)
	}
	var rules []string
	for _, cidr := range b.cfg.ClusterCIDRs {
		fam, set := "ip", "cluster-ips"
		if cidr.Addr().Is6() {
			fam, set = "ip6", "cluster-ips6"
		}
		rules = append(rules, fmt.Sprintf("%s daddr . meta l4proto . th dport @%s %s saddr != %s jump mark-for-masquerade", fam, set, fam, cidr))
	}
	rules = append(rules, "fib daddr type local meta l4proto . th dport @node-ports jump mark-for-masquerade")
	for _, r := range rules {
		fmt.Fprintf(&s, "add rule %s nat-prerouting %s\nadd rule %s nat-output %s\n", t, r, t, r)
	}
	fmt.Fprintf(&s, "add rule %s mark-for-masquerade meta mark set meta mark | 0x4000\n", t)
	fmt.Fprintf(&s, "add rule %s nat-postrouting ip daddr . meta l4proto . th dport . ip saddr @hairpin masquerade\n", t)
	fmt.Fprintf(&s, "add rule %s nat-postrouting ip6 daddr . meta l4proto . th dport . ip6 saddr @hairpin6 masquerade\n", t)
	fmt.Fprintf(&s, "add rule %s nat-postrouting meta mark & 0x4000 == 0 return\n", t)
	fmt.Fprintf(&s, "add rule %s nat-postrouting meta mark set meta mark ^ 0x4000\n", t)
	fmt.Fprintf(&s, "add rule %s nat-postrouting masquerade fully-random\n", t)
	elems := map[string][]string{}
	seenNP := map[string]bool{}
	seenHairpin := map[string]bool{}
	for _, key := range sortedKeys(want) {
		vs := want[key]
		for _, r := range vs.reals {
			set := "hairpin"
			if r.Addr().Is6() {
				set = "hairpin6"
			}
			e := fmt.Sprintf("%s . %s . %d . %s", r.Addr(), vs.proto.Lower(), r.Port(), r.Addr())
			if !seenHairpin[e] {
				seenHairpin[e] = true
				elems[set] = append(elems[set], e)
			}
		}
		switch {
		case vs.nodePort && vs.masquerade:
			e := fmt.Sprintf("%s . %d", vs.proto.Lower(), vs.port)
			if !seenNP[e] {
				seenNP[e] = true
				elems["node-ports"] = append(elems["node-ports"], e)
			}
		case !vs.nodePort:
			set := "cluster-ips"
			if vs.addr.Is6() {
				set = "cluster-ips6"
			}
			elems[set] = append(elems[set], fmt.Sprintf("%s . %s . %d", vs.addr, vs.proto.Lower(), vs.port))
		}
	}
	n, hairpin := 0, 0
	for _, st := range sets {
		if len(elems[st.name]) > 0 {
			fmt.Fprintf(&s, "add element %s %s { %s }\n", t, st.name, strings.Join(elems[st.name], ", "))
			if strings.HasPrefix(st.name, "hairpin") {
				hairpin += len(elems[st.name])
			} else {
				n += len(elems[st.name])
			}
		}
	}
	return s.String(), n, hairpin
}

// Cleanup removes the backend's virtual servers (those on the dummy interface's addresses and node
// ports on node addresses), the dummy interface and the masquerade table.
func (b *Backend) Cleanup(ctx context.Context) error {
	var errs []error
	k := b.cfg.Kernel
	bound, _ := k.Addresses(b.cfg.Interface)
	nodeIPs, _ := b.nodeIPs()
	ours := map[netip.Addr]bool{}
	for _, ip := range bound {
		ours[ip] = true
	}
	if current, err := k.Services(); err == nil {
		for _, s := range current {
			addr, _ := netip.AddrFromSlice(s.Address)
			addr = addr.Unmap()
			np := int(s.Port) >= b.cfg.NodePortMin && int(s.Port) <= b.cfg.NodePortMax && slices.Contains(nodeIPs, addr)
			if ours[addr] || np {
				if err := k.DelService(s); err != nil {
					errs = append(errs, fmt.Errorf("deleting virtual server %s:%d: %w", net.IP(s.Address), s.Port, err))
				}
			}
		}
	}
	if err := k.DeleteDummy(b.cfg.Interface); err != nil {
		errs = append(errs, fmt.Errorf("deleting %s: %w", b.cfg.Interface, err))
	}
	t := "inet " + b.cfg.Table
	if _, err := b.cfg.Runner.Run(ctx, []byte("add table "+t+"\ndelete table "+t+"\n"), "nft", "-f", "-"); err != nil {
		errs = append(errs, fmt.Errorf("deleting table %s: %w", t, err))
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]*virtualServer) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
