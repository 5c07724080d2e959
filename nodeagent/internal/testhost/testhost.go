// Package testhost gives tests a network namespace of their own with no route off the machine: a
// "test host" for a node. It is the nodeagent module's small copy of the e2e harness's test hosts; it
// is only imported by tests.
//
// A Host is `ip netns add skiff-t-<rand>` with loopback up and, optionally, a veth pair to a private
// bridge in the test's namespace with an address in 10.250.<n>.0/24 and no default route. Everything
// is removed in t.Cleanup.
package testhost

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Host is one test network namespace.
type Host struct {
	Name string
	// Path is the namespace file (/run/netns/<name>).
	Path string
	// IP is the host's address on the private link ("" without a link); BridgeIP is the test side.
	IP, BridgeIP string
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// New creates a test host. With link, it also gets a veth to a private bridge of its own in the test's
// namespace (so the test can reach the host's IP, and nothing else can).
func New(t *testing.T, link bool) *Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("test hosts need root (network namespaces)")
	}
	n := rand.Intn(200) + 20
	h := &Host{Name: fmt.Sprintf("skiff-t-%06x", rand.Intn(1<<24))}
	h.Path = "/run/netns/" + h.Name
	run(t, "ip", "netns", "add", h.Name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", h.Name).Run() })
	run(t, "ip", "-n", h.Name, "link", "set", "lo", "up")
	if !link {
		return h
	}
	suffix := h.Name[len("skiff-t-"):]
	br, hostEnd, peer := "sk-br"+suffix, "sk-h"+suffix, "sk-p"+suffix
	h.BridgeIP, h.IP = fmt.Sprintf("10.250.%d.1", n), fmt.Sprintf("10.250.%d.2", n)
	run(t, "ip", "link", "add", br, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })
	run(t, "ip", "addr", "add", h.BridgeIP+"/24", "dev", br)
	run(t, "ip", "link", "set", br, "up")
	run(t, "ip", "link", "add", peer, "type", "veth", "peer", "name", hostEnd)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", peer).Run() })
	run(t, "ip", "link", "set", peer, "master", br, "up")
	run(t, "ip", "link", "set", hostEnd, "netns", h.Name)
	run(t, "ip", "-n", h.Name, "link", "set", hostEnd, "name", "eth0")
	run(t, "ip", "-n", h.Name, "addr", "add", h.IP+"/24", "dev", "eth0")
	run(t, "ip", "-n", h.Name, "link", "set", "eth0", "up")
	return h
}

// Do runs f on an OS thread that is inside the host's network namespace. Sockets opened and processes
// started by f (on its goroutine) belong to the host.
func (h *Host) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked: it leaves with the goroutine instead of returning to the pool
		// in the wrong namespace.
		runtime.LockOSThread()
		fd, err := unix.Open(h.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", h.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// DialContext opens a connection from inside the host's network namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient returns a client whose connections start inside the host (net/http dials on goroutines
// of its own, so a client used inside Do would dial from the test's namespace instead).
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
}
