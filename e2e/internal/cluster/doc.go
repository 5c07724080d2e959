// Package cluster starts whole Skiff clusters on one machine from the built binaries: the control plane
// (skiff-apiserver with embedded etcd, skiff-controller-manager, skiff-scheduler) on loopback, and N
// nodes, each a network namespace ("test host") on one private bridge with no route off the machine,
// running skiff-nodeagent and skiff-netproxy. Nodes reach the apiserver (and a test registry) through
// loopback forwarders inside their namespace, so cutting a node off (PartitionNode) is a matter of
// taking its link down and pausing its forwarders.
//
// Two front ends share the same engine (Cluster, Start, Stop): the test harness (Start(t, Options),
// with kubectl/skiffctl/client helpers, WaitFor with diagnostics, component kill/restart and partitions,
// everything removed in t.Cleanup) and cmd/skiff-local, the `make run` launcher that keeps its data in
// one home directory and resumes the same cluster on the next start.
//
// Every resource a run creates carries the run's name (network namespaces, links, cgroups, the run
// directory holding every mount), and the owner's pid is recorded, so the next start removes what a
// crashed run left behind (Sweep) without touching runs that are still alive. It does not build
// images (package busybox does) or run a registry (package registry does).
package cluster
