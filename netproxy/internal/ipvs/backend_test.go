package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/skiffhq/skiff/netproxy/internal/netnstest"
	"github.com/skiffhq/skiff/netproxy/internal/nftables"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// fakeIPVS stands in for the kernel's IPVS netlink family, which this machine's kernel does not have
// (no IP_VS). It keeps virtual servers, real servers and interface addresses in memory, as the kernel
// would, so the tests can check exactly what the backend asks the kernel for. Everything above the
// Kernel interface, including the nftables masquerade table, is real.
type fakeIPVS struct {
	services map[string]*ipvs.Service
	dests    map[string]map[string]*ipvs.Destination
	addrs    map[netip.Addr]bool
	dummy    bool
	nodeIPs  []netip.Addr
	calls    []string
}

func newFakeIPVS(nodeIPs ...string) *fakeIPVS {
	f := &fakeIPVS{services: map[string]*ipvs.Service{}, dests: map[string]map[string]*ipvs.Destination{}, addrs: map[netip.Addr]bool{}}
	for _, ip := range nodeIPs {
		f.nodeIPs = append(f.nodeIPs, netip.MustParseAddr(ip))
	}
	return f
}

func fkey(s *ipvs.Service) string {
	ip, _ := netip.AddrFromSlice(s.Address)
	return vsKey(ip.Unmap(), protoName(s.Protocol), s.Port)
}

func dkey(d *ipvs.Destination) string {
	ip, _ := netip.AddrFromSlice(d.Address)
	return netip.AddrPortFrom(ip.Unmap(), d.Port).String()
}

func (f *fakeIPVS) Services() ([]*ipvs.Service, error) {
	var out []*ipvs.Service
	for _, s := range f.services {
		c := *s
		out = append(out, &c)
	}
	return out, nil
}
func (f *fakeIPVS) NewService(s *ipvs.Service) error {
	if _, ok := f.services[fkey(s)]; ok {
		return syscall.EEXIST
	}
	c := *s
	f.services[fkey(s)] = &c
	f.dests[fkey(s)] = map[string]*ipvs.Destination{}
	f.calls = append(f.calls, "add "+fkey(s))
	return nil
}
func (f *fakeIPVS) UpdateService(s *ipvs.Service) error {
	if _, ok := f.services[fkey(s)]; !ok {
		return syscall.ENOENT
	}
	c := *s
	f.services[fkey(s)] = &c
	f.calls = append(f.calls, "update "+fkey(s))
	return nil
}
func (f *fakeIPVS) DelService(s *ipvs.Service) error {
	if _, ok := f.services[fkey(s)]; !ok {
		return syscall.ENOENT
	}
	delete(f.services, fkey(s))
	delete(f.dests, fkey(s))
	f.calls = append(f.calls, "delete "+fkey(s))
	return nil
}
func (f *fakeIPVS) Destinations(s *ipvs.Service) ([]*ipvs.Destination, error) {
	var out []*ipvs.Destination
	for _, d := range f.dests[fkey(s)] {
		c := *d
		out = append(out, &c)
	}
	return out, nil
}
func (f *fakeIPVS) NewDestination(s *ipvs.Service, d *ipvs.Destination) error {
	m, ok := f.dests[fkey(s)]
	if !ok {
		return syscall.ENOENT
	}
	if _, dup := m[dkey(d)]; dup {
		return syscall.EEXIST
	}
	c := *d
	m[dkey(d)] = &c
	return nil
}
func (f *fakeIPVS) UpdateDestination(s *ipvs.Service, d *ipvs.Destination) error {
	c := *d
	f.dests[fkey(s)][dkey(d)] = &c
	return nil
}
func (f *fakeIPVS) DelDestination(s *ipvs.Service, d *ipvs.Destination) error {
	if _, ok := f.dests[fkey(s)][dkey(d)]; !ok {
		return syscall.ENOENT
	}
	delete(f.dests[fkey(s)], dkey(d))
	return nil
}
func (f *fakeIPVS) EnsureDummy(string) error { f.dummy = true; return nil }
func (f *fakeIPVS) DeleteDummy(string) error {
	f.dummy = false
	f.addrs = map[netip.Addr]bool{}
	return nil
}
func (f *fakeIPVS) Addresses(string) ([]netip.Addr, error) {
	var out []netip.Addr
	for a := range f.addrs {
		out = append(out, a)
	}
	return out, nil
}
func (f *fakeIPVS) AddAddress(_ string, ip netip.Addr) error { f.addrs[ip] = true; return nil }
func (f *fakeIPVS) DelAddress(_ string, ip netip.Addr) error { delete(f.addrs, ip); return nil }
func (f *fakeIPVS) NodeAddresses(string) ([]netip.Addr, error) {
	return f.nodeIPs, nil
}

