//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
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
	c.deletePod("shell")
	_ = context.Background
}
