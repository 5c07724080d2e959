package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

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
	})
}

func (c *cluster) sync(full bool) {
	c.t.Helper()
	if _, err := c.b.Sync(context.Background(), c.store.Snapshot(), full); err != nil {
		c.t.Fatalf("sync: %v", err)
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
