//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/e2e/internal/cluster"
)

// deploymentYAML is a Deployment of the demo image with a short grace period (the benchmark deletes it).
func deploymentYAML(name string, replicas int, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: %d
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: %s
        command: ["httpd", "-f", "-p", "8080"]
`, name, replicas, name, name, image)
}

// untilGone deletes a deployment and waits for its pods to go.
func untilGone(b *testing.B, c *cluster.TestCluster, name string) {
	c.MustKubectl("delete", "deployment", name, "--ignore-not-found")
	c.WaitFor("the pods of "+name+" to be gone", func() (bool, string) {
		l, err := c.Client().Pods.List(context.Background(), "default", client.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 0, fmt.Sprintf("%d pods left", len(l.Items))
	})
}

// BenchmarkCluster3 measures the 3-node cluster: the time from `kubectl apply` of a 30-replica
// Deployment to all 30 pods Ready, and the time from a Service's creation to its VIP answering on
// every node. Run with -benchtime=1x (make bench does); each iteration is one full measurement.
func BenchmarkCluster3(b *testing.B) {
	c := cluster.Start(b, cluster.Options{Nodes: 3, Bin: *skiffBin})
	ctx := context.Background()

	b.Run("deployment-30-ready", func(b *testing.B) {
		c := c.T(b)
		var total time.Duration
		for i := 0; b.Loop(); i++ {
			name := fmt.Sprintf("bench%d", i)
			start := time.Now()
			if out, err := c.KubectlInput(deploymentYAML(name, 30, c.Image()), "apply", "-f", "-"); err != nil {
				b.Fatalf("kubectl apply: %v: %s", err, out)
			}
			c.WaitFor("30 ready replicas of "+name, func() (bool, string) {
				d, err := c.Client().Deployments.Get(ctx, "default", name, client.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return d.Status.ReadyReplicas == 30, fmt.Sprintf("%d ready", d.Status.ReadyReplicas)
			})
			took := time.Since(start)
			total += took
			b.StopTimer()
			b.Logf("kubectl apply of a 30-replica Deployment to 30 pods Ready on 3 nodes: %.2fs", took.Seconds())
			untilGone(b, c, name)
			b.StartTimer()
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/30-pods-ready")
	})

	b.Run("service-vip-on-every-node", func(b *testing.B) {
		c := c.T(b)
		if out, err := c.KubectlInput(deploymentYAML("vipbackend", 3, c.Image()), "apply", "-f", "-"); err != nil {
			b.Fatalf("kubectl apply: %v: %s", err, out)
		}
		readyPods(c, "app=vipbackend", 3, 3*time.Minute)
		var total time.Duration
		for i := 0; b.Loop(); i++ {
			name := fmt.Sprintf("vip%d", i)
			start := time.Now()
			c.MustKubectl("expose", "deployment", "vipbackend", "--name="+name, "--port=80", "--target-port=8080")
			ip, err := jsonpath(c, "{.spec.clusterIP}", "service", name)
			if err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			per := map[string]time.Duration{}
			var wg sync.WaitGroup
			for k := range c.Nodes() {
				n := c.Node(k)
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(2 * time.Minute)
					for time.Now().Before(deadline) {
						if body, err := n.HTTPGet("http://" + ip + "/"); err == nil && strings.HasPrefix(body, "hello from vipbackend-") {
							mu.Lock()
							per[n.Name] = time.Since(start)
							mu.Unlock()
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			b.StopTimer()
			if len(per) != len(c.Nodes()) {
				b.Fatalf("VIP %s answered on %d of %d nodes within 2 minutes: %v\n%s", ip, len(per), len(c.Nodes()), per, c.Dump())
			}
			total += took
			var each []string
			for _, n := range c.NodeNames() {
				each = append(each, fmt.Sprintf("%s %.0fms", n, per[n].Seconds()*1000))
			}
			sort.Strings(each)
			b.Logf("Service %s created to its VIP %s answering on every node: %.0fms (%s)", name, ip, took.Seconds()*1000, strings.Join(each, ", "))
			if err := c.Client().Services.Delete(ctx, "default", name, &metav1.DeleteOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/vip-on-all-nodes")
		b.StopTimer()
		untilGone(b, c, "vipbackend")
	})
}
