// Package daemon assembles skiff-netproxy: it holds the command-line configuration, chooses the proxy
// backend (--mode), wires the informers, the sync loop, the cluster DNS server and the health and
// metrics servers together, and implements --cleanup.
//
// It owns no proxy logic of its own: that lives in internal/proxy and the backends.
package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/skiffhq/skiff/shared/component"
)

// Modes accepted by --mode.
const (
	ModeAuto     = "auto"
	ModeNftables = "nftables"
	ModeIPVS     = "ipvs"
)

// Config is skiff-netproxy's configuration, filled from flags.
type Config struct {
	Kubeconfig        string
	Context           string
	Mode              string
	IPVSScheduler     string
	NftablesShards    int
	NodeName          string
	NodePortAddresses []string
	ClusterCIDRs      []string
	ServiceCIDRs      []string
	MinSyncPeriod     time.Duration
	SyncPeriod        time.Duration
	Cleanup           bool
	ClusterDNS        string
	ClusterDomain     string
	DNSAddr           string
	DNSUpstreams      []string
	ResolvConf        string
	MetricsAddr       string
	HealthAddr        string
	Log               component.LogOptions
}

// Default returns the defaults: auto mode, 1s/30s sync periods, Skiff's default networks.
func Default() Config {
	return Config{
		Mode:           ModeAuto,
		IPVSScheduler:  "rr",
		NftablesShards: 8,
		ClusterCIDRs:   []string{"10.244.0.0/16"},
		ServiceCIDRs:   []string{"10.96.0.0/16"},
		MinSyncPeriod:  time.Second,
		SyncPeriod:     30 * time.Second,
		ClusterDNS:     "10.96.0.10",
		ClusterDomain:  "cluster.local",
		ResolvConf:     "/etc/resolv.conf",
		MetricsAddr:    "127.0.0.1:10249",
		HealthAddr:     "127.0.0.1:10256",
		Log:            component.DefaultLogOptions(),
	}
}

// BindFlags registers every flag on fs.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&c.Context, "context", c.Context, "kubeconfig context (default: the current context)")
	fs.StringVar(&c.Mode, "mode", c.Mode, `proxy backend: "auto" (ipvs where the kernel has IP_VS, else nftables), "nftables" or "ipvs"`)
	fs.StringVar(&c.IPVSScheduler, "ipvs-scheduler", c.IPVSScheduler, "IPVS scheduler: rr, wrr, lc or sh")
	fs.IntVar(&c.NftablesShards, "nftables-shards", c.NftablesShards, "nftables mode: how many tables (inet skiff, skiff-1, ...) Services are spread over; more make endpoint changes in big clusters cheaper (1-64)")
	fs.StringVar(&c.NodeName, "hostname-override", c.NodeName, "this node's name, as in the Node object and EndpointSlice nodeName (default: the hostname)")
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "alias of --hostname-override")
	fs.StringSliceVar(&c.NodePortAddresses, "nodeport-addresses", c.NodePortAddresses, "CIDRs of the node addresses that accept node ports (default: every local address but loopback)")
	fs.StringSliceVar(&c.ClusterCIDRs, "cluster-cidr", c.ClusterCIDRs, "pod network CIDRs; cluster IP clients outside them are masqueraded")
	fs.StringSliceVar(&c.ServiceCIDRs, "service-cidr", c.ServiceCIDRs, "Service cluster IP ranges (the cluster DNS address must be inside one)")
	fs.DurationVar(&c.MinSyncPeriod, "min-sync-period", c.MinSyncPeriod, "shortest time between two syncs; changes arriving sooner are batched")
	fs.DurationVar(&c.SyncPeriod, "sync-period", c.SyncPeriod, "how often a full resync repairs the rules even without changes")
	fs.BoolVar(&c.Cleanup, "cleanup", c.Cleanup, "remove every rule, virtual server, interface and address the netproxy created (any mode), then exit")
	fs.StringVar(&c.ClusterDNS, "cluster-dns", c.ClusterDNS, `cluster DNS address pods use; the netproxy serves DNS there ("" disables DNS)`)
	fs.StringVar(&c.ClusterDomain, "cluster-domain", c.ClusterDomain, "cluster DNS domain")
	fs.StringVar(&c.DNSAddr, "dns-addr", c.DNSAddr, "address the DNS server listens on (default: <cluster-dns>:53, bound on loopback)")
	fs.StringSliceVar(&c.DNSUpstreams, "dns-upstream", c.DNSUpstreams, "resolvers (host[:port]) for names outside the cluster domain (default: nameservers of --resolv-conf)")
	fs.StringVar(&c.ResolvConf, "resolv-conf", c.ResolvConf, "resolv.conf whose nameservers are the default DNS upstreams")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "address of the /metrics server")
	fs.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "address of the /healthz and /readyz server")
	c.Log.BindFlags(fs)
}

