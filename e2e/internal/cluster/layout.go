package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Layout names everything one cluster creates on the machine, so that a later run can find it.
type Layout struct {
	// Dir holds the cluster's data: etcd, node root directories (so every mount a node makes is under
	// it), logs and kubeconfigs.
	Dir string
	// NetnsPrefix + "node<i>" is node i's network namespace.
	NetnsPrefix string
	// LinkPrefix + "br" is the bridge, LinkPrefix + "v<i>" the bridge end of node i's link. Interface
	// names have at most 15 bytes.
	LinkPrefix string
	// CgroupPrefix + "node<i>" is node i's --cgroup-root (a top-level cgroup in every hierarchy).
	CgroupPrefix string
	// NodePrefix + "<i>" is node i's Node name.
	NodePrefix string
	// Subnet is the bridge's /24: .1 is the bridge's own address, .(1+i) node i's.
	Subnet netip.Prefix
}

// Netns is node i's network namespace (nodes count from 1).
func (l Layout) Netns(i int) string { return fmt.Sprintf("%snode%d", l.NetnsPrefix, i) }

// Bridge is the private bridge every node is joined to.
func (l Layout) Bridge() string { return l.LinkPrefix + "br" }

// Veth is the bridge end of node i's link; the node's end is eth0 inside its namespace.
func (l Layout) Veth(i int) string { return fmt.Sprintf("%sv%d", l.LinkPrefix, i) }

// CgroupRoot is node i's --cgroup-root.
func (l Layout) CgroupRoot(i int) string { return fmt.Sprintf("/%snode%d", l.CgroupPrefix, i) }

// NodeName is node i's Node name.
func (l Layout) NodeName(i int) string { return fmt.Sprintf("%s%d", l.NodePrefix, i) }

// GatewayIP is the bridge's address, in the test's (root) namespace.
func (l Layout) GatewayIP() string { return l.Subnet.Addr().Next().String() }

// NodeIP is node i's address on the bridge.
func (l Layout) NodeIP(i int) string {
	a := l.Subnet.Addr().Next()
	for range i {
		a = a.Next()
	}
	return a.String()
}

// NodeDir is node i's --root-dir.
func (l Layout) NodeDir(i int) string { return filepath.Join(l.Dir, "nodes", l.NodeName(i)) }

// LogDir holds one log file per component.
func (l Layout) LogDir() string { return filepath.Join(l.Dir, "logs") }

// testRunPrefix starts every name an e2e run gives a resource; the run id (8 hex digits) follows.
const testRunPrefix = "skiff-e2e-"

var (
	testNetnsRE  = regexp.MustCompile(`^skiff-e2e-([0-9a-f]{8})-node[0-9]+$`)
	testLinkRE   = regexp.MustCompile(`^ske([0-9a-f]{8})(br|v[0-9]+)$`)
	testCgroupRE = regexp.MustCompile(`^skiff-e2e-([0-9a-f]{8})-node[0-9]+$`)
	testDirRE    = regexp.MustCompile(`^skiff-e2e-([0-9a-f]{8})$`)
)

// NewRunID returns a fresh e2e run id.
func NewRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestLayout is the layout of e2e run id: everything is named skiff-e2e-<id>-... (links ske<id>...),
// its directory is $TMPDIR/skiff-e2e-<id>, and its bridge takes a free /24 of 10.251.0.0/16.
func TestLayout(id string) (Layout, error) {
	subnet, err := freeSubnet("10.251")
	if err != nil {
		return Layout{}, err
	}
	return Layout{
		Dir:          filepath.Join(os.TempDir(), testRunPrefix+id),
		NetnsPrefix:  testRunPrefix + id + "-",
		LinkPrefix:   "ske" + id,
		CgroupPrefix: testRunPrefix + id + "-",
		NodePrefix:   "node",
		Subnet:       subnet,
	}, nil
}

// LocalLayout is the layout of the `make run` cluster kept in home: namespaces skiff-node<i>, bridge
// skiffbr, cgroups /skiff-local-node<i>, nodes skiff-node<i>, on subnet.
func LocalLayout(home string, subnet netip.Prefix) Layout {
	return Layout{
		Dir:          home,
		NetnsPrefix:  "skiff-",
		LinkPrefix:   "skiff",
		CgroupPrefix: "skiff-local-",
		NodePrefix:   "skiff-node",
		Subnet:       subnet,
	}
}

// freeSubnet picks a /24 of base.0.0/16 that no route of this namespace overlaps.
func freeSubnet(base string) (netip.Prefix, error) {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("listing routes: %w", err)
	}
	var used []netip.Prefix
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" || dst == "unicast" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if p, err := netip.ParsePrefix(dst); err == nil && p.Bits() > 0 {
			used = append(used, p)
		}
	}
	b := make([]byte, 1)
	for range 64 {
		_, _ = rand.Read(b)
		k := int(b[0])%250 + 2
		p := netip.MustParsePrefix(fmt.Sprintf("%s.%d.0/24", base, k))
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in %s.0.0/16", base)
}

