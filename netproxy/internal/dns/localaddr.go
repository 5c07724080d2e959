package dns

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Runner runs a command (ip) with stdin and returns its standard output.
type Runner interface {
	Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error)
}

// LoopbackInterface holds the cluster DNS address. A local address on lo is reachable from pods (their
// default route leads to the node, which delivers it locally) without NAT, on kernels without the dummy
// interface type, and is independent of the proxy backend.
const LoopbackInterface = "lo"

func hostPrefix(ip netip.Addr) string {
	return netip.PrefixFrom(ip, ip.BitLen()).String()
}

// AddLocalAddress makes ip a local address of the node (idempotent).
func AddLocalAddress(ctx context.Context, r Runner, ip netip.Addr) error {
	if _, err := r.Run(ctx, nil, "ip", "addr", "replace", hostPrefix(ip), "dev", LoopbackInterface); err != nil {
		return fmt.Errorf("adding cluster DNS address %s to %s: %w", ip, LoopbackInterface, err)
	}
	return nil
}

// RemoveLocalAddress removes ip from the node; an address already gone is not an error.
func RemoveLocalAddress(ctx context.Context, r Runner, ip netip.Addr) error {
	if _, err := r.Run(ctx, nil, "ip", "addr", "del", hostPrefix(ip), "dev", LoopbackInterface); err != nil {
		if strings.Contains(err.Error(), "Address not found") || strings.Contains(err.Error(), "Cannot assign requested address") {
			return nil
		}
		return fmt.Errorf("removing cluster DNS address %s from %s: %w", ip, LoopbackInterface, err)
	}
	return nil
}
