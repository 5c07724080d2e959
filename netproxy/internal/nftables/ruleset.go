package nftables

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// Names of the table's fixed objects. Per-service chains are named service-, local-, external- and
// endpoint-<hash>-<readable part>, session-affinity sets affinity-<hash>.
const (
	chainServices       = "services"
	chainMarkMasq       = "mark-for-masquerade"
	chainMasquerading   = "masquerading"
	chainReject         = "reject-chain"
	chainSvcEPCheck     = "service-endpoints-check"
	chainNodePortEPChek = "nodeport-endpoints-check"
	setNodePortIPs      = "nodeport-ips"
	mapServiceIPs       = "service-ips"
	mapServiceNodePorts = "service-nodeports"
	mapNoEPServices     = "no-endpoint-services"
	mapNoEPNodePorts    = "no-endpoint-nodeports"
	prefixAffinity      = "affinity-"
)

// ipFamily holds the spelling of one address family in nft syntax.
type ipFamily struct {
	v6       bool
	ip       string // "ip" or "ip6"
	addrType string // "ipv4_addr" or "ipv6_addr"
	suffix   string // appended to map names: "" or "6"
	loopback string
}

var families = []ipFamily{
	{v6: false, ip: "ip", addrType: "ipv4_addr", suffix: "", loopback: "127.0.0.0/8"},
	{v6: true, ip: "ip6", addrType: "ipv6_addr", suffix: "6", loopback: "::1"},
}

func familyOf(a netip.Addr) ipFamily {
	if a.Is4() {
		return families[0]
	}
	return families[1]
}

// chain is one regular chain and its rules (without the "add rule <table> <chain>" prefix).
type chain struct {
	name  string
	rules []string
}

// element is one map element: key and verdict.
type element struct {
	m     string
	key   string
	value string
}

// affinitySet is a per-endpoint set of client addresses with a timeout.
type affinitySet struct {
	name           string
	decl           string // in nft syntax, for full syncs
	v6             bool
	timeoutSeconds int
}

// fragment is everything one Service contributes to the table.
type fragment struct {
	chains []chain
	elems  []element
	sets   []affinitySet
}

func (f *fragment) ruleCount() int {
	n := 0
	for _, c := range f.chains {
		n += len(c.rules)
	}
	return n
}

// hashName returns kube-proxy-style chain names: a short hash that makes the name unique, then a
// readable part limited to nft's identifier characters.
func hashName(prefix, id string) string {
	sum := sha256.Sum256([]byte(id))
	h := base32.StdEncoding.EncodeToString(sum[:])[:8]
	readable := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '/', r == '_', r == '.', r == '-':
			return r
		}
		return '_'
	}, id)
	if len(readable) > 180 {
		readable = readable[:180]
	}
	return prefix + h + "-" + readable
}

// serviceFragment computes the chains, map elements and affinity sets of one Service.
func (b *Backend) serviceFragment(snap *proxy.Snapshot, svc *proxy.Service) *fragment {
	f := &fragment{}
	if svc.Headless || svc.ExternalName != "" {
		return f
	}
	for _, fam := range families {
		var vips, extIPs []netip.Addr
		for _, ip := range svc.ClusterIPs {
			if familyOf(ip) == fam {
				vips = append(vips, ip)
			}
		}
		for _, ip := range svc.ExternalIPs {
			if familyOf(ip) == fam {
				extIPs = append(extIPs, ip)
			}
		}
		if len(vips) == 0 {
			continue // no VIP of this family: the Service is not programmed in it (node ports follow VIPs)
		}
		for _, port := range svc.Ports {
			b.servicePort(f, fam, snap, svc, port, vips, extIPs)
		}
	}
	return f
}

