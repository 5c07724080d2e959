package network

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/shared/testenv/testhost"
)

func TestDefaultConfListIsValid(t *testing.T) {
	b, err := DefaultConfList("10.244.3.0/24", "/var/lib/x")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Plugins[0].Type != "bridge" || c.Plugins[1].Type != "portmap" || c.Plugins[0].IPAM.Ranges[0][0]["subnet"] != "10.244.3.0/24" || c.Plugins[0].IPAM.DataDir != "/var/lib/x" {
		t.Fatalf("conflist %s", b)
	}
	if _, err := DefaultConfList("not-a-cidr", "/x"); err == nil {
		t.Fatal("want an error for a bad CIDR")
	}
}

// TestPodNetworkLifecycle runs the real CNI plugins for a pod on a node that is a test host of its
// own: the pod gets an address from the pod CIDR, answers HTTP from the node, and teardown releases
// the address and the namespaces.
func TestPodNetworkLifecycle(t *testing.T) {
	host := testhost.NewIsolated(t)
	dir := t.TempDir()
	m, err := New(Config{ConfDir: filepath.Join(dir, "conf"), BinDirs: []string{"/usr/lib/cni"}, CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	leases := filepath.Join(dir, "leases")
	wrote, err := m.EnsureDefaultConfig("10.244.7.0/24", leases)
	if err != nil || !wrote {
		t.Fatalf("default config: %v %v", wrote, err)
	}
	if wrote, _ := m.EnsureDefaultConfig("10.244.7.0/24", leases); wrote {
		t.Fatal("an existing configuration was overwritten")
	}
	nsDir := filepath.Join(dir, "pods", "uid-1")
	ns, err := CreateNamespaces(nsDir, NamespaceOptions{Hostname: "web-0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveNamespaces(nsDir) })
	out, err := exec.Command("nsenter", "--uts="+ns.UTS, "hostname").Output()
	if err != nil || strings.TrimSpace(string(out)) != "web-0" {
		t.Fatalf("hostname in the pod UTS namespace: %q %v", out, err)
	}
	a := Attachment{ID: "uid-1", Namespace: "default", Name: "web-0", UID: "uid-1", NetNS: ns.Net}
	var ips []net.IP
	if err := host.Do(func() error {
		var err error
		ips, err = m.Setup(context.Background(), a)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, cidr, _ := net.ParseCIDR("10.244.7.0/24")
	if len(ips) != 1 || !cidr.Contains(ips[0]) {
		t.Fatalf("pod IPs %v, want one in %s", ips, cidr)
	}
	if _, err := os.Stat(filepath.Join(leases, "skiff", ips[0].String())); err != nil {
		t.Fatalf("host-local lease for %s: %v", ips[0], err)
	}

	// A server whose socket lives in the pod's network namespace stands in for the pod.
	podNS := &testhost.Host{Name: "pod", Path: ns.Net}
	var ln net.Listener
	if err := podNS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", ":8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pod says hi\n") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := fmt.Sprintf("http://%s:8080/", ips[0])
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := func() error {
			resp, err := host.HTTPClient().Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			body = fmt.Sprintf("%d %s", resp.StatusCode, b)
			return err
		}()
		if err == nil && body == "200 pod says hi\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for the pod's httpd at %s from the node: last %q, %v", url, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.Close()

	if err := host.Do(func() error { return m.Teardown(context.Background(), a) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(leases, "skiff", ips[0].String())); !os.IsNotExist(err) {
		t.Fatalf("lease for %s left after teardown: %v", ips[0], err)
	}
	if err := RemoveNamespaces(nsDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(nsDir); !os.IsNotExist(err) {
		t.Fatalf("namespace directory left: %v", err)
	}
	// A second teardown (agent restarted mid-delete) is harmless.
	if err := host.Do(func() error { return m.Teardown(context.Background(), a) }); err != nil {
		t.Fatalf("repeated teardown: %v", err)
	}
}
