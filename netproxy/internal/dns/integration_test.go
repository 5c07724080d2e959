package dns

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/netproxy/internal/netnstest"
	"github.com/skiffhq/skiff/netproxy/internal/nftables"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// TestPodsReachClusterDNSAddress puts the cluster DNS address on the loopback of a private node
// namespace, serves DNS on it there, and resolves a Service from a pod namespace wired to that node.
func TestPodsReachClusterDNSAddress(t *testing.T) {
	netnstest.Require(t)
	node := netnstest.NewNode(t, "192.168.77.2")
	pod := node.AddPod(t, "10.244.0.10")
	runner := nftables.ExecRunner{Prefix: node.Prefix()}
	clusterDNS := netip.MustParseAddr("10.96.0.10")
	ctx := context.Background()
	for i := 0; i < 2; i++ { // idempotent: a restart adds it again
		if err := AddLocalAddress(ctx, runner, clusterDNS); err != nil {
			t.Fatal(err)
		}
	}

	var pc net.PacketConn
	var ln net.Listener
	if err := node.Do(func() (err error) {
		if pc, err = net.ListenPacket("udp", "10.96.0.10:53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", "10.96.0.10:53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	snap := testSnapshot()
	s := New(Config{}, func() *proxy.Snapshot { return snap }, zap.NewNop())
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, pc, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	var answer *dns.Msg
	netnstest.Poll(t, "an answer from 10.96.0.10 in the pod", 5*time.Second, func() error {
		conn, err := pod.Dial("udp", "10.96.0.10:53", time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		m := new(dns.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
		c := &dns.Client{Timeout: time.Second}
		answer, _, err = c.ExchangeWithConn(m, &dns.Conn{Conn: conn})
		return err
	})
	if len(answer.Answer) != 1 || answer.Answer[0].(*dns.A).A.String() != "10.96.0.50" {
		t.Fatalf("answer %v, want web's cluster IP 10.96.0.50", answer)
	}

	if err := RemoveLocalAddress(ctx, runner, clusterDNS); err != nil {
		t.Fatal(err)
	}
	if err := RemoveLocalAddress(ctx, runner, clusterDNS); err != nil {
		t.Fatalf("removing an address already gone: %v", err)
	}
}
