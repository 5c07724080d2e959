// Package nftables is the netproxy's nftables backend. It owns a set of shard tables (inet skiff,
// inet skiff-1, ...), each holding the Services whose name hashes to it, and programs Service virtual
// IPs, node ports, session affinity, masquerading and rejection of Services without endpoints into
// them, in the shape kube-proxy's nftables mode uses: verdict maps from address . protocol . port to
// per-service chains, numgen random to per-endpoint chains that DNAT.
//
// A full sync is one nft(8) script applied with `nft -f -`: it flushes the tables and rewrites them
// (repairing anything changed by hand, adopting what an earlier run left) while keeping the
// session-affinity sets. A partial sync is one nf_tables netlink batch (github.com/google/nftables)
// with only the chains, rules, map elements and sets of the Services that changed; rules are compiled
// from the same nft syntax into the expressions nft would generate. Either way the kernel switches
// from the old rules to the new ones atomically, and conntrack keeps the DNAT of established
// connections, so re-programming never breaks them.
//
// The package does not decide which endpoints are usable (internal/proxy does) and does not watch the
// apiserver.
package nftables