// state renders the fake kernel: "tcp/10.96.0.5/80 rr [10.244.0.2:8080 ...]" lines, sorted.
func (f *fakeIPVS) state() []string {
	var out []string
	for k, s := range f.services {
		var ds []string
		for d := range f.dests[k] {
			ds = append(ds, d)
		}
		slices.Sort(ds)
		line := fmt.Sprintf("%s %s %v", k, s.SchedName, ds)
		if s.Flags&ipvsPersistent != 0 {
			line += fmt.Sprintf(" persistent %ds", s.Timeout)
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

type fixture struct {
	t     *testing.T
	node  *netnstest.Node
	k     *fakeIPVS
	b     *Backend
	store *proxy.Store
}

func newFixture(t *testing.T, scheduler string) *fixture {
	netnstest.Require(t)
	node := netnstest.NewNode(t, "192.168.77.2")
	k := newFakeIPVS("192.168.77.2")
	b, err := New(Config{Scheduler: scheduler, Kernel: k, ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Runner: nftables.ExecRunner{Prefix: node.Prefix()}})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, node: node, k: k, b: b, store: proxy.NewStore("n1")}
}

func (f *fixture) sync() proxy.RuleCounts {
	f.t.Helper()
	c, err := f.b.Sync(context.Background(), f.store.Snapshot(), false)
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return c
}

func (f *fixture) service(name, vip string, mut ...func(*proxy.Service)) {
	s := &proxy.Service{Key: proxy.ServiceKey{Namespace: "default", Name: name}, ClusterIPs: []netip.Addr{netip.MustParseAddr(vip)},
		Ports: []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80, NodePort: 30080}}}
	for _, m := range mut {
		m(s)
	}
	f.store.UpsertService(s)
}

func (f *fixture) endpoints(name string, ips ...string) {
	sl := &proxy.EndpointSlice{Key: proxy.EndpointSliceKey{Namespace: "default", Name: name + "-1"}, Service: proxy.ServiceKey{Namespace: "default", Name: name},
		AddressType: proxy.IPv4, Ports: []proxy.EndpointPort{{Name: "http", Protocol: proxy.TCP, Port: 8080}}}
	for _, ip := range ips {
		ready := !strings.HasPrefix(ip, "!")
		sl.Endpoints = append(sl.Endpoints, proxy.Endpoint{Addresses: []netip.Addr{netip.MustParseAddr(strings.TrimPrefix(ip, "!"))}, Ready: ready, Serving: ready, NodeName: "n1"})
	}
	f.store.UpsertSlice(sl)
}

