package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netproxy/internal/netnstest"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// These tests program the real kernel, inside a private network namespace per test: a node namespace
// with a dummy uplink (no route off the machine) and pod namespaces wired to it by veth pairs. Traffic
// goes only to VIPs and node ports inside those namespaces.

const nodeName = "node-a"

type cluster struct {
	t     *testing.T
	node  *netnstest.Node
	pods  map[string]*netnstest.Pod
	store *proxy.Store
	b     *Backend
}

func newCluster(t *testing.T, pods ...string) *cluster {
	netnstest.Require(t)
	c := &cluster{t: t, node: netnstest.NewNode(t, "192.168.77.2"), pods: map[string]*netnstest.Pod{}, store: proxy.NewStore(nodeName)}
	for i, name := range pods {
		p := c.node.AddPod(t, fmt.Sprintf("10.244.0.%d", 10+i))
		p.ServeName(t, name, 8080)
		c.pods[name] = p
	}
	c.b = c.newBackend()
	return c
}

func (c *cluster) newBackend() *Backend {
	return New(Config{
		ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Runner:       ExecRunner{Prefix: c.node.Prefix()},
		NetNS:        c.node.Path(),
	})
}

// sync programs the store's state; a partial sync must really be one (over netlink), not a fallback
// to a full sync.
func (c *cluster) sync(full bool) {
	c.t.Helper()
	if _, err := c.b.Sync(context.Background(), c.store.Snapshot(), full); err != nil {
		c.t.Fatalf("sync: %v", err)
	}
	if err := c.b.LastFallback(); err != nil {
		c.t.Fatalf("partial sync fell back to a full sync: %v", err)
	}
}

// service stores a Service with one TCP and one UDP port (80 and 53 to 8080) and node ports.
func (c *cluster) service(name, vip string, mutate ...func(*proxy.Service)) {
	svc := &proxy.Service{
		Key:        proxy.ServiceKey{Namespace: "default", Name: name},
		ClusterIPs: []netip.Addr{netip.MustParseAddr(vip)},
		Ports: []proxy.ServicePort{
			{Name: "http", Protocol: proxy.TCP, Port: 80, NodePort: 30080},
			{Name: "dns", Protocol: proxy.UDP, Port: 53, NodePort: 30053},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	c.store.UpsertService(svc)
}

// endpoints stores one slice for the Service with the named pods, all ready unless listed in notReady.
func (c *cluster) endpoints(svc string, pods []string, mutate ...func(*proxy.Endpoint)) {
	sl := &proxy.EndpointSlice{
		Key:         proxy.EndpointSliceKey{Namespace: "default", Name: svc + "-abc"},
		Service:     proxy.ServiceKey{Namespace: "default", Name: svc},
		AddressType: proxy.IPv4,
		Ports:       []proxy.EndpointPort{{Name: "http", Protocol: proxy.TCP, Port: 8080}, {Name: "dns", Protocol: proxy.UDP, Port: 8080}},
	}
	for _, p := range pods {
		ep := proxy.Endpoint{Addresses: []netip.Addr{c.pods[p].IP}, Ready: true, Serving: true, NodeName: nodeName}
		for _, m := range mutate {
			m(&ep)
		}
		sl.Endpoints = append(sl.Endpoints, ep)
	}
	c.store.UpsertSlice(sl)
}

// answers asks addr n times over TCP (or UDP) from the node and counts the answering pods.
func (c *cluster) answers(proto, addr string, n int) (map[string]int, error) {
	got := map[string]int{}
	for i := 0; i < n; i++ {
		var name string
		var err error
		if proto == "udp" {
			name, err = c.node.AskUDP(addr)
		} else {
			name, err = c.node.AskTCP(addr)
		}
		if err != nil {
			return got, fmt.Errorf("request %d to %s/%s: %w", i, proto, addr, err)
		}
		got[name]++
	}
	return got, nil
}

func (c *cluster) dump() string {
	c.t.Helper()
	out, err := c.b.Dump(context.Background())
	if err != nil {
		c.t.Fatalf("listing table: %v", err)
	}
	return out
}

func TestTrafficReachesEveryReadyEndpoint(t *testing.T) {
	c := newCluster(t, "web-1", "web-2", "web-3")
	c.service("web", "10.96.0.50")
	c.endpoints("web", []string{"web-1", "web-2", "web-3"})
	c.sync(true)
	for _, tc := range []struct{ name, proto, addr string }{
		{"cluster IP over TCP", "tcp", "10.96.0.50:80"},
		{"cluster IP over UDP", "udp", "10.96.0.50:53"},
		{"node port over TCP", "tcp", "192.168.77.2:30080"},
		{"node port over UDP", "udp", "192.168.77.2:30053"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.answers(tc.proto, tc.addr, 30)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("30 requests reached %v, want all 3 pods\n%s", got, c.dump())
			}
		})
	}
}

