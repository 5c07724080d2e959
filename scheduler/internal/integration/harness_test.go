package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-scheduler-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		for _, b := range []struct{ name, pkg string }{
			{"skiff-apiserver", "github.com/skiffhq/skiff/apiserver"},
			{"skiff-scheduler", "github.com/skiffhq/skiff/scheduler"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.name), b.pkg)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n", b.name, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a component binary started by a test; its output goes to a log file shown on failure.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(t testing.TB, name string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, strings.SplitN(name, "#", 2)[0]), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(t, 40)
		}
	})
	return p
}

// stop sends SIGTERM and waits; kill sends SIGKILL.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *process) dumpLog(t testing.TB, lines int) {
	f, err := os.Open(p.log)
	if err != nil {
		return
	}
	defer f.Close()
	var all []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		all = append(all, s.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	t.Logf("--- last %d lines of %s ---\n%s", len(all), p.name, strings.Join(all, "\n"))
}

// cluster is an apiserver with a client.
type cluster struct {
	url string
	cs  *client.Clientset
	api *process
}

// startCluster starts a skiff-apiserver on a free port with a fresh data directory.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	port := freePort(t)
	api := startProcess(t, "skiff-apiserver", "--port", fmt.Sprint(port), "--data-dir", t.TempDir(), "--etcd-compaction-interval", "0")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "the apiserver to be ready", time.Minute, func() (bool, string) {
		select {
		case <-api.done:
			return false, "apiserver exited"
		default:
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	cs, err := client.NewForConfig(&client.Config{Server: url, QPS: -1, UserAgent: "scheduler-integration-test"})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{url: url, cs: cs, api: api}
}

// startScheduler starts a skiff-scheduler binary against the cluster and waits until it is ready.
func (c *cluster) startScheduler(t testing.TB, identity string, args ...string) *process {
	t.Helper()
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := []string{"--master", c.url, "--health-addr", health, "--leader-elect-identity", identity,
		"--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period", "500ms"}
	p := startProcess(t, "skiff-scheduler#"+identity, append(base, args...)...)
	waitFor(t, "the scheduler "+identity+" to be ready", 30*time.Second, func() (bool, string) {
		select {
		case <-p.done:
			return false, "scheduler exited"
		default:
		}
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// waitFor polls cond until it holds or the deadline passes, then fails saying what it saw last.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := "nothing yet"
	for time.Now().Before(deadline) {
		ok, seen := cond()
		if seen != "" {
			last = seen
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last saw: %s", timeout, what, last)
}

type nodeOpt func(*v1.Node)

func labels(kv ...string) nodeOpt {
	return func(n *v1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func taint(key, value string, effect v1.TaintEffect) nodeOpt {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	}
}

// makeNode builds a Ready node object with the given allocatable.
func makeNode(name, cpu, mem string, pods int64, opts ...nodeOpt) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}}}
	for _, o := range opts {
		o(n)
	}
	rl := v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem),
		v1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI)}
	n.Status = v1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}
	return n
}

// addNode registers a node (spec and status; the API may drop status on create).
func (c *cluster) addNode(t testing.TB, n *v1.Node) {
	t.Helper()
	ctx := context.Background()
	created, err := c.cs.Nodes.Create(ctx, "", n, client.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node %s: %v", n.Name, err)
	}
	if created.Status.Allocatable.Cpu().IsZero() {
		created.Status = n.Status
		if _, err := c.cs.Nodes.UpdateStatus(ctx, "", created, client.UpdateOptions{}); err != nil {
			t.Fatalf("setting node %s status: %v", n.Name, err)
		}
	}
}

type podOpt func(*v1.Pod)

func makePod(ns, name, cpu string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{}}}
	req := v1.ResourceList{}
	if cpu != "" {
		req[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	p.Spec.Containers = []v1.Container{{Name: "c", Image: "busybox", Resources: v1.ResourceRequirements{Requests: req}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func podLabels(kv ...string) podOpt {
	return func(p *v1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func (c *cluster) createPod(t testing.TB, p *v1.Pod) *v1.Pod {
	t.Helper()
	out, err := c.cs.Pods.Create(context.Background(), p.Namespace, p, client.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", p.Name, err)
	}
	return out
}

func (c *cluster) getPod(t testing.TB, ns, name string) *v1.Pod {
	t.Helper()
	p, err := c.cs.Pods.Get(context.Background(), ns, name, client.GetOptions{})
	if err != nil {
		t.Fatalf("getting pod %s: %v", name, err)
	}
	return p
}

// waitBound waits for the pod to be bound and returns its node.
func (c *cluster) waitBound(t testing.TB, ns, name string, timeout time.Duration) string {
	t.Helper()
	var node string
	waitFor(t, "pod "+name+" to be bound", timeout, func() (bool, string) {
		p, err := c.cs.Pods.Get(context.Background(), ns, name, client.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		node = p.Spec.NodeName
		return node != "", describeScheduling(p)
	})
	return node
}

func describeScheduling(p *v1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return fmt.Sprintf("node %q, PodScheduled=%s %s %q, nominated %q", p.Spec.NodeName, c.Status, c.Reason, c.Message, p.Status.NominatedNodeName)
		}
	}
	return fmt.Sprintf("node %q, no PodScheduled condition", p.Spec.NodeName)
}

// scheduledCondition returns the pod's PodScheduled condition.
func scheduledCondition(p *v1.Pod) (v1.PodCondition, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return c, true
		}
	}
	return v1.PodCondition{}, false
}

// fakeKubelet finishes the graceful deletion of pods on the test's nodes, the nodeagent's job, since no
// nodeagent runs in these tests.
func (c *cluster) fakeKubelet(t testing.TB, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		zero := int64(0)
		for ctx.Err() == nil {
			list, err := c.cs.Pods.List(ctx, ns, client.ListOptions{})
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			w, err := c.cs.Pods.Watch(ctx, ns, client.ListOptions{ResourceVersion: list.ResourceVersion})
			if err != nil {
				continue
			}
			finish := func(p *v1.Pod) {
				if p.DeletionTimestamp != nil && p.Spec.NodeName != "" {
					uid := p.UID
					_ = c.cs.Pods.Delete(ctx, p.Namespace, p.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
				}
			}
			for i := range list.Items {
				finish(&list.Items[i])
			}
			for ev := range w.Events() {
				if ev.Object != nil && ev.Type != metav1.WatchEventType("DELETED") {
					finish(ev.Object)
				}
			}
		}
	}()
}

func (c *cluster) createNamespace(t testing.TB, name string) {
	t.Helper()
	if _, err := c.cs.Namespaces.Create(context.Background(), "", &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, client.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}
