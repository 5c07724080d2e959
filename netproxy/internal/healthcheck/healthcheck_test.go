package healthcheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/skiffhq/skiff/netproxy/internal/netnstest"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// The server listens inside a node namespace the test creates, and the test asks it from there.
func TestHealthCheckNodePortAnswersWithLocalEndpoints(t *testing.T) {
	netnstest.Require(t)
	node := netnstest.NewNode(t, "192.168.77.2")
	store := proxy.NewStore("node-a")
	listen := func(port int32) (net.Listener, error) { return node.Listen("tcp", fmt.Sprintf(":%d", port)) }
	hc := New(listen, store.Snapshot, zap.NewNop())
	t.Cleanup(hc.Close)

	svc := &proxy.Service{Key: proxy.ServiceKey{Namespace: "default", Name: "web"}, ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.50")},
		Ports:         []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80, NodePort: 30080}},
		ExternalLocal: true, HealthCheckNodePort: 32100}
	store.UpsertService(svc)
	slice := func(nodes ...string) {
		sl := &proxy.EndpointSlice{Key: proxy.EndpointSliceKey{Namespace: "default", Name: "web-1"}, Service: svc.Key, AddressType: proxy.IPv4,
			Ports: []proxy.EndpointPort{{Name: "http", Protocol: proxy.TCP, Port: 8080}}}
		for i, n := range nodes {
			sl.Endpoints = append(sl.Endpoints, proxy.Endpoint{Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, 244, 0, byte(10 + i)})}, Ready: true, Serving: true, NodeName: n})
		}
		store.UpsertSlice(sl)
	}
	ask := func() (int, status, error) {
		c, err := node.Dial("tcp", "192.168.77.2:32100", 2*time.Second)
		if err != nil {
			return 0, status{}, err
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.0\r\nHost: node\r\n\r\n"); err != nil {
			return 0, status{}, err
		}
		resp, err := http.ReadResponse(bufioReader(c), nil)
		if err != nil {
			return 0, status{}, err
		}
		defer resp.Body.Close()
		var st status
		err = json.NewDecoder(resp.Body).Decode(&st)
		return resp.StatusCode, st, err
	}

	for _, tc := range []struct {
		name       string
		nodes      []string
		wantCode   int
		wantLocals int
	}{
		{"two local endpoints and a remote one", []string{"node-a", "node-b", "node-a"}, 200, 2},
		{"only remote endpoints", []string{"node-b"}, 503, 0},
		{"no endpoints", nil, 503, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slice(tc.nodes...)
			if err := hc.Sync(store.Snapshot()); err != nil {
				t.Fatal(err)
			}
			code, st, err := ask()
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || st.LocalEndpoints != tc.wantLocals || st.Service.Name != "web" {
				t.Fatalf("got %d %+v, want %d with localEndpoints %d", code, st, tc.wantCode, tc.wantLocals)
			}
		})
	}

	// The Service switches to externalTrafficPolicy Cluster: the port closes.
	cluster := *svc
	cluster.ExternalLocal = false
	store.UpsertService(&cluster)
	if err := hc.Sync(store.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if ports := hc.Ports(); len(ports) != 0 {
		t.Fatalf("still serving %v after the policy became Cluster", ports)
	}
	if _, _, err := ask(); !netnstest.IsRefused(err) {
		t.Fatalf("asking a closed health-check port: %v, want connection refused", err)
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
