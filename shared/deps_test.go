// Package shared_test holds the module-wide checks of shared: the dependency direction
// (TestDependencies, run by `make lint`) and a doc comment on every package (TestPackageDocs).
package shared_test

import (
	"testing"

	"github.com/skiffhq/skiff/shared/deptest"
)

// TestDependencies fails if any shared package depends on a component module, etcd, libcontainer, CNI,
// IPVS, nftables or netlink: shared never imports a component, and the libraries that belong to one
// component stay there.
func TestDependencies(t *testing.T) {
	rules := append(deptest.OtherComponents(""), deptest.Etcd, deptest.Libcontainer, deptest.Cgroups,
		deptest.CNI, deptest.IPVS, deptest.NFTables,
		deptest.Rule{Prefix: "github.com/vishvananda/netlink", Why: "netlink belongs to the nodeagent and netproxy"})
	deptest.Check(t, rules)
}
