// Package deptest checks the dependency direction of a Skiff module from its own tests: which import
// paths its packages may not depend on (directly or through others), and which libraries only one of its
// packages may import. Each module has a small deps_test.go calling Check, so a forbidden import fails
// `go test` in that module.
//
// It shells out to `go list` and is meant for tests only.
package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// Rule forbids every import path equal to Prefix or under it; Why is printed when it is broken.
type Rule struct {
	Prefix string
	Why    string
}

// Confine allows Prefix only in packages under Owner (and in their tests).
type Confine struct {
	Prefix string
	Owner  string
}

// Components are the Skiff component modules; a component may depend only on shared, never on another
// component (they share nothing but the API).
var Components = []string{
	"github.com/skiffhq/skiff/apiserver",
	"github.com/skiffhq/skiff/scheduler",
	"github.com/skiffhq/skiff/controller-manager",
	"github.com/skiffhq/skiff/nodeagent",
	"github.com/skiffhq/skiff/netproxy",
	"github.com/skiffhq/skiff/ctl",
	"github.com/skiffhq/skiff/e2e",
}

// The libraries that belong to one component only.
var (
	Etcd         = Rule{"go.etcd.io/etcd", "only the apiserver talks to etcd"}
	Libcontainer = Rule{"github.com/opencontainers/runc", "libcontainer belongs to the nodeagent"}
	Cgroups      = Rule{"github.com/opencontainers/cgroups", "cgroups belong to the nodeagent"}
	CNI          = Rule{"github.com/containernetworking", "CNI belongs to the nodeagent"}
	IPVS         = Rule{"github.com/moby/ipvs", "IPVS belongs to the netproxy"}
	NFTables     = Rule{"github.com/google/nftables", "nftables belongs to the netproxy"}
)

// OtherComponents returns a rule for every component module except self.
func OtherComponents(self string) []Rule {
	var rules []Rule
	for _, c := range Components {
		if c != self {
			rules = append(rules, Rule{c, "components share nothing but the API and the shared module"})
		}
	}
	return rules
}

type listedPackage struct {
	ImportPath   string
	Deps         []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// Check lists every package of the module in the current directory ("./...") with its test variants, and
// fails t for each dependency (direct or not, test-only included) that breaks a rule, and for each direct
// import of a confined library outside its owner.
func Check(t testing.TB, rules []Rule, confines ...Confine) {
	t.Helper()
	cmd := exec.Command("go", "list", "-test", "-json", "./...")
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
		all := append(append(append(append([]string{}, p.Deps...), p.Imports...), p.TestImports...), p.XTestImports...)
		for _, dep := range all {
			for _, r := range rules {
				if matches(dep, r.Prefix) {
					t.Errorf("%s depends on %s: %s", p.ImportPath, dep, r.Why)
				}
			}
		}
		// A test variant is listed as "pkg [pkg.test]", an external test package as "pkg_test [pkg.test]".
		self, _, _ := strings.Cut(p.ImportPath, " ")
		self = strings.TrimSuffix(self, "_test")
		direct := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range direct {
			for _, c := range confines {
				if matches(imp, c.Prefix) && !matches(self, c.Owner) {
					t.Errorf("%s imports %s, which only %s may import", p.ImportPath, imp, c.Owner)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("go list found no packages")
	}
}

func matches(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }
