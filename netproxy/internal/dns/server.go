package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// Config configures the DNS server.
type Config struct {
	// Domain is the cluster domain, "cluster.local" when empty.
	Domain string
	// Upstreams are host:port resolvers that names outside the domain are forwarded to, tried in order.
	Upstreams []string
	// TTL of answers about the cluster; 5 seconds when zero (as CoreDNS's kubernetes plugin).
	TTL uint32
	// UpstreamTimeout bounds one forwarded exchange; 2 seconds when zero.
	UpstreamTimeout time.Duration
}

// Server answers DNS queries. It is an http.Handler-like dns.Handler; Serve runs it on sockets.
type Server struct {
	cfg    Config
	zone   string // "cluster.local."
	snap   func() *proxy.Snapshot
	log    *zap.Logger
	client *dns.Client
}

// New returns a server reading the cluster state from snap.
func New(cfg Config, snap func() *proxy.Snapshot, log *zap.Logger) *Server {
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = 2 * time.Second
	}
	return &Server{cfg: cfg, zone: dns.Fqdn(strings.ToLower(cfg.Domain)), snap: snap, log: log,
		client: &dns.Client{Timeout: cfg.UpstreamTimeout}}
}

// Serve answers on pc (UDP) and ln (TCP), either of which may be nil, until ctx ends.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	var servers []*dns.Server
	if pc != nil {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: s})
	}
	if ln != nil {
		servers = append(servers, &dns.Server{Listener: ln, Handler: s})
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
	if err != nil {
		return fmt.Errorf("dns server: %w", err)
	}
	return nil
}

// ListenAndServe binds addr on UDP and TCP and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("dns: listening on udp %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns: listening on tcp %s: %w", addr, err)
	}
	s.log.Info("cluster DNS listening", zap.String("addr", addr), zap.String("domain", s.cfg.Domain), zap.Strings("upstreams", s.cfg.Upstreams))
	return s.Serve(ctx, pc, ln)
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	var resp *dns.Msg
	if name == s.zone || strings.HasSuffix(name, "."+s.zone) {
		resp = s.answer(req, q, strings.TrimSuffix(strings.TrimSuffix(name, s.zone), "."))
	} else {
		resp = s.forward(w, req)
	}
	size := dns.MinMsgSize
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		size = dns.MaxMsgSize
	} else if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
	}
	resp.Truncate(size)
	_ = w.WriteMsg(resp)
}

// forward sends the query to the upstreams in turn; SERVFAIL when none answers.
func (s *Server) forward(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	network := "udp"
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		network = "tcp"
	}
	var lastErr error
	for _, up := range s.cfg.Upstreams {
		c := *s.client
		c.Net = network
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.UpstreamTimeout)
		resp, _, err := c.ExchangeContext(ctx, req, up)
		if err == nil && resp.Truncated && network == "udp" {
			c.Net = "tcp"
			resp, _, err = c.ExchangeContext(ctx, req, up)
		}
		cancel()
		if err == nil {
			resp.Id = req.Id
			return resp
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("no upstream resolvers configured")
	}
	s.log.Debug("forwarding failed", zap.String("name", req.Question[0].Name), zap.Error(lastErr))
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	return m
}

// answer resolves a name inside the cluster domain; rel is the name without the domain ("web.default.svc").
func (s *Server) answer(req *dns.Msg, q dns.Question, rel string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	var labels []string
	if rel != "" {
		labels = strings.Split(rel, ".")
	}
	rrs, exists := s.lookup(q, labels)
	switch {
	case len(rrs) > 0:
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY || rr.Header().Rrtype == dns.TypeCNAME && q.Qtype != dns.TypeSRV {
				m.Answer = append(m.Answer, rr)
			} else {
				m.Extra = append(m.Extra, rr)
			}
		}
		if len(m.Answer) == 0 {
			m.Extra = nil
			m.Ns = []dns.RR{s.soa()}
		}
	case exists:
		m.Ns = []dns.RR{s.soa()}
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{s.soa()}
	}
	if q.Qtype == dns.TypeSOA && len(labels) == 0 {
		m.Answer, m.Ns = []dns.RR{s.soa()}, nil
	}
	return m
}

func (s *Server) soa() dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: s.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: s.cfg.TTL},
		Ns:  "ns.dns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: uint32(time.Now().Unix()), Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.cfg.TTL,
	}
}

// lookup returns the records for a name (of every type; the caller picks the asked one) and whether
// the name exists at all (an empty non-terminal or a name with records of other types).
func (s *Server) lookup(q dns.Question, labels []string) ([]dns.RR, bool) {
	snap := s.snap()
	n := len(labels)
	switch {
	case n == 0:
		return nil, true
	case n == 1:
		return nil, labels[0] == "svc" || labels[0] == "pod"
	case labels[n-1] == "pod":
		if n == 2 {
			return nil, namespaceExists(snap, labels[0])
		}
		if n == 3 {
			return s.podRecord(q.Name, labels[0])
		}
		return nil, false
	case labels[n-1] != "svc":
		return nil, false
	}
	ns := labels[n-2]
	switch n {
	case 2:
		return nil, namespaceExists(snap, ns)
	case 3:
		svc := snap.Services[proxy.ServiceKey{Namespace: ns, Name: labels[0]}]
		if svc == nil {
			return nil, false
		}
		return s.serviceRecords(snap, svc, q.Name), true
	case 4:
		// <hostname>.<svc>.<ns>.svc, or the empty non-terminal _<proto>.<svc>.<ns>.svc
		svc := snap.Services[proxy.ServiceKey{Namespace: ns, Name: labels[1]}]
		if svc == nil {
			return nil, false
		}
		if strings.HasPrefix(labels[0], "_") {
			for _, p := range svc.Ports {
				if p.Name != "" && "_"+p.Protocol.Lower() == labels[0] {
					return nil, true
				}
			}
			return nil, false
		}
		rrs := s.hostRecords(snap, svc, labels[0], q.Name)
		return rrs, len(rrs) > 0
	case 5:
		svc := snap.Services[proxy.ServiceKey{Namespace: ns, Name: labels[2]}]
		if svc == nil || !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return nil, false
		}
		rrs := s.srvRecords(snap, svc, labels[0][1:], labels[1][1:], q.Name)
		return rrs, len(rrs) > 0
	}
	return nil, false
}

