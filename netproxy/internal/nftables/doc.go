// Package nftables is the netproxy's nftables backend. It owns one table (inet skiff) and programs
// Service virtual IPs, node ports, session affinity, masquerading and rejection of Services without
// endpoints into it, in the shape kube-proxy's nftables mode uses: verdict maps from
// address . protocol . port to per-service chains, numgen random to per-endpoint chains that DNAT.
//
// Rules are written as nft(8) scripts and applied with `nft -f -`, one transaction per sync, so the
// kernel switches from the old rules to the new ones atomically. A full sync flushes the table and
// rewrites it (repairing anything changed by hand, adopting what an earlier run left) while keeping the
// session-affinity sets; a partial sync rewrites only the chains and map elements of the Services that
// changed. Conntrack keeps the DNAT of established connections, so re-programming never breaks them.
//
// The package does not decide which endpoints are usable (internal/proxy does) and does not watch the
// apiserver.
package nftables
