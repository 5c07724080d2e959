package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/workqueue"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-cm-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range []struct{ pkg, out string }{{"../../apiserver", "skiff-apiserver"}, {"..", "skiff-controller-manager"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), ".")
		cmd.Dir = b.pkg
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", b.out, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a started binary.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(t testing.TB, log string, bin string, args ...string) *proc {
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, bin), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// env is one apiserver plus a controller-manager and the API clients of a test.
type env struct {
	t       testing.TB
	dir     string
	url     string
	c       *client.Client
	cm      *proc
	cmArgs  []string
	pods    *client.Resource[corev1.Pod]
	nodes   *client.Resource[corev1.Node]
	leases  *client.Resource[coordinationv1.Lease]
	sets    *client.Resource[appsv1.ReplicaSet]
	deploys *client.Resource[appsv1.Deployment]
	svcs    *client.Resource[corev1.Service]
	eps     *client.Resource[corev1.Endpoints]
	slices  *client.Resource[discoveryv1.EndpointSlice]
	cms     *client.Resource[corev1.ConfigMap]
	nss     *client.Resource[corev1.Namespace]
	sas     *client.Resource[corev1.ServiceAccount]
}

func info(group, plural string) client.ResourceInfo {
	r, ok := resources.Lookup(group, plural)
	if !ok {
		panic(plural)
	}
	return client.ResourceInfo{Group: r.Group, Version: r.Version, Resource: r.Plural, Kind: r.Kind, Namespaced: r.Namespaced}
}

