package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netproxy/internal/netnstest"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// benchStore holds n Services (one TCP port, ClusterIP) with 10 ready endpoints each.
func benchStore(n int) *proxy.Store {
	s := proxy.NewStore("n1")
	for i := 0; i < n; i++ {
		s.UpsertService(&proxy.Service{
			Key:        proxy.ServiceKey{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i)},
			ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})},
			Ports:      []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80}},
		})
		s.UpsertSlice(benchSlice(i, 0))
	}
	return s
}

// benchSlice is Service i's slice; gen shifts the endpoint addresses, as a rollout would.
func benchSlice(i, gen int) *proxy.EndpointSlice {
	sl := &proxy.EndpointSlice{
		Key:         proxy.EndpointSliceKey{Namespace: "bench", Name: fmt.Sprintf("svc-%d-1", i)},
		Service:     proxy.ServiceKey{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i)},
		AddressType: proxy.IPv4,
		Ports:       []proxy.EndpointPort{{Name: "http", Protocol: proxy.TCP, Port: 8080}},
	}
	for e := 0; e < 10; e++ {
		ip := netip.AddrFrom4([4]byte{10, byte(128 + (e+gen)%64), byte(i >> 8), byte(i)})
		sl.Endpoints = append(sl.Endpoints, proxy.Endpoint{Addresses: []netip.Addr{ip}, Ready: true, Serving: true, NodeName: "n1"})
	}
	return sl
}

func report(b *testing.B, c proxy.RuleCounts) {
	b.ReportMetric(float64(c["rules"]), "rules")
	b.ReportMetric(float64(c["chains"]), "chains")
	b.ReportMetric(float64(c["map_elements"]), "map_elements")
}

// BenchmarkFullSync measures a full sync (listing the table, generating and applying the whole ruleset
// in one nft transaction) over a table already holding the same rules, as the periodic resync does.
func BenchmarkFullSync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			netnstest.Require(b)
			ns := netnstest.New(b)
			store := benchStore(n)
			be := New(Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, Runner: ExecRunner{Prefix: ns.Prefix()}, NetNS: ns.Path()})
			ctx := context.Background()
			start := time.Now()
			counts, err := be.Sync(ctx, store.Snapshot(), true)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(time.Since(start).Seconds(), "first-sync-s")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if counts, err = be.Sync(ctx, store.Snapshot(), true); err != nil {
					b.Fatal(err)
				}
			}
			report(b, counts)
		})
	}
}

// BenchmarkIncrementalSync measures the programming latency of one endpoint change (one Service's
// slice replaced) with n Services programmed: the partial sync from snapshot to rules in the kernel,
// with the Services in one table and spread over the default number of shard tables.
func BenchmarkIncrementalSync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, shards := range []int{1, DefaultShards} {
			b.Run(fmt.Sprintf("services=%d/shards=%d", n, shards), func(b *testing.B) {
				netnstest.Require(b)
				ns := netnstest.New(b)
				store := benchStore(n)
				be := New(Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, Shards: shards,
					Runner: ExecRunner{Prefix: ns.Prefix()}, NetNS: ns.Path()})
				ctx := context.Background()
				counts, err := be.Sync(ctx, store.Snapshot(), true)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					store.UpsertSlice(benchSlice(i%n, i+1))
					if counts, err = be.Sync(ctx, store.Snapshot(), false); err != nil {
						b.Fatal(err)
					}
					if err := be.LastFallback(); err != nil {
						b.Fatalf("the partial sync fell back to a full sync: %v", err)
					}
				}
				b.StopTimer()
				report(b, counts)
			})
		}
	}
}
