package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"
	"github.com/skiffhq/skiff/shared/client"
)

const bindTimeout = 20 * time.Second

func TestNodeSelectorAndAffinity(t *testing.T) {
	c := startCluster(t)
	c.startScheduler(t, "s1")
	c.addNode(t, makeNode("hdd-1", "4", "8Gi", 20, labels("disk", "hdd", v1.LabelTopologyZone, "a")))
	c.addNode(t, makeNode("ssd-1", "4", "8Gi", 20, labels("disk", "ssd", v1.LabelTopologyZone, "b")))
	c.addNode(t, makeNode("gpu-1", "4", "8Gi", 20, labels("gpu", "8", v1.LabelTopologyZone, "c")))
	tests := []struct {
		name  string
		opt   podOpt
		nodes []string
	}{
		{"nodeSelector picks the labelled node", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }, []string{"ssd-1"}},
		{"required affinity In zones", func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelTopologyZone, Operator: "In", Values: []string{"a", "c"}}}}}}}}
		}, []string{"hdd-1", "gpu-1"}},
		{"required affinity Gt on a numeric label", func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "gpu", Operator: "Gt", Values: []string{"4"}}}}}}}}
		}, []string{"gpu-1"}},
		{"matchFields metadata.name", func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"hdd-1"}}}}}}}}
		}, []string{"hdd-1"}},
		{"preferred affinity wins among feasible nodes", func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
				{Weight: 100, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disk", Operator: "In", Values: []string{"hdd"}}}}}}}}
		}, []string{"hdd-1"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("p%d", i)
			c.createPod(t, makePod("default", name, "100m", tt.opt))
			node := c.waitBound(t, "default", name, bindTimeout)
			if !strings.Contains(" "+strings.Join(tt.nodes, " ")+" ", " "+node+" ") {
				t.Errorf("bound to %s, want one of %v", node, tt.nodes)
			}
		})
	}
}

func TestAntiAffinitySpreadsAcrossZones(t *testing.T) {
	c := startCluster(t)
	c.startScheduler(t, "s1")
	for _, z := range []string{"a", "b", "c"} {
		for i := 1; i <= 2; i++ {
			c.addNode(t, makeNode(fmt.Sprintf("%s-%d", z, i), "4", "8Gi", 20, labels(v1.LabelTopologyZone, z)))
		}
	}
	anti := func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: v1.LabelTopologyZone}}}}
	}
	zones := map[string]bool{}
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		c.createPod(t, makePod("default", name, "100m", podLabels("app", "web"), anti))
		node := c.waitBound(t, "default", name, bindTimeout)
		z := node[:1]
		if zones[z] {
			t.Fatalf("%s went to zone %s, which already has a web pod", name, z)
		}
		zones[z] = true
	}
	c.createPod(t, makePod("default", "web-3", "100m", podLabels("app", "web"), anti))
	want := "0/6 nodes are available: 6 node(s) didn't satisfy existing pods anti-affinity rules. " +
		"preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod."
	waitFor(t, "the fourth pod to be unschedulable", bindTimeout, func() (bool, string) {
		p := c.getPod(t, "default", "web-3")
		cond, _ := scheduledCondition(p)
		return p.Spec.NodeName == "" && cond.Message == want && cond.Reason == "Unschedulable", describeScheduling(p)
	})
}

func TestTaintsAndTolerations(t *testing.T) {
	c := startCluster(t)
	c.startScheduler(t, "s1")
	c.addNode(t, makeNode("infra", "8", "8Gi", 20, taint("dedicated", "infra", v1.TaintEffectNoSchedule)))
	// A not-ready node carries both taints, as the node lifecycle controller sets them. Pods get a 300s
	// NoExecute toleration from the apiserver's DefaultTolerationSeconds admission, so the NoSchedule
	// taint is the one that keeps them off.
	c.addNode(t, makeNode("notready", "8", "8Gi", 20,
		taint(v1.TaintNodeNotReady, "", v1.TaintEffectNoSchedule), taint(v1.TaintNodeNotReady, "", v1.TaintEffectNoExecute)))
	c.addNode(t, makeNode("worker", "1", "8Gi", 20))
	tolerate := func(p *v1.Pod) {
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "infra", Effect: v1.TaintEffectNoSchedule}}
	}
	c.createPod(t, makePod("default", "plain", "500m"))
	if node := c.waitBound(t, "default", "plain", bindTimeout); node != "worker" {
		t.Errorf("pod without tolerations bound to %s, want worker", node)
	}
	c.createPod(t, makePod("default", "big-tolerating", "4", tolerate))
	if node := c.waitBound(t, "default", "big-tolerating", bindTimeout); node != "infra" {
		t.Errorf("tolerating pod bound to %s, want infra", node)
	}
	c.createPod(t, makePod("default", "big-plain", "4"))
	want := "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: infra}, " +
		"1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. " +
		"preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
	waitFor(t, "the big untolerating pod to be unschedulable", bindTimeout, func() (bool, string) {
		p := c.getPod(t, "default", "big-plain")
		cond, _ := scheduledCondition(p)
		return p.Spec.NodeName == "" && cond.Message == want, describeScheduling(p)
	})
}