func TestClientIPAffinityPinsAClient(t *testing.T) {
	c := newCluster(t, "web-1", "web-2", "web-3")
	c.service("web", "10.96.0.50", func(s *proxy.Service) { s.AffinityClientIP = true; s.AffinityTimeout = time.Hour })
	c.endpoints("web", []string{"web-1", "web-2", "web-3"})
	c.sync(true)
	got, err := c.answers("tcp", "10.96.0.50:80", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("20 requests from one client reached %v, want a single pod", got)
	}
	// A full resync keeps the affinity sets, so the client stays on its pod.
	c.sync(true)
	again, err := c.answers("tcp", "10.96.0.50:80", 10)
	if err != nil {
		t.Fatal(err)
	}
	for name := range got {
		if again[name] != 10 {
			t.Fatalf("after a full resync the client reached %v, want only %s", again, name)
		}
	}
}

func TestServiceWithoutEndpointsRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr string
	}{
		{"cluster IP with no ready endpoints", "10.96.0.50:80"},
		{"node port with no ready endpoints", "192.168.77.2:30080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, "web-1")
			c.service("web", "10.96.0.50")
			c.endpoints("web", []string{"web-1"}, func(e *proxy.Endpoint) { e.Ready, e.Serving = false, false })
			// Something listening on the node port itself would accept the connection if the rules did not
			// reject it first.
			ln, err := c.node.Listen("tcp", ":30080")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			c.sync(true)
			start := time.Now()
			_, err = c.node.AskTCP(tc.addr)
			if !netnstest.IsRefused(err) {
				t.Fatalf("connecting to %s: got %v after %s, want connection refused", tc.addr, err, time.Since(start))
			}
		})
	}
}

func TestOnlyReadyEndpointsThenTerminatingAsFallback(t *testing.T) {
	c := newCluster(t, "web-1", "web-2", "web-3")
	c.service("web", "10.96.0.50")
	c.endpoints("web", []string{"web-1", "web-2", "web-3"})
	// web-3 is terminating (serving, not ready); web-1 and web-2 are ready.
	sl := *c.store.Snapshot().Slices[proxy.ServiceKey{Namespace: "default", Name: "web"}][0]
	sl.Endpoints = append([]proxy.Endpoint(nil), sl.Endpoints...)
	sl.Endpoints[2].Ready, sl.Endpoints[2].Terminating = false, true
	c.store.UpsertSlice(&sl)
	c.sync(true)
	got, err := c.answers("tcp", "10.96.0.50:80", 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["web-3"] != 0 {
		t.Fatalf("with web-3 terminating, requests reached %v, want web-1 and web-2 only", got)
	}
	// With no ready endpoint left, the serving terminating ones take the traffic.
	sl2 := sl
	sl2.Endpoints = append([]proxy.Endpoint(nil), sl.Endpoints...)
	for i := range sl2.Endpoints {
		sl2.Endpoints[i].Ready, sl2.Endpoints[i].Terminating = false, true
	}
	sl2.Endpoints[0].Serving = false
	c.store.UpsertSlice(&sl2)
	c.sync(false)
	got, err = c.answers("tcp", "10.96.0.50:80", 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["web-1"] != 0 {
		t.Fatalf("with only terminating endpoints, requests reached %v, want the serving ones web-2 and web-3", got)
	}
}

func TestTrafficPolicyLocal(t *testing.T) {
	c := newCluster(t, "local-1", "remote-1")
	onNode := func(e *proxy.Endpoint) {
		if e.Addresses[0] != c.pods["local-1"].IP {
			e.NodeName = "node-b"
		}
	}
	c.service("web", "10.96.0.50", func(s *proxy.Service) { s.InternalLocal = true })
	c.endpoints("web", []string{"local-1", "remote-1"}, onNode)
	c.service("ext", "10.96.0.51", func(s *proxy.Service) {
		s.ExternalLocal = true
		s.Ports = []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80, NodePort: 30081}}
	})
	c.endpoints("ext", []string{"local-1", "remote-1"}, onNode)
	c.sync(true)

	got, err := c.answers("tcp", "10.96.0.50:80", 20)
	if err != nil {
		t.Fatal(err)
	}
	if got["local-1"] != 20 {
		t.Fatalf("internalTrafficPolicy Local: requests reached %v, want only local-1", got)
	}
	// Node ports of an externalTrafficPolicy Local Service reach only local endpoints from off-node
	// clients; the node itself is short-circuited to all endpoints (as kube-proxy does).
	ask := func(from *netnstest.NS) (map[string]int, error) {
		got := map[string]int{}
		for i := 0; i < 20; i++ {
			name, err := from.AskTCP("192.168.77.2:30081")
			if err != nil {
				return got, err
			}
			got[name]++
		}
		return got, nil
	}
	c.node.World.Run("sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
	fromWorld, err := ask(c.node.World)
	if err != nil {
		t.Fatal(err)
	}
	if fromWorld["local-1"] != 20 {
		t.Fatalf("externalTrafficPolicy Local from off-node: requests reached %v, want only local-1", fromWorld)
	}
	fromNode, err := ask(c.node.NS)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromNode) != 2 {
		t.Fatalf("externalTrafficPolicy Local from the node itself: requests reached %v, want both endpoints", fromNode)
	}
}

