//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// kubectlExit runs kubectl and returns its combined output and exit code.
func (c *nodeCluster) kubectlExit(stdin string, args ...string) (string, int) {
	cmd := exec.Command("/usr/bin/kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("kubectl %v: %v", args, err)
	}
	return string(out), code
}

// kubectlTTY runs kubectl under script(1), so that kubectl's own stdin is a terminal (-it needs one).
func (c *nodeCluster) kubectlTTY(stdin string, args ...string) (string, int) {
	line := "/usr/bin/kubectl --kubeconfig " + c.kubeconfig
	for _, a := range args {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmd := exec.Command("script", "-qec", line, "/dev/null")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("script kubectl %v: %v", args, err)
	}
	return string(out), code
}

func TestNodeAgentExec(t *testing.T) {
	c := startNodeCluster(t)
	c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{container("sh", "sleep", "100000")}}})
	c.waitPod("shell", "Running", 120*time.Second, running)

	t.Run("kubectl exec returns stdout, stderr and the exit code", func(t *testing.T) {
		out, code := c.kubectlExit("", "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if code != 3 || !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
			t.Fatalf("exit %d output %q; want out, err and exit code 3", code, out)
		}
	})
	t.Run("kubectl exec -- hostname prints the pod's hostname", func(t *testing.T) {
		out, code := c.kubectlExit("", "exec", "shell", "--", "hostname")
		if code != 0 || out != "shell\n" {
			t.Fatalf("exit %d output %q", code, out)
		}
	})
	t.Run("kubectl exec -i passes stdin", func(t *testing.T) {
		out, code := c.kubectlExit("hello stdin\n", "exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z")
		if code != 0 || out != "HELLO STDIN\n" {
			t.Fatalf("exit %d output %q", code, out)
		}
	})
	t.Run("kubectl exec -it gives a terminal and returns the exit code", func(t *testing.T) {
		out, code := c.kubectlTTY("tty; stty size; exit 4\n", "exec", "-it", "shell", "--", "sh")
		if code != 4 || !strings.Contains(out, "/dev/pts/") {
			t.Fatalf("exit %d output %q; want a /dev/pts terminal and exit code 4", code, out)
		}
	})
	t.Run("exec into an unknown container is refused with a clear message", func(t *testing.T) {
		out, code := c.kubectlExit("", "exec", "shell", "-c", "nope", "--", "true")
		if code == 0 || !strings.Contains(out, `container "nope" is not valid`) {
			t.Fatalf("exit %d output %q", code, out)
		}
	})
	t.Run("kubectl attach streams the container's output until it exits", func(t *testing.T) {
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "talk"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{container("talk", "sh", "-c", "sleep 3; for i in 1 2 3; do echo said $i; sleep 0.3; done")}}})
		c.waitPod("talk", "Running", 120*time.Second, running)
		out, code := c.kubectlExit("", "attach", "talk")
		if code != 0 || !strings.Contains(out, "said 1\nsaid 2\nsaid 3\n") {
			t.Fatalf("kubectl attach: exit %d output %q", code, out)
		}
		c.deletePod("talk")
	})
	t.Run("a pod's terminal status reaches the API even while its status writes conflict", func(t *testing.T) {
		// Label patches bump the pod's resourceVersion while the agent writes status, so its writes
		// conflict; the terminal status must still land.
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("quick-%d", i)
			c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{container("q", "true")}}})
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					patch := fmt.Sprintf(`{"metadata":{"labels":{"bump":"%d"}}}`, n)
					_, _ = c.pods.Patch(context.Background(), "default", name, client.MergePatchType, []byte(patch), client.PatchOptions{})
				}
			}()
			time.AfterFunc(3*time.Second, func() { close(stop) })
			c.waitPod(name, "Succeeded", 60*time.Second, phase(corev1.PodSucceeded))
			<-done
			c.deletePod(name)
		}
	})
	c.deletePod("shell")
}

func slow(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short")
	}
}

func cond(p *corev1.Pod, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func execProbe(period int32, failures int32, cmd ...string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}, PeriodSeconds: period, FailureThreshold: failures}
}

