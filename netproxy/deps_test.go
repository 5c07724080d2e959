package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// The netproxy talks to the cluster through the apiserver only and programs the kernel through its
// two backends; these checks keep it that way.

const module = "github.com/skiffhq/skiff/netproxy"

// forbidden are import path prefixes no netproxy package (tests included) may depend on, directly or not.
var forbidden = []struct{ prefix, why string }{
	{"go.etcd.io/etcd", "only the apiserver talks to etcd"},
	{"github.com/opencontainers/runc", "libcontainer belongs to the nodeagent"},
	{"github.com/opencontainers/cgroups", "cgroups belong to the nodeagent"},
	{"github.com/containernetworking", "CNI belongs to the nodeagent"},
	{"github.com/skiffhq/skiff/apiserver", "components share nothing but the API and shared"},
	{"github.com/skiffhq/skiff/scheduler", "components share nothing but the API and shared"},
	{"github.com/skiffhq/skiff/controller-manager", "components share nothing but the API and shared"},
	{"github.com/skiffhq/skiff/nodeagent", "components share nothing but the API and shared"},
	{"github.com/skiffhq/skiff/ctl", "components share nothing but the API and shared"},
	{"github.com/skiffhq/skiff/e2e", "the e2e suite depends on components, not the reverse"},
}

// confined are kernel libraries that only their backend package may import; other packages reach them
// through that backend.
var confined = []struct{ prefix, owner string }{
	{"github.com/moby/ipvs", module + "/internal/ipvs"},
	{"github.com/google/nftables", module + "/internal/nftables"},
	{"github.com/mdlayher/netlink", module + "/internal/nftables"},
}

type listedPackage struct {
	ImportPath   string
	Deps         []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func matches(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

func listPackages(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -json %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestDependencies fails when a netproxy package depends on etcd, libcontainer, CNI or another
// component, or when a package other than its backend imports IPVS or nftables directly.
func TestDependencies(t *testing.T) {
	// -test adds each package's test variants, so test-only imports are checked too.
	pkgs := listPackages(t, "-test", "./...")
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages; is the test running in the netproxy module?", len(pkgs))
	}
	for _, p := range pkgs {
		for _, dep := range p.Deps {
			for _, f := range forbidden {
				if matches(dep, f.prefix) {
					t.Errorf("%s depends on %s (%s)", p.ImportPath, dep, f.why)
				}
			}
		}
		// A test variant is named "pkg [pkg.test]"; its owner is the package itself.
		self, _, _ := strings.Cut(p.ImportPath, " ")
		direct := append(append(append([]string(nil), p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range direct {
			for _, c := range confined {
				if matches(imp, c.prefix) && self != c.owner && self != c.owner+"_test" {
					t.Errorf("%s imports %s directly; only %s may", self, imp, c.owner)
				}
			}
		}
	}
}
