package main_test

import (
	"testing"

	"github.com/skiffhq/skiff/shared/deptest"
)

const module = "github.com/skiffhq/skiff/apiserver"

// TestDependencies keeps the dependency direction of the architecture: The apiserver is the only component that touches etcd, and only its storage package imports the etcd libraries.
func TestDependencies(t *testing.T) {
	deptest.Check(t, append(deptest.OtherComponents(module), deptest.Libcontainer, deptest.Cgroups, deptest.CNI, deptest.IPVS, deptest.NFTables), deptest.Confine{Prefix: "go.etcd.io/etcd", Owner: module + "/internal/storage"})
}