// eventsOf lists the reasons of a pod's events in the order they were first seen.
func (c *nodeCluster) eventsOf(name string) string {
	out, _ := c.kubectl("get", "events", "--field-selector", "involvedObject.name="+name, "--sort-by=.firstTimestamp",
		"-o", "jsonpath={range .items[*]}{.reason}:{.source.component}:{.count} {end}")
	return out
}

func TestNodeAgentProbesAndHooks(t *testing.T) {
	c := startNodeCluster(t)
	grace := int64(1)

	t.Run("a failing readiness probe keeps a Running pod not Ready until it passes", func(t *testing.T) {
		web := corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready.html", Port: intstr.FromString("http"),
				HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Check", Value: "1"}}}}, PeriodSeconds: 1, FailureThreshold: 1}}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ready"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{web}}})
		c.waitPod("ready", "Running and not Ready", 120*time.Second, func(p *corev1.Pod) bool {
			return running(p) && cond(p, corev1.PodReady) == corev1.ConditionFalse && cond(p, corev1.ContainersReady) == corev1.ConditionFalse &&
				!p.Status.ContainerStatuses[0].Ready && p.Status.ContainerStatuses[0].Started != nil && *p.Status.ContainerStatuses[0].Started
		})
		if out, code := c.kubectlExit("", "exec", "ready", "--", "sh", "-c", "echo ok > /var/www/ready.html"); code != 0 {
			t.Fatalf("exec: %d %s", code, out)
		}
		c.waitPod("ready", "Ready", 60*time.Second, func(p *corev1.Pod) bool {
			return cond(p, corev1.PodReady) == corev1.ConditionTrue && cond(p, corev1.ContainersReady) == corev1.ConditionTrue && p.Status.ContainerStatuses[0].Ready
		})
		if out, code := c.kubectlExit("", "exec", "ready", "--", "rm", "/var/www/ready.html"); code != 0 {
			t.Fatalf("exec: %d %s", code, out)
		}
		p := c.waitPod("ready", "not Ready again", 60*time.Second, func(p *corev1.Pod) bool { return cond(p, corev1.PodReady) == corev1.ConditionFalse })
		if p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Fatalf("a readiness failure restarted the container: %s", describe(p))
		}
		waitFor(t, 30*time.Second, "repeated Unhealthy events folded into one with a count", func() (bool, string) {
			ev := c.eventsOf("ready")
			for _, e := range strings.Fields(ev) {
				if f := strings.Split(e, ":"); len(f) == 3 && f[0] == "Unhealthy" && f[1] == "skiff-nodeagent" && f[2] != "1" {
					return true, ev
				}
			}
			return false, ev
		})
		c.deletePod("ready")
	})

	t.Run("a restarted agent keeps a probed pod Ready: no flap", func(t *testing.T) {
		slow(t)
		// Each readiness probe leaves a line in /tmp/probes, so the test can see the new agent probing.
		web := corev1.Container{Name: "web", ReadinessProbe: execProbe(1, 1, "sh", "-c", "echo probe >> /tmp/probes")}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "steady"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{web}}})
		p := c.waitPod("steady", "Ready", 120*time.Second, func(p *corev1.Pod) bool { return cond(p, corev1.PodReady) == corev1.ConditionTrue })
		w, err := c.pods.Watch(context.Background(), "default", client.ListOptions{FieldSelector: "metadata.name=steady", ResourceVersion: p.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		flaps := make(chan string, 100)
		go func() {
			for ev := range w.Events() {
				if ev.Object != nil && cond(ev.Object, corev1.PodReady) != corev1.ConditionTrue {
					flaps <- string(ev.Type) + " " + describe(ev.Object)
				}
			}
		}()
		probes := func() int {
			out, _ := c.kubectlExit("", "exec", "steady", "--", "sh", "-c", "wc -l < /tmp/probes")
			n := 0
			fmt.Sscan(strings.TrimSpace(out), &n)
			return n
		}
		before := probes()
		c.killAgent()
		c.startAgent()
		waitFor(t, 60*time.Second, "the restarted agent to write the pod's status", func() (bool, string) {
			pods, err := c.agentPods()
			if err != nil {
				return false, err.Error()
			}
			return len(pods) > 0, fmt.Sprint(len(pods), " pods")
		})
		// Let the new agent run a few probe periods and syncs, watching for any Ready=False.
		waitFor(t, 30*time.Second, "three readiness probes by the new agent", func() (bool, string) {
			n := probes()
			return n >= before+4, fmt.Sprintf("%d probes, %d before the restart", n, before)
		})
		after := c.getPod("steady")
		select {
		case f := <-flaps:
			t.Fatalf("the pod went not Ready across the agent restart: %s", f)
		default:
		}
		if after.Status.ContainerStatuses[0].RestartCount != 0 || cond(after, corev1.PodReady) != corev1.ConditionTrue {
			t.Fatalf("after the restart: %s", describe(after))
		}
		c.deletePod("steady")
	})

	t.Run("a failing liveness probe restarts the container and restartCount rises", func(t *testing.T) {
		slow(t)
		ctr := container("live", "sh", "-c", "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 1000")
		ctr.LivenessProbe = execProbe(1, 1, "test", "-f", "/tmp/alive")
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "live"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{ctr}}})
		c.waitPod("live", "restarted after liveness failures", 120*time.Second, func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		waitFor(t, 30*time.Second, "Unhealthy and Killing events", func() (bool, string) {
			ev := c.eventsOf("live")
			return strings.Contains(ev, "Unhealthy:") && strings.Contains(ev, "Killing:"), ev
		})
		out, _ := c.kubectl("describe", "pod", "live")
		if !strings.Contains(out, "failed liveness probe, will be restarted") {
			t.Fatalf("describe does not say why it restarted:\n%s", out)
		}
		c.deletePod("live")
	})

	t.Run("a startup probe holds the liveness probe off until it passes", func(t *testing.T) {
		slow(t)
		ctr := container("boot", "sh", "-c", "sleep 4; touch /tmp/started /tmp/alive; sleep 1000")
		// Without the startup gate, this liveness probe would kill the container in its first second.
		ctr.LivenessProbe = execProbe(1, 1, "test", "-f", "/tmp/alive")
		ctr.StartupProbe = execProbe(1, 30, "test", "-f", "/tmp/started")
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "boot"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{ctr}}})
		c.waitPod("boot", "running, not started yet", 120*time.Second, func(p *corev1.Pod) bool {
			return running(p) && p.Status.ContainerStatuses[0].Started != nil && !*p.Status.ContainerStatuses[0].Started && !p.Status.ContainerStatuses[0].Ready
		})
		p := c.waitPod("boot", "started and ready", 60*time.Second, func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.Started != nil && *cs.Started && cs.Ready
		})
		if rc := p.Status.ContainerStatuses[0].RestartCount; rc != 0 {
			t.Fatalf("the liveness probe ran before startup passed: restartCount %d", rc)
		}
		c.deletePod("boot")
	})

	t.Run("preStop runs before SIGTERM, inside the grace period", func(t *testing.T) {
		slow(t)
		g := int64(20)
		ctr := container("stop", "sh", "-c", `trap 'echo got-TERM; sleep 2; exit 0' TERM; echo up; while true; do sleep 0.2; done`)
		ctr.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo prestop-ran > /proc/1/fd/1; sleep 2"}}}}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prestop"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &g, Containers: []corev1.Container{ctr}}})
		c.waitPod("prestop", "Running", 120*time.Second, running)
		waitFor(t, 30*time.Second, "the TERM trap", func() (bool, string) {
			out, _ := c.kubectl("logs", "prestop")
			return strings.Contains(out, "up"), out
		})
		if err := c.pods.Delete(context.Background(), "default", "prestop", nil); err != nil {
			t.Fatal(err)
		}
		var last string
		waitFor(t, 60*time.Second, "the preStop output and then the TERM handler's in the log", func() (bool, string) {
			if out, err := c.kubectl("logs", "prestop"); err == nil {
				last = out
			}
			return strings.Contains(last, "got-TERM"), last
		})
		if i, j := strings.Index(last, "prestop-ran"), strings.Index(last, "got-TERM"); i < 0 || i > j {
			t.Fatalf("preStop did not run before SIGTERM: log %q", last)
		}
		waitFor(t, 60*time.Second, "pod prestop gone", func() (bool, string) { p := c.getPod("prestop"); return p == nil, describe(p) })
	})

	t.Run("a failing postStart hook kills the container and is reported", func(t *testing.T) {
		slow(t)
		ctr := container("hook", "sleep", "1000")
		ctr.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 1"}}}}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "poststart"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{ctr}}})
		c.waitPod("poststart", "restarted", 120*time.Second, func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		waitFor(t, 30*time.Second, "a FailedPostStartHook event", func() (bool, string) {
			ev := c.eventsOf("poststart")
			return strings.Contains(ev, "FailedPostStartHook:"), ev
		})
		c.deletePod("poststart")
	})

	t.Run("kubectl describe pod shows the agent's events in order", func(t *testing.T) {
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "story"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{container("main", "sleep", "1000")}}})
		c.waitPod("story", "Running", 120*time.Second, running)
		var out string
		waitFor(t, 30*time.Second, "Pulled, Created and Started in kubectl describe", func() (bool, string) {
			out, _ = c.kubectl("describe", "pod", "story")
			_, evs, _ := strings.Cut(out, "Events:")
			return strings.Contains(evs, "Started"), out
		})
		_, evs, _ := strings.Cut(out, "Events:")
		i, j, k := strings.Index(evs, "Pulled"), strings.Index(evs, "Created"), strings.Index(evs, "Started")
		if i < 0 || j < i || k < j || !strings.Contains(evs, "skiff-nodeagent") || !strings.Contains(evs, "Started container main") {
			t.Fatalf("events missing or out of order in:\n%s", out)
		}
		c.deletePod("story")
	})
}