// owner is the file in a layout's directory naming the live process that owns it.
const ownerFile = "owner"

// claim records this process as the owner of l.Dir.
func claim(l Layout) error {
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	start, err := startTime(os.Getpid())
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.Dir, ownerFile), fmt.Appendf(nil, "%d %s\n", os.Getpid(), start), 0o644)
}

// owner returns the pid of the live process owning dir, or 0.
func owner(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	if st, err := startTime(pid); err != nil || st != f[1] {
		return 0
	}
	return pid
}

// startTime is field 22 of /proc/<pid>/stat: with the pid, it identifies a process across pid reuse.
func startTime(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return f[19], nil
}

// SweepTestRuns removes what crashed e2e runs left behind: for every run id found in a network
// namespace, link, cgroup or directory name whose owner is no longer alive, it kills the run's
// processes, unmounts its mounts, removes its cgroups, namespaces, links and directory. Live runs (a
// concurrent `go test`) are left alone. It returns the ids it removed.
func SweepTestRuns() ([]string, error) {
	ids := map[string]bool{}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				if m := testNetnsRE.FindStringSubmatch(f[0]); m != nil {
					ids[m[1]] = true
				}
			}
		}
	}
	for _, l := range links() {
		if m := testLinkRE.FindStringSubmatch(l); m != nil {
			ids[m[1]] = true
		}
	}
	for _, h := range cgroupHierarchies() {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if m := testCgroupRE.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
				ids[m[1]] = true
			}
		}
	}
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		if m := testDirRE.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			ids[m[1]] = true
		}
	}
	var removed []string
	var errs []string
	for id := range ids {
		l := Layout{
			Dir:          filepath.Join(os.TempDir(), testRunPrefix+id),
			NetnsPrefix:  testRunPrefix + id + "-",
			LinkPrefix:   "ske" + id,
			CgroupPrefix: testRunPrefix + id + "-",
		}
		if owner(l.Dir) != 0 {
			continue
		}
		if err := removeLayout(l); err != nil {
			errs = append(errs, err.Error())
		}
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, err.Error())
		}
		removed = append(removed, id)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("sweeping crashed e2e runs: %s", strings.Join(errs, "; "))
	}
	return removed, nil
}

// removeLayout removes every machine resource named by l: processes of Skiff binaries working in l.Dir
// and processes in its cgroups are killed, mounts under l.Dir unmounted, then its cgroups, network
// namespaces and links deleted. Files under l.Dir stay (the caller decides).
func removeLayout(l Layout) error {
	var errs []string
	cgroups := layoutCgroups(l)
	for range 3 {
		pids := skiffProcessesIn(l.Dir)
		for _, cg := range cgroups {
			pids = append(pids, cgroupPids(cg)...)
		}
		if len(pids) == 0 {
			break
		}
		killAndWait(pids)
	}
	if err := unmountUnder(l.Dir); err != nil {
		errs = append(errs, err.Error())
	}
	for _, cg := range cgroups {
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], l.NetnsPrefix+"node") {
				if err := deleteNetns(f[0]); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	for _, name := range links() {
		if name == l.LinkPrefix+"br" || (strings.HasPrefix(name, l.LinkPrefix+"v") && isDigits(name[len(l.LinkPrefix)+1:])) {
			if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil && linkExists(name) {
				errs = append(errs, fmt.Sprintf("ip link del %s: %v: %s", name, err, strings.TrimSpace(string(out))))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// layoutCgroups are the top-level cgroups (as paths relative to a hierarchy) named by l.
func layoutCgroups(l Layout) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range cgroupHierarchies() {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), l.CgroupPrefix+"node") && !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, "/"+e.Name())
			}
		}
	}
	return out
}

// Owner returns the pid of the live process that owns l's directory (a running cluster), or 0.
func Owner(l Layout) int { return owner(l.Dir) }

// RemoveLeftovers removes what a crashed owner of l left on the machine: its processes, mounts,
// cgroups, network namespaces and links, and the nodes' runtime state (containers, pods, CNI
// leases; image stores and kubeconfigs stay). Data such as etcd's stays. It refuses while a live
// process owns l.
func RemoveLeftovers(l Layout) error {
	if pid := owner(l.Dir); pid != 0 {
		return fmt.Errorf("%s is in use by a running cluster (pid %d)", l.Dir, pid)
	}
	err := removeLayout(l)
	nodes, _ := os.ReadDir(filepath.Join(l.Dir, "nodes"))
	for _, n := range nodes {
		entries, _ := os.ReadDir(filepath.Join(l.Dir, "nodes", n.Name()))
		for _, e := range entries {
			if e.Name() != "images" && e.Name() != "kubeconfig" {
				_ = os.RemoveAll(filepath.Join(l.Dir, "nodes", n.Name(), e.Name()))
			}
		}
	}
	return err
}
