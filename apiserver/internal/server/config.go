package server

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/skiffhq/skiff/apiserver/internal/admission"

	"github.com/skiffhq/skiff/shared/component"
)

// Config is everything the apiserver is started with; main fills it from flags.
type Config struct {
	// BindAddress and Port are where the API is served (plain HTTP, loopback only until TLS and
	// authentication exist).
	BindAddress string
	Port        int
	// AdvertiseAddress is the IP the kubernetes Service's Endpoints carry (empty: BindAddress).
	AdvertiseAddress string
	// DataDir holds the embedded etcd's data when EtcdServers is empty.
	DataDir string
	// EtcdServers are the client URLs of an external etcd cluster.
	EtcdServers []string
	// EtcdListenClientURL and EtcdListenPeerURL fix the embedded etcd's listeners (empty: a free
	// loopback port each).
	EtcdListenClientURL string
	EtcdListenPeerURL   string
	// ServiceClusterIPRange is the range ClusterIPs are allocated from.
	ServiceClusterIPRange string
	// ServiceNodePortRange is the inclusive node port range, "30000-32767".
	ServiceNodePortRange string
	// EtcdCompactionInterval is how often etcd history is compacted (0 or negative: never).
	EtcdCompactionInterval time.Duration
	// EnableAdmissionPlugins and DisableAdmissionPlugins adjust the admission chain (default: every
	// plugin of internal/admission on).
	EnableAdmissionPlugins  []string
	DisableAdmissionPlugins []string
	// DefaultNotReadyTolerationSeconds and DefaultUnreachableTolerationSeconds are the
	// tolerationSeconds the DefaultTolerationSeconds plugin gives pods.
	DefaultNotReadyTolerationSeconds    int64
	DefaultUnreachableTolerationSeconds int64
	// Log configures logging.
	Log component.LogOptions

	// The fields below are for tests and embedding; they have no flags.

	// UnsafeNoFsync turns fsync off in the embedded etcd (tests only).
	UnsafeNoFsync bool
	// BookmarkInterval and MinWatchTimeout tune watches (defaults 1m and 30m).
	BookmarkInterval time.Duration
	MinWatchTimeout  time.Duration
	// WatchCacheSize is the watch cache's per-resource window (default: the store's).
	WatchCacheSize int
	// TooLargeResourceVersionWait is how long a watch from a future resourceVersion waits before 504
	// (default 3s).
	TooLargeResourceVersionWait time.Duration
	// EndpointReconcileInterval is how often the kubernetes Service's Endpoints are re-checked besides
	// on every change (default 10s, as Kubernetes).
	EndpointReconcileInterval time.Duration
}

// DefaultDataDir is /var/lib/skiff/apiserver for root and ./skiff-data for anyone else.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/skiff/apiserver"
	}
	return "skiff-data"
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	return Config{
		BindAddress:                         "127.0.0.1",
		Port:                                8080,
		DataDir:                             DefaultDataDir(),
		ServiceClusterIPRange:               "10.96.0.0/16",
		ServiceNodePortRange:                "30000-32767",
		EtcdCompactionInterval:              5 * time.Minute,
		DefaultNotReadyTolerationSeconds:    300,
		DefaultUnreachableTolerationSeconds: 300,
		Log:                                 component.DefaultLogOptions(),
	}
}

