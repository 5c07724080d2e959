package integration

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// TestSIGKILLMidRolloutAndMidCascade kills the controller-manager with SIGKILL in the middle of a
// 10-replica rollout and in the middle of a cascading delete; after a restart both finish with exactly
// the right pods.
func TestSIGKILLMidRolloutAndMidCascade(t *testing.T) {
	e := newEnv(t)
	newFakeAgent(e, "n1", "n2")
	c := ctx(t)
	if _, err := e.deploys.Create(c, "default", newDeployment("rr", 10, intstr.FromInt32(1), intstr.FromInt32(1)), client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, e, "rr", 60*time.Second)
	setImage(t, e, "rr", "busybox:2")
	eventually(t, "the rollout to be under way", 20*time.Second, func() string {
		n := 0
		for _, p := range e.listPods("default", "app=rr") {
			if p.Spec.Containers[0].Image == "busybox:2" {
				n++
			}
		}
		if n < 2 || n > 6 {
			return fmt.Sprintf("%d updated pods", n)
		}
		return ""
	})
	e.cm.kill()
	b := watchBounds(t, e, "rr", 10, 1, 1)
	e.startCM()
	waitRollout(t, e, "rr", 90*time.Second)
	b.finish(t)
	pods := e.listPods("default", "app=rr")
	if n, _ := active(pods); n != 10 {
		t.Fatalf("%d active pods after the rollout, want 10", n)
	}
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != "busybox:2" {
			t.Fatalf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}

	// mid cascading delete: kill right after the foreground delete is accepted
	policy := metav1.DeletePropagationForeground
	if err := e.deploys.Delete(c, "default", "rr", &metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cascade to start", 20*time.Second, func() string {
		if n, _ := active(e.listPods("default", "app=rr")); n == 10 {
			return "10 pods still active"
		}
		return ""
	})
	e.cm.kill()
	e.startCM()
	eventually(t, "deployment, replica sets and pods gone", 60*time.Second, func() string {
		_, err := e.deploys.Get(c, "default", "rr", client.GetOptions{})
		sets := setsOf(t, e, "rr")
		pods := e.listPods("default", "app=rr")
		if !client.IsNotFound(err) || len(sets) != 0 || len(pods) != 0 {
			return fmt.Sprintf("deployment err %v, %d sets, %d pods", err, len(sets), len(pods))
		}
		return ""
	})
}