func TestNodeAgentVolumes(t *testing.T) {
	c := startNodeCluster(t)
	ctx := context.Background()
	grace := int64(1)

	t.Run("a sidecar reads what the app writes to a shared emptyDir", func(t *testing.T) {
		logs := corev1.VolumeMount{Name: "logs", MountPath: "/var/log"}
		app := container("app", "sh", "-c", `i=0; while true; do i=$((i+1)); echo "tick $i" >> /var/log/app.log; sleep 0.5; done`)
		app.VolumeMounts = []corev1.VolumeMount{logs}
		side := container("collector", "sh", "-c", "touch /var/log/app.log; tail -f /var/log/app.log")
		side.VolumeMounts = []corev1.VolumeMount{logs}
		p := c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sidecar"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace,
			Volumes:    []corev1.Volume{{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{app, side}}})
		up := c.waitPod("sidecar", "Running", 120*time.Second, running)
		waitFor(t, 30*time.Second, "the collector to print the app's ticks", func() (bool, string) {
			out, _ := c.kubectl("logs", "sidecar", "-c", "collector")
			return strings.Contains(out, "tick 3"), out
		})
		c.deletePod("sidecar")
		if left := c.leftovers(string(p.UID), up.Status.PodIP); len(left) > 0 {
			t.Fatalf("left behind: %v", left)
		}
	})

	t.Run("configMap, secret and downwardAPI files; a configMap update reaches the file", func(t *testing.T) {
		if _, err := c.cms.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site"}, Data: map[string]string{"index.html": "v1", "other": "x"}}, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.secrets.Create(ctx, "default", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("hunter2")}}, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		mode := int32(0o400)
		limit := resource.MustParse("4Mi")
		ctr := container("reader", "sleep", "100000")
		ctr.VolumeMounts = []corev1.VolumeMount{{Name: "site", MountPath: "/site"}, {Name: "creds", MountPath: "/creds"}, {Name: "info", MountPath: "/info"},
			{Name: "scratch", MountPath: "/scratch"},
			{Name: "site", MountPath: "/etc/only-index.html", SubPath: "index.html"}}
		files := c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "files", Labels: map[string]string{"tier": "web"}}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace,
			Volumes: []corev1.Volume{
				{Name: "site", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: &mode}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Memory", SizeLimit: &limit}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				}}}},
			},
			Containers: []corev1.Container{ctr}}})
		c.waitPod("files", "Running", 120*time.Second, running)
		out, code := c.kubectlExit("", "exec", "files", "--", "sh", "-c",
			`cat /site/index.html; echo; cat /creds/password; echo; stat -c %a /creds/..data/password; cat /info/labels; echo; cat /info/name; echo; cat /etc/only-index.html; echo; touch /site/x 2>/dev/null || echo read-only; df -k /scratch | awk 'NR==2 {print $1, $2}'`)
		want := "v1\nhunter2\n400\ntier=\"web\"\nfiles\nv1\nread-only\ntmpfs 4096\n"
		if code != 0 || out != want {
			t.Fatalf("exec output %q (exit %d), want %q", out, code, want)
		}
		cm, err := c.cms.Get(ctx, "default", "site", client.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["index.html"] = "v2"
		if _, err := c.cms.Update(ctx, "default", cm, client.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 45*time.Second, "the mounted file to show the update", func() (bool, string) {
			out, _ := c.kubectlExit("", "exec", "files", "--", "cat", "/site/index.html")
			return out == "v2", out
		})
		ip := c.getPod("files").Status.PodIP
		c.deletePod("files")
		if left := c.leftovers(string(files.UID), ip); len(left) > 0 {
			t.Fatalf("left behind (tmpfs, subPath mounts?): %v", left)
		}
	})

	t.Run("a persistentVolumeClaim bound to a hostPath volume keeps data on the node", func(t *testing.T) {
		slow(t)
		pvs := client.NewResource[corev1.PersistentVolume](c.pods.Client(), client.ResourceInfo{Version: "v1", Resource: "persistentvolumes", Kind: "PersistentVolume"})
		pvcs := client.NewResource[corev1.PersistentVolumeClaim](c.pods.Client(), client.ResourceInfo{Version: "v1", Resource: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Namespaced: true})
		dir := filepath.Join(t.TempDir(), "pv-data")
		if _, err := pvs.Create(ctx, "", &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-e2e"}, Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{"ReadWriteOnce"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
		}}, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pvcs.Create(ctx, "default", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim"}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{"ReadWriteOnce"}, VolumeName: "pv-e2e",
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}}, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ctr := container("w", "sh", "-c", "echo persisted > /data/out.txt; echo sub > /sub/in-subdir.txt")
		ctr.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "data", MountPath: "/sub", SubPath: "nested/dir"}}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pvc"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim"}}}},
			Containers: []corev1.Container{ctr}}})
		c.waitPod("pvc", "Succeeded", 120*time.Second, phase(corev1.PodSucceeded))
		c.deletePod("pvc")
		for file, want := range map[string]string{"out.txt": "persisted\n", "nested/dir/in-subdir.txt": "sub\n"} {
			if b, err := os.ReadFile(filepath.Join(dir, file)); err != nil || string(b) != want {
				t.Fatalf("%s on the node after the pod is gone: %q %v", file, b, err)
			}
		}
	})

	t.Run("a missing configMap is a FailedMount event and the pod waits", func(t *testing.T) {
		slow(t)
		ctr := container("w", "sleep", "1000")
		ctr.VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}}
		c.createPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nocfg"}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace,
			Volumes:    []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "later"}}}}},
			Containers: []corev1.Container{ctr}}})
		waitFor(t, 60*time.Second, "a FailedMount event", func() (bool, string) {
			ev := c.eventsOf("nocfg")
			return strings.Contains(ev, "FailedMount:"), ev
		})
		if p := c.getPod("nocfg"); p == nil || p.Status.Phase != corev1.PodPending {
			t.Fatalf("pod with a missing configMap: %s", describe(p))
		}
		if _, err := c.cms.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}, Data: map[string]string{"k": "v"}}, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.waitPod("nocfg", "Running once the configMap exists", 60*time.Second, running)
		c.deletePod("nocfg")
	})
}

