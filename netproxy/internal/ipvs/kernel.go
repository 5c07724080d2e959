package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
)

// Kernel is the netlink boundary of the backend: IPVS virtual and real servers, and the addresses of
// the dummy interface that holds the cluster IPs.
type Kernel interface {
	Services() ([]*ipvs.Service, error)
	NewService(*ipvs.Service) error
	UpdateService(*ipvs.Service) error
	DelService(*ipvs.Service) error
	Destinations(*ipvs.Service) ([]*ipvs.Destination, error)
	NewDestination(*ipvs.Service, *ipvs.Destination) error
	UpdateDestination(*ipvs.Service, *ipvs.Destination) error
	DelDestination(*ipvs.Service, *ipvs.Destination) error

	// EnsureDummy creates the dummy interface (up) if it does not exist; DeleteDummy removes it.
	EnsureDummy(name string) error
	DeleteDummy(name string) error
	// Addresses lists the interface's addresses; AddAddress and DelAddress change them (host prefixes).
	Addresses(name string) ([]netip.Addr, error)
	AddAddress(name string, ip netip.Addr) error
	DelAddress(name string, ip netip.Addr) error
	// NodeAddresses lists the node's unicast addresses on other interfaces, for node ports.
	NodeAddresses(exclude string) ([]netip.Addr, error)
}

// ErrNoIPVS says the kernel has no IP_VS support.
var ErrNoIPVS = errors.New("IPVS is not available")

// Available checks that the kernel supports IPVS: /proc/net/ip_vs exists, or appears after
// `modprobe ip_vs`, and the IPVS generic netlink family answers. The error is one line naming the
// alternative.
func Available(ctx context.Context) error {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		out, merr := exec.CommandContext(ctx, "modprobe", "ip_vs").CombinedOutput()
		if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
			why := "modprobe ip_vs failed"
			if merr == nil {
				why = "modprobe ip_vs succeeded but /proc/net/ip_vs is still missing"
			} else if msg := strings.TrimSpace(string(out)); msg != "" {
				why += ": " + strings.SplitN(msg, "\n", 2)[0]
			}
			return fmt.Errorf("%w: this kernel has no IP_VS (/proc/net/ip_vs is missing and %s); use --mode=nftables", ErrNoIPVS, why)
		}
	}
	h, err := ipvs.New("")
	if err != nil {
		return fmt.Errorf("%w: opening the IPVS netlink socket: %v; use --mode=nftables", ErrNoIPVS, err)
	}
	defer h.Close()
	if _, err := h.GetServices(); err != nil {
		return fmt.Errorf("%w: the IPVS netlink family does not answer: %v; use --mode=nftables", ErrNoIPVS, err)
	}
	return nil
}

// netlinkKernel is the real Kernel.
type netlinkKernel struct {
	h *ipvs.Handle
}

// NewKernel opens the IPVS netlink socket of the current network namespace. It also turns on
// net.ipv4.vs.conntrack, without which nftables cannot masquerade IPVS traffic.
func NewKernel() (Kernel, error) {
	h, err := ipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("opening IPVS netlink socket: %w", err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/vs/conntrack", []byte("1"), 0o644); err != nil {
		h.Close()
		return nil, fmt.Errorf("enabling net.ipv4.vs.conntrack: %w", err)
	}
	return &netlinkKernel{h: h}, nil
}

func (k *netlinkKernel) Services() ([]*ipvs.Service, error)  { return k.h.GetServices() }
func (k *netlinkKernel) NewService(s *ipvs.Service) error    { return k.h.NewService(s) }
func (k *netlinkKernel) UpdateService(s *ipvs.Service) error { return k.h.UpdateService(s) }
func (k *netlinkKernel) DelService(s *ipvs.Service) error    { return k.h.DelService(s) }
func (k *netlinkKernel) Destinations(s *ipvs.Service) ([]*ipvs.Destination, error) {
	return k.h.GetDestinations(s)
}
func (k *netlinkKernel) NewDestination(s *ipvs.Service, d *ipvs.Destination) error {
	return k.h.NewDestination(s, d)
}
func (k *netlinkKernel) UpdateDestination(s *ipvs.Service, d *ipvs.Destination) error {
	return k.h.UpdateDestination(s, d)
}
func (k *netlinkKernel) DelDestination(s *ipvs.Service, d *ipvs.Destination) error {
	return k.h.DelDestination(s, d)
}

func (k *netlinkKernel) EnsureDummy(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		link = &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(link); err != nil {
			return fmt.Errorf("creating dummy interface %s: %w", name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting %s up: %w", name, err)
	}
	return nil
}

func (k *netlinkKernel) DeleteDummy(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil // already gone
	}
	return netlink.LinkDel(link)
}

func (k *netlinkKernel) Addresses(name string) ([]netip.Addr, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding %s: %w", name, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", name, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

func hostNet(ip netip.Addr) *net.IPNet {
	return &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ip.BitLen(), ip.BitLen())}
}

func (k *netlinkKernel) AddAddress(name string, ip netip.Addr) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	return netlink.AddrReplace(link, &netlink.Addr{IPNet: hostNet(ip)})
}

func (k *netlinkKernel) DelAddress(name string, ip netip.Addr) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	return netlink.AddrDel(link, &netlink.Addr{IPNet: hostNet(ip)})
}

func (k *netlinkKernel) NodeAddresses(exclude string) ([]netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []netip.Addr
	for _, iface := range ifaces {
		if iface.Name == exclude || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().IsGlobalUnicast() {
					out = append(out, ip.Unmap())
				}
			}
		}
	}
	return out, nil
}
