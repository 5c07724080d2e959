//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubectlEnv is one skiff-apiserver process and a kubeconfig for the real /usr/bin/kubectl.
type kubectlEnv struct {
	t          *testing.T
	kubeconfig string
	cacheDir   string
	url        string
}

// apiserverBinary finds skiff-apiserver in -skiff-bin, or builds it from the workspace.
func apiserverBinary(t *testing.T) string {
	t.Helper()
	if dir, err := filepath.Abs(*skiffBin); err == nil {
		p := filepath.Join(dir, "skiff-apiserver")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	out := filepath.Join(t.TempDir(), "skiff-apiserver")
	cmd := exec.Command("go", "build", "-o", out, "github.com/skiffhq/skiff/apiserver")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building skiff-apiserver: %v\n%s", err, b)
	}
	return out
}

func startKubectlEnv(t *testing.T) *kubectlEnv {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil || !strings.HasPrefix(kubectl, "/usr/bin/") {
		t.Fatalf("the real kubectl is required at /usr/bin/kubectl (found %q, %v)", kubectl, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, apiserverBinary(t), "--port", fmt.Sprint(port), "--data-dir", filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting skiff-apiserver: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("apiserver log (last 4 KiB):\n%s", lastBytes(b, 4096))
		}
	})
	e := &kubectlEnv{t: t, kubeconfig: filepath.Join(dir, "kubeconfig"), cacheDir: filepath.Join(dir, "cache"),
		url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: skiff
  cluster: {server: %q}
contexts:
- name: skiff
  context: {cluster: skiff, user: skiff, namespace: default}
current-context: skiff
users:
- name: skiff
  user: {}
`, e.url)
	if err := os.WriteFile(e.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get(e.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waited 60s for the apiserver's /readyz; last saw: %s", last)
	return nil
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[len(b)-n:])
	}
	return string(b)
}

func (e *kubectlEnv) command(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("/usr/bin/kubectl", append([]string{"--kubeconfig", e.kubeconfig, "--cache-dir", e.cacheDir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// badStderr are phrases that mean kubectl had trouble with the server.
var badStderr = []string{"error", "Error", "warning", "Warning", "couldn't", "unable to", "failed", "deprecated"}

// run runs kubectl, failing on a non-zero exit or on any complaint on stderr.
func (e *kubectlEnv) run(args ...string) string {
	e.t.Helper()
	return e.runEnv(nil, args...)
}

func (e *kubectlEnv) runEnv(env []string, args ...string) string {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := e.command(env, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	for _, bad := range badStderr {
		if strings.Contains(stderr.String(), bad) {
			e.t.Fatalf("kubectl %s wrote to stderr: %s", strings.Join(args, " "), stderr.String())
		}
	}
	return stdout.String()
}

// fails runs kubectl expecting a clean failure: a non-zero exit and a one-line error, no stack trace.
func (e *kubectlEnv) fails(args ...string) string {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := e.command(nil, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		e.t.Fatalf("kubectl %s succeeded, want a failure: %s", strings.Join(args, " "), stdout.String())
	}
	if s := stderr.String(); strings.Contains(s, "goroutine ") || strings.Contains(s, "panic") || !strings.Contains(s, "rror") {
		e.t.Fatalf("kubectl %s did not fail cleanly: %s", strings.Join(args, " "), s)
	}
	return stderr.String()
}

func (e *kubectlEnv) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// syncBuffer collects a background command's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
        args: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  mode: fast
`

const podManifest = `apiVersion: v1
kind: Pod
metadata:
  name: solo
  namespace: team
  labels: {app: solo}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
`

// TestKubectl drives the real kubectl against a skiff-apiserver: the commands a user types every day
// must work with no errors or warnings about the server.
func TestKubectl(t *testing.T) {
	e := startKubectlEnv(t)

	t.Run("version and api-resources", func(t *testing.T) {
		mustContain(t, "version", e.run("version"), "Server Version: v1.32")
		out := e.run("api-resources")
		mustContain(t, "api-resources", out, "deployments", "deploy", "apps/v1", "pods", "po", "namespaces", "leases", "selfsubjectaccessreviews")
		if got := strings.TrimSpace(e.run("auth", "can-i", "create", "pods")); got != "yes" {
			t.Fatalf("auth can-i create pods: %q", got)
		}
	})

	manifest := e.write("web.yaml", webManifest)
	t.Run("apply creates, then is a no-op, then applies a change", func(t *testing.T) {
		mustContain(t, "first apply", e.run("apply", "-f", manifest), "deployment.apps/web created", "service/web created", "configmap/settings created")
		mustContain(t, "second apply", e.run("apply", "-f", manifest), "deployment.apps/web unchanged", "service/web unchanged", "configmap/settings unchanged")
		changed := e.write("web2.yaml", strings.Replace(webManifest, "replicas: 2", "replicas: 3", 1))
		mustContain(t, "changed apply", e.run("apply", "-f", changed), "deployment.apps/web configured", "service/web unchanged")
		if got := e.run("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"); got != "3" {
			t.Fatalf("replicas after apply: %q", got)
		}
	})

	t.Run("create -f in a new namespace", func(t *testing.T) {
		ns := e.write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n")
		mustContain(t, "create ns", e.run("create", "-f", ns), "namespace/team created")
		mustContain(t, "create pod", e.run("create", "-f", e.write("pod.yaml", podManifest)), "pod/solo created")
		e.fails("create", "-f", e.write("pod2.yaml", podManifest)) // AlreadyExists
	})

	t.Run("imperative commands", func(t *testing.T) {
		mustContain(t, "create configmap", e.run("create", "configmap", "flags", "--from-literal=a=b"), "configmap/flags created")
		mustContain(t, "create deployment", e.run("create", "deployment", "api", "--image=busybox", "--replicas=2", "--", "httpd", "-f"), "deployment.apps/api created")
		mustContain(t, "expose", e.run("expose", "deployment", "api", "--port=80", "--target-port=8080"), "service/api exposed")
		mustContain(t, "run", e.run("run", "one", "--image=busybox", "--", "sleep", "60"), "pod/one created")
		mustContain(t, "create job", e.run("create", "job", "hello", "--image=busybox", "--", "echo", "hi"), "job.batch/hello created")
		mustContain(t, "job selector", e.run("get", "job", "hello", "-o", "jsonpath={.spec.selector.matchLabels} {.spec.template.metadata.labels}"),
			"batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", `"job-name":"hello"`)
		mustContain(t, "rollout restart", e.run("rollout", "restart", "deployment", "api"), "deployment.apps/api restarted")
		mustContain(t, "describe", e.run("describe", "deployment", "api"), "Replicas:", "2 desired", "kubectl.kubernetes.io/restartedAt")
		mustContain(t, "describe pod", e.run("describe", "pod", "one"), "Status:", "Pending")
		if out := e.fails("logs", "one"); !strings.Contains(out, "does not have a host assigned") {
			t.Fatalf("logs of an unscheduled pod: %s", out)
		}
		e.run("delete", "deployment", "api")
		e.run("delete", "service", "api")
		e.run("delete", "pod", "one")
		e.run("delete", "job", "hello")
		e.run("delete", "configmap", "flags")
	})

	t.Run("get in every format", func(t *testing.T) {
		mustContain(t, "get deploy", e.run("get", "deploy"), "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web", "0/3")
		mustContain(t, "get -o wide", e.run("get", "pods", "-n", "team", "-o", "wide"), "NOMINATED NODE", "READINESS GATES", "solo", "Pending")
		mustContain(t, "get svc", e.run("get", "svc", "web"), "CLUSTER-IP", "10.96.", "80/TCP")
		mustContain(t, "get -o yaml", e.run("get", "deploy", "web", "-o", "yaml"), "kind: Deployment", "apiVersion: apps/v1", "resourceVersion:")
		var d struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name       string `json:"name"`
				Generation int    `json:"generation"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(e.run("get", "deploy", "web", "-o", "json")), &d); err != nil || d.Kind != "Deployment" || d.Metadata.Name != "web" || d.Metadata.Generation != 2 {
			t.Fatalf("get -o json: %+v %v", d, err)
		}
		out := e.run("get", "cm", "-l", "app=web")
		mustContain(t, "get -l", out, "settings")
		if strings.Contains(out, "kube-root-ca") {
			t.Fatalf("-l matched too much: %s", out)
		}
		mustContain(t, "get -A", e.run("get", "pods", "-A"), "NAMESPACE", "team", "solo")
		mustContain(t, "get --field-selector", e.run("get", "pods", "-A", "--field-selector", "metadata.name=solo,status.phase=Pending"), "solo")
		if out := e.run("get", "pods", "-A", "--field-selector", "status.phase=Running"); strings.Contains(out, "solo") {
			t.Fatalf("field selector matched a pending pod: %s", out)
		}
		mustContain(t, "get ep kubernetes", e.run("get", "endpoints", "kubernetes"), strings.TrimPrefix(e.url, "http://"))
		mustContain(t, "get all", e.run("get", "all"), "deployment.apps/web", "service/web")
		mustContain(t, "show-labels", e.run("get", "cm", "settings", "--show-labels"), "app=web")
	})

	t.Run("get -w sees a change", func(t *testing.T) {
		var out syncBuffer
		var stderr bytes.Buffer
		cmd := e.command(nil, "get", "cm", "settings", "-w")
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		waitLines := func(n int, what string) {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if strings.Count(out.String(), "settings") >= n {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("waited 30s for %s; kubectl printed:\n%s\nstderr: %s", what, out.String(), stderr.String())
		}
		waitLines(1, "the initial row")
		e.run("annotate", "cm", "settings", "watched=yes")
		waitLines(2, "the row of the change")
	})

	t.Run("edit through KUBE_EDITOR", func(t *testing.T) {
		script := e.write("editor.sh", "#!/bin/sh\nsed -i 's/mode: fast/mode: slow/' \"$1\"\n")
		if err := os.Chmod(script, 0o755); err != nil {
			t.Fatal(err)
		}
		mustContain(t, "edit", e.runEnv([]string{"KUBE_EDITOR=" + script}, "edit", "cm", "settings"), "configmap/settings edited")
		if got := e.run("get", "cm", "settings", "-o", "jsonpath={.data.mode}"); got != "slow" {
			t.Fatalf("after edit: mode=%q", got)
		}
	})

	t.Run("label, annotate and scale", func(t *testing.T) {
		mustContain(t, "label", e.run("label", "deploy", "web", "tier=front"), "deployment.apps/web labeled")
		mustContain(t, "annotate", e.run("annotate", "deploy", "web", "owner=team-a"), "deployment.apps/web annotated")
		mustContain(t, "scale", e.run("scale", "deploy", "web", "--replicas=5"), "deployment.apps/web scaled")
		mustContain(t, "scale --current-replicas", e.run("scale", "deploy", "web", "--current-replicas=5", "--replicas=4"), "deployment.apps/web scaled")
		e.fails("scale", "deploy", "web", "--current-replicas=9", "--replicas=1")
		if got := e.run("get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.labels.tier} {.metadata.annotations.owner}"); got != "4 front team-a" {
			t.Fatalf("after label, annotate and scale: %q", got)
		}
		mustContain(t, "set image", e.run("set", "image", "deploy/web", "web=busybox:2"), "image updated")
	})

	t.Run("delete with and without cascade", func(t *testing.T) {
		mustContain(t, "delete", e.run("delete", "svc", "web"), `service "web" deleted`)
		e.fails("get", "svc", "web")
		mustContain(t, "delete pod", e.run("delete", "pod", "solo", "-n", "team"), `pod "solo" deleted`)
		// --cascade=orphan leaves the orphan finalizer for the garbage collector; without one running, the
		// test removes it the way the collector would.
		mustContain(t, "delete --cascade=orphan", e.run("delete", "deploy", "web", "--cascade=orphan", "--wait=false"), `deployment.apps "web" deleted`)
		mustContain(t, "orphan finalizer", e.run("get", "deploy", "web", "-o", "jsonpath={.metadata.finalizers}"), "orphan")
		e.run("patch", "deploy", "web", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
		e.fails("get", "deploy", "web")
		mustContain(t, "delete --cascade=background", e.run("delete", "cm", "settings", "--cascade=background"), `configmap "settings" deleted`)
		mustContain(t, "delete ns", e.run("delete", "ns", "team", "--wait=false"), `namespace "team" deleted`)
		mustContain(t, "terminating ns", e.run("get", "ns", "team"), "Terminating")
	})

	t.Run("explain fails cleanly", func(t *testing.T) {
		e.fails("explain", "pods")
	})
}
