package main_test

import (
	"testing"

	"github.com/skiffhq/skiff/shared/deptest"
)

const module = "github.com/skiffhq/skiff/ctl"

// TestDependencies keeps the dependency direction of the architecture: This component reaches the cluster through the API only and links none of the node or storage libraries.
func TestDependencies(t *testing.T) {
	deptest.Check(t, append(deptest.OtherComponents(module), deptest.Etcd, deptest.Libcontainer, deptest.Cgroups, deptest.CNI, deptest.IPVS, deptest.NFTables))
}
