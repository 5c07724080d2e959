package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/shared/testenv/registry"
	"github.com/skiffhq/skiff/shared/testenv/testhost"
)

// Kubectl is the real kubectl every test drives the cluster with.
const Kubectl = "/usr/bin/kubectl"

// Options configure a test cluster.
type Options struct {
	// Nodes is the number of nodes (default 1).
	Nodes int
	// Bin is the directory of the built binaries (the suite's -skiff-bin). When it lacks one, the
	// binaries are built from the repository into the run's directory.
	Bin string
	// ExtraArgs are appended to a component's arguments, by kind (apiserver, scheduler,
	// controller-manager, nodeagent, netproxy).
	ExtraArgs map[string][]string
}

// TestCluster is a cluster started by a test, with helpers that fail the test they are bound to.
type TestCluster struct {
	*Cluster
	t        testing.TB
	image    string
	registry string
	cacheDir string
}

// Start starts a cluster for t: it removes what crashed runs left behind, runs a local registry with
// the busybox image pushed, then the control plane and opts.Nodes nodes, and waits until every node is
// Ready. Everything is stopped and removed in t.Cleanup, even when the test fails; a failed test gets
// the cluster's objects, events and component logs in its output first.
func Start(t testing.TB, opts Options) *TestCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the e2e cluster needs root (network namespaces, cgroups, mounts); run the suite as root")
	}
	if removed, err := SweepTestRuns(); err != nil {
		t.Logf("removing crashed runs' leftovers: %v", err)
	} else if len(removed) > 0 {
		t.Logf("removed the leftovers of crashed e2e runs %v", removed)
	}
	id := NewRunID()
	l, err := TestLayout(id)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := findOrBuild(opts.Bin, filepath.Join(l.Dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.Start(t)
	image := reg + "/skiff/busybox:e2e"
	if err := PushDemoImage(image); err != nil {
		t.Fatal(err)
	}
	c := &TestCluster{t: t, image: image, registry: reg}
	c.Cluster = New(Config{
		Layout: l, Bin: bin, Nodes: opts.Nodes, Registry: reg, Fast: true, ExtraArgs: opts.ExtraArgs,
		Logf: func(format string, args ...any) { t.Logf(format, args...) },
	})
	c.cacheDir = filepath.Join(l.Dir, "kubectl-cache")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster state at failure:\n%s", c.Dump())
		}
		if err := c.Stop(false); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		if left := c.Leftovers(); len(left) > 0 {
			t.Errorf("left behind after stopping the cluster: %v", left)
		}
		_ = os.RemoveAll(l.Dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Cluster.Start(ctx); err != nil {
		t.Fatalf("starting a %d-node cluster: %v", opts.Nodes, err)
	}
	t.Logf("cluster %s up: apiserver %s, nodes %v, image %s", id, c.APIServer, c.NodeNames(), image)
	return c
}

// PushDemoImage pushes DemoImage to ref (plain HTTP: a loopback registry).
func PushDemoImage(ref string) error {
	img, err := DemoImage()
	if err != nil {
		return err
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	if err := remote.Write(tag, img); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// T returns the same cluster with helpers bound to t (a subtest).
func (c *TestCluster) T(t testing.TB) *TestCluster {
	cp := *c
	cp.t = t
	return &cp
}

// Image is the demo image (DemoImage) in the cluster's registry: `httpd -f -p 8080` in it answers
// "hello from <pod name>".
func (c *TestCluster) Image() string { return c.image }

// Registry is the test registry's loopback address.
func (c *TestCluster) Registry() string { return c.registry }

// Client is a Clientset for the cluster.
func (c *TestCluster) Client() *client.Clientset { return c.Clientset }

// Kubectl runs the real kubectl against the cluster (a fresh --cache-dir per cluster) and returns its
// combined output.
func (c *TestCluster) Kubectl(args ...string) (string, error) {
	cmd := exec.Command(Kubectl, append([]string{"--kubeconfig", c.Kubeconfig, "--cache-dir", c.cacheDir}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// KubectlInput is Kubectl with stdin (for `apply -f -`).
func (c *TestCluster) KubectlInput(stdin string, args ...string) (string, error) {
	cmd := exec.Command(Kubectl, append([]string{"--kubeconfig", c.Kubeconfig, "--cache-dir", c.cacheDir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustKubectl is Kubectl failing the test on a non-zero exit.
func (c *TestCluster) MustKubectl(args ...string) string {
	c.t.Helper()
	out, err := c.Kubectl(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Skiffctl runs the cluster's skiffctl and returns its combined output.
func (c *TestCluster) Skiffctl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.cfg.Bin, "skiffctl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestNode is a node of a test cluster.
type TestNode struct {
	*Node
	c *TestCluster
}

// Node returns node i (counting from 0).
func (c *TestCluster) Node(i int) *TestNode {
	c.t.Helper()
	if i < 0 || i >= len(c.nodes) {
		c.t.Fatalf("node %d of a %d-node cluster", i, len(c.nodes))
	}
	return &TestNode{Node: c.nodes[i], c: c}
}

// NodeByName returns the node with that Node name, or nil.
func (c *TestCluster) NodeByName(name string) *TestNode {
	for _, n := range c.nodes {
		if n.Name == name {
			return &TestNode{Node: n, c: c}
		}
	}
	return nil
}

// Exec runs a command inside the node's network namespace and returns its combined output.
func (n *TestNode) Exec(cmd ...string) (string, error) {
	out, err := n.Host.Command(cmd[0], cmd[1:]...).CombinedOutput()
	return string(out), err
}

// HTTPGet fetches url from inside the node's network namespace.
func (n *TestNode) HTTPGet(url string) (string, error) {
	return HTTPGet(n.Host, url)
}

// HTTPGet fetches url with connections made inside host.
func HTTPGet(h *testhost.Host, url string) (string, error) {
	resp, err := h.HTTPClient().Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != 200 {
		return b.String(), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b.String(), nil
}

// WaitFor polls cond (every 250ms, up to 3 minutes) until it holds. On timeout the test fails with
// what it waited for, the last observation, and a dump of the cluster (objects, events, log tails).
func (c *TestCluster) WaitFor(what string, cond func() (bool, string)) {
	c.t.Helper()
	c.WaitForTimeout(what, 3*time.Minute, cond)
}

// WaitForTimeout is WaitFor with a timeout.
func (c *TestCluster) WaitForTimeout(what string, timeout time.Duration, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if seen != "" {
			last = seen
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s\nlast saw: %s\n%s", timeout, what, last, c.Dump())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Dump describes the cluster for a failure message: nodes, workloads, pods, services, endpoints,
// events, and the tail of every component's log.
func (c *TestCluster) Dump() string {
	var b strings.Builder
	if c.Kubeconfig != "" {
		for _, args := range [][]string{
			{"get", "nodes,deployments,replicasets,pods,services,endpoints", "-A", "-o", "wide"},
			{"get", "events", "-A"},
		} {
			out, err := c.Kubectl(args...)
			fmt.Fprintf(&b, "--- kubectl %s (%v)\n%s\n", strings.Join(args, " "), err, out)
		}
	}
	for _, name := range c.Components() {
		p := c.Component(name)
		state := "running"
		if !p.Running() {
			state = "exited: " + p.ExitStatus()
		}
		fmt.Fprintf(&b, "--- %s (%s), last lines of %s\n%s\n", name, state, p.LogPath, Tail(p.LogPath, 25))
	}
	return b.String()
}

// KillComponent SIGKILLs a component (apiserver, scheduler, controller-manager, nodeagent-<node>,
// netproxy-<node>), as a crash would.
func (c *TestCluster) KillComponent(name string) {
	c.t.Helper()
	c.component(name).Kill()
}

// StopComponent stops a component gracefully (SIGTERM).
func (c *TestCluster) StopComponent(name string) {
	c.t.Helper()
	c.component(name).Stop(20 * time.Second)
}

// RestartComponent starts a component again with the same arguments, stopping it first (SIGTERM) if it
// still runs, and waits for the apiserver to be ready when it is the one restarted.
func (c *TestCluster) RestartComponent(name string) {
	c.t.Helper()
	p := c.component(name)
	p.Stop(20 * time.Second)
	if err := p.Start(); err != nil {
		c.t.Fatal(err)
	}
	if name == "apiserver" {
		if err := c.waitAPIServer(context.Background()); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *TestCluster) component(name string) *Process {
	c.t.Helper()
	p := c.Component(name)
	if p == nil {
		c.t.Fatalf("no component %q; the cluster has %v", name, c.Components())
	}
	return p
}

// PartitionNode cuts node i (from 0) off the control plane and the other nodes: its link goes down
// and its loopback forwarders refuse connections. Its processes keep running.
func (c *TestCluster) PartitionNode(i int) {
	c.t.Helper()
	if err := c.Node(i).Partition(); err != nil {
		c.t.Fatal(err)
	}
}

// HealNode reconnects node i.
func (c *TestCluster) HealNode(i int) {
	c.t.Helper()
	if err := c.Node(i).Heal(); err != nil {
		c.t.Fatal(err)
	}
}

// Leftovers lists what of the cluster is still on the machine: namespaces, links, cgroups, mounts,
// processes. Empty after Stop.
func (c *Cluster) Leftovers() []string {
	l := c.cfg.Layout
	var out []string
	if b, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], l.NetnsPrefix+"node") {
				out = append(out, "netns "+f[0])
			}
		}
	}
	for _, name := range links() {
		if strings.HasPrefix(name, l.LinkPrefix) && (name == l.Bridge() || isDigits(strings.TrimPrefix(name, l.LinkPrefix+"v"))) {
			out = append(out, "link "+name)
		}
	}
	for _, cg := range layoutCgroups(l) {
		out = append(out, "cgroup "+cg)
	}
	for _, m := range mountsUnder(l.Dir) {
		out = append(out, "mount "+m)
	}
	for _, pid := range skiffProcessesIn(l.Dir) {
		out = append(out, fmt.Sprintf("process %d", pid))
	}
	return out
}

// findOrBuild returns dir when it holds every binary, else builds them into out from the repository
// around the working directory.
func findOrBuild(dir, out string) (string, error) {
	bins := map[string]string{
		"skiff-apiserver": "apiserver", "skiff-scheduler": "scheduler", "skiff-controller-manager": "controller-manager",
		"skiff-nodeagent": "nodeagent", "skiff-netproxy": "netproxy", "skiffctl": "ctl",
	}
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		missing := false
		for b := range bins {
			if _, err := os.Stat(filepath.Join(abs, b)); err != nil {
				missing = true
			}
		}
		if !missing {
			return abs, nil
		}
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("binaries not found in %q and no repository to build them from: %w", dir, err)
	}
	for b, mod := range bins {
		cmd := exec.Command("go", "build", "-o", filepath.Join(out, b), ".")
		cmd.Dir = filepath.Join(root, mod)
		if o, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", b, err, o)
		}
	}
	return out, nil
}

// repoRoot is the nearest directory above the working directory holding go.work.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.work above the working directory")
		}
		d = parent
	}
}
