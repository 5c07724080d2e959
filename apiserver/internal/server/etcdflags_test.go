package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// freePort is a loopback port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestEmbeddedEtcdListenURLs(t *testing.T) {
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	ts := startServer(t, t.TempDir(), func(c *Config) {
		c.EtcdListenClientURL, c.EtcdListenPeerURL = client, peer
	})
	defer ts.stop(t)
	for _, u := range []string{client + "/health", peer + "/members"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("the embedded etcd does not answer on %s: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
		}
		if strings.HasSuffix(u, "/health") && !strings.Contains(string(body), `"health":"true"`) {
			t.Fatalf("GET %s: %s", u, body)
		}
	}
	ts.must(t, http.StatusOK, "GET", "/api/v1/namespaces/default", "", nil)
}

func TestEtcdListenURLValidation(t *testing.T) {
	for _, tt := range []struct {
		name, client, peer, wantErr string
	}{
		{"empty URLs pick free ports", "", "", ""},
		{"http URLs with ports are accepted", "http://127.0.0.1:2379", "http://127.0.0.1:2380", ""},
		{"a URL without a port is refused", "http://127.0.0.1", "", "--etcd-listen-client-url"},
		{"a bare address is refused", "", "127.0.0.1:2380", "--etcd-listen-peer-url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.EtcdListenClientURL, c.EtcdListenPeerURL = tt.client, tt.peer
			err := c.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
