package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// Config says where the CNI configuration and plugins are.
type Config struct {
	// ConfDir holds *.conflist / *.conf files; the first in lexical order is the pod network.
	ConfDir string
	// BinDirs are searched for plugin binaries.
	BinDirs []string
	// CacheDir is libcni's result cache (needed for DEL after an agent restart).
	CacheDir string
}

// PortMapping is a hostPort of a pod.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Attachment identifies a pod's network attachment.
type Attachment struct {
	// ID is unique per pod sandbox (the pod UID).
	ID                   string
	Namespace, Name, UID string
	// NetNS is the pinned network namespace path.
	NetNS string
	Ports []PortMapping
}

// Manager runs CNI for pods.
type Manager struct {
	cfg Config
	cni *libcni.CNIConfig

	mu   sync.Mutex
	list *libcni.NetworkConfigList
}

// New returns a manager. The configuration is loaded on first use, so that a default can be written
// first.
func New(cfg Config) (*Manager, error) {
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating CNI cache directory: %w", err)
	}
	return &Manager{cfg: cfg, cni: libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, nil)}, nil
}

// DefaultConfList is the configuration written when ConfDir has none: a bridge "cni0" with host-local
// addresses from podCIDR (leases kept in dataDir) and portmap for hostPorts.
func DefaultConfList(podCIDR, dataDir string) ([]byte, error) {
	_, ipnet, err := net.ParseCIDR(podCIDR)
	if err != nil {
		return nil, fmt.Errorf("--pod-cidr %q: %w", podCIDR, err)
	}
	route := "0.0.0.0/0"
	if ipnet.IP.To4() == nil {
		route = "::/0"
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "skiff",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": ipnet.String()}}},
					"routes":  []map[string]string{{"dst": route}},
					"dataDir": dataDir,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// EnsureDefaultConfig writes 10-skiff.conflist for podCIDR when ConfDir holds no configuration. It
// reports whether it wrote one.
func (m *Manager) EnsureDefaultConfig(podCIDR, dataDir string) (bool, error) {
	files, err := libcni.ConfFiles(m.cfg.ConfDir, []string{".conf", ".conflist", ".json"})
	if err == nil && len(files) > 0 {
		return false, nil
	}
	if podCIDR == "" {
		return false, errors.New("no CNI configuration in " + m.cfg.ConfDir + " and no --pod-cidr to write a default one")
	}
	b, err := DefaultConfList(podCIDR, dataDir)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(m.cfg.ConfDir, 0o755); err != nil {
		return false, fmt.Errorf("creating CNI configuration directory: %w", err)
	}
	p := filepath.Join(m.cfg.ConfDir, "10-skiff.conflist")
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		return false, fmt.Errorf("writing default CNI configuration: %w", err)
	}
	return true, os.Rename(p+".tmp", p)
}

func (m *Manager) network() (*libcni.NetworkConfigList, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.list != nil {
		return m.list, nil
	}
	files, err := libcni.ConfFiles(m.cfg.ConfDir, []string{".conf", ".conflist", ".json"})
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no CNI network configuration in %s", m.cfg.ConfDir)
	}
	sort.Strings(files)
	var list *libcni.NetworkConfigList
	if strings.HasSuffix(files[0], ".conflist") {
		list, err = libcni.ConfListFromFile(files[0])
	} else {
		var c *libcni.NetworkConfig
		c, err = libcni.ConfFromFile(files[0])
		if err == nil {
			list, err = libcni.ConfListFromConf(c)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading CNI configuration %s: %w", files[0], err)
	}
	m.list = list
	return list, nil
}

var loopback = []byte(`{"cniVersion":"1.0.0","name":"cni-loopback","plugins":[{"type":"loopback"}]}`)

func (m *Manager) runtimeConf(a Attachment, ifName string) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: a.ID,
		NetNS:       a.NetNS,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", a.Namespace},
			{"K8S_POD_NAME", a.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", a.ID},
			{"K8S_POD_UID", a.UID},
		},
	}
	if len(a.Ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": a.Ports}
	}
	return rt
}

// Setup attaches the pod's network namespace and returns its IPs (IPv4 first).
func (m *Manager) Setup(ctx context.Context, a Attachment) ([]net.IP, error) {
	list, err := m.network()
	if err != nil {
		return nil, err
	}
	lo, err := libcni.ConfListFromBytes(loopback)
	if err != nil {
		return nil, err
	}
	if _, err := m.cni.AddNetworkList(ctx, lo, m.runtimeConf(a, "lo")); err != nil {
		return nil, fmt.Errorf("CNI loopback ADD: %w", err)
	}
	res, err := m.cni.AddNetworkList(ctx, list, m.runtimeConf(a, "eth0"))
	if err != nil {
		return nil, fmt.Errorf("CNI network %s ADD: %w", list.Name, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("CNI result: %w", err)
	}
	var ips []net.IP
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			ips = append([]net.IP{ip.Address.IP}, ips...)
		} else {
			ips = append(ips, ip.Address.IP)
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("CNI network %s gave the pod no IP", list.Name)
	}
	return ips, nil
}

// Teardown detaches the pod (CNI DEL), releasing its IP. It is safe to repeat, and works without the
// network namespace (it may be gone after a reboot).
func (m *Manager) Teardown(ctx context.Context, a Attachment) error {
	list, err := m.network()
	if err != nil {
		return err
	}
	if a.NetNS != "" && !isNamespace(a.NetNS) {
		a.NetNS = ""
	}
	var errs []error
	if err := m.cni.DelNetworkList(ctx, list, m.runtimeConf(a, "eth0")); err != nil {
		errs = append(errs, fmt.Errorf("CNI network %s DEL: %w", list.Name, err))
	}
	if lo, err := libcni.ConfListFromBytes(loopback); err == nil && a.NetNS != "" {
		_ = m.cni.DelNetworkList(ctx, lo, m.runtimeConf(a, "lo"))
	}
	return errors.Join(errs...)
}
