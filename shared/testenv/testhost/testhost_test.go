package testhost

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestHostLinks checks what each kind of host can reach: a linked host serves on its IP to the test's
// namespace and reaches the test's loopback only through a forwarder; an isolated host has no route.
func TestHostLinks(t *testing.T) {
	h := New(t)
	var ln net.Listener
	if err := h.Do(func() (err error) { ln, err = net.Listen("tcp", h.IP+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "in host") }))
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("GET from the test's namespace to the host's IP: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "in host" {
		t.Fatalf("host answered %q, want %q", b, "in host")
	}

	out, err := h.Command("ip", "route", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route in host: %v: %s", err, out)
	}
	if strings.Contains(string(out), "default") {
		t.Fatalf("linked host has a default route:\n%s", out)
	}

	iso := NewIsolated(t)
	if iso.IP != "" {
		t.Fatalf("isolated host has IP %q", iso.IP)
	}
	if _, err := iso.DialContext(t.Context(), "tcp", ln.Addr().String()); err == nil {
		t.Fatalf("isolated host reached %s", ln.Addr())
	}
}
