// Package netnstest builds private network namespaces for the netproxy's integration tests: a "node"
// namespace with no route off the machine, "pod" namespaces wired to it with veth pairs, and helpers to
// open sockets inside any of them. Everything it creates is removed in t.Cleanup, even when the test
// fails.
//
// It provides no production code; only tests import it.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Require skips nothing: it fails the test with a clear message when the machine cannot create network
// namespaces (not root, no ip or nft binary), because every netproxy integration test needs them.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("netproxy integration tests need root to create network namespaces (running as uid %d)", os.Geteuid())
	}
	for _, bin := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("netproxy integration tests need %s (make deps installs it): %v", bin, err)
		}
	}
}

// NS is one network namespace created by the test.
type NS struct {
	Name string
	t    testing.TB
}

// Prefix returns the command prefix that runs a command inside the namespace.
func (n *NS) Prefix() []string { return []string{"ip", "netns", "exec", n.Name} }

// Path returns the namespace's file, for netlink sockets opened in it (nftables.Config.NetNS).
func (n *NS) Path() string { return "/run/netns/" + n.Name }

// New creates a namespace named skiff-np-<random> with loopback up and removes it in t.Cleanup.
func New(t testing.TB) *NS {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "skiff-np-" + hex.EncodeToString(b)
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("deleting netns %s: %v: %s", name, err, out)
		}
	})
	ns := &NS{Name: name, t: t}
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command inside the namespace and fails the test if it fails.
func (n *NS) Run(args ...string) string {
	n.t.Helper()
	return Run(n.t, append(n.Prefix(), args...)...)
}

// Run runs a command and fails the test if it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Do runs f with the calling OS thread inside the namespace. Sockets opened in f stay in the namespace
// after f returns; goroutines started by f do not run in it.
func (n *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: if switching back failed, it dies with the goroutine instead of
		// running other goroutines in the wrong namespace.
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back from %s: %w", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a listener inside the namespace.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() (err error) { ln, err = net.Listen(network, addr); return err })
	return ln, err
}

// ListenPacket opens a packet socket inside the namespace.
func (n *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := n.Do(func() (err error) { pc, err = net.ListenPacket(network, addr); return err })
	return pc, err
}

// Dial connects from inside the namespace.
func (n *NS) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		d := net.Dialer{Timeout: timeout}
		c, err = d.DialContext(context.Background(), network, addr)
		return err
	})
	return c, err
}

// Node is a node namespace: an uplink eth0 with NodeIP and a default route through it into a "world"
// namespace that forwards nothing (so VIPs are routable, yet no packet can leave the machine), and IP
// forwarding on for its pods.
type Node struct {
	*NS
	NodeIP netip.Addr
	World  *NS
	pods   int
}

// NewNode creates a node namespace with address nodeIP/24 on eth0; the world end of the link gets the
// first address of that /24 (which must differ from nodeIP).
func NewNode(t testing.TB, nodeIP string) *Node {
	t.Helper()
	ip := netip.MustParseAddr(nodeIP)
	world := New(t)
	ns := New(t)
	gw := netip.PrefixFrom(ip, 24).Masked().Addr().Next()
	ns.Run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "uplink", "netns", world.Name)
	ns.Run("ip", "addr", "add", nodeIP+"/24", "dev", "eth0")
	ns.Run("ip", "link", "set", "eth0", "up")
	world.Run("ip", "addr", "add", gw.String()+"/24", "dev", "uplink")
	world.Run("ip", "link", "set", "uplink", "up")
	ns.Run("ip", "route", "add", "default", "via", gw.String(), "dev", "eth0")
	ns.Run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return &Node{NS: ns, NodeIP: ip, World: world}
}

// Pod is a pod namespace attached to a node by a veth pair, routed point-to-point (no bridge, so
// replies always pass the node's conntrack).
type Pod struct {
	*NS
	IP netip.Addr
}

// gateway is the node-side address of every pod veth (as with point-to-point CNI plugins).
const gateway = "10.244.0.1"

// AddPod creates a pod namespace with address ip, reachable from the node.
func (n *Node) AddPod(t testing.TB, ip string) *Pod {
	t.Helper()
	pod := New(t)
	n.pods++
	host := fmt.Sprintf("vp%s%d", pod.Name[len(pod.Name)-4:], n.pods)
	n.Run("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", pod.Name)
	n.Run("ip", "addr", "add", gateway+"/32", "dev", host)
	n.Run("ip", "link", "set", host, "up")
	n.Run("ip", "route", "add", ip+"/32", "dev", host)
	pod.Run("ip", "addr", "add", ip+"/32", "dev", "eth0")
	pod.Run("ip", "link", "set", "eth0", "up")
	pod.Run("ip", "route", "add", gateway, "dev", "eth0")
	pod.Run("ip", "route", "add", "default", "via", gateway, "dev", "eth0")
	return &Pod{NS: pod, IP: netip.MustParseAddr(ip)}
}
