package main_test

import (
	"testing"

	"github.com/skiffhq/skiff/shared/deptest"
)

// The netproxy talks to the cluster through the apiserver only and programs the kernel through its
// two backends; TestDependencies keeps it that way: no etcd, libcontainer, CNI or other component, and
// IPVS and nftables only in their backend packages.
const module = "github.com/skiffhq/skiff/netproxy"

func TestDependencies(t *testing.T) {
	deptest.Check(t, append(deptest.OtherComponents(module), deptest.Etcd, deptest.Libcontainer, deptest.Cgroups, deptest.CNI),
		deptest.Confine{Prefix: "github.com/moby/ipvs", Owner: module + "/internal/ipvs"},
		deptest.Confine{Prefix: "github.com/google/nftables", Owner: module + "/internal/nftables"},
		deptest.Confine{Prefix: "github.com/mdlayher/netlink", Owner: module + "/internal/nftables"})
}
