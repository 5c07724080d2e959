package netnstest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ServeName makes the namespace answer on TCP and UDP port port of every address: each line received
// on a TCP connection is answered with "<name> <line>", each UDP datagram with "<name>". Connections
// stay open, so tests can hold one across re-programming.
func (n *NS) ServeName(t testing.TB, name string, port int) {
	t.Helper()
	ln, err := n.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("listening in %s: %v", n.Name, err)
	}
	pc, err := n.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("listening in %s: %v", n.Name, err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := fmt.Fprintf(c, "%s %s\n", name, sc.Text()); err != nil {
						return
					}
				}
			}()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name), addr)
		}
	}()
}

// AskTCP connects from the namespace to addr, sends one line and returns the answering server's name.
func (n *NS) AskTCP(addr string) (string, error) {
	c, err := n.Dial("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return Ask(c, "hello")
}

// Ask sends line on an open connection and returns the server's name from the answer.
func Ask(c net.Conn, line string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return "", err
	}
	ans, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading answer: %w", err)
	}
	name, rest, ok := strings.Cut(strings.TrimSpace(ans), " ")
	if !ok || rest != line {
		return "", fmt.Errorf("unexpected answer %q", ans)
	}
	return name, nil
}

// AskUDP sends one datagram from the namespace to addr and returns the answer.
func (n *NS) AskUDP(addr string) (string, error) {
	c, err := n.Dial("udp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	k, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:k]), nil
}

// IsRefused reports whether err is a refused connection (TCP reset or ICMP port unreachable).
func IsRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// Poll calls f until it returns nil or the deadline passes, then fails the test saying what it waited
// for and the last error seen.
func Poll(t testing.TB, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = f(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %v", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