// newEnv starts an apiserver and, unless cmArgs is nil, a controller-manager with those extra flags.
func newEnv(t testing.TB, cmArgs ...string) *env {
	dir := t.TempDir()
	port := freePort(t)
	start(t, filepath.Join(dir, "apiserver.log"), "skiff-apiserver", "--port", fmt.Sprint(port), "--data-dir", filepath.Join(dir, "data"))
	e := &env{t: t, dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitHTTP(t, e.url+"/readyz", filepath.Join(dir, "apiserver.log"))
	c, err := client.New(&client.Config{Server: e.url, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	e.pods = client.NewResource[corev1.Pod](c, info("", "pods"))
	e.nodes = client.NewResource[corev1.Node](c, info("", "nodes"))
	e.leases = client.NewResource[coordinationv1.Lease](c, info("coordination.k8s.io", "leases"))
	e.sets = client.NewResource[appsv1.ReplicaSet](c, info("apps", "replicasets"))
	e.deploys = client.NewResource[appsv1.Deployment](c, info("apps", "deployments"))
	e.svcs = client.NewResource[corev1.Service](c, info("", "services"))
	e.eps = client.NewResource[corev1.Endpoints](c, info("", "endpoints"))
	e.slices = client.NewResource[discoveryv1.EndpointSlice](c, info("discovery.k8s.io", "endpointslices"))
	e.cms = client.NewResource[corev1.ConfigMap](c, info("", "configmaps"))
	e.nss = client.NewResource[corev1.Namespace](c, info("", "namespaces"))
	e.sas = client.NewResource[corev1.ServiceAccount](c, info("", "serviceaccounts"))
	e.cmArgs = cmArgs
	e.startCM()
	return e
}

// startCM (re)starts the controller-manager as a subprocess.
func (e *env) startCM() {
	hp := freePort(e.t)
	args := append([]string{"--server", e.url, "--leader-elect=false", "--health-addr", fmt.Sprintf("127.0.0.1:%d", hp),
		"--node-monitor-period", "200ms", "--v", "4"}, e.cmArgs...)
	log := filepath.Join(e.dir, fmt.Sprintf("controller-manager-%d.log", time.Now().UnixNano()))
	e.cm = start(e.t, log, "skiff-controller-manager", args...)
	waitHTTP(e.t, fmt.Sprintf("http://127.0.0.1:%d/readyz", hp), log)
}

func waitHTTP(t testing.TB, url, log string) {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	data, _ := os.ReadFile(log)
	t.Fatalf("waiting for %s: last %s\n%s", url, last, tail(data, 3000))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// eventually polls cond until it returns "" or the deadline passes; cond returns what it saw.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last saw: %s", timeout, what, last)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return c
}

// ---- the fake nodeagent ----

// fakeAgent plays the nodeagent of several nodes: it renews their Leases, binds pending pods to them
// round-robin, reports pods Running and Ready with an IP, and finishes graceful deletions. A silent
// node does none of this.
type fakeAgent struct {
	e         *env
	nodes     []string
	mu        sync.Mutex
	silent    map[string]bool
	notReady  map[string]bool // pod names kept not ready
	readyHold func(p *corev1.Pod) bool
	// finish, when set, decides whether a running pod's containers exit now (Succeeded or Failed; ""
	// keeps it running).
	finish func(p *corev1.Pod) corev1.PodPhase
	next   int
	ip     int
	inf    *informer.Informer[corev1.Pod]
	q      *workqueue.Queue[string]
}

func newFakeAgent(e *env, nodes ...string) *fakeAgent {
	a := &fakeAgent{e: e, nodes: nodes, silent: map[string]bool{}, notReady: map[string]bool{}}
	c := ctx(e.t)
	for _, n := range nodes {
		a.createNode(c, n, nil)
	}
	a.inf = informer.New[corev1.Pod](e.pods, informer.Options{})
	a.q = workqueue.New(workqueue.Options[string]{Name: "fakeagent"})
	a.inf.AddHandler(informer.KeyHandler[corev1.Pod](a.q.Add))
	cctx, cancel := context.WithCancel(context.Background())
	go func() { _ = a.inf.Run(cctx) }()
	go a.q.Run(cctx, 4, a.sync)
	go func() {
		t := time.NewTicker(300 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-t.C:
				for _, n := range a.nodes {
					if !a.isSilent(n) {
						a.renew(cctx, n)
					}
				}
			}
		}
	}()
	e.t.Cleanup(func() { cancel(); a.q.ShutDown() })
	return a
}

func (a *fakeAgent) createNode(c context.Context, name string, lbls map[string]string) {
	node := &corev1.Node{}
	node.Name = name
	node.Labels = map[string]string{corev1.LabelHostname: name}
	for k, v := range lbls {
		node.Labels[k] = v
	}
	node.Status.Allocatable = corev1.ResourceList{}
	now := metav1.Now()
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
	if _, err := a.e.nodes.Create(c, "", node, client.CreateOptions{}); err != nil {
		a.e.t.Fatal(err)
	}
	a.renew(c, name)
}

// addNode registers one more node (with labels) that the agent plays from now on.
func (a *fakeAgent) addNode(name string, lbls map[string]string) {
	a.createNode(ctx(a.e.t), name, lbls)
	a.mu.Lock()
	a.nodes = append(a.nodes, name)
	a.mu.Unlock()
	for _, p := range a.inf.List() {
		a.q.Add(p.Namespace + "/" + p.Name)
	}
}

// pinnedNode is the node a pod's required affinity names with matchFields metadata.name (daemon pods).
func pinnedNode(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// resync makes the agent look at every pod again (after a finish or readiness rule changed).
func (a *fakeAgent) resync() {
	for _, p := range a.inf.List() {
		a.q.Add(p.Namespace + "/" + p.Name)
	}
}

func (a *fakeAgent) isSilent(n string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.silent[n]
}

func (a *fakeAgent) setSilent(n string, s bool) {
	a.mu.Lock()
	a.silent[n] = s
	a.mu.Unlock()
	for _, p := range a.inf.List() {
		a.q.Add(p.Namespace + "/" + p.Name)
	}
}

func (a *fakeAgent) setReady(pod string, ready bool) {
	a.mu.Lock()
	a.notReady[pod] = !ready
	a.mu.Unlock()
	for _, p := range a.inf.List() {
		a.q.Add(p.Namespace + "/" + p.Name)
	}
}

func (a *fakeAgent) renew(ctx context.Context, node string) {
	now := metav1.NowMicro()
	l, err := a.e.leases.Get(ctx, corev1.NamespaceNodeLease, node, client.GetOptions{})
	if client.IsNotFound(err) {
		l = &coordinationv1.Lease{}
		l.Namespace, l.Name = corev1.NamespaceNodeLease, node
		secs := int32(40)
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &node, &secs, &now
		_, _ = a.e.leases.Create(ctx, corev1.NamespaceNodeLease, l, client.CreateOptions{})
		return
	}
	if err != nil {
		return
	}
	l.Spec.RenewTime = &now
	_, _ = a.e.leases.Update(ctx, corev1.NamespaceNodeLease, l, client.UpdateOptions{})
	// like a kubelet, report Ready again when the controller marked the node otherwise
	n, err := a.e.nodes.Get(ctx, "", node, client.GetOptions{})
	if err != nil {
		return
	}
	for i, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			t := metav1.Now()
			n.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: t, LastTransitionTime: t}
			_, _ = a.e.nodes.UpdateStatus(ctx, "", n, client.UpdateOptions{})
		}
	}
}