func (b *Backend) servicePort(f *fragment, fam ipFamily, snap *proxy.Snapshot, svc *proxy.Service, port proxy.ServicePort, vips, extIPs []netip.Addr) {
	var eps []proxy.EndpointAddr
	for _, e := range snap.Endpoints(svc, port) {
		if familyOf(e.IP) == fam {
			eps = append(eps, e)
		}
	}
	sel := proxy.Select(eps)
	proto := port.Protocol.Lower()
	if proto == "" {
		proto = "tcp"
	}
	spn := proxy.ServicePortName(svc.Key, port)
	if fam.v6 {
		spn += "/ip6"
	}
	clusterChain := hashName("service-", spn)
	localChain := hashName("local-", spn)
	externalChain := hashName("external-", spn)
	hasExternal := port.NodePort != 0 || len(extIPs) > 0
	needLocal := (svc.InternalLocal || svc.ExternalLocal) && len(sel.Local) > 0

	// Endpoint chains, shared by the cluster and local policy chains.
	epChains := map[netip.AddrPort]string{}
	affSets := map[netip.AddrPort]string{}
	addEndpoint := func(e proxy.EndpointAddr) {
		ap := e.AddrPort()
		if _, ok := epChains[ap]; ok {
			return
		}
		id := spn + "__" + e.IP.String() + "/" + fmt.Sprint(e.Port)
		name := hashName("endpoint-", id)
		epChains[ap] = name
		rules := []string{fmt.Sprintf("%s saddr %s jump %s", fam.ip, e.IP, chainMarkMasq)}
		if svc.AffinityClientIP {
			timeout := svc.AffinityTimeout
			if timeout <= 0 {
				timeout = proxy.DefaultAffinityTimeout
			}
			// The timeout is part of the set's identity: changing it makes a new set.
			set := hashName(prefixAffinity, fmt.Sprintf("%s/%ds", id, int(timeout.Seconds())))
			affSets[ap] = set
			f.sets = append(f.sets, affinitySet{name: set, v6: fam.v6, timeoutSeconds: int(timeout.Seconds()),
				decl: fmt.Sprintf("{ type %s; flags dynamic,timeout; timeout %ds; }", fam.addrType, int(timeout.Seconds()))})
			rules = append(rules, fmt.Sprintf("update @%s { %s saddr }", set, fam.ip))
		}
		to := e.IP.String()
		if fam.v6 {
			to = "[" + to + "]"
		}
		rules = append(rules, fmt.Sprintf("meta l4proto %s dnat %s to %s:%d", proto, fam.ip, to, e.Port))
		f.chains = append(f.chains, chain{name: name, rules: rules})
	}
	for _, e := range sel.Cluster {
		addEndpoint(e)
	}
	if needLocal {
		for _, e := range sel.Local {
			addEndpoint(e)
		}
	}

	// A policy chain: masquerade off-cluster clients of the VIP, honour affinity, then pick an endpoint.
	policyChain := func(name string, eps []proxy.EndpointAddr) {
		var rules []string
		for _, vip := range vips {
			for _, cidr := range b.cfg.ClusterCIDRs {
				if cidr.Addr().Is4() == !fam.v6 {
					rules = append(rules, fmt.Sprintf("%s daddr %s %s dport %d %s saddr != %s jump %s", fam.ip, vip, proto, port.Port, fam.ip, cidr, chainMarkMasq))
				}
			}
			if b.cfg.MasqueradeAll {
				rules = append(rules, fmt.Sprintf("%s daddr %s %s dport %d jump %s", fam.ip, vip, proto, port.Port, chainMarkMasq))
			}
		}
		if svc.AffinityClientIP {
			for _, e := range eps {
				rules = append(rules, fmt.Sprintf("%s saddr @%s goto %s", fam.ip, affSets[e.AddrPort()], epChains[e.AddrPort()]))
			}
		}
		// Uniform random choice without a set: rule i picks endpoint i with probability 1/(n-i), the
		// last rule takes what is left, so each endpoint gets 1/n. (An anonymous numgen vmap per Service
		// would do the same, but the kernel binds each anonymous set by walking the whole transaction,
		// which makes a full sync quadratic in the number of Services.)
		for i, e := range eps[:len(eps)-1] {
			rules = append(rules, fmt.Sprintf("numgen random mod %d == 0 goto %s", len(eps)-i, epChains[e.AddrPort()]))
		}
		rules = append(rules, "goto "+epChains[eps[len(eps)-1].AddrPort()])
		f.chains = append(f.chains, chain{name: name, rules: rules})
	}
	if len(sel.Cluster) > 0 {
		policyChain(clusterChain, sel.Cluster)
	}
	if needLocal {
		policyChain(localChain, sel.Local)
	}

	// External traffic (node ports, external IPs).
	haveExternalChain := false
	if hasExternal && len(sel.Cluster) > 0 {
		haveExternalChain = true
		var rules []string
		if !svc.ExternalLocal {
			rules = []string{"jump " + chainMarkMasq, "goto " + clusterChain}
		} else {
			// Pods and the node itself reach a Local service through the cluster chain (as kube-proxy
			// does); clients elsewhere keep their source address and reach local endpoints only.
			for _, cidr := range b.cfg.ClusterCIDRs {
				if cidr.Addr().Is4() == !fam.v6 {
					rules = append(rules, fmt.Sprintf("%s saddr %s goto %s", fam.ip, cidr, clusterChain))
				}
			}
			rules = append(rules, "fib saddr type local jump "+chainMarkMasq, "fib saddr type local goto "+clusterChain)
			if len(sel.Local) > 0 {
				rules = append(rules, "goto "+localChain)
			} else {
				rules = append(rules, "drop")
			}
		}
		f.chains = append(f.chains, chain{name: externalChain, rules: rules})
	}

	// Map elements: where each VIP/node port goes, or that it has no endpoints and is rejected.
	internal := ""
	switch {
	case len(sel.Cluster) == 0:
	case svc.InternalLocal && len(sel.Local) == 0:
		internal = "drop"
	case svc.InternalLocal:
		internal = "goto " + localChain
	default:
		internal = "goto " + clusterChain
	}
	for _, vip := range vips {
		key := fmt.Sprintf("%s . %s . %d", vip, proto, port.Port)
		if internal == "" {
			f.elems = append(f.elems, element{m: mapNoEPServices + fam.suffix, key: key, value: "goto " + chainReject})
		} else {
			f.elems = append(f.elems, element{m: mapServiceIPs + fam.suffix, key: key, value: internal})
		}
	}
	for _, ip := range extIPs {
		key := fmt.Sprintf("%s . %s . %d", ip, proto, port.Port)
		if haveExternalChain {
			f.elems = append(f.elems, element{m: mapServiceIPs + fam.suffix, key: key, value: "goto " + externalChain})
		} else {
			f.elems = append(f.elems, element{m: mapNoEPServices + fam.suffix, key: key, value: "goto " + chainReject})
		}
	}
	if port.NodePort != 0 {
		key := fmt.Sprintf("%s . %d", proto, port.NodePort)
		if haveExternalChain {
			f.elems = append(f.elems, element{m: mapServiceNodePorts + fam.suffix, key: key, value: "goto " + externalChain})
		} else {
			f.elems = append(f.elems, element{m: mapNoEPNodePorts + fam.suffix, key: key, value: "goto " + chainReject})
		}
	}
}

