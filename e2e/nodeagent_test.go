//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/shared/testenv/busybox"
	"github.com/skiffhq/skiff/shared/testenv/registry"
	"github.com/skiffhq/skiff/shared/testenv/testhost"
)

// nodeCluster is an apiserver on loopback and one node agent inside a test host of its own.
type nodeCluster struct {
	t          testing.TB
	bin        string
	apiAddr    string
	kubeconfig string // for kubectl and the test, in the test's namespace
	host       *testhost.Host
	image      string
	nodeName   string
	rootDir    string
	cgroupRoot string
	agentArgs  []string
	agent      *exec.Cmd
	agentLog   *os.File
	agentDone  chan struct{}
	pods       *client.Resource[corev1.Pod]
	nodes      *client.Resource[corev1.Node]
	cms        *client.Resource[corev1.ConfigMap]
	secrets    *client.Resource[corev1.Secret]
	leases     *client.Resource[coordinationv1.Lease]
	apiArgs    []string
	apiLog     *os.File
	api        *exec.Cmd // nil while stopped
}

// startAPIServer starts the apiserver (again, on the same port and data directory).
func (c *nodeCluster) startAPIServer() {
	api := exec.Command(filepath.Join(c.bin, "skiff-apiserver"), c.apiArgs...)
	api.Stdout, api.Stderr = c.apiLog, c.apiLog
	if err := api.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.api = api
}

// stopAPIServer stops the apiserver with SIGTERM and waits for it to exit.
func (c *nodeCluster) stopAPIServer() {
	if c.api == nil {
		return
	}
	_ = c.api.Process.Signal(syscall.SIGTERM)
	_ = c.api.Wait()
	c.api = nil
}

