package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// The server under test and its upstream both listen on loopback; no query leaves the machine.

func startUpstream(t *testing.T) string {
	t.Helper()
	pc, ln := listenBoth(t)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Name == "example.org." && r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.1")}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// listenBoth opens UDP and TCP sockets on one free loopback port (retrying when the UDP port's number
// is taken on TCP).
func listenBoth(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	var last error
	for i := 0; i < 20; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
		last = err
	}
	t.Fatalf("no loopback port free on both UDP and TCP: %v", last)
	return nil, nil
}

func testSnapshot() *proxy.Snapshot {
	web := &proxy.Service{Key: proxy.ServiceKey{Namespace: "default", Name: "web"},
		ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.50"), netip.MustParseAddr("fd00::50")},
		Ports:      []proxy.ServicePort{{Name: "http", Protocol: proxy.TCP, Port: 80}}}
	db := &proxy.Service{Key: proxy.ServiceKey{Namespace: "data", Name: "db"}, Headless: true,
		Ports: []proxy.ServicePort{{Name: "pg", Protocol: proxy.TCP, Port: 5432}}}
	ext := &proxy.Service{Key: proxy.ServiceKey{Namespace: "default", Name: "ext"}, ExternalName: "example.org"}
	ip := netip.MustParseAddr
	return &proxy.Snapshot{
		Services: map[proxy.ServiceKey]*proxy.Service{web.Key: web, db.Key: db, ext.Key: ext},
		Slices: map[proxy.ServiceKey][]*proxy.EndpointSlice{db.Key: {{
			Key: proxy.EndpointSliceKey{Namespace: "data", Name: "db-1"}, Service: db.Key, AddressType: proxy.IPv4,
			Ports: []proxy.EndpointPort{{Name: "pg", Protocol: proxy.TCP, Port: 5432}},
			Endpoints: []proxy.Endpoint{
				{Addresses: []netip.Addr{ip("10.244.0.10")}, Ready: true, Hostname: "db-0"},
				{Addresses: []netip.Addr{ip("10.244.0.11")}, Ready: true, Hostname: "db-1"},
				{Addresses: []netip.Addr{ip("10.244.0.12")}, Ready: false, Hostname: "db-2"},
			},
		}}},
	}
}

func startServer(t *testing.T, upstream string) string {
	t.Helper()
	snap := testSnapshot()
	s := New(Config{Upstreams: []string{upstream}}, func() *proxy.Snapshot { return snap }, zap.NewNop())
	pc, ln := listenBoth(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return pc.LocalAddr().String()
}

func query(t *testing.T, server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	var resp *dns.Msg
	var err error
	// The server may still be starting: retry briefly.
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, _, err = c.Exchange(m, server)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return resp
}

// values renders the answer section's data, sorted.
func values(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		case *dns.SRV:
			out = append(out, r.Target+":"+strconv.Itoa(int(r.Port)))
		case *dns.CNAME:
			out = append(out, "cname "+r.Target)
		}
	}
	sort.Strings(out)
	return out
}

func TestClusterDNS(t *testing.T) {
	server := startServer(t, startUpstream(t))
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		want  []string
	}{
		{"service A record is the cluster IP", "web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.50"}},
		{"service AAAA record", "web.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00::50"}},
		{"names are case-insensitive", "WEB.Default.SVC.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.50"}},
		{"headless service answers with its ready endpoints", "db.data.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.10", "10.244.0.11"}},
		{"StatefulSet pod by hostname and subdomain", "db-1.db.data.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.11"}},
		{"unready pod has no hostname record", "db-2.db.data.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"SRV for a named port", "_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"web.default.svc.cluster.local.:80"}},
		{"SRV of a headless service lists each endpoint", "_pg._tcp.db.data.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"db-0.db.data.svc.cluster.local.:5432", "db-1.db.data.svc.cluster.local.:5432"}},
		{"SRV for a port that does not exist", "_dns._udp.web.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError, nil},
		{"ExternalName is a CNAME", "ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"cname example.org."}},
		{"unknown service is NXDOMAIN", "nope.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"search-path expansion of an outside name is NXDOMAIN, not forwarded", "example.org.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"existing namespace is an empty answer", "default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"unknown namespace is NXDOMAIN", "nowhere.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"existing name, other type: empty answer", "web.default.svc.cluster.local.", dns.TypeMX, dns.RcodeSuccess, nil},
		{"pod record from a dashed address", "10-244-0-7.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.244.0.7"}},
		{"other names are forwarded upstream", "example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}},
		{"upstream NXDOMAIN is passed through", "missing.example.org.", dns.TypeA, dns.RcodeNameError, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				resp := query(t, server, network, tc.qname, tc.qtype)
				if resp.Rcode != tc.rcode {
					t.Fatalf("%s: rcode %s, want %s\n%v", network, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode], resp)
				}
				if got := values(resp); !slices.Equal(got, tc.want) {
					t.Fatalf("%s: answers %v, want %v\n%v", network, got, tc.want, resp)
				}
			}
		})
	}
}

func TestForwardingWithoutUpstreamIsServfail(t *testing.T) {
	// An upstream that is not listening: a closed loopback port.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	server := startServer(t, dead)
	if resp := query(t, server, "udp", "example.org.", dns.TypeA); resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
}

func TestParseResolvConf(t *testing.T) {
	got := ParseResolvConf("# comment\nsearch example.org\nnameserver 10.0.0.2\nnameserver fd00::1\nnameserver bogus\noptions ndots:5\n")
	want := []string{"10.0.0.2:53", "[fd00::1]:53"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