func TestUnschedulableConditionAndRetry(t *testing.T) {
	c := startCluster(t)
	c.startScheduler(t, "s1")
	for i := range 3 {
		c.addNode(t, makeNode(fmt.Sprintf("small-%d", i), "1", "4Gi", 10))
	}
	for i := range 2 {
		c.addNode(t, makeNode(fmt.Sprintf("tainted-%d", i), "8", "4Gi", 10, taint("dedicated", "infra", v1.TaintEffectNoSchedule)))
	}
	c.createPod(t, makePod("default", "big", "2"))
	want := "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: infra}, 3 Insufficient cpu. " +
		"preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
	waitFor(t, "PodScheduled=False with the Kubernetes message", bindTimeout, func() (bool, string) {
		p := c.getPod(t, "default", "big")
		cond, ok := scheduledCondition(p)
		return ok && cond.Status == v1.ConditionFalse && cond.Reason == "Unschedulable" && cond.Message == want, describeScheduling(p)
	})
	waitFor(t, "a FailedScheduling event", bindTimeout, func() (bool, string) {
		evs, err := c.cs.Events.List(context.Background(), "default", client.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "big" && e.Reason == "FailedScheduling" && e.Message == want && e.Type == v1.EventTypeWarning {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, " | ")
	})
	// A node that fits arriving brings the pod back at once, not after the 5-minute retry.
	c.addNode(t, makeNode("large", "4", "4Gi", 10))
	if node := c.waitBound(t, "default", "big", bindTimeout); node != "large" {
		t.Errorf("bound to %s, want large", node)
	}
	waitFor(t, "a Scheduled event", bindTimeout, func() (bool, string) {
		evs, err := c.cs.Events.List(context.Background(), "default", client.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == "Scheduled" && e.Message == "Successfully assigned default/big to large" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
}

func TestPreemptionOfLowerPriorityPod(t *testing.T) {
	c := startCluster(t)
	c.startScheduler(t, "s1")
	c.fakeKubelet(t, "default")
	ctx := context.Background()
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Value: 10},
		{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Value: 1000},
	} {
		if _, err := c.cs.PriorityClasses.Create(ctx, "", pc, client.CreateOptions{}); err != nil {
			t.Fatalf("creating priority class %s: %v", pc.Name, err)
		}
	}
	c.addNode(t, makeNode("n1", "1", "4Gi", 10))
	c.addNode(t, makeNode("n2", "1", "4Gi", 10))
	class := func(name string) podOpt { return func(p *v1.Pod) { p.Spec.PriorityClassName = name } }
	c.createPod(t, makePod("default", "batch-1", "800m", class("batch")))
	c.createPod(t, makePod("default", "prod-1", "800m", class("prod")))
	c.waitBound(t, "default", "batch-1", bindTimeout)
	c.waitBound(t, "default", "prod-1", bindTimeout)
	victimNode := c.getPod(t, "default", "batch-1").Spec.NodeName
	c.createPod(t, makePod("default", "prod-2", "800m", class("prod")))
	// prod-2 fits nowhere; the batch pod is the only lower-priority one, so it goes and prod-2 takes its node.
	node := c.waitBound(t, "default", "prod-2", bindTimeout)
	if node != victimNode {
		t.Errorf("prod-2 bound to %s, want %s (where the batch pod was)", node, victimNode)
	}
	if _, err := c.cs.Pods.Get(ctx, "default", "batch-1", client.GetOptions{}); !client.IsNotFound(err) {
		t.Errorf("victim batch-1 still there (err %v)", err)
	}
	if p := c.getPod(t, "default", "prod-1"); p.DeletionTimestamp != nil {
		t.Error("the equal-priority pod prod-1 was evicted")
	}
	if nn := c.getPod(t, "default", "prod-2").Status.NominatedNodeName; nn != victimNode {
		t.Errorf("prod-2 nominatedNodeName = %q, want %q", nn, victimNode)
	}
}