func TestVirtualServersForClusterIPsAndNodePorts(t *testing.T) {
	f := newFixture(t, "")
	f.service("web", "10.96.0.5")
	f.endpoints("web", "10.244.0.2", "10.244.0.3", "!10.244.0.4")
	counts := f.sync()
	want := []string{
		"tcp/10.96.0.5/80 rr [10.244.0.2:8080 10.244.0.3:8080]",
		"tcp/192.168.77.2/30080 rr [10.244.0.2:8080 10.244.0.3:8080]",
	}
	if got := f.k.state(); !slices.Equal(got, want) {
		t.Fatalf("kernel has\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !f.k.dummy || !f.k.addrs[netip.MustParseAddr("10.96.0.5")] || len(f.k.addrs) != 1 {
		t.Fatalf("dummy interface %v with %v, want up with only the cluster IP", f.k.dummy, f.k.addrs)
	}
	if counts["virtual_servers"] != 2 || counts["real_servers"] != 4 || counts["masquerade_set_elements"] != 2 {
		t.Fatalf("counts %v", counts)
	}
}

func TestSchedulersAndAffinity(t *testing.T) {
	for _, sched := range Schedulers {
		t.Run(sched, func(t *testing.T) {
			f := newFixture(t, sched)
			f.service("web", "10.96.0.5", func(s *proxy.Service) {
				s.AffinityClientIP = true
				s.AffinityTimeout = 30 * time.Minute
				s.Ports[0].NodePort = 0
			})
			f.endpoints("web", "10.244.0.2")
			f.sync()
			want := []string{fmt.Sprintf("tcp/10.96.0.5/80 %s [10.244.0.2:8080] persistent 1800s", sched)}
			if got := f.k.state(); !slices.Equal(got, want) {
				t.Fatalf("kernel has %v, want %v", got, want)
			}
		})
	}
	if _, err := New(Config{Scheduler: "fifo", Kernel: newFakeIPVS()}); err == nil || !strings.Contains(err.Error(), "rr, wrr, lc, sh") {
		t.Fatalf("unknown scheduler: err %v, want a list of the valid ones", err)
	}
}

func TestReconcileChangesDeletionsAndDrift(t *testing.T) {
	f := newFixture(t, "")
	// Leftovers of an earlier run: a virtual server on a bound address no Service has any more, and
	// one that belongs to someone else (not on our interface, not a node port).
	left := &ipvs.Service{Address: netip.MustParseAddr("10.96.0.99").AsSlice(), Protocol: syscall.IPPROTO_TCP, Port: 80, SchedName: "rr"}
	foreign := &ipvs.Service{Address: netip.MustParseAddr("172.16.0.1").AsSlice(), Protocol: syscall.IPPROTO_TCP, Port: 443, SchedName: "rr"}
	_ = f.k.NewService(left)
	_ = f.k.NewService(foreign)
	f.k.addrs[netip.MustParseAddr("10.96.0.99")] = true

	f.service("web", "10.96.0.5", func(s *proxy.Service) { s.Ports[0].NodePort = 0 })
	f.endpoints("web", "10.244.0.2")
	f.sync()
	want := []string{"tcp/10.96.0.5/80 rr [10.244.0.2:8080]", "tcp/172.16.0.1/443 rr []"}
	if got := f.k.state(); !slices.Equal(got, want) {
		t.Fatalf("after adopting: %v, want %v", got, want)
	}
	if f.k.addrs[netip.MustParseAddr("10.96.0.99")] {
		t.Fatal("stale address still bound")
	}

	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"endpoints replaced", func() { f.endpoints("web", "10.244.0.3", "10.244.0.4") },
			[]string{"tcp/10.96.0.5/80 rr [10.244.0.3:8080 10.244.0.4:8080]", "tcp/172.16.0.1/443 rr []"}},
		{"a virtual server deleted by hand comes back", func() {
			_ = f.k.DelService(f.b.spec(&virtualServer{addr: netip.MustParseAddr("10.96.0.5"), proto: proxy.TCP, port: 80}))
		},
			[]string{"tcp/10.96.0.5/80 rr [10.244.0.3:8080 10.244.0.4:8080]", "tcp/172.16.0.1/443 rr []"}},
		{"no endpoints leaves an empty virtual server (the kernel rejects)", func() { f.endpoints("web") },
			[]string{"tcp/10.96.0.5/80 rr []", "tcp/172.16.0.1/443 rr []"}},
		{"deleting the Service removes it", func() { f.store.DeleteService(proxy.ServiceKey{Namespace: "default", Name: "web"}) },
			[]string{"tcp/172.16.0.1/443 rr []"}},
	}
	for _, st := range steps {
		st.change()
		f.sync()
		if got := f.k.state(); !slices.Equal(got, st.want) {
			t.Fatalf("%s: kernel has %v, want %v", st.name, got, st.want)
		}
	}
	if len(f.k.addrs) != 0 {
		t.Fatalf("addresses left bound: %v", f.k.addrs)
	}
	before := len(f.k.calls)
	f.sync()
	if len(f.k.calls) != before {
		t.Fatalf("a sync without changes called the kernel: %v", f.k.calls[before:])
	}
	if err := f.b.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.k.dummy {
		t.Fatal("cleanup left the dummy interface")
	}
}

func TestAvailableSaysWhyInOneLine(t *testing.T) {
	err := Available(context.Background())
	if _, statErr := os.Stat("/proc/net/ip_vs"); statErr == nil {
		if err != nil {
			t.Fatalf("kernel has IP_VS but Available says %v", err)
		}
		return
	}
	if !errors.Is(err, ErrNoIPVS) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--mode=nftables") {
		t.Fatalf("on a kernel without IP_VS: got %q, want one line wrapping ErrNoIPVS that names --mode=nftables", err)
	}
	t.Log(err)
}

func TestHairpinTrafficIsMasqueraded(t *testing.T) {
	f := newFixture(t, "")
	f.service("web", "10.96.0.5")
	f.endpoints("web", "10.244.0.2", "10.244.0.3", "!10.244.0.4")
	counts := f.sync()
	if counts["hairpin_set_elements"] != 2 {
		t.Fatalf("hairpin_set_elements = %d, want 2 (one per usable real server)", counts["hairpin_set_elements"])
	}
	table := f.node.Run("nft", "list", "table", "inet", DefaultTable)
	for _, want := range []string{
		"ip daddr . meta l4proto . th dport . ip saddr @hairpin masquerade",
		"10.244.0.2 . tcp . 8080 . 10.244.0.2",
		"10.244.0.3 . tcp . 8080 . 10.244.0.3",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("masquerade table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "10.244.0.4 . tcp") {
		t.Errorf("an unready endpoint is in the hairpin set:\n%s", table)
	}
	// The endpoints go away: so do their hairpin elements.
	f.endpoints("web")
	f.sync()
	if table := f.node.Run("nft", "list", "table", "inet", DefaultTable); strings.Contains(table, "10.244.0.2 . tcp") {
		t.Errorf("hairpin element left after its endpoint went away:\n%s", table)
	}
}
