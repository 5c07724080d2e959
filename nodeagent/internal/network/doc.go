// Package network gives each pod its sandbox namespaces and its network: it creates the pod's network,
// IPC and UTS namespaces (with the pod hostname) and pins them as bind-mounted files so that every
// container of the pod joins the same ones and they outlive the agent; it runs the CNI plugins (libcni)
// to attach the network namespace (ADD) and detach it (DEL); and it writes a default bridge +
// host-local + portmap configuration for the node's pod CIDR when the CNI configuration directory is
// empty. A separate loopback network brings up "lo" in every pod.
//
// It does not program Services (that is the netproxy) and does not allocate pod CIDRs.
package network