// normalize drops what legitimately differs between two listings of the same rules: affinity entries'
// remaining time.
func normalize(dump string) string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.Contains(l, "expires") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestEndpointChangesAndDeletionArePartialSyncs(t *testing.T) {
	c := newCluster(t, "web-1", "web-2", "web-3")
	c.sync(true)
	empty := c.dump()
	c.service("web", "10.96.0.50")
	c.endpoints("web", []string{"web-1"})
	c.service("other", "10.96.0.60", func(s *proxy.Service) {
		s.AffinityClientIP = true
		s.Ports[0].NodePort, s.Ports[1].NodePort = 30090, 30091
	})
	c.endpoints("other", []string{"web-2", "web-3"})
	c.sync(false)

	steps := []struct {
		name string
		pods []string
	}{
		{"scale up to three", []string{"web-1", "web-2", "web-3"}},
		{"replace endpoints", []string{"web-2", "web-3"}},
		{"down to one", []string{"web-3"}},
	}
	for _, st := range steps {
		c.endpoints("web", st.pods)
		c.sync(false)
		got, err := c.answers("tcp", "10.96.0.50:80", 30)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(got) != len(st.pods) {
			t.Fatalf("%s: requests reached %v, want %v", st.name, got, st.pods)
		}
		// What the partial sync left equals what a fresh full sync writes.
		partial := normalize(c.dump())
		fresh := c.newBackend()
		if _, err := fresh.Sync(context.Background(), c.store.Snapshot(), true); err != nil {
			t.Fatal(err)
		}
		if full := normalize(c.dump()); full != partial {
			t.Fatalf("%s: partial sync left\n%s\nfull sync writes\n%s", st.name, partial, full)
		}
	}

	c.store.DeleteService(proxy.ServiceKey{Namespace: "default", Name: "web"})
	c.store.DeleteSlice(proxy.EndpointSliceKey{Namespace: "default", Name: "web-abc"}, time.Now())
	c.store.DeleteService(proxy.ServiceKey{Namespace: "default", Name: "other"})
	c.store.DeleteSlice(proxy.EndpointSliceKey{Namespace: "default", Name: "other-abc"}, time.Now())
	c.sync(false)
	if got := c.dump(); got != empty {
		t.Fatalf("after deleting every Service the table is\n%s\nwant the empty table\n%s", got, empty)
	}
}

