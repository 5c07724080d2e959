// Package shared_test holds the module-wide checks of shared: the dependency direction
// (TestDependencies, run by `make lint`) and a doc comment on every package (TestPackageDocs).
package shared_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the import path prefixes no shared package may depend on, directly or not: the
// components (shared never imports a component) and the libraries that belong to one component only.
var forbidden = []struct{ prefix, why string }{
	{"github.com/skiffhq/skiff/apiserver", "a component module"},
	{"github.com/skiffhq/skiff/scheduler", "a component module"},
	{"github.com/skiffhq/skiff/controller-manager", "a component module"},
	{"github.com/skiffhq/skiff/nodeagent", "a component module"},
	{"github.com/skiffhq/skiff/netproxy", "a component module"},
	{"github.com/skiffhq/skiff/ctl", "a component module"},
	{"github.com/skiffhq/skiff/e2e", "the e2e suite"},
	{"go.etcd.io/etcd", "etcd belongs to the apiserver"},
	{"github.com/opencontainers/runc", "libcontainer belongs to the nodeagent"},
	{"github.com/opencontainers/cgroups", "cgroups belong to the nodeagent"},
	{"github.com/containernetworking", "CNI belongs to the nodeagent"},
	{"github.com/moby/ipvs", "IPVS belongs to the netproxy"},
	{"github.com/google/nftables", "nftables belongs to the netproxy"},
	{"github.com/vishvananda/netlink", "netlink belongs to the nodeagent and netproxy"},
}

type listedPackage struct {
	ImportPath string
	Deps       []string
}

// TestDependencies fails if any shared package (not counting tests) depends on a component module,
// etcd, libcontainer, CNI, IPVS, nftables or netlink.
func TestDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -json ./...: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		n++
		for _, dep := range p.Deps {
			for _, f := range forbidden {
				if dep == f.prefix || strings.HasPrefix(dep, f.prefix+"/") {
					t.Errorf("%s depends on %s (%s)", p.ImportPath, dep, f.why)
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("go list found only %d packages; is the test running in the shared module?", n)
	}
}
