package nftables

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// These tests check the rules computed for one Service without touching the kernel; the integration
// tests check the same rules move real packets.

func snapshotOf(svc *proxy.Service, eps ...proxy.Endpoint) *proxy.Snapshot {
	return &proxy.Snapshot{
		NodeName: "n1",
		Services: map[proxy.ServiceKey]*proxy.Service{svc.Key: svc},
		Slices: map[proxy.ServiceKey][]*proxy.EndpointSlice{svc.Key: {{
			Key: proxy.EndpointSliceKey{Namespace: "ns", Name: "web-1"}, Service: svc.Key, AddressType: proxy.IPv4,
			Ports: []proxy.EndpointPort{{Name: "http", Protocol: proxy.TCP, Port: 8080}}, Endpoints: eps,
		}}},
	}
}

func readyEP(ip, node string) proxy.Endpoint {
	return proxy.Endpoint{Addresses: []netip.Addr{netip.MustParseAddr(ip)}, Ready: true, Serving: true, NodeName: node}
}

func render(f *fragment) string {
	var s strings.Builder
	for _, c := range f.chains {
		s.WriteString("chain " + c.name + "\n")
		for _, r := range c.rules {
			s.WriteString("  " + r + "\n")
		}
	}
	for _, e := range f.elems {
		s.WriteString("element " + e.m + " " + e.key + " : " + e.value + "\n")
	}
	for _, st := range f.sets {
		s.WriteString("set " + st.name + " " + st.decl + "\n")
	}
	return s.String()
}

func TestServiceFragment(t *testing.T) {
	base := func(mut func(*proxy.Service)) *proxy.Service {
		s := &proxy.Service{
			Key:        proxy.ServiceKey{Namespace: "ns", Name: "web"},
			ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.5")},
			Ports:      []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80, NodePort: 30080}},
		}
		if mut != nil {
			mut(s)
		}
		return s
	}
	for _, tc := range []struct {
		name        string
		svc         *proxy.Service
		eps         []proxy.Endpoint
		want, avoid []string
	}{
		{"ready endpoints are chosen at random and DNATed to the slice's port",
			base(nil), []proxy.Endpoint{readyEP("10.244.0.2", "n1"), readyEP("10.244.0.3", "n2")},
			[]string{"numgen random mod 2 == 0 goto endpoint-", "meta l4proto tcp dnat ip to 10.244.0.2:8080", "meta l4proto tcp dnat ip to 10.244.0.3:8080",
				"element service-ips 10.96.0.5 . tcp . 80 : goto service-", "element service-nodeports tcp . 30080 : goto external-",
				"ip daddr 10.96.0.5 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade", "ip saddr 10.244.0.2 jump mark-for-masquerade"},
			[]string{"reject-chain", "affinity"}},
		{"a Service without endpoints is rejected on its VIP and node port",
			base(nil), nil,
			[]string{"element no-endpoint-services 10.96.0.5 . tcp . 80 : goto reject-chain", "element no-endpoint-nodeports tcp . 30080 : goto reject-chain"},
			[]string{"chain "}},
		{"headless Services get no rules",
			base(func(s *proxy.Service) { s.Headless = true; s.ClusterIPs = nil }), []proxy.Endpoint{readyEP("10.244.0.2", "n1")},
			nil, []string{"chain ", "element "}},
		{"ClientIP affinity remembers clients per endpoint with the timeout",
			base(func(s *proxy.Service) { s.AffinityClientIP = true; s.AffinityTimeout = 600_000_000_000 }), []proxy.Endpoint{readyEP("10.244.0.2", "n1")},
			[]string{"flags dynamic,timeout; timeout 600s;", "update @affinity-", "ip saddr @affinity-"}, nil},
		{"internalTrafficPolicy Local with no local endpoint drops cluster IP traffic",
			base(func(s *proxy.Service) { s.InternalLocal = true }), []proxy.Endpoint{readyEP("10.244.0.3", "n2")},
			[]string{"element service-ips 10.96.0.5 . tcp . 80 : drop", "element service-nodeports tcp . 30080 : goto external-"}, []string{"chain local-"}},
		{"externalTrafficPolicy Local keeps source addresses and drops when no endpoint is local",
			base(func(s *proxy.Service) { s.ExternalLocal = true }), []proxy.Endpoint{readyEP("10.244.0.3", "n2")},
			[]string{"ip saddr 10.244.0.0/16 goto service-", "fib saddr type local jump mark-for-masquerade", "\n  drop\n"}, nil},
		{"externalTrafficPolicy Local sends off-node clients to local endpoints",
			base(func(s *proxy.Service) { s.ExternalLocal = true }), []proxy.Endpoint{readyEP("10.244.0.2", "n1"), readyEP("10.244.0.3", "n2")},
			[]string{"chain local-", "goto local-"}, []string{"\n  drop\n"}},
		{"external IPs go through the external chain",
			base(func(s *proxy.Service) { s.ExternalIPs = []netip.Addr{netip.MustParseAddr("192.0.2.7")} }), []proxy.Endpoint{readyEP("10.244.0.2", "n1")},
			[]string{"element service-ips 192.0.2.7 . tcp . 80 : goto external-"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}})
			got := render(b.serviceFragment(snapshotOf(tc.svc, tc.eps...), tc.svc))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in\n%s", w, got)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(got, a) {
					t.Errorf("unexpected %q in\n%s", a, got)
				}
			}
		})
	}
}

func TestConflictingKeysKeepOneOwner(t *testing.T) {
	b := New(Config{})
	mk := func(name, vip string) *proxy.Service {
		return &proxy.Service{Key: proxy.ServiceKey{Namespace: "ns", Name: name}, ClusterIPs: []netip.Addr{netip.MustParseAddr(vip)},
			Ports: []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80}}}
	}
	snap := &proxy.Snapshot{Services: map[proxy.ServiceKey]*proxy.Service{}}
	a, z := proxy.ServiceKey{Namespace: "ns", Name: "a"}, proxy.ServiceKey{Namespace: "ns", Name: "z"}
	steps := []struct {
		name         string
		services     []*proxy.Service
		wantA, wantZ int // map elements each keeps
	}{
		{"distinct VIPs", []*proxy.Service{mk("a", "10.96.0.5"), mk("z", "10.96.0.6")}, 1, 1},
		{"z takes a's VIP: the first in name order keeps it", []*proxy.Service{mk("a", "10.96.0.5"), mk("z", "10.96.0.5")}, 1, 0},
		{"a is deleted: z gets the VIP", []*proxy.Service{mk("z", "10.96.0.5")}, 0, 1},
		{"a comes back with the VIP z holds: a keeps it again", []*proxy.Service{mk("a", "10.96.0.5"), mk("z", "10.96.0.5")}, 1, 0},
		{"z moves away: both have theirs", []*proxy.Service{mk("a", "10.96.0.5"), mk("z", "10.96.0.7")}, 1, 1},
	}
	for _, st := range steps {
		snap = &proxy.Snapshot{Services: map[proxy.ServiceKey]*proxy.Service{}}
		for _, s := range st.services {
			snap.Services[s.Key] = s
		}
		b.fragments(snap)
		if got := len(b.desired[a].elemsOrNil()); got != st.wantA {
			t.Errorf("%s: a has %d map elements, want %d", st.name, got, st.wantA)
		}
		if got := len(b.desired[z].elemsOrNil()); got != st.wantZ {
			t.Errorf("%s: z has %d map elements, want %d", st.name, got, st.wantZ)
		}
	}
}

func (f *fragment) elemsOrNil() []element {
	if f == nil {
		return nil
	}
	return f.elems
}
