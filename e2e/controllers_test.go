//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/e2e/internal/cluster"
)

// TestWorkloadControllersOnARealNode runs the controller-manager's DaemonSet and Job controllers
// against a real node: the daemon pod runs there, and a job's pod runs to completion.
func TestWorkloadControllersOnARealNode(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Nodes: 1, Bin: *skiffBin})
	node := c.NodeNames()[0]

	t.Run("a DaemonSet pod runs on the node", func(t *testing.T) {
		c := c.T(t)
		c.MustKubectl("create", "namespace", "ds-e2e")
		manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ds-e2e}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: c
        image: %s
        command: ["sleep", "3600"]
`, c.Image())
		if out, err := c.KubectlInput(manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v: %s", err, out)
		}
		c.WaitForTimeout("the daemon pod Running and ready on "+node, 3*time.Minute, func() (bool, string) {
			out, err := c.Kubectl("get", "pods", "-n", "ds-e2e", "-l", "app=agent", "-o",
				`jsonpath={range .items[*]}{.spec.nodeName} {.status.phase} {.status.containerStatuses[0].ready}{"\n"}{end}`)
			return err == nil && strings.TrimSpace(out) == node+" Running true", fmt.Sprint(out, err)
		})
		out := c.MustKubectl("rollout", "status", "daemonset/agent", "-n", "ds-e2e", "--timeout=120s")
		if !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("kubectl rollout status ds: %s", out)
		}
	})

	t.Run("a Job's pod runs to completion and the Job is Complete", func(t *testing.T) {
		c := c.T(t)
		c.MustKubectl("create", "namespace", "job-e2e")
		// No selector: the apiserver generates it, as Kubernetes does.
		manifest := fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: job-e2e}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: %s
        command: ["sh", "-c", "echo job-done"]
`, c.Image())
		if out, err := c.KubectlInput(manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v: %s", err, out)
		}
		c.WaitForTimeout("job once Complete", 3*time.Minute, func() (bool, string) {
			out, err := c.Kubectl("get", "job", "once", "-n", "job-e2e", "-o",
				`jsonpath={.status.succeeded} {.status.conditions[?(@.type=="Complete")].status}`)
			return err == nil && strings.TrimSpace(out) == "1 True", fmt.Sprint(out, err)
		})
		out := c.MustKubectl("get", "pods", "-n", "job-e2e", "-l", "batch.kubernetes.io/job-name=once", "-o", "jsonpath={.items[*].status.phase}")
		if strings.TrimSpace(out) != "Succeeded" {
			t.Fatalf("job pods' phases %q, want one Succeeded", out)
		}
	})
}