// baseChain is a chain attached to a netfilter hook.
type baseChain struct {
	name  string
	spec  string
	rules []string
}

// base returns the table's fixed chains with their rules, the verdict maps and the node port address sets.
func (b *Backend) base() (hooks []baseChain, regular []chain, decls []string) {
	hooks = []baseChain{
		{"nat-prerouting", "type nat hook prerouting priority dstnat; policy accept;", []string{"jump " + chainServices}},
		{"nat-output", "type nat hook output priority -100; policy accept;", []string{"jump " + chainServices}},
		{"nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;", []string{"jump " + chainMasquerading}},
		{"filter-input", "type filter hook input priority -110; policy accept;", []string{"ct state new jump " + chainNodePortEPChek, "ct state new jump " + chainSvcEPCheck}},
		{"filter-forward", "type filter hook forward priority -110; policy accept;", []string{"ct state new jump " + chainSvcEPCheck}},
		{"filter-output", "type filter hook output priority -110; policy accept;", []string{"ct state new jump " + chainSvcEPCheck, "ct state new jump " + chainNodePortEPChek}},
	}
	var svcRules, svcCheck, npCheck []string
	for _, fam := range families {
		svcRules = append(svcRules, fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s%s", fam.ip, mapServiceIPs, fam.suffix))
		svcCheck = append(svcCheck, fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s%s", fam.ip, mapNoEPServices, fam.suffix))
		// Node ports answer on local addresses only (never loopback: DNAT from 127.0.0.1 is not routable),
		// restricted to --nodeport-addresses when given.
		match := fmt.Sprintf("fib daddr type local %s daddr != %s", fam.ip, fam.loopback)
		if len(b.cfg.NodePortAddresses) > 0 {
			match = fmt.Sprintf("fib daddr type local %s daddr @%s%s", fam.ip, setNodePortIPs, fam.suffix)
		}
		svcRules = append(svcRules, fmt.Sprintf("%s meta l4proto . th dport vmap @%s%s", match, mapServiceNodePorts, fam.suffix))
		npCheck = append(npCheck, fmt.Sprintf("%s meta l4proto . th dport vmap @%s%s", match, mapNoEPNodePorts, fam.suffix))
	}
	mark := fmt.Sprintf("0x%x", b.cfg.MasqueradeMark)
	regular = []chain{
		{chainServices, svcRules},
		{chainSvcEPCheck, svcCheck},
		{chainNodePortEPChek, npCheck},
		{chainMarkMasq, []string{"meta mark set meta mark | " + mark}},
		{chainMasquerading, []string{
			fmt.Sprintf("meta mark & %s == 0 return", mark),
			"meta mark set meta mark ^ " + mark,
			"masquerade fully-random",
		}},
		{chainReject, []string{"meta l4proto tcp reject with tcp reset", "reject with icmpx type port-unreachable"}},
	}
	for _, fam := range families {
		decls = append(decls,
			fmt.Sprintf("map %s%s { type %s . inet_proto . inet_service : verdict; }", mapServiceIPs, fam.suffix, fam.addrType),
			fmt.Sprintf("map %s%s { type %s . inet_proto . inet_service : verdict; }", mapNoEPServices, fam.suffix, fam.addrType),
			fmt.Sprintf("map %s%s { type inet_proto . inet_service : verdict; }", mapServiceNodePorts, fam.suffix),
			fmt.Sprintf("map %s%s { type inet_proto . inet_service : verdict; }", mapNoEPNodePorts, fam.suffix),
			fmt.Sprintf("set %s%s { type %s; flags interval; }", setNodePortIPs, fam.suffix, fam.addrType),
		)
	}
	return hooks, regular, decls
}