// parsed is the validated form of the address flags.
type parsed struct {
	nodePortAddrs []netip.Prefix
	clusterCIDRs  []netip.Prefix
	serviceCIDRs  []netip.Prefix
	clusterDNS    netip.Addr // invalid when DNS is off
	dnsAddr       string
	upstreams     []string
}

func parsePrefixes(flag string, vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not a CIDR", flag, v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// validate checks the flags and returns them parsed; errors are one line naming the flag.
func (c *Config) validate() (*parsed, error) {
	p := &parsed{}
	var err error
	switch c.Mode {
	case ModeAuto, ModeNftables, ModeIPVS:
	default:
		return nil, fmt.Errorf("--mode: %q is not one of auto, nftables, ipvs", c.Mode)
	}
	if c.NftablesShards < 1 || c.NftablesShards > 64 {
		return nil, fmt.Errorf("--nftables-shards: %d is not between 1 and 64", c.NftablesShards)
	}
	if c.MinSyncPeriod < 0 {
		return nil, errors.New("--min-sync-period must not be negative")
	}
	if c.SyncPeriod <= 0 {
		return nil, errors.New("--sync-period must be positive")
	}
	if p.nodePortAddrs, err = parsePrefixes("nodeport-addresses", c.NodePortAddresses); err != nil {
		return nil, err
	}
	if p.clusterCIDRs, err = parsePrefixes("cluster-cidr", c.ClusterCIDRs); err != nil {
		return nil, err
	}
	if p.serviceCIDRs, err = parsePrefixes("service-cidr", c.ServiceCIDRs); err != nil {
		return nil, err
	}
	if c.NodeName == "" {
		if c.NodeName, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("no --hostname-override and the hostname is unknown: %w", err)
		}
	}
	c.NodeName = strings.ToLower(c.NodeName)
	if c.ClusterDNS == "" {
		return p, nil
	}
	if p.clusterDNS, err = netip.ParseAddr(c.ClusterDNS); err != nil {
		return nil, fmt.Errorf("--cluster-dns: %q is not an IP address", c.ClusterDNS)
	}
	if len(p.serviceCIDRs) > 0 {
		inside := false
		for _, sc := range p.serviceCIDRs {
			inside = inside || sc.Contains(p.clusterDNS)
		}
		if !inside {
			return nil, fmt.Errorf("--cluster-dns %s is outside --service-cidr %s", p.clusterDNS, strings.Join(c.ServiceCIDRs, ","))
		}
	}
	p.dnsAddr = c.DNSAddr
	if p.dnsAddr == "" {
		p.dnsAddr = net.JoinHostPort(p.clusterDNS.String(), "53")
	}
	if _, _, err := net.SplitHostPort(p.dnsAddr); err != nil {
		return nil, fmt.Errorf("--dns-addr: %q is not host:port", p.dnsAddr)
	}
	for _, u := range c.DNSUpstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(u, "53")
		}
		p.upstreams = append(p.upstreams, u)
	}
	return p, nil
}
