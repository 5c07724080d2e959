package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/skiffhq/skiff/shared/testenv/testhost"
)

// createBridge makes the private bridge every node joins, with the gateway address in this namespace.
// Nodes get no default route, so nothing they send can leave the machine.
func createBridge(l Layout) error {
	br := l.Bridge()
	if linkExists(br) {
		return nil
	}
	for _, args := range [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", fmt.Sprintf("%s/%d", l.GatewayIP(), l.Subnet.Bits()), "dev", br},
		{"ip", "link", "set", br, "up"},
	} {
		if err := run(args...); err != nil {
			return fmt.Errorf("creating bridge %s: %w", br, err)
		}
	}
	return nil
}

// createNodeNetns makes node i's network namespace: lo up, eth0 on the bridge with the node's address
// and only the bridge's subnet routed, IP forwarding on (pods on other nodes are reached through it).
// It returns the namespace as a testhost.Host.
func createNodeNetns(l Layout, i int) (*testhost.Host, error) {
	ns, veth := l.Netns(i), l.Veth(i)
	h := &testhost.Host{Name: ns, Path: "/run/netns/" + ns, IP: l.NodeIP(i), BridgeIP: l.GatewayIP()}
	cmds := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", veth, "master", l.Bridge(), "up"},
		{"ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", h.IP, l.Subnet.Bits()), "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
		// A real node reaches Service IPs through its default route (the netproxy DNATs them in the
		// output hook, after the route lookup). A test host has no default route, so the service range
		// gets an on-link route of its own: DNATed packets are re-routed to their pod, and one with no
		// rule finds no neighbour on the private bridge and goes nowhere.
		{"ip", "-n", ns, "route", "add", ServiceCIDR, "dev", "eth0"},
	}
	for _, args := range cmds {
		if err := run(args...); err != nil {
			return nil, fmt.Errorf("creating node namespace %s: %w", ns, err)
		}
	}
	return h, nil
}

// setLink takes node i's link to the bridge up or down.
func setLink(l Layout, i int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run("ip", "link", "set", l.Veth(i), state)
}

// Forwarder listens on 127.0.0.1:<port> inside a node's namespace and relays every connection to an
// address in the test's own namespace (the apiserver and the registry listen on loopback only). Cut
// closes every relayed connection and refuses new ones until Resume: half of a partition.
type Forwarder struct {
	ln     net.Listener
	target string
	Port   int

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// forward starts a Forwarder in host on port (0: any free port).
func forward(h *testhost.Host, port int, target string) (*Forwarder, error) {
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	}); err != nil {
		return nil, fmt.Errorf("loopback forwarder in %s to %s: %w", h.Name, target, err)
	}
	f := &Forwarder{ln: ln, target: target, Port: ln.Addr().(*net.TCPAddr).Port, conns: map[net.Conn]bool{}}
	go f.serve()
	return f, nil
}

func (f *Forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut {
		return false
	}
	f.conns[c] = true
	return true
}

func (f *Forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

func (f *Forwarder) serve() {
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer in.Close()
			if !f.track(in) {
				return
			}
			defer f.untrack(in)
			var d net.Dialer
			out, err := d.DialContext(context.Background(), "tcp", f.target)
			if err != nil {
				return
			}
			defer out.Close()
			if !f.track(out) {
				return
			}
			defer f.untrack(out)
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// Cut closes every relayed connection and refuses new ones.
func (f *Forwarder) Cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = true
	for c := range f.conns {
		c.Close()
	}
}

// Resume relays new connections again.
func (f *Forwarder) Resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = false
}

// Close stops listening and closes every connection.
func (f *Forwarder) Close() {
	f.ln.Close()
	f.Cut()
	f.wg.Wait()
}