func binDir(t testing.TB) string {
	dir, err := filepath.Abs(*skiffBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"skiff-apiserver", "skiff-nodeagent"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("%s not found in %s (run make build, or pass -args -skiff-bin=<dir>): %v", b, dir, err)
		}
	}
	return dir
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds, failing with what it waited for and what it saw last.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
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
			t.Fatalf("timed out after %s waiting for %s; last saw: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeKubeconfig(t testing.TB, path, server string) {
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
`, server)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startNodeCluster(t testing.TB) *nodeCluster {
	t.Helper()
	c := &nodeCluster{t: t, bin: binDir(t)}
	dir := t.TempDir()

	// The apiserver, on loopback in the test's namespace.
	port := freePort(t)
	c.apiAddr = fmt.Sprintf("127.0.0.1:%d", port)
	apiLog, _ := os.Create(filepath.Join(dir, "apiserver.log"))
	c.apiArgs = []string{"--port", fmt.Sprint(port), "--data-dir", filepath.Join(dir, "etcd")}
	c.apiLog = apiLog
	c.startAPIServer()
	t.Cleanup(func() {
		c.stopAPIServer()
		apiLog.Close()
	})
	waitFor(t, 60*time.Second, "the apiserver's /readyz", func() (bool, string) {
		resp, err := http.Get("http://" + c.apiAddr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, c.kubeconfig, "http://"+c.apiAddr)
	cfg, err := client.LoadKubeconfig(c.kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.pods = client.NewResource[corev1.Pod](cl, client.ResourceInfo{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true})
	c.nodes = client.NewResource[corev1.Node](cl, client.ResourceInfo{Version: "v1", Resource: "nodes", Kind: "Node"})
	c.cms = client.NewResource[corev1.ConfigMap](cl, client.ResourceInfo{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true})
	c.secrets = client.NewResource[corev1.Secret](cl, client.ResourceInfo{Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true})
	c.leases = client.NewResource[coordinationv1.Lease](cl, client.ResourceInfo{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease", Namespaced: true})

	// The busybox image, in a registry on loopback.
	reg := registry.Start(t)
	c.image = reg + "/skiff/busybox:e2e"
	if err := busybox.Push(c.image, "httpd", "-f", "-p", "8080", "-h", "/var/www"); err != nil {
		t.Fatal(err)
	}

	// The node: a test host with loopback forwarders to the apiserver and the registry.
	c.host = testhost.New(t)
	fwd := c.host.Forward(t, 0, c.apiAddr)
	_, regPort, _ := net.SplitHostPort(reg)
	var rp int
	fmt.Sscan(regPort, &rp)
	c.host.Forward(t, rp, reg)
	agentKubeconfig := filepath.Join(dir, "agent-kubeconfig")
	writeKubeconfig(t, agentKubeconfig, fmt.Sprintf("http://127.0.0.1:%d", fwd))
	suffix := strings.TrimPrefix(c.host.Name, "skiff-t-")
	c.nodeName = "node-" + suffix
	c.rootDir = filepath.Join(dir, "node")
	c.cgroupRoot = "/skiff-e2e-" + suffix
	n := strings.Split(c.host.IP, ".")[2]
	c.agentArgs = []string{
		"--kubeconfig", agentKubeconfig, "--node-name", c.nodeName, "--node-ip", c.host.IP,
		"--pod-cidr", "10.244." + n + ".0/24", "--root-dir", c.rootDir, "--cgroup-root", c.cgroupRoot,
		"--cni-conf-dir", filepath.Join(c.rootDir, "cni-conf"), "--node-labels", "skiff.io/test=e2e",
		"--node-status-update-frequency", "2s",
	}
	c.agentLog, _ = os.Create(filepath.Join(dir, "nodeagent.log"))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "nodeagent.log"))
			t.Logf("nodeagent log (last 4000 bytes):\n%s", tail(b, 4000))
			b, _ = os.ReadFile(filepath.Join(dir, "apiserver.log"))
			t.Logf("apiserver log (last 2000 bytes):\n%s", tail(b, 2000))
		}
	})
	t.Cleanup(c.cleanupNode)
	c.startAgent()
	waitFor(t, 60*time.Second, "node "+c.nodeName+" Ready", func() (bool, string) {
		n, err := c.nodes.Get(context.Background(), "", c.nodeName, client.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, string(cond.Status)
			}
		}
		return false, "no Ready condition"
	})
	return c
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (c *nodeCluster) startAgent() {
	c.agent = c.host.Command(filepath.Join(c.bin, "skiff-nodeagent"), c.agentArgs...)
	c.agent.Stdout, c.agent.Stderr = c.agentLog, c.agentLog
	c.agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.agent.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	c.agentDone = done
	cmd := c.agent
	go func() { _ = cmd.Wait(); close(done) }()
}

// killAgent SIGKILLs the agent (nsenter execs it, so the pid is the agent's).
func (c *nodeCluster) killAgent() {
	_ = c.agent.Process.Signal(syscall.SIGKILL)
	<-c.agentDone
}

// cleanupNode stops the agent and removes whatever it left: processes of its containers, mounts under
// its root, its cgroups. A passing test has deleted every pod already, so this finds nothing.
func (c *nodeCluster) cleanupNode() {
	if c.agent != nil {
		_ = c.agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.agentDone:
		case <-time.After(10 * time.Second):
			c.killAgent()
		}
	}
	for _, pid := range cgroupPids(c.cgroupRoot) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// Shims exit once their container is gone.
	deadline := time.Now().Add(10 * time.Second)
	for len(shimPids(c.rootDir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range shimPids(c.rootDir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range mountsUnder(c.rootDir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	for _, d := range cgroupDirs(c.cgroupRoot) {
		removeTree(d)
	}
}

func removeTree(dir string) {
	var dirs []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

// cgroupDirs lists the directories of path in every cgroup hierarchy.
func cgroupDirs(path string) []string {
	var out []string
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+1 < len(f) && (f[i+1] == "cgroup" || f[i+1] == "cgroup2") {
			d := filepath.Join(f[4], path)
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				out = append(out, d)
			}
		}
	}
	return out
}

func cgroupPids(path string) []int {
	seen := map[int]bool{}
	var out []int
	for _, d := range cgroupDirs(path) {
		_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || filepath.Base(p) != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// shimPids are the processes running "skiff-nodeagent shim <bundle under rootDir>".
func shimPids(rootDir string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) >= 3 && args[1] == "shim" && strings.HasPrefix(args[2], rootDir) {
			st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
			if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
				continue
			}
			out = append(out, pid)
		}
	}
	return out
}

func mountsUnder(dir string) []string {
	var out []string
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func (c *nodeCluster) kubectl(args ...string) (string, error) {
	cmd := exec.Command("/usr/bin/kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *nodeCluster) createPod(p *corev1.Pod) *corev1.Pod {
	c.t.Helper()
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	p.Spec.NodeName = c.nodeName
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Image == "" {
			p.Spec.Containers[i].Image = c.image
		}
	}
	for i := range p.Spec.InitContainers {
		if p.Spec.InitContainers[i].Image == "" {
			p.Spec.InitContainers[i].Image = c.image
		}
	}
	created, err := c.pods.Create(context.Background(), p.Namespace, p, client.CreateOptions{})
	if err != nil {
		c.t.Fatalf("creating pod %s: %v", p.Name, err)
	}
	return created
}

func (c *nodeCluster) getPod(name string) *corev1.Pod {
	p, err := c.pods.Get(context.Background(), "default", name, client.GetOptions{})
	if err != nil {
		return nil
	}
	return p
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "pod not found"
	}
	b, _ := json.Marshal(p.Status)
	return string(b)
}

// waitPod waits until cond holds for the pod.
func (c *nodeCluster) waitPod(name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	c.t.Helper()
	var last *corev1.Pod
	waitFor(c.t, timeout, "pod "+name+" "+what, func() (bool, string) {
		last = c.getPod(name)
		return last != nil && cond(last), describe(last)
	})
	return last
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Status.Phase == ph }
}

func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

// deletePod deletes a pod with a 1s grace period (httpd as a container's pid 1 has no TERM handler, so
// the kernel ignores TERM and only the SIGKILL after the grace ends it) and waits until it is gone.
func (c *nodeCluster) deletePod(name string) {
	c.t.Helper()
	one := int64(1)
	if err := c.pods.Delete(context.Background(), "default", name, &metav1.DeleteOptions{GracePeriodSeconds: &one}); err != nil && !client.IsNotFound(err) {
		c.t.Fatalf("deleting pod %s: %v", name, err)
	}
	waitFor(c.t, 90*time.Second, "pod "+name+" to be gone", func() (bool, string) {
		p := c.getPod(name)
		return p == nil, describe(p)
	})
}

func container(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Command: args}
}

func httpGet(h *testhost.Host, url string) (string, error) {
	resp, err := h.HTTPClient().Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// leftovers lists what the agent still holds for a pod uid: its directory (pinned namespaces, rootfs
// mounts), mounts, cgroups and a host-local lease for ip.
func (c *nodeCluster) leftovers(uid, ip string) []string {
	var out []string
	if _, err := os.Stat(filepath.Join(c.rootDir, "pods", uid)); err == nil {
		out = append(out, "pod directory "+uid)
	}
	for _, m := range mountsUnder(c.rootDir) {
		if strings.Contains(m, uid) {
			out = append(out, "mount "+m)
		}
	}
	for _, d := range cgroupDirs(c.cgroupRoot) {
		_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() && strings.Contains(p, uid) {
				out = append(out, "cgroup "+p)
			}
			return nil
		})
	}
	if ip != "" {
		if _, err := os.Stat(filepath.Join(c.rootDir, "cni", "networks", "skiff", ip)); err == nil {
			out = append(out, "host-local lease "+ip)
		}
	}
	return out
}

func TestNodeAgent(t *testing.T) {
	c := startNodeCluster(t)
	ctx := context.Background()

	t.Run("node registers with addresses, endpoint, capacity, labels and a lease", func(t *testing.T) {
		n, err := c.nodes.Get(ctx, "", c.nodeName, client.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ip string
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip = a.Address
			}
		}
		if ip != c.host.IP || n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
			t.Fatalf("addresses %+v endpoint %+v", n.Status.Addresses, n.Status.DaemonEndpoints)
		}
		if n.Labels["kubernetes.io/hostname"] != c.nodeName || n.Labels["kubernetes.io/os"] != "linux" || n.Labels["skiff.io/test"] != "e2e" {
			t.Fatalf("labels %v", n.Labels)
		}
		if n.Status.Capacity.Pods().Value() != 110 || n.Status.Allocatable.Memory().IsZero() || n.Status.Capacity.Cpu().IsZero() {
			t.Fatalf("capacity %v allocatable %v", n.Status.Capacity, n.Status.Allocatable)
		}
		waitFor(t, 30*time.Second, "the node lease", func() (bool, string) {
			l, err := c.leases.Get(ctx, "kube-node-lease", c.nodeName, client.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == c.nodeName && l.Spec.RenewTime != nil, fmt.Sprintf("%+v", l.Spec)
		})
	})

	t.Run("a pod runs with an IP and its httpd answers from the node", func(t *testing.T) {
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web"}}, // the image's own command: httpd -f -p 8080
		}})
		p := c.waitPod("web", "Running with an IP", 120*time.Second, running)
		var body string
		waitFor(t, 30*time.Second, "httpd in pod web answering on "+p.Status.PodIP, func() (bool, string) {
			var err error
			body, err = httpGet(c.host, "http://"+p.Status.PodIP+":8080/")
			if err != nil {
				return false, err.Error()
			}
			return strings.Contains(body, "hello from skiff busybox"), body
		})
		if p.Status.HostIP != c.host.IP || p.Status.QOSClass != corev1.PodQOSBestEffort || p.Status.StartTime == nil {
			t.Fatalf("status %s", describe(p))
		}
	})

	t.Run("env and args with valueFrom are seen inside", func(t *testing.T) {
		if _, err := c.cms.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"color": "blue", "size": "L"}}, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.secrets.Create(ctx, "default", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Data: map[string][]byte{"token": []byte("s3cr3t")}}, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ctr := container("show", "sh", "-c", `echo "color=$COLOR token=$TOKEN pod=$POD_NAME ns=$POD_NS ip=$POD_IP mem=$MEM size=$size greeting=$GREETING"; echo "args: $*"`, "sh")
		ctr.Args = []string{"one", "$(COLOR)-two"}
		ctr.Env = []corev1.EnvVar{
			{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
			{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "token"}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "GREETING", Value: "hi-$(POD_NAME)"},
		}
		ctr.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
		ctr.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "env"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{ctr}}})
		p := c.waitPod("env", "Succeeded", 120*time.Second, phase(corev1.PodSucceeded))
		out, err := c.kubectl("logs", "env")
		if err != nil {
			t.Fatalf("kubectl logs env: %v: %s", err, out)
		}
		want := fmt.Sprintf("color=blue token=s3cr3t pod=env ns=default ip=%s mem=64 size=L greeting=hi-env\nargs: one blue-two\n", p.Status.PodIP)
		if out != want {
			t.Fatalf("output\n%q\nwant\n%q", out, want)
		}
		c.deletePod("env")
	})

	t.Run("a restartPolicy Never pod that exits 1 ends Failed", func(t *testing.T) {
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fail"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{container("fail", "sh", "-c", "echo bye; exit 1")}}})
		p := c.waitPod("fail", "Failed", 120*time.Second, phase(corev1.PodFailed))
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 1 || term.Reason != "Error" || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Fatalf("container status %s", describe(p))
		}
		c.deletePod("fail")
	})

	t.Run("init containers run in order before the app container", func(t *testing.T) {
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "inits"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{
				container("first", "sh", "-c", "sleep 1; echo first"),
				container("second", "sh", "-c", "sleep 1; echo second"),
			},
			Containers: []corev1.Container{container("main", "sh", "-c", "echo main")}}})
		p := c.waitPod("inits", "Succeeded", 120*time.Second, phase(corev1.PodSucceeded))
		first := p.Status.InitContainerStatuses[0].State.Terminated
		second := p.Status.InitContainerStatuses[1].State.Terminated
		main := p.Status.ContainerStatuses[0].State.Terminated
		if first == nil || second == nil || main == nil {
			t.Fatalf("statuses %s", describe(p))
		}
		if second.StartedAt.Before(first.FinishedAt.Time) || main.StartedAt.Before(second.FinishedAt.Time) {
			t.Fatalf("out of order: first %v-%v second %v-%v main %v", first.StartedAt, first.FinishedAt, second.StartedAt, second.FinishedAt, main.StartedAt)
		}
		for _, name := range []string{"first", "second", "main"} {
			out, err := c.kubectl("logs", "inits", "-c", name)
			if err != nil || out != name+"\n" {
				t.Fatalf("kubectl logs inits -c %s: %q %v", name, out, err)
			}
		}
		c.deletePod("inits")
	})

	t.Run("a failing init container with restartPolicy Never fails the pod and the app never starts", func(t *testing.T) {
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "badinit"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{container("broken", "sh", "-c", "exit 3")},
			Containers:     []corev1.Container{container("main", "sh", "-c", "echo should-not-run")}}})
		p := c.waitPod("badinit", "Failed", 120*time.Second, phase(corev1.PodFailed))
		if p.Status.ContainerStatuses[0].State.Waiting == nil || p.Status.InitContainerStatuses[0].State.Terminated.ExitCode != 3 {
			t.Fatalf("statuses %s", describe(p))
		}
		c.deletePod("badinit")
	})

	t.Run("a memory-limited pod that allocates too much is OOMKilled and restarted with back-off", func(t *testing.T) {
		ctr := container("hog", "sh", "-c", "echo start; tail /dev/zero")
		ctr.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "oom"}, Spec: corev1.PodSpec{Containers: []corev1.Container{ctr}}})
		sawBackoff := false
		c.waitPod("oom", "OOMKilled, restarted, in CrashLoopBackOff", 120*time.Second, func(p *corev1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 {
				return false
			}
			cs := p.Status.ContainerStatuses[0]
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				sawBackoff = true
			}
			last := cs.LastTerminationState.Terminated
			return sawBackoff && cs.RestartCount >= 1 && last != nil && last.Reason == "OOMKilled" && last.ExitCode == 137
		})
		if p := c.getPod("oom"); p.Status.QOSClass != corev1.PodQOSBurstable {
			t.Fatalf("qos %s", p.Status.QOSClass)
		}
		c.deletePod("oom")
	})

	t.Run("kubectl logs and logs -f work through the apiserver", func(t *testing.T) {
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "talker"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{container("talk", "sh", "-c", "for i in 1 2 3; do echo line $i; done; sleep 2; for i in 4 5; do echo line $i; done")}}})
		c.waitPod("talker", "Running", 120*time.Second, running)
		out, err := c.kubectl("logs", "-f", "talker")
		if err != nil || out != "line 1\nline 2\nline 3\nline 4\nline 5\n" {
			t.Fatalf("kubectl logs -f talker: %q %v", out, err)
		}
		c.waitPod("talker", "Succeeded", 60*time.Second, phase(corev1.PodSucceeded))
		out, err = c.kubectl("logs", "--tail=2", "talker")
		if err != nil || out != "line 4\nline 5\n" {
			t.Fatalf("kubectl logs --tail=2 talker: %q %v", out, err)
		}
		out, err = c.kubectl("logs", "--timestamps", "--tail=1", "talker")
		if f := strings.Fields(out); err != nil || len(f) != 3 || f[1] != "line" {
			t.Fatalf("kubectl logs --timestamps: %q %v", out, err)
		} else if _, perr := time.Parse(time.RFC3339Nano, f[0]); perr != nil {
			t.Fatalf("timestamp %q: %v", f[0], perr)
		}
		c.deletePod("talker")
	})

	t.Run("deleting a pod honours its grace period and leaves nothing behind", func(t *testing.T) {
		grace := int64(30)
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "graceful"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{container("g", "sh", "-c", `trap 'echo TERM; sleep 2; echo done; exit 0' TERM; echo ready; while true; do sleep 0.2; done`)}}})
		p := c.waitPod("graceful", "Running", 120*time.Second, running)
		waitFor(t, 30*time.Second, "the TERM trap to be installed", func() (bool, string) {
			out, _ := c.kubectl("logs", "graceful")
			return strings.Contains(out, "ready"), out
		})
		uid, ip := string(p.UID), p.Status.PodIP
		if len(c.leftovers(uid, ip)) == 0 {
			t.Fatal("the leftovers check sees nothing for a running pod: it cannot detect leaks")
		}
		if err := c.pods.Delete(ctx, "default", "graceful", nil); err != nil {
			t.Fatal(err)
		}
		// The TERM handler runs for 2s within the 30s grace: the pod stays, terminating, meanwhile.
		sawTerminating := false
		var lastLog string
		waitFor(t, 60*time.Second, "pod graceful to be gone", func() (bool, string) {
			p := c.getPod("graceful")
			if p != nil && p.DeletionTimestamp != nil {
				sawTerminating = true
				if out, err := c.kubectl("logs", "graceful"); err == nil {
					lastLog = out
				}
			}
			return p == nil, describe(p)
		})
		if !sawTerminating || !strings.Contains(lastLog, "TERM") {
			t.Fatalf("pod was not seen terminating with its TERM handler running (log %q)", lastLog)
		}
		if left := c.leftovers(uid, ip); len(left) > 0 {
			t.Fatalf("left behind after deletion: %v", left)
		}
		if pids := shimPids(filepath.Join(c.rootDir, "containers", uid)); len(pids) > 0 {
			t.Fatalf("shims left: %v", pids)
		}
	})

	t.Run("SIGKILL of the agent leaves containers running and the restarted agent adopts them", func(t *testing.T) {
		crash := container("crash", "sh", "-c", "echo boom; exit 2")
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crashy"}, Spec: corev1.PodSpec{Containers: []corev1.Container{crash}}})
		c.waitPod("crashy", "restarted once", 120*time.Second, func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		web := c.waitPod("web", "Running", 30*time.Second, running)
		before := web.Status.ContainerStatuses[0]
		crashy := c.getPod("crashy")
		crashRestarts := crashy.Status.ContainerStatuses[0].RestartCount
		shimsBefore := len(shimPids(c.rootDir))

		c.killAgent()
		// With the agent dead, the pod still serves.
		body, err := httpGet(c.host, "http://"+web.Status.PodIP+":8080/")
		if err != nil || !strings.Contains(body, "hello from skiff busybox") {
			t.Fatalf("pod web with the agent killed: %q %v", body, err)
		}
		c.startAgent()
		waitFor(t, 60*time.Second, "the restarted agent's health", func() (bool, string) {
			resp, err := c.host.HTTPClient().Get("http://" + c.host.IP + ":10250/healthz")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == 200, resp.Status
		})
		// A new pod still starts, so the agent is syncing again.
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "after"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}}})
		c.waitPod("after", "Running", 120*time.Second, running)
		after := c.getPod("web").Status.ContainerStatuses[0]
		if after.ContainerID != before.ContainerID || after.RestartCount != before.RestartCount || after.State.Running == nil {
			t.Fatalf("web container changed across the agent restart: before %+v after %+v", before, after)
		}
		if got := c.getPod("crashy").Status.ContainerStatuses[0].RestartCount; got < crashRestarts {
			t.Fatalf("crashy restart count went from %d to %d", crashRestarts, got)
		}
		// One more shim for the new pod, and none duplicated for the adopted ones (crashy's may have
		// been replaced by its next attempt).
		if n := len(shimPids(c.rootDir)); n > shimsBefore+1 {
			t.Fatalf("%d shims after the restart, %d before: duplicates were started", n, shimsBefore)
		}
		for _, name := range []string{"crashy", "after", "web"} {
			c.deletePod(name)
		}
	})
}

// BenchmarkPodStart measures pod start latency (create a pod whose image is present -> Running, as the
// API reports it) over 50 pods, and the raw cost of a libcontainer create+start of the same busybox
// rootfs in the same run (the agent binary's bench-start), and prints both with their ratio.
func BenchmarkPodStart(b *testing.B) {
	c := startNodeCluster(b)
	ctx := context.Background()
	// Pull the image once so that every measured pod finds it present.
	c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "warm"}, Spec: corev1.PodSpec{Containers: []corev1.Container{container("w", "sleep", "1000")}}})
	c.waitPod("warm", "Running", 120*time.Second, running)
	const pods = 50
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
		var lat []time.Duration
		for i := 0; i < pods; i++ {
			name := fmt.Sprintf("bench-%d-%d", iter, i)
			start := time.Now()
			c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Command: []string{"sleep", "1000"}, ImagePullPolicy: corev1.PullIfNotPresent}}}})
			w, err := c.pods.Watch(ctx, "default", client.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				b.Fatal(err)
			}
			for ev := range w.Events() {
				if ev.Object != nil && running(ev.Object) {
					break
				}
			}
			w.Stop()
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p99 := lat[len(lat)/2], lat[int(0.99*float64(len(lat)-1))]
		out, err := exec.Command(filepath.Join(c.bin, "skiff-nodeagent"), "bench-start", b.TempDir(), fmt.Sprint(pods)).Output()
		if err != nil {
			b.Fatalf("skiff-nodeagent bench-start: %v", err)
		}
		var raw struct {
			P50 float64 `json:"p50_ms"`
			P99 float64 `json:"p99_ms"`
		}
		if err := json.Unmarshal(out, &raw); err != nil {
			b.Fatal(err)
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.Logf("pod start (create -> Running, %d pods): p50 %.1fms p99 %.1fms; raw libcontainer create+start: p50 %.1fms p99 %.1fms; ratio p50 %.1fx p99 %.1fx",
			pods, ms(p50), ms(p99), raw.P50, raw.P99, ms(p50)/raw.P50, ms(p99)/raw.P99)
		b.ReportMetric(ms(p50), "pod-p50-ms")
		b.ReportMetric(ms(p99), "pod-p99-ms")
		b.ReportMetric(raw.P50, "raw-p50-ms")
		b.ReportMetric(ms(p50)/raw.P50, "ratio-p50")
		for i := 0; i < pods; i++ {
			one := int64(0)
			_ = c.pods.Delete(ctx, "default", fmt.Sprintf("bench-%d-%d", iter, i), &metav1.DeleteOptions{GracePeriodSeconds: &one})
		}
		for i := 0; i < pods; i++ {
			c.t = b
			name := fmt.Sprintf("bench-%d-%d", iter, i)
			waitFor(b, 120*time.Second, "pod "+name+" gone", func() (bool, string) { return c.getPod(name) == nil, "" })
		}
		b.StartTimer()
	}
	b.StopTimer()
	c.deletePod("warm")
}

// TestNodeAgentLogsKeepTheFirstLines checks that a container's very first output lines, written the
// moment it starts, reach `kubectl logs` and the pods/log API with every option: a shell that echoes
// before it sleeps, and one that echoes before it execs httpd (the quickstart's pattern).
func TestNodeAgentLogsKeepTheFirstLines(t *testing.T) {
	c := startNodeCluster(t)
	c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "first"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{container("first", "sh", "-c", "echo first; echo second; sleep 30")}}})
	c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "starter"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{container("web", "sh", "-c", "echo starting; exec httpd -f -p 8080 -h /var/www")}}})
	c.waitPod("first", "Running", 120*time.Second, running)
	c.waitPod("starter", "Running", 120*time.Second, running)
	waitFor(t, 30*time.Second, "both lines in pod first's log", func() (bool, string) {
		out, err := c.kubectl("logs", "first")
		return err == nil && out == "first\nsecond\n", fmt.Sprintf("%q %v", out, err)
	})

	tests := []struct {
		pod  string
		args []string
		want []string // the lines, timestamps stripped
	}{
		{"first", nil, []string{"first", "second"}},
		{"first", []string{"--timestamps"}, []string{"first", "second"}},
		{"first", []string{"--tail=2"}, []string{"first", "second"}},
		{"first", []string{"--tail=5", "--timestamps"}, []string{"first", "second"}},
		{"first", []string{"--tail=1"}, []string{"second"}},
		{"first", []string{"--since=10m"}, []string{"first", "second"}},
		{"starter", nil, []string{"starting"}},
		{"starter", []string{"--timestamps"}, []string{"starting"}},
		{"starter", []string{"--tail=1"}, []string{"starting"}},
	}
	for _, tt := range tests {
		t.Run(tt.pod+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := c.kubectl(append([]string{"logs", tt.pod}, tt.args...)...)
			if err != nil {
				t.Fatalf("kubectl logs: %v: %s", err, out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			stamped := strings.Contains(strings.Join(tt.args, " "), "--timestamps")
			for i, l := range lines {
				if stamped {
					ts, rest, _ := strings.Cut(l, " ")
					if _, perr := time.Parse(time.RFC3339Nano, ts); perr != nil {
						t.Fatalf("line %q: timestamp: %v", l, perr)
					}
					lines[i] = rest
				}
			}
			if strings.Join(lines, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("kubectl logs %s %v printed %q, want lines %q", tt.pod, tt.args, out, tt.want)
			}
		})
	}

	t.Run("follow starts with the first lines", func(t *testing.T) {
		for _, q := range []string{"follow=true", "follow=true&timestamps=true", "follow=true&tailLines=10"} {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+c.apiAddr+"/api/v1/namespaces/default/pods/first/log?"+q, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				t.Fatalf("GET pods/first/log?%s: %v", q, err)
			}
			sc := bufio.NewScanner(resp.Body)
			var got []string
			for len(got) < 2 && sc.Scan() {
				l := sc.Text()
				if strings.Contains(q, "timestamps") {
					_, l, _ = strings.Cut(l, " ")
				}
				got = append(got, l)
			}
			resp.Body.Close()
			cancel()
			if strings.Join(got, "\n") != "first\nsecond" {
				t.Fatalf("GET pods/first/log?%s streamed %q (status %s), want first, second", q, got, resp.Status)
			}
		}
	})
	c.deletePod("first")
	c.deletePod("starter")
}