// BindFlags registers the apiserver's flags.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.BindAddress, "bind-address", c.BindAddress, "address to serve the API on; only loopback addresses are accepted until TLS and authentication exist")
	fs.StringVar(&c.AdvertiseAddress, "advertise-address", c.AdvertiseAddress, "IP address the kubernetes Service's Endpoints and EndpointSlice point at (default: --bind-address)")
	fs.IntVar(&c.Port, "port", c.Port, "port to serve the API, /healthz, /readyz, /livez, /metrics and /version on")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded etcd's data (ignored with --etcd-servers)")
	fs.StringSliceVar(&c.EtcdServers, "etcd-servers", c.EtcdServers, "client URLs of an external etcd cluster, comma separated; empty runs etcd embedded in --data-dir")
	fs.StringVar(&c.EtcdListenClientURL, "etcd-listen-client-url", c.EtcdListenClientURL, "client URL the embedded etcd listens on, e.g. http://127.0.0.1:2379 (default: a free loopback port; ignored with --etcd-servers)")
	fs.StringVar(&c.EtcdListenPeerURL, "etcd-listen-peer-url", c.EtcdListenPeerURL, "peer URL the embedded etcd listens on, e.g. http://127.0.0.1:2380 (default: a free loopback port; ignored with --etcd-servers)")
	fs.StringVar(&c.ServiceClusterIPRange, "service-cluster-ip-range", c.ServiceClusterIPRange, "IPv4 CIDR Service ClusterIPs are allocated from")
	fs.StringVar(&c.ServiceNodePortRange, "service-node-port-range", c.ServiceNodePortRange, "inclusive range of Service node ports, low-high")
	fs.DurationVar(&c.EtcdCompactionInterval, "etcd-compaction-interval", c.EtcdCompactionInterval, "how often etcd history is compacted; 0 turns compaction off")
	fs.StringSliceVar(&c.EnableAdmissionPlugins, "enable-admission-plugins", c.EnableAdmissionPlugins, "admission plugins to enable besides the default ones (every plugin is on by default): "+strings.Join(admission.Names(), ", "))
	fs.StringSliceVar(&c.DisableAdmissionPlugins, "disable-admission-plugins", c.DisableAdmissionPlugins, "admission plugins to turn off, comma separated: "+strings.Join(admission.Names(), ", "))
	fs.Int64Var(&c.DefaultNotReadyTolerationSeconds, "default-not-ready-toleration-seconds", c.DefaultNotReadyTolerationSeconds, "tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute toleration added to every pod that has none")
	fs.Int64Var(&c.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", c.DefaultUnreachableTolerationSeconds, "tolerationSeconds of the node.kubernetes.io/unreachable:NoExecute toleration added to every pod that has none")
	c.Log.BindFlags(fs)
}

// Validate checks the configuration, refusing a non-loopback bind address in one clear line.
func (c *Config) Validate() error {
	host := c.BindAddress
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil {
			return fmt.Errorf("--bind-address %q is not an IP address", host)
		}
		if !ip.IsLoopback() {
			return fmt.Errorf("--bind-address %s is not a loopback address: the apiserver has no TLS or authentication yet, so it serves on loopback only (use 127.0.0.1)", host)
		}
	}
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		return fmt.Errorf("--advertise-address %q is not an IP address", c.AdvertiseAddress)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("--port %d is out of range", c.Port)
	}
	if len(c.EtcdServers) == 0 && c.DataDir == "" {
		return fmt.Errorf("--data-dir is required when --etcd-servers is not set")
	}
	for flag, u := range map[string]string{"--etcd-listen-client-url": c.EtcdListenClientURL, "--etcd-listen-peer-url": c.EtcdListenPeerURL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Port() == "" {
			return fmt.Errorf("%s %q is not a URL like http://127.0.0.1:2379", flag, u)
		}
	}
	if _, err := c.clusterIPRange(); err != nil {
		return err
	}
	if _, err := c.nodePortRange(); err != nil {
		return err
	}
	if _, err := admission.Enabled(c.EnableAdmissionPlugins, c.DisableAdmissionPlugins); err != nil {
		return fmt.Errorf("--enable-admission-plugins/--disable-admission-plugins: %w", err)
	}
	if c.DefaultNotReadyTolerationSeconds < 0 || c.DefaultUnreachableTolerationSeconds < 0 {
		return fmt.Errorf("--default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds may not be negative")
	}
	return nil
}

func (c *Config) clusterIPRange() (netip.Prefix, error) {
	p, err := netip.ParsePrefix(c.ServiceClusterIPRange)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("--service-cluster-ip-range %q is not an IPv4 CIDR", c.ServiceClusterIPRange)
	}
	return p, nil
}

func (c *Config) nodePortRange() ([2]int, error) {
	lo, hi, ok := strings.Cut(c.ServiceNodePortRange, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return [2]int{}, fmt.Errorf("--service-node-port-range %q is not a port range like 30000-32767", c.ServiceNodePortRange)
	}
	return [2]int{a, b}, nil
}

// Address is host:port of the API.
func (c *Config) Address() string {
	return net.JoinHostPort(c.BindAddress, strconv.Itoa(c.Port))
}
