package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// daemonRolloutDone is kubectl rollout status's success test for a daemon set.
func daemonRolloutDone(ds *appsv1.DaemonSet) bool {
	return ds.Generation <= ds.Status.ObservedGeneration &&
		ds.Status.UpdatedNumberScheduled >= ds.Status.DesiredNumberScheduled &&
		ds.Status.NumberAvailable >= ds.Status.DesiredNumberScheduled
}

// daemonPods maps node name to the image of the live daemon pods there.
func daemonPods(e *env, sel string) map[string][]string {
	out := map[string][]string{}
	for _, p := range e.listPods("default", sel) {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		n := p.Spec.NodeName
		if n == "" {
			n = pinnedNode(&p) + "(unbound)"
		}
		out[n] = append(out[n], p.Spec.Containers[0].Image)
	}
	return out
}

func TestDaemonSetPlacesOnePodPerEligibleNodeAndRollsOneAtATime(t *testing.T) {
	e := newEnv(t)
	a := newFakeAgent(e)
	a.addNode("n1", map[string]string{"role": "worker"})
	a.addNode("n2", map[string]string{"role": "worker"})
	a.addNode("db", map[string]string{"role": "db"})
	c := ctx(t)
	dsAPI := client.NewResource[appsv1.DaemonSet](e.c, info("apps", "daemonsets"))
	revAPI := client.NewResource[appsv1.ControllerRevision](e.c, info("apps", "controllerrevisions"))

	ds := &appsv1.DaemonSet{}
	ds.Name, ds.Namespace = "agent", "default"
	ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}
	ds.Spec.Template = podTemplate("agent", "busybox:1")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"}
	if _, err := dsAPI.Create(c, "default", ds, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDaemon := func(what string, nodes []string, image string) {
		eventually(t, what, 30*time.Second, func() string {
			cur, err := dsAPI.Get(c, "default", "agent", client.GetOptions{})
			if err != nil {
				return err.Error()
			}
			got := daemonPods(e, "app=agent")
			var names []string
			for n, imgs := range got {
				if len(imgs) != 1 || imgs[0] != image {
					return fmt.Sprintf("pods by node %v", got)
				}
				names = append(names, n)
			}
			sort.Strings(names)
			if strings.Join(names, ",") != strings.Join(nodes, ",") {
				return fmt.Sprintf("pods on %v, want %v", names, nodes)
			}
			if int(cur.Status.DesiredNumberScheduled) != len(nodes) || int(cur.Status.NumberReady) != len(nodes) || !daemonRolloutDone(cur) {
				return fmt.Sprintf("status %+v (generation %d)", cur.Status, cur.Generation)
			}
			return ""
		})
	}
	waitDaemon("one ready daemon pod on n1 and n2, none on db", []string{"n1", "n2"}, "busybox:1")

	// the daemon pods carry the daemon tolerations and are pinned by affinity, bound by the "scheduler"
	for _, p := range e.listPods("default", "app=agent") {
		if pinnedNode(&p) != p.Spec.NodeName {
			t.Fatalf("pod %s pinned to %q but bound to %q", p.Name, pinnedNode(&p), p.Spec.NodeName)
		}
		found := false
		for _, tol := range p.Spec.Tolerations {
			if tol.Key == corev1.TaintNodeUnreachable && tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds == nil {
				found = true
			}
		}
		if !found {
			t.Fatalf("pod %s lacks the unreachable toleration: %+v", p.Name, p.Spec.Tolerations)
		}
	}

	a.addNode("n3", map[string]string{"role": "worker"})
	waitDaemon("a daemon pod on the node added later", []string{"n1", "n2", "n3"}, "busybox:1")

	// roll a new image: never more than one of the three nodes without a ready pod
	stop := make(chan struct{})
	maxDown := make(chan int, 1)
	go func() {
		worst := 0
		for {
			select {
			case <-stop:
				maxDown <- worst
				return
			default:
			}
			ready := map[string]bool{}
			for _, p := range e.listPods("default", "app=agent") {
				if p.DeletionTimestamp == nil && readyStatus(&p) == corev1.ConditionTrue {
					ready[p.Spec.NodeName] = true
				}
			}
			down := 0
			for _, n := range []string{"n1", "n2", "n3"} {
				if !ready[n] {
					down++
				}
			}
			worst = max(worst, down)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	cur, err := dsAPI.Get(c, "default", "agent", client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	if _, err := dsAPI.Update(c, "default", cur, client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDaemon("every daemon pod on busybox:2", []string{"n1", "n2", "n3"}, "busybox:2")
	close(stop)
	if worst := <-maxDown; worst > 1 {
		t.Fatalf("rolling update had %d nodes without a ready pod at once; maxUnavailable is 1", worst)
	}
	revs, err := revAPI.List(c, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int64
	for _, r := range revs.Items {
		if strings.HasPrefix(r.Name, "agent-") {
			numbers = append(numbers, r.Revision)
		}
	}
	sort.Slice(numbers, func(i, j int) bool { return numbers[i] < numbers[j] })
	if fmt.Sprint(numbers) != "[1 2]" {
		t.Fatalf("controller revisions %v, want [1 2]", numbers)
	}
}