func TestRestartAdoptsRulesAndResyncRepairsDrift(t *testing.T) {
	c := newCluster(t, "web-1", "web-2")
	c.service("web", "10.96.0.50", func(s *proxy.Service) { s.AffinityClientIP = true })
	c.endpoints("web", []string{"web-1", "web-2"})
	c.service("gone", "10.96.0.70", func(s *proxy.Service) { s.Ports[0].NodePort, s.Ports[1].NodePort = 30090, 30091 })
	c.endpoints("gone", []string{"web-1"})
	c.sync(true)

	// A new process: it knows only "web" ("gone" was deleted while it was down).
	c.store.DeleteService(proxy.ServiceKey{Namespace: "default", Name: "gone"})
	c.b = c.newBackend()
	c.sync(true)
	want := normalize(c.dump())
	if strings.Contains(want, "gone") {
		t.Fatalf("rules of a Service deleted while the netproxy was down survived the restart:\n%s", want)
	}
	c.b = c.newBackend()
	c.sync(true)
	if got := normalize(c.dump()); got != want {
		t.Fatalf("a second restart changed the table:\n%s\nwant\n%s", got, want)
	}

	// Someone deletes rules and map elements by hand, and adds a chain of their own.
	table := strings.Fields(c.b.TableOf(proxy.ServiceKey{Namespace: "default", Name: "web"}))[1]
	c.node.Run("nft", "flush", "chain", "inet", table, "services")
	c.node.Run("nft", "flush", "map", "inet", table, "service-ips")
	c.node.Run("nft", "add", "chain", "inet", table, "stray")
	// A table of a shard count no longer in use goes away too.
	c.node.Run("nft", "add", "table", "inet", "skiff-99")
	if _, err := c.node.AskTCP("10.96.0.50:80"); err == nil {
		t.Fatal("the VIP still answers with its rules deleted; the test cannot tell a repair from no damage")
	}
	c.sync(true)
	if got := normalize(c.dump()); got != want {
		t.Fatalf("resync did not repair the table:\n%s\nwant\n%s", got, want)
	}
	if tables := c.node.Run("nft", "list", "tables"); strings.Contains(tables, "skiff-99") {
		t.Fatalf("resync left the table of an unused shard:\n%s", tables)
	}
	if _, err := c.answers("tcp", "10.96.0.50:80", 5); err != nil {
		t.Fatalf("after the repair: %v", err)
	}
}

func TestEstablishedConnectionSurvivesReprogramming(t *testing.T) {
	c := newCluster(t, "web-1", "web-2", "web-3")
	c.service("web", "10.96.0.50")
	c.endpoints("web", []string{"web-1", "web-2"})
	c.sync(true)
	conn, err := c.node.Dial("tcp", "10.96.0.50:80", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first, err := netnstest.Ask(conn, "one")
	if err != nil {
		t.Fatal(err)
	}
	steps := []func(){
		func() { c.endpoints("web", []string{"web-1", "web-2", "web-3"}); c.sync(false) },
		func() { c.sync(true) },
		func() { c.b = c.newBackend(); c.sync(true) }, // a restart
		func() { c.service("other", "10.96.0.60"); c.sync(false) },
	}
	for i, step := range steps {
		step()
		name, err := netnstest.Ask(conn, fmt.Sprintf("after-%d", i))
		if err != nil {
			t.Fatalf("established connection broke after re-programming step %d: %v", i, err)
		}
		if name != first {
			t.Fatalf("established connection moved from %s to %s after step %d", first, name, i)
		}
	}
}

// TestPartialSyncWritesWhatFullSyncWrites checks the netlink encoding of every rule form a Service can
// produce: chains written by a partial sync (netlink) list exactly like those a full sync (nft -f)
// writes for the same Services.
func TestPartialSyncWritesWhatFullSyncWrites(t *testing.T) {
	c := newCluster(t)
	c.b.cfg.ClusterCIDRs = append(c.b.cfg.ClusterCIDRs, netip.MustParsePrefix("10.240.0.0/12"), netip.MustParsePrefix("fd00:10::/56"))
	c.sync(true)
	eps := func(svc string, ips ...string) {
		sl := &proxy.EndpointSlice{
			Key:     proxy.EndpointSliceKey{Namespace: "default", Name: svc + "-abc"},
			Service: proxy.ServiceKey{Namespace: "default", Name: svc}, AddressType: proxy.IPv4,
			Ports: []proxy.EndpointPort{{Name: "http", Protocol: proxy.TCP, Port: 8080}, {Name: "dns", Protocol: proxy.UDP, Port: 5353}},
		}
		if strings.Contains(ips[0], ":") {
			sl.AddressType = proxy.IPv6
		}
		for i, ip := range ips {
			node := nodeName
			if i%2 == 1 {
				node = "node-b"
			}
			sl.Endpoints = append(sl.Endpoints, proxy.Endpoint{Addresses: []netip.Addr{netip.MustParseAddr(ip)}, Ready: true, Serving: true, NodeName: node})
		}
		c.store.UpsertSlice(sl)
	}
	for _, tc := range []struct {
		name   string
		vip    string
		mutate func(*proxy.Service)
		ips    []string
	}{
		{"cluster IP and node ports", "10.96.0.50", nil, []string{"10.244.0.10", "10.244.0.11", "10.244.0.12"}},
		{"ClientIP affinity", "10.96.0.51", func(s *proxy.Service) { s.AffinityClientIP = true; s.AffinityTimeout = 90 * time.Second }, []string{"10.244.0.10", "10.244.0.11"}},
		{"externalTrafficPolicy Local with external IPs", "10.96.0.52", func(s *proxy.Service) {
			s.ExternalLocal = true
			s.ExternalIPs = []netip.Addr{netip.MustParseAddr("192.0.2.7")}
		}, []string{"10.244.0.10", "10.244.0.11"}},
		{"internalTrafficPolicy Local", "10.96.0.53", func(s *proxy.Service) { s.InternalLocal = true }, []string{"10.244.0.10", "10.244.0.11"}},
		{"no endpoints", "10.96.0.54", nil, nil},
		{"IPv6 with affinity", "fd00:96::54", func(s *proxy.Service) { s.AffinityClientIP = true }, []string{"fd00:10::a", "fd00:10::b"}},
		{"SCTP", "10.96.0.55", func(s *proxy.Service) {
			s.Ports = []proxy.ServicePort{{Name: "http", Protocol: proxy.SCTP, Port: 80, NodePort: 30100}}
		}, []string{"10.244.0.10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			name := strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			c.service(name, tc.vip, func(s *proxy.Service) {
				s.Ports[0].NodePort, s.Ports[1].NodePort = 0, 0
				if tc.mutate != nil {
					tc.mutate(s)
				}
			})
			if tc.ips != nil {
				eps(name, tc.ips...)
			}
			c.sync(false)
			partial := normalize(c.dump())
			if !strings.Contains(partial, tc.vip+" . ") {
				t.Fatalf("the partial sync wrote no map element for %s:\n%s", tc.vip, partial)
			}
			fresh := c.newBackend()
			fresh.cfg.ClusterCIDRs = c.b.cfg.ClusterCIDRs
			if _, err := fresh.Sync(context.Background(), c.store.Snapshot(), true); err != nil {
				t.Fatal(err)
			}
			if full := normalize(c.dump()); full != partial {
				t.Fatalf("partial sync (netlink) left\n%s\nfull sync (nft) writes\n%s", partial, full)
			}
		})
	}
}

