package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/shared/testenv/testhost"
)

// Defaults every cluster uses, as the brief fixes them.
const (
	ClusterCIDR = "10.244.0.0/16"
	ServiceCIDR = "10.96.0.0/16"
	ClusterDNS  = "10.96.0.10"
)

// Config is what a cluster is started with.
type Config struct {
	// Layout names the cluster's directory, namespaces, links and cgroups.
	Layout Layout
	// Bin is the directory of the skiff-* binaries.
	Bin string
	// Nodes is the number of nodes (at least 1).
	Nodes int
	// APIPort, SchedulerPort and ControllerManagerPort are the loopback ports of the apiserver and of
	// the scheduler's and controller-manager's health servers; 0 picks free ports.
	APIPort, SchedulerPort, ControllerManagerPort int
	// Registry, when set ("127.0.0.1:<port>"), is forwarded into every node on the same port, so image
	// references naming it pull from it.
	Registry string
	// ImagesDir, when set, is every nodeagent's --images-dir (tarballs imported at start).
	ImagesDir string
	// Fast shortens leader election, node monitoring and eviction timings, for tests.
	Fast bool
	// ExtraArgs are appended to a component's arguments, by kind: apiserver, scheduler,
	// controller-manager, nodeagent, netproxy.
	ExtraArgs map[string][]string
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

// Cluster is a running cluster.
type Cluster struct {
	cfg Config
	// Kubeconfig is the path of a kubeconfig for clients in this (the host's) namespace.
	Kubeconfig string
	// APIServer is "http://127.0.0.1:<port>".
	APIServer string
	// Clientset talks to the apiserver.
	Clientset *client.Clientset

	mu         sync.Mutex
	components map[string]*Process
	order      []string
	nodes      []*Node
}

// Node is one node of a cluster: a network namespace with a nodeagent and a netproxy.
type Node struct {
	// Index counts from 1.
	Index int
	// Name is the Node object's name; IP its InternalIP on the bridge; PodCIDR its pod range.
	Name, IP, PodCIDR string
	// Host is the node's network namespace.
	Host *testhost.Host
	// Dir is the nodeagent's --root-dir; CgroupRoot its --cgroup-root.
	Dir, CgroupRoot string
	// Agent and Proxy are the node's components.
	Agent, Proxy *Process

	layout Layout
	fwds   []*Forwarder
}

func (c *Cluster) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether port can be listened on at 127.0.0.1.
func portFree(port int) error {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	return ln.Close()
}

// WriteKubeconfig writes a kubeconfig for server with namespace default.
func WriteKubeconfig(path, server string) error {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: skiff
  cluster:
    server: %s
contexts:
- name: skiff
  context:
    cluster: skiff
    namespace: default
current-context: skiff
preferences: {}
users: []
`, server)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(kc), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// exitedMark starts a poll observation that ends the wait at once (the awaited process exited).
const exitedMark = "\x00exited: "

// poll calls cond every 200ms until it holds or ctx ends; the error names what was awaited and
// what was seen last.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		ok, seen := cond()
		if ok {
			return nil
		}
		if seen != "" {
			last = seen
		}
		if strings.HasPrefix(seen, exitedMark) {
			return fmt.Errorf("waiting for %s: %s", what, strings.TrimPrefix(seen, exitedMark))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s for %s; last saw: %s", timeout, what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(hc *http.Client, url string) (bool, string) {
	resp, err := hc.Get(url)
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, url + ": " + resp.Status
}

var loopbackHTTP = &http.Client{Timeout: 5 * time.Second}

// New prepares a cluster; Start runs it.
func New(cfg Config) *Cluster {
	if cfg.Nodes < 1 {
		cfg.Nodes = 1
	}
	return &Cluster{cfg: cfg, components: map[string]*Process{}}
}

func (c *Cluster) add(p *Process) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.components[p.Name]; !ok {
		c.order = append(c.order, p.Name)
	}
	c.components[p.Name] = p
	return p
}

// Component returns a component by name (apiserver, scheduler, controller-manager,
// nodeagent-<node>, netproxy-<node>), or nil.
func (c *Cluster) Component(name string) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.components[name]
}

// Components lists the components' names in start order.
func (c *Cluster) Components() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// Nodes returns the nodes.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Layout returns the cluster's layout.
func (c *Cluster) Layout() Layout { return c.cfg.Layout }

func (c *Cluster) bin(name string) string { return filepath.Join(c.cfg.Bin, name) }

func (c *Cluster) logPath(name string) string {
	return filepath.Join(c.cfg.Layout.LogDir(), name+".log")
}

// Start brings the cluster up: bridge, control plane, nodes, and waits until every node is Ready and
// every netproxy has synced. On error, what was started keeps running: call Stop.
func (c *Cluster) Start(ctx context.Context) error {
	l := c.cfg.Layout
	for _, b := range []string{"skiff-apiserver", "skiff-scheduler", "skiff-controller-manager", "skiff-nodeagent", "skiff-netproxy"} {
		if _, err := os.Stat(c.bin(b)); err != nil {
			return fmt.Errorf("%s not found in %s (run make build): %w", b, c.cfg.Bin, err)
		}
	}
	if err := claim(l); err != nil {
		return fmt.Errorf("claiming %s: %w", l.Dir, err)
	}
	if err := os.MkdirAll(l.LogDir(), 0o755); err != nil {
		return err
	}
	if err := createBridge(l); err != nil {
		return err
	}
	if err := c.startControlPlane(ctx); err != nil {
		return err
	}
	for i := 1; i <= c.cfg.Nodes; i++ {
		n, err := c.startNode(ctx, i)
		if n != nil {
			c.nodes = append(c.nodes, n)
		}
		if err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if err := c.waitNodeReady(ctx, n, 2*time.Minute); err != nil {
			return err
		}
		if err := poll(ctx, time.Minute, "netproxy on "+n.Name+" to sync (/readyz in its namespace)", func() (bool, string) {
			return httpOK(n.Host.HTTPClient(), "http://127.0.0.1:10256/readyz")
		}); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) ports() error {
	for _, p := range []*int{&c.cfg.APIPort, &c.cfg.SchedulerPort, &c.cfg.ControllerManagerPort} {
		if *p == 0 {
			port, err := freePort()
			if err != nil {
				return err
			}
			*p = port
		} else if err := portFree(*p); err != nil {
			return fmt.Errorf("port %d on 127.0.0.1 is taken (pick another with a flag): %w", *p, err)
		}
	}
	return nil
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	l := c.cfg.Layout
	if err := c.ports(); err != nil {
		return err
	}
	c.APIServer = fmt.Sprintf("http://127.0.0.1:%d", c.cfg.APIPort)
	apiArgs := []string{"--port", strconv.Itoa(c.cfg.APIPort), "--data-dir", filepath.Join(l.Dir, "etcd"),
		"--service-cluster-ip-range", ServiceCIDR}
	if c.cfg.Fast {
		// The tolerations pods get at admission decide how long they stay on a lost node.
		apiArgs = append(apiArgs, "--default-not-ready-toleration-seconds=30", "--default-unreachable-toleration-seconds=30")
	}
	api := c.add(&Process{
		Name: "apiserver", Binary: c.bin("skiff-apiserver"), LogPath: c.logPath("apiserver"),
		Args: append(apiArgs, c.cfg.ExtraArgs["apiserver"]...),
	})
	if err := api.Start(); err != nil {
		return err
	}
	if err := c.waitAPIServer(ctx); err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(l.Dir, "kubeconfig")
	if err := WriteKubeconfig(c.Kubeconfig, c.APIServer); err != nil {
		return err
	}
	cfg, err := client.LoadKubeconfig(c.Kubeconfig, "")
	if err != nil {
		return err
	}
	cfg.UserAgent = "skiff-e2e"
	if c.Clientset, err = client.NewForConfig(cfg); err != nil {
		return err
	}
	var le []string
	if c.cfg.Fast {
		le = []string{"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"}
	}
	cmArgs := []string{"--kubeconfig", c.Kubeconfig, "--health-addr", fmt.Sprintf("127.0.0.1:%d", c.cfg.ControllerManagerPort),
		"--allocate-node-cidrs", "--cluster-cidr", ClusterCIDR}
	if c.cfg.Fast {
		cmArgs = append(cmArgs, "--node-monitor-period=2s", "--node-monitor-grace-period=20s",
			"--default-not-ready-toleration-seconds=30s", "--default-unreachable-toleration-seconds=30s")
	}
	cm := c.add(&Process{
		Name: "controller-manager", Binary: c.bin("skiff-controller-manager"), LogPath: c.logPath("controller-manager"),
		Args: append(append(cmArgs, le...), c.cfg.ExtraArgs["controller-manager"]...),
	})
	sched := c.add(&Process{
		Name: "scheduler", Binary: c.bin("skiff-scheduler"), LogPath: c.logPath("scheduler"),
		Args: append(append([]string{"--kubeconfig", c.Kubeconfig, "--health-addr", fmt.Sprintf("127.0.0.1:%d", c.cfg.SchedulerPort)}, le...),
			c.cfg.ExtraArgs["scheduler"]...),
	})
	for _, p := range []*Process{cm, sched} {
		if err := p.Start(); err != nil {
			return err
		}
	}
	for _, w := range []struct {
		p    *Process
		port int
	}{{cm, c.cfg.ControllerManagerPort}, {sched, c.cfg.SchedulerPort}} {
		if err := c.waitHealthy(ctx, w.p, fmt.Sprintf("http://127.0.0.1:%d/healthz", w.port)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) waitAPIServer(ctx context.Context) error {
	return c.waitHealthy(ctx, c.Component("apiserver"), c.APIServer+"/readyz")
}

// waitHealthy waits for url to answer 200 while p runs.
func (c *Cluster) waitHealthy(ctx context.Context, p *Process, url string) error {
	return poll(ctx, 90*time.Second, p.Name+" at "+url, func() (bool, string) {
		if !p.Running() {
			return false, exitedMark + p.Name + " exited (" + p.ExitStatus() + "); its log ends:\n" + Tail(p.LogPath, 10)
		}
		return httpOK(loopbackHTTP, url)
	})
}

// ControlPlaneAddrs are where the control plane listens: component name to address.
func (c *Cluster) ControlPlaneAddrs() map[string]string {
	return map[string]string{
		"apiserver":          c.APIServer,
		"scheduler":          fmt.Sprintf("http://127.0.0.1:%d (health, metrics)", c.cfg.SchedulerPort),
		"controller-manager": fmt.Sprintf("http://127.0.0.1:%d (health, metrics)", c.cfg.ControllerManagerPort),
	}
}

// ensureNode creates node name's Node object when it does not exist yet and waits for the
// controller-manager to give it a pod CIDR, which the nodeagent is then started with.
func (c *Cluster) ensureNode(ctx context.Context, name string) (string, error) {
	var cidr string
	err := poll(ctx, 90*time.Second, "a pod CIDR for node "+name+" from the controller-manager's node IPAM", func() (bool, string) {
		n, err := c.Clientset.Nodes.Get(ctx, "", name, client.GetOptions{})
		if client.IsNotFound(err) {
			_, err = c.Clientset.Nodes.Create(ctx, "", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
				Labels: map[string]string{"kubernetes.io/hostname": name}}}, client.CreateOptions{})
			if err != nil && !client.IsAlreadyExists(err) {
				return false, "creating the node: " + err.Error()
			}
			return false, "node created, no spec.podCIDR yet"
		}
		if err != nil {
			return false, err.Error()
		}
		cidr = n.Spec.PodCIDR
		return cidr != "", "spec.podCIDR empty"
	})
	return cidr, err
}

func (c *Cluster) startNode(ctx context.Context, i int) (*Node, error) {
	l := c.cfg.Layout
	name := l.NodeName(i)
	if err := deleteNetns(l.Netns(i)); err != nil {
		return nil, err
	}
	if linkExists(l.Veth(i)) {
		_ = run("ip", "link", "del", l.Veth(i))
	}
	h, err := createNodeNetns(l, i)
	n := &Node{Index: i, Name: name, IP: l.NodeIP(i), Host: h, Dir: l.NodeDir(i), CgroupRoot: l.CgroupRoot(i), layout: l}
	if err != nil {
		return n, err
	}
	apiFwd, err := forward(h, 0, strings.TrimPrefix(c.APIServer, "http://"))
	if err != nil {
		return n, err
	}
	n.fwds = append(n.fwds, apiFwd)
	insecure := []string{"localhost", "127.0.0.1"}
	if c.cfg.Registry != "" {
		_, port, _ := net.SplitHostPort(c.cfg.Registry)
		p, _ := strconv.Atoi(port)
		regFwd, err := forward(h, p, c.cfg.Registry)
		if err != nil {
			return n, err
		}
		n.fwds = append(n.fwds, regFwd)
		insecure = append(insecure, c.cfg.Registry)
	}
	kubeconfig := filepath.Join(n.Dir, "kubeconfig")
	if err := WriteKubeconfig(kubeconfig, fmt.Sprintf("http://127.0.0.1:%d", apiFwd.Port)); err != nil {
		return n, err
	}
	if n.PodCIDR, err = c.ensureNode(ctx, name); err != nil {
		return n, err
	}
	agentArgs := []string{
		"--kubeconfig", kubeconfig, "--node-name", name, "--node-ip", n.IP, "--pod-cidr", n.PodCIDR,
		"--root-dir", n.Dir, "--cgroup-root", n.CgroupRoot, "--cni-conf-dir", filepath.Join(n.Dir, "cni-conf"),
		"--cluster-dns", ClusterDNS, "--insecure-registry", strings.Join(insecure, ","),
	}
	if c.cfg.ImagesDir != "" {
		agentArgs = append(agentArgs, "--images-dir", c.cfg.ImagesDir)
	}
	if c.cfg.Fast {
		agentArgs = append(agentArgs, "--node-status-update-frequency", "2s")
	}
	n.Agent = c.add(&Process{
		Name: "nodeagent-" + name, Binary: c.bin("skiff-nodeagent"), Netns: h.Path, LogPath: c.logPath("nodeagent-" + name),
		Args: append(agentArgs, c.cfg.ExtraArgs["nodeagent"]...),
	})
	n.Proxy = c.add(&Process{
		Name: "netproxy-" + name, Binary: c.bin("skiff-netproxy"), Netns: h.Path, LogPath: c.logPath("netproxy-" + name),
		Args: append([]string{"--kubeconfig", kubeconfig, "--hostname-override", name, "--cluster-cidr", ClusterCIDR,
			"--service-cidr", ServiceCIDR, "--cluster-dns", ClusterDNS, "--dns-upstream", "127.0.0.1:53"}, c.cfg.ExtraArgs["netproxy"]...),
	})
	for _, p := range []*Process{n.Agent, n.Proxy} {
		if err := p.Start(); err != nil {
			return n, err
		}
	}
	c.logf("node %s: namespace %s, address %s, pod CIDR %s", name, h.Name, n.IP, n.PodCIDR)
	return n, nil
}

// waitNodeReady waits for the Node's Ready condition to be True.
func (c *Cluster) waitNodeReady(ctx context.Context, n *Node, timeout time.Duration) error {
	return poll(ctx, timeout, "node "+n.Name+" Ready", func() (bool, string) {
		if !n.Agent.Running() {
			return false, exitedMark + "nodeagent exited (" + n.Agent.ExitStatus() + "); its log ends:\n" + Tail(n.Agent.LogPath, 10)
		}
		obj, err := c.Clientset.Nodes.Get(ctx, "", n.Name, client.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range obj.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, fmt.Sprintf("Ready=%s (%s)", cond.Status, cond.Message)
			}
		}
		return false, "no Ready condition yet"
	})
}

// Partition cuts node n off: its link to the bridge goes down and its loopback forwarders to the
// apiserver and registry close every connection and refuse new ones.
func (n *Node) Partition() error {
	for _, f := range n.fwds {
		f.Cut()
	}
	return setLink(n.layout, n.Index, false)
}

// Heal undoes Partition.
func (n *Node) Heal() error {
	for _, f := range n.fwds {
		f.Resume()
	}
	return setLink(n.layout, n.Index, true)
}

// stopNode stops the node's components and removes its containers, mounts, cgroups, namespace and
// link. keepImages keeps the image store (the `make run` cluster comes back faster); everything else
// under the node's directory but its kubeconfig is removed, as after a reboot.
func (c *Cluster) stopNode(n *Node, keepImages bool) error {
	var errs []error
	if n.Proxy != nil {
		n.Proxy.Stop(10 * time.Second)
	}
	if n.Agent != nil {
		n.Agent.Stop(15 * time.Second)
	}
	for range 3 {
		pids := append(cgroupPids(n.CgroupRoot), skiffProcessesIn(n.Dir)...)
		if len(pids) == 0 {
			break
		}
		killAndWait(pids)
	}
	if err := unmountUnder(n.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroup(n.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	for _, f := range n.fwds {
		f.Close()
	}
	if err := deleteNetns(n.Layout().Netns(n.Index)); err != nil {
		errs = append(errs, err)
	}
	if linkExists(n.layout.Veth(n.Index)) {
		if err := run("ip", "link", "del", n.layout.Veth(n.Index)); err != nil {
			errs = append(errs, err)
		}
	}
	entries, _ := os.ReadDir(n.Dir)
	for _, e := range entries {
		if (keepImages && e.Name() == "images") || e.Name() == "kubeconfig" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(n.Dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Layout returns the layout the node belongs to.
func (n *Node) Layout() Layout { return n.layout }

// Stop stops every component (nodes first, then the scheduler, controller-manager and apiserver),
// and removes every namespace, link, mount and cgroup the cluster made. Files under the layout's
// directory stay, except the nodes' runtime state (keepImages keeps their image stores).
func (c *Cluster) Stop(keepImages bool) error {
	var errs []error
	for i := len(c.nodes) - 1; i >= 0; i-- {
		if err := c.stopNode(c.nodes[i], keepImages); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", c.nodes[i].Name, err))
		}
	}
	for _, name := range []string{"scheduler", "controller-manager", "apiserver"} {
		if p := c.Component(name); p != nil {
			p.Stop(20 * time.Second)
		}
	}
	if err := removeLayout(c.cfg.Layout); err != nil {
		errs = append(errs, err)
	}
	_ = os.Remove(filepath.Join(c.cfg.Layout.Dir, ownerFile))
	return errors.Join(errs...)
}

// Tail returns the last n lines of a log file, leaving out the apiserver's access log lines.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.Contains(line, `"logger":"access"`) {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NodeNames lists the nodes' names, sorted.
func (c *Cluster) NodeNames() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}
