package proxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/netproxy/internal/netnstest"
	"github.com/skiffhq/skiff/netproxy/internal/nftables"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// The sync loop runs against the real nftables backend inside a private network namespace.

func TestProxierProgramsBatchesAndRepairs(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t)
	backend := nftables.New(nftables.Config{Runner: nftables.ExecRunner{Prefix: ns.Prefix()}})
	store := proxy.NewStore("n1")
	reg := prometheus.NewRegistry()
	p, err := proxy.NewProxier(proxy.Config{MinSyncPeriod: 50 * time.Millisecond, SyncPeriod: 500 * time.Millisecond}, store, backend, reg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	svc := &proxy.Service{Key: proxy.ServiceKey{Namespace: "ns", Name: "web"}, ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.5")},
		Ports: []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80}}}
	store.UpsertService(svc)
	store.UpsertSlice(&proxy.EndpointSlice{Key: proxy.EndpointSliceKey{Namespace: "ns", Name: "web-1"}, Service: svc.Key, AddressType: proxy.IPv4,
		Ports:       []proxy.EndpointPort{{Name: "http", Protocol: proxy.TCP, Port: 8080}},
		Endpoints:   []proxy.Endpoint{{Addresses: []netip.Addr{netip.MustParseAddr("10.244.0.2")}, Ready: true, Serving: true}},
		TriggerTime: time.Now().Add(-time.Second)})

	table := func() string {
		out, _ := backend.Dump(context.Background())
		return out
	}
	// The loop must not program anything before the informers synced.
	if p.Ready() == nil || strings.Contains(table(), "10.244.0.2") {
		t.Fatal("programmed before SetReady")
	}
	p.SetReady()
	netnstest.Poll(t, "the endpoint in the table", 5*time.Second, func() error {
		if !strings.Contains(table(), "dnat ip to 10.244.0.2:8080") {
			return fmt.Errorf("table:\n%s", table())
		}
		return nil
	})
	if err := p.Ready(); err != nil {
		t.Fatalf("ready after a sync: %v", err)
	}
	if err := p.Healthy(); err != nil {
		t.Fatalf("healthy after a sync: %v", err)
	}

	// A rule deleted by hand comes back with the periodic full resync, without any change.
	ns.Run("nft", "flush", "map", "inet", "skiff", "service-ips")
	netnstest.Poll(t, "the resync to restore the map element", 5*time.Second, func() error {
		if !strings.Contains(table(), "10.96.0.5 . tcp . 80 : goto service-") {
			return fmt.Errorf("table:\n%s", table())
		}
		return nil
	})

	if n := testutil.CollectAndCount(reg, "skiff_netproxy_sync_duration_seconds"); n == 0 {
		t.Fatal("no sync duration samples")
	}
	metrics, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var programmed uint64
	var rules float64
	for _, mf := range metrics {
		switch mf.GetName() {
		case "skiff_netproxy_network_programming_duration_seconds":
			programmed = mf.GetMetric()[0].GetHistogram().GetSampleCount()
			if sum := mf.GetMetric()[0].GetHistogram().GetSampleSum(); sum < 1 {
				t.Fatalf("programming latency %.3fs, want at least the 1s since the trigger time", sum)
			}
		case "skiff_netproxy_rules":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "type" && l.GetValue() == "chains" {
						rules = m.GetGauge().GetValue()
					}
				}
			}
		}
	}
	if programmed != 1 {
		t.Fatalf("network programming samples %d, want 1 (one endpoint change)", programmed)
	}
	if rules < 3 {
		t.Fatalf("skiff_netproxy_rules{type=chains} = %v", rules)
	}
}
