// Package testhost makes "test hosts" for tests that run nodes, pods or Services: network namespaces
// of their own (`ip netns add skiff-t-<rand>`) with loopback up and, from New, a veth pair to a private
// bridge in the test's namespace with an address in 10.250.<n>.0/24 and no default route, so that
// nothing a node or its pods send can leave the machine (NewIsolated makes one with loopback only). A
// host can get a loopback forwarder: a listener on 127.0.0.1:<port> inside the host that relays each
// connection to an address in the test's namespace (the apiserver binds loopback only). Everything is
// removed in t.Cleanup, even when the test fails. It uses only the ip and nsenter commands and setns(2).
package testhost

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Host is one test network namespace.
type Host struct {
	Name string
	// Path is the namespace file (/run/netns/<name>).
	Path string
	// IP is the host's address on its private link ("" without a link); BridgeIP is the test side.
	IP, BridgeIP string
}

func run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// subnets holds the 10.250.<n>.0/24 links in use by this test binary, so two hosts never share one.
var subnets sync.Map

// New creates a test host with a private link to the test's namespace (so the test can reach the
// host's IP, and nothing else can).
func New(t testing.TB) *Host {
	t.Helper()
	h := NewIsolated(t)
	var n int
	for {
		n = rand.Intn(200) + 20
		if _, taken := subnets.LoadOrStore(n, true); !taken {
			break
		}
	}
	t.Cleanup(func() { subnets.Delete(n) })
	suffix := h.Name[len("skiff-t-"):]
	h.BridgeIP, h.IP = fmt.Sprintf("10.250.%d.1", n), fmt.Sprintf("10.250.%d.2", n)
	br, hostEnd, peer := "sk-br"+suffix, "sk-h"+suffix, "sk-p"+suffix
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

// NewIsolated creates a test host with loopback only: no link at all, IP and BridgeIP empty.
func NewIsolated(t testing.TB) *Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("test hosts need root (network namespaces); run the tests as root")
	}
	h := &Host{Name: fmt.Sprintf("skiff-t-%06x", rand.Intn(1<<24))}
	h.Path = "/run/netns/" + h.Name
	run(t, "ip", "netns", "add", h.Name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", h.Name).Run() })
	run(t, "ip", "-n", h.Name, "link", "set", "lo", "up")
	return h
}

// Do runs f on an OS thread inside the host's network namespace: sockets f opens on its own goroutine
// belong to the host. The thread is retired afterwards, never reused in the wrong namespace.
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

// DialContext opens a connection from inside the host.
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
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
}

// Forward listens on 127.0.0.1:port inside the host and relays every connection to target (an address
// in the test's own namespace, e.g. the apiserver on loopback). port 0 picks a free port; the chosen
// port is returned. The listener closes in t.Cleanup.
func (h *Host) Forward(t testing.TB, port int, target string) int {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	}); err != nil {
		t.Fatalf("loopback forwarder in %s: %v", h.Name, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := net.Dial("tcp", target)
				if err != nil {
					in.Close()
					return
				}
				track(in, true)
				track(out, true)
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); in.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
				in.Close()
				out.Close()
				track(in, false)
				track(out, false)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// Command returns a command that runs inside the host's network namespace (only the network: mounts
// and the rest stay the test's, so a restarted process sees what the previous one mounted).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + h.Path, "--", name}, args...)...)
}