func namespaceExists(snap *proxy.Snapshot, ns string) bool {
	for k := range snap.Services {
		if k.Namespace == ns {
			return true
		}
	}
	return false
}

func (s *Server) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.cfg.TTL}
}

func (s *Server) addrRR(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: s.hdr(name, dns.TypeA), A: ip.AsSlice()}
	}
	return &dns.AAAA{Hdr: s.hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()}
}

// readyEndpoints returns the Service's ready endpoints (over all ports), one per address.
func readyEndpoints(snap *proxy.Snapshot, svc *proxy.Service) []proxy.Endpoint {
	var out []proxy.Endpoint
	seen := map[netip.Addr]bool{}
	for _, sl := range snap.Slices[svc.Key] {
		for _, ep := range sl.Endpoints {
			if !ep.Ready {
				continue
			}
			var addrs []netip.Addr
			for _, a := range ep.Addresses {
				if a.IsValid() && !seen[a] {
					seen[a] = true
					addrs = append(addrs, a)
				}
			}
			if len(addrs) > 0 {
				e := ep
				e.Addresses = addrs
				out = append(out, e)
			}
		}
	}
	return out
}

func (s *Server) serviceRecords(snap *proxy.Snapshot, svc *proxy.Service, name string) []dns.RR {
	var rrs []dns.RR
	switch {
	case svc.ExternalName != "":
		rrs = append(rrs, &dns.CNAME{Hdr: s.hdr(name, dns.TypeCNAME), Target: dns.Fqdn(svc.ExternalName)})
	case svc.Headless:
		for _, ep := range readyEndpoints(snap, svc) {
			for _, a := range ep.Addresses {
				rrs = append(rrs, s.addrRR(name, a))
			}
		}
	default:
		for _, ip := range svc.ClusterIPs {
			rrs = append(rrs, s.addrRR(name, ip))
		}
	}
	// SRV at the Service name itself: one per named port (as CoreDNS answers).
	for _, p := range svc.Ports {
		if p.Name != "" && svc.ExternalName == "" {
			rrs = append(rrs, &dns.SRV{Hdr: s.hdr(name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: name})
		}
	}
	return rrs
}

// endpointName is the DNS label of a headless endpoint: its hostname, or its dashed address.
func endpointName(ep proxy.Endpoint) string {
	if ep.Hostname != "" {
		return strings.ToLower(ep.Hostname)
	}
	return strings.NewReplacer(".", "-", ":", "-").Replace(ep.Addresses[0].String())
}

func (s *Server) hostRecords(snap *proxy.Snapshot, svc *proxy.Service, host, name string) []dns.RR {
	if !svc.Headless {
		return nil
	}
	var rrs []dns.RR
	for _, ep := range readyEndpoints(snap, svc) {
		if endpointName(ep) == host {
			for _, a := range ep.Addresses {
				rrs = append(rrs, s.addrRR(name, a))
			}
		}
	}
	return rrs
}

func (s *Server) srvRecords(snap *proxy.Snapshot, svc *proxy.Service, port, proto, name string) []dns.RR {
	base := strings.SplitN(name, ".", 3)[2] // <svc>.<ns>.svc.<domain>.
	var rrs []dns.RR
	for _, p := range svc.Ports {
		if p.Name == "" || strings.ToLower(p.Name) != port || p.Protocol.Lower() != proto {
			continue
		}
		if !svc.Headless {
			rrs = append(rrs, &dns.SRV{Hdr: s.hdr(name, dns.TypeSRV), Weight: 100, Port: uint16(p.Port), Target: base})
			for _, ip := range svc.ClusterIPs {
				rrs = append(rrs, s.addrRR(base, ip))
			}
			continue
		}
		// Headless: one SRV per ready endpoint, with the endpoint's own port number.
		for _, e := range snap.Endpoints(svc, p) {
			if !e.Ready {
				continue
			}
			target := endpointName(proxy.Endpoint{Hostname: e.Hostname, Addresses: []netip.Addr{e.IP}}) + "." + base
			rrs = append(rrs, &dns.SRV{Hdr: s.hdr(name, dns.TypeSRV), Weight: 100, Port: uint16(e.Port), Target: target})
			rrs = append(rrs, s.addrRR(target, e.IP))
		}
	}
	return rrs
}

// podRecord answers <a-b-c-d>.<ns>.pod.<domain> with the address in the name (CoreDNS "pods insecure").
func (s *Server) podRecord(name, label string) ([]dns.RR, bool) {
	var ip netip.Addr
	var err error
	if strings.Count(label, "-") == 3 {
		ip, err = netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
	} else {
		ip, err = netip.ParseAddr(strings.ReplaceAll(label, "-", ":"))
	}
	if err != nil {
		return nil, false
	}
	return []dns.RR{s.addrRR(name, ip)}, true
}

// ParseResolvConf returns the nameservers of a resolv.conf as host:port, in file order.
func ParseResolvConf(data string) []string {
	var out []string
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(ip.String(), strconv.Itoa(53)))
	}
	return out
}
