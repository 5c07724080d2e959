// Package ipvs is the netproxy's IPVS backend: one IPVS virtual server per cluster IP:port, external
// IP:port and node address:node port, with a real server per usable endpoint; the cluster IPs bound to a
// dummy interface (skiff-ipvs0) so the node accepts them; and a small nftables table (inet skiff-ipvs)
// that marks traffic needing masquerade (clients outside the pod network, node ports) and masquerades it
// in postrouting, as kube-proxy's IPVS mode does with iptables.
//
// Every sync reconciles against what the kernel lists (IPVS objects are few and cheap to read), so a
// virtual server deleted by hand comes back and leftovers of an earlier run are adopted or removed.
// The kernel is reached through the small Kernel interface; NewKernel is the netlink implementation.
//
// Kernels without IP_VS (like the one Skiff is developed on) are detected by Available, which fails with
// one clear line.
package ipvs