// agentPods lists the pods the agent itself reports on its API (static pods included), from inside
// the node's test host.
func (c *nodeCluster) agentPods() ([]corev1.Pod, error) {
	resp, err := c.host.HTTPClient().Get("http://" + c.host.IP + ":10250/pods")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list corev1.PodList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func staticManifest(name, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels:
    app: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %s
    imagePullPolicy: IfNotPresent
`, name, name, image)
}

func TestNodeAgentStaticPods(t *testing.T) {
	slow(t)
	c := startNodeCluster(t)
	ctx := context.Background()
	manifests := filepath.Join(c.rootDir, "manifests")
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(manifests, name+".yaml"), []byte(staticManifest(name, c.image)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mirrorName := func(name string) string { return name + "-" + c.nodeName }

	write("static-web")
	mirror := c.waitPod(mirrorName("static-web"), "mirrored and Running", 120*time.Second, func(p *corev1.Pod) bool {
		return running(p) && p.Annotations["kubernetes.io/config.mirror"] != "" && p.Annotations["kubernetes.io/config.source"] == "file"
	})
	if len(mirror.OwnerReferences) != 1 || mirror.OwnerReferences[0].Kind != "Node" || mirror.OwnerReferences[0].Name != c.nodeName {
		t.Fatalf("mirror owner references %+v, want the Node", mirror.OwnerReferences)
	}
	before := mirror.Status.ContainerStatuses[0].ContainerID

	t.Run("deleting the mirror pod does not stop the static pod; the mirror comes back", func(t *testing.T) {
		if out, err := c.kubectl("delete", "pod", mirrorName("static-web"), "--wait=false"); err != nil {
			t.Fatalf("kubectl delete: %v %s", err, out)
		}
		p := c.waitPod(mirrorName("static-web"), "recreated", 60*time.Second, func(p *corev1.Pod) bool {
			return p.UID != mirror.UID && p.DeletionTimestamp == nil && running(p)
		})
		if cs := p.Status.ContainerStatuses[0]; cs.ContainerID != before || cs.RestartCount != 0 {
			t.Fatalf("the static pod's container changed: before %s, now %+v", before, cs)
		}
	})

	t.Run("a static pod starts with the apiserver stopped, and is mirrored when it returns", func(t *testing.T) {
		c.stopAPIServer()
		write("static-two")
		var ip string
		waitFor(t, 120*time.Second, "static-two running on the agent with the apiserver down", func() (bool, string) {
			pods, err := c.agentPods()
			if err != nil {
				return false, err.Error()
			}
			for _, p := range pods {
				if p.Name == mirrorName("static-two") {
					ip = p.Status.PodIP
					return running(&p), describe(&p)
				}
			}
			return false, fmt.Sprintf("%d pods, static-two not among them", len(pods))
		})
		body, err := httpGet(c.host, "http://"+ip+":8080/")
		if err != nil || !strings.Contains(body, "hello from skiff busybox") {
			t.Fatalf("static-two with the apiserver down: %q %v", body, err)
		}
		c.startAPIServer()
		c.waitPod(mirrorName("static-two"), "mirrored once the apiserver is back", 120*time.Second, func(p *corev1.Pod) bool {
			return running(p) && p.Status.PodIP == ip
		})
	})

	t.Run("removing a manifest stops the pod and deletes its mirror", func(t *testing.T) {
		for _, name := range []string{"static-web", "static-two"} {
			if err := os.Remove(filepath.Join(manifests, name+".yaml")); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"static-web", "static-two"} {
			waitFor(t, 60*time.Second, "mirror "+mirrorName(name)+" gone", func() (bool, string) {
				p := c.getPod(mirrorName(name))
				return p == nil, describe(p)
			})
		}
		waitFor(t, 60*time.Second, "the agent to report no pods", func() (bool, string) {
			pods, err := c.agentPods()
			if err != nil {
				return false, err.Error()
			}
			return len(pods) == 0, fmt.Sprint(len(pods), " pods")
		})
		_ = ctx
	})
}