func TestPartialSyncRefusedByTheKernelFallsBackToAFullSync(t *testing.T) {
	c := newCluster(t, "web-1", "web-2")
	c.service("web", "10.96.0.50")
	c.endpoints("web", []string{"web-1"})
	c.sync(true)
	want := func() string {
		fresh := c.newBackend()
		if _, err := fresh.Sync(context.Background(), c.store.Snapshot(), true); err != nil {
			t.Fatal(err)
		}
		return normalize(c.dump())
	}
	// Someone deletes the Service's chains by hand: the partial batch that flushes them fails as a whole.
	web := proxy.ServiceKey{Namespace: "default", Name: "web"}
	table := strings.Fields(c.b.TableOf(web))[1]
	c.node.Run("nft", "flush", "map", "inet", table, "service-ips")
	c.node.Run("nft", "flush", "map", "inet", table, "service-nodeports")
	for _, ch := range c.b.applied[web].chains {
		c.node.Run("nft", "flush", "chain", "inet", table, ch.name)
	}
	for _, ch := range c.b.applied[web].chains {
		c.node.Run("nft", "delete", "chain", "inet", table, ch.name)
	}
	c.endpoints("web", []string{"web-1", "web-2"})
	if _, err := c.b.Sync(context.Background(), c.store.Snapshot(), false); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if c.b.LastFallback() == nil {
		t.Fatal("the partial sync succeeded on a table missing the chains it flushes; want a refusal and a full sync")
	}
	got := normalize(c.dump())
	if w := want(); got != w {
		t.Fatalf("after the fallback full sync the table is\n%s\nwant\n%s", got, w)
	}
	if answers, err := c.answers("tcp", "10.96.0.50:80", 30); err != nil || len(answers) != 2 {
		t.Fatalf("after the repair requests reached %v (%v), want both pods", answers, err)
	}
}

func TestCleanupRemovesEveryTable(t *testing.T) {
	c := newCluster(t, "web-1")
	c.service("web", "10.96.0.50")
	c.endpoints("web", []string{"web-1"})
	c.sync(true)
	if tables := c.node.Run("nft", "list", "tables"); strings.Count(tables, "table inet skiff") != DefaultShards {
		t.Fatalf("after a sync the node has tables\n%s\nwant %d shard tables", tables, DefaultShards)
	}
	// A netproxy configured with fewer shards still removes them all.
	small := New(Config{Shards: 1, Runner: ExecRunner{Prefix: c.node.Prefix()}, NetNS: c.node.Path()})
	if err := small.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tables := c.node.Run("nft", "list", "tables"); strings.Contains(tables, "skiff") {
		t.Fatalf("cleanup left\n%s", tables)
	}
}
