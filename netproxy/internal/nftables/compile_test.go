package nftables

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/google/nftables/expr"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// The integration tests check that compiled rules list exactly like nft's; these check the compiler
// alone: the expressions of the trickier forms, and that every rule a Service can produce compiles.

func TestCompileRule(t *testing.T) {
	meta4 := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{2}}}
	for _, tc := range []struct {
		name string
		rule string
		want []expr.Any
	}{
		{"a byte-aligned prefix loads only its bytes", "ip saddr != 10.244.0.0/16 jump mark-for-masquerade", append(append([]expr.Any{}, meta4...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 2},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{10, 244}},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: "mark-for-masquerade"})},
		{"another prefix is masked", "ip saddr 10.240.0.0/12 goto x", append(append([]expr.Any{}, meta4...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 240, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 240, 0, 0}},
			&expr.Verdict{Kind: expr.VerdictGoto, Chain: "x"})},
		{"the family dependency is emitted once per rule", "ip daddr 10.96.0.5 tcp dport 80 ip saddr 10.0.0.0/8 drop", append(append([]expr.Any{}, meta4...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 96, 0, 5}},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 80}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10}},
			&expr.Verdict{Kind: expr.VerdictDrop})},
		{"dnat to an IPv6 endpoint", "meta l4proto udp dnat ip6 to [fd00::2]:8080", []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{17}},
			&expr.Immediate{Register: 1, Data: netip.MustParseAddr("fd00::2").AsSlice()},
			&expr.Immediate{Register: 2, Data: []byte{0x1f, 0x90}},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: 10, RegAddrMin: 1, RegProtoMin: 2, Specified: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compileRule(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("compileRule(%q)\n got %s\nwant %s", tc.rule, dumpExprs(got), dumpExprs(tc.want))
			}
		})
	}
}

func dumpExprs(es []expr.Any) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprintf("\n  %T%+v", e, e)
	}
	return s
}

func TestCompileRejectsUnknownSyntax(t *testing.T) {
	for _, rule := range []string{"ct state new accept", "ip saddr", "tcp sport 80 drop", "numgen inc mod 2 == 0 drop", "ip saddr 0.0.0.0/0 drop", "dnat ip to 10.0.0.1"} {
		if _, err := compileRule(rule); err == nil {
			t.Errorf("compileRule(%q) succeeded; want an error", rule)
		}
	}
}

func TestEveryServiceRuleCompiles(t *testing.T) {
	eps := []proxy.Endpoint{readyEP("10.244.0.2", "n1"), readyEP("10.244.0.3", "n2"), readyEP("10.244.0.4", "n1")}
	for _, cfg := range []Config{
		{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.240.0.0/12")}},
		{MasqueradeAll: true},
	} {
		b := New(cfg)
		for _, mut := range []func(*proxy.Service){
			nil,
			func(s *proxy.Service) { s.AffinityClientIP = true; s.AffinityTimeout = time.Minute },
			func(s *proxy.Service) { s.ExternalLocal = true },
			func(s *proxy.Service) { s.InternalLocal = true },
			func(s *proxy.Service) { s.ExternalIPs = []netip.Addr{netip.MustParseAddr("192.0.2.1")} },
			func(s *proxy.Service) { s.Ports[0].Protocol = proxy.SCTP },
		} {
			svc := &proxy.Service{Key: proxy.ServiceKey{Namespace: "ns", Name: "web"}, ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.5")},
				Ports: []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80, NodePort: 30080}}}
			if mut != nil {
				mut(svc)
			}
			f := b.serviceFragment(snapshotOf(svc, eps...), svc)
			for _, c := range f.chains {
				for _, r := range c.rules {
					if _, err := compileRule(r); err != nil {
						t.Error(err)
					}
				}
			}
			for _, e := range f.elems {
				if _, err := compileKey(e.key); err != nil {
					t.Error(err)
				}
				if _, err := compileVerdict(e.value); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

func TestCompileKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want []byte
	}{
		{"10.96.0.5 . tcp . 80", []byte{10, 96, 0, 5, 6, 0, 0, 0, 0, 80, 0, 0}},
		{"udp . 30053", []byte{17, 0, 0, 0, 0x75, 0x65, 0, 0}},
	} {
		got, err := compileKey(tc.key)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("compileKey(%q) = %v, %v; want %v", tc.key, got, err, tc.want)
		}
	}
}
