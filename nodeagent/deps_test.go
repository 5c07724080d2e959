package main_test

import (
	"testing"

	"github.com/skiffhq/skiff/shared/deptest"
)

const module = "github.com/skiffhq/skiff/nodeagent"

// TestDependencies keeps the dependency direction of the architecture: The nodeagent reaches the cluster through the API only; libcontainer and CNI are its own.
func TestDependencies(t *testing.T) {
	deptest.Check(t, append(deptest.OtherComponents(module), deptest.Etcd, deptest.IPVS, deptest.NFTables))
}