func (a *fakeAgent) sync(ctx context.Context, key string) error {
	p, ok := a.inf.Get(key)
	if !ok {
		return nil
	}
	if p.Spec.NodeName == "" {
		if p.DeletionTimestamp != nil {
			return nil
		}
		a.mu.Lock()
		var node string
		if pin := pinnedNode(p); pin != "" {
			// like the scheduler: a pod pinned to a node goes there or nowhere
			for _, n := range a.nodes {
				if n == pin && !a.silent[n] {
					node = n
				}
			}
		} else {
			for range a.nodes {
				n := a.nodes[a.next%len(a.nodes)]
				a.next++
				if !a.silent[n] {
					node = n
					break
				}
			}
		}
		a.mu.Unlock()
		if node == "" {
			return nil
		}
		b := &corev1.Binding{}
		b.Name, b.Namespace, b.UID = p.Name, p.Namespace, p.UID
		b.Target = corev1.ObjectReference{Kind: "Node", Name: node}
		err := a.e.pods.CreateSubresource(ctx, p.Namespace, p.Name, "binding", b, nil)
		if client.IsConflict(err) || client.IsNotFound(err) {
			return nil
		}
		return err
	}
	if a.isSilent(p.Spec.NodeName) {
		return nil
	}
	if p.DeletionTimestamp != nil {
		zero := int64(0)
		uid := p.UID
		err := a.e.pods.Delete(ctx, p.Namespace, p.Name, &metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if client.IsNotFound(err) || client.IsConflict(err) {
			return nil
		}
		return err
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil
	}
	a.mu.Lock()
	finish := a.finish
	a.mu.Unlock()
	if finish != nil && p.Status.Phase == corev1.PodRunning {
		if ph := finish(p); ph == corev1.PodSucceeded || ph == corev1.PodFailed {
			upd := *p
			now := metav1.Now()
			code := int32(0)
			if ph == corev1.PodFailed {
				code = 1
			}
			upd.Status = corev1.PodStatus{Phase: ph, PodIP: p.Status.PodIP, HostIP: p.Status.HostIP, StartTime: p.Status.StartTime,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now}}}
			for _, c := range p.Spec.Containers {
				upd.Status.ContainerStatuses = append(upd.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: now}}})
			}
			_, err := a.e.pods.UpdateStatus(ctx, p.Namespace, &upd, client.UpdateOptions{})
			if client.IsConflict(err) || client.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	a.mu.Lock()
	want := !a.notReady[p.Name] && (a.readyHold == nil || !a.readyHold(p))
	ip := p.Status.PodIP
	if ip == "" {
		a.ip++
		ip = fmt.Sprintf("10.244.%d.%d", a.ip/250, a.ip%250+1)
	}
	a.mu.Unlock()
	st := corev1.ConditionFalse
	if want {
		st = corev1.ConditionTrue
	}
	if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && readyStatus(p) == st {
		return nil
	}
	upd := *p
	now := metav1.Now()
	upd.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: "192.0.2.1", StartTime: &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: now}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}
	for _, c := range p.Spec.Containers {
		upd.Status.ContainerStatuses = append(upd.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Ready: want, Image: c.Image})
	}
	_, err := a.e.pods.UpdateStatus(ctx, p.Namespace, &upd, client.UpdateOptions{})
	if client.IsConflict(err) || client.IsNotFound(err) {
		return nil
	}
	return err
}

func readyStatus(p *corev1.Pod) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

// ---- object builders ----

func podTemplate(app, image string) corev1.PodTemplateSpec {
	var t corev1.PodTemplateSpec
	t.Labels = map[string]string{"app": app}
	t.Spec.Containers = []corev1.Container{{Name: "c", Image: image, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}
	return t
}

func int32p(i int32) *int32 { return &i }

func (e *env) listPods(ns, sel string) []corev1.Pod {
	l, err := e.pods.List(context.Background(), ns, client.ListOptions{LabelSelector: sel})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func active(pods []corev1.Pod) (n, ready int) {
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		n++
		if readyStatus(p) == corev1.ConditionTrue {
			ready++
		}
	}
	return n, ready
}

func intstrInt(i int32) intstr.IntOrString { return intstr.FromInt32(i) }
