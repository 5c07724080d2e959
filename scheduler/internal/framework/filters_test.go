package framework

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func TestPodRequests(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	tests := []struct {
		name    string
		pod     *v1.Pod
		cpu     int64 // millicores
		memMiB  int64
		nonZero int64 // non-zero millicores
	}{
		{"one container", pod("a", "500m", "1Gi"), 500, 1024, 500},
		{"no requests count as zero, but 100m for scoring", pod("a", "", ""), 0, 0, 100},
		{"init container larger than the app containers wins", func() *v1.Pod {
			p := pod("a", "200m", "100Mi")
			p.Spec.InitContainers = []v1.Container{{Name: "i", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")}}}}
			return p
		}(), 1000, 100, 1000},
		{"app containers are summed; init smaller than the sum", func() *v1.Pod {
			p := pod("a", "300m", "100Mi")
			p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "d", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("400m")}}})
			p.Spec.InitContainers = []v1.Container{{Name: "i", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("600m")}}}}
			return p
		}(), 700, 100, 700},
		{"sidecar adds to the app containers and to later init containers", func() *v1.Pod {
			p := pod("a", "300m", "")
			p.Spec.InitContainers = []v1.Container{
				{Name: "side", RestartPolicy: &always, Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("200m")}}},
				{Name: "i", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("900m")}}},
			}
			return p
		}(), 1100, 0, 1100},
		{"overhead is added", func() *v1.Pod {
			p := pod("a", "100m", "")
			p.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m")}
			return p
		}(), 350, 0, 350},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := PodRequests(tt.pod)
			if r.MilliCPU != tt.cpu || r.Memory != tt.memMiB*1024*1024 {
				t.Errorf("requests = %dm cpu, %d bytes; want %dm, %dMiB", r.MilliCPU, r.Memory, tt.cpu, tt.memMiB)
			}
			if nz := NonZeroRequests(tt.pod); nz.MilliCPU != tt.nonZero {
				t.Errorf("non-zero cpu = %dm, want %dm", nz.MilliCPU, tt.nonZero)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	small := node("n1", "1", "1Gi", 2)
	tests := []struct {
		name   string
		node   cluster
		pod    *v1.Pod
		reason string // "" means feasible
		code   Code
	}{
		{"pod that fits is accepted", cluster{node: small}, pod("p", "500m", "512Mi"), "", Success},
		{"cordoned node is rejected", cluster{node: node("n1", "1", "1Gi", 10, cordoned)}, pod("p", "", ""), ReasonUnschedulable, UnschedulableAndUnresolvable},
		{"cordoned node is accepted when the pod tolerates the unschedulable taint", cluster{node: node("n1", "1", "1Gi", 10, cordoned)},
			pod("p", "", "", tolerate(v1.TaintNodeUnschedulable, "Exists", "", v1.TaintEffectNoSchedule)), "", Success},
		{"pod asking for more cpu than is left is rejected", cluster{node: small, pods: []*v1.Pod{pod("x", "600m", "")}},
			pod("p", "500m", ""), "Insufficient cpu", Unschedulable},
		{"pod asking for more memory than is left is rejected", cluster{node: small}, pod("p", "", "2Gi"), "Insufficient memory", Unschedulable},
		{"both shortfalls are reported", cluster{node: small}, pod("p", "2", "2Gi"), "Insufficient cpu, Insufficient memory", Unschedulable},
		{"node at its pod count is rejected", cluster{node: small, pods: []*v1.Pod{pod("x", "", ""), pod("y", "", "")}},
			pod("p", "", ""), ReasonTooManyPods, Unschedulable},
		{"extended resource shortfall is reported by name", cluster{node: small}, func() *v1.Pod {
			p := pod("p", "", "")
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
			return p
		}(), "Insufficient example.com/gpu", Unschedulable},
		{"pod naming another node is rejected", cluster{node: small}, func() *v1.Pod { p := pod("p", "", ""); p.Spec.NodeName = "n2"; return p }(),
			ReasonNodeName, UnschedulableAndUnresolvable},
		{"nodeSelector mismatch is rejected", cluster{node: node("n1", "1", "1Gi", 10, withLabels("disk", "hdd"))},
			func() *v1.Pod {
				p := pod("p", "", "")
				p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
				return p
			}(), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"nodeSelector match is accepted", cluster{node: node("n1", "1", "1Gi", 10, withLabels("disk", "ssd"))},
			func() *v1.Pod {
				p := pod("p", "", "")
				p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
				return p
			}(), "", Success},
		{"affinity In matches", cluster{node: node("n1", "1", "1Gi", 10, withLabels("zone", "a"))}, pod("p", "", "", nodeAffinity(expr("zone", "In", "a", "b"))), "", Success},
		{"affinity In mismatch is rejected", cluster{node: node("n1", "1", "1Gi", 10, withLabels("zone", "c"))}, pod("p", "", "", nodeAffinity(expr("zone", "In", "a", "b"))), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"affinity NotIn accepts a node without the label", cluster{node: small}, pod("p", "", "", nodeAffinity(expr("zone", "NotIn", "a"))), "", Success},
		{"affinity NotIn rejects the listed value", cluster{node: node("n1", "1", "1Gi", 10, withLabels("zone", "a"))}, pod("p", "", "", nodeAffinity(expr("zone", "NotIn", "a"))), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"affinity Exists needs the label", cluster{node: small}, pod("p", "", "", nodeAffinity(expr("gpu", "Exists"))), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"affinity DoesNotExist rejects a labelled node", cluster{node: node("n1", "1", "1Gi", 10, withLabels("gpu", "yes"))}, pod("p", "", "", nodeAffinity(expr("gpu", "DoesNotExist"))), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"affinity Gt compares integers", cluster{node: node("n1", "1", "1Gi", 10, withLabels("cores", "16"))}, pod("p", "", "", nodeAffinity(expr("cores", "Gt", "8"))), "", Success},
		{"affinity Gt rejects a smaller value", cluster{node: node("n1", "1", "1Gi", 10, withLabels("cores", "4"))}, pod("p", "", "", nodeAffinity(expr("cores", "Gt", "8"))), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"affinity Lt rejects a non-integer label", cluster{node: node("n1", "1", "1Gi", 10, withLabels("cores", "many"))}, pod("p", "", "", nodeAffinity(expr("cores", "Lt", "8"))), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"affinity terms are ORed", cluster{node: node("n1", "1", "1Gi", 10, withLabels("zone", "b"))}, pod("p", "", "", nodeAffinity(expr("zone", "In", "a"), expr("zone", "In", "b"))), "", Success},
		{"affinity matchFields metadata.name selects the node by name", cluster{node: small},
			pod("p", "", "", nodeAffinity(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"n1"}}}})), "", Success},
		{"affinity matchFields metadata.name rejects other nodes", cluster{node: small},
			pod("p", "", "", nodeAffinity(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"n2"}}}})), ReasonNodeAffinity, UnschedulableAndUnresolvable},
		{"pod with untolerated NoSchedule taint is rejected", cluster{node: node("n1", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule))},
			pod("p", "", ""), "node(s) had untolerated taint {dedicated: gpu}", UnschedulableAndUnresolvable},
		{"pod with untolerated NoExecute taint is rejected", cluster{node: node("n1", "1", "1Gi", 10, withTaint(v1.TaintNodeNotReady, "", v1.TaintEffectNoExecute))},
			pod("p", "", ""), "node(s) had untolerated taint {node.kubernetes.io/not-ready: }", UnschedulableAndUnresolvable},
		{"PreferNoSchedule taint does not filter", cluster{node: node("n1", "1", "1Gi", 10, withTaint("k", "v", v1.TaintEffectPreferNoSchedule))}, pod("p", "", ""), "", Success},
		{"Equal toleration with the value tolerates", cluster{node: node("n1", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule))},
			pod("p", "", "", tolerate("dedicated", "Equal", "gpu", v1.TaintEffectNoSchedule)), "", Success},
		{"Equal toleration with another value does not", cluster{node: node("n1", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule))},
			pod("p", "", "", tolerate("dedicated", "Equal", "db", v1.TaintEffectNoSchedule)), "node(s) had untolerated taint {dedicated: gpu}", UnschedulableAndUnresolvable},
		{"Exists toleration with no key tolerates everything", cluster{node: node("n1", "1", "1Gi", 10, withTaint("a", "b", v1.TaintEffectNoExecute))},
			pod("p", "", "", tolerate("", "Exists", "", "")), "", Success},
		{"host port in use is rejected", cluster{node: small, pods: []*v1.Pod{pod("x", "", "", hostPort(8080))}}, pod("p", "", "", hostPort(8080)), ReasonNodePorts, Unschedulable},
		{"another host port is accepted", cluster{node: small, pods: []*v1.Pod{pod("x", "", "", hostPort(8080))}}, pod("p", "", "", hostPort(8081)), "", Success},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot(tt.node)
			a := New(DefaultConfig())
			st := a.Filter(info(tt.pod), snap.Nodes[0], snap)
			if got := st.Message(); got != tt.reason {
				t.Fatalf("reason = %q, want %q", got, tt.reason)
			}
			if st != nil && st.Code != tt.code {
				t.Errorf("code = %d, want %d", st.Code, tt.code)
			}
		})
	}
}

func TestInterPodAffinityFilter(t *testing.T) {
	zoneA := node("a1", "4", "8Gi", 10, withLabels(v1.LabelTopologyZone, "a"))
	zoneA2 := node("a2", "4", "8Gi", 10, withLabels(v1.LabelTopologyZone, "a"))
	zoneB := node("b1", "4", "8Gi", 10, withLabels(v1.LabelTopologyZone, "b"))
	tests := []struct {
		name     string
		nodes    func() []cluster
		pod      *v1.Pod
		feasible []string
	}{
		{"affinity to a zone's pods allows only that zone", func() []cluster {
			return []cluster{{node: zoneA, pods: []*v1.Pod{pod("db", "", "", podLabels("app", "db"))}}, {node: zoneA2}, {node: zoneB}}
		}, pod("web", "", "", podAffinityTerm(v1.LabelTopologyZone, false, "app", "db")), []string{"a1", "a2"}},
		{"affinity with no matching pod anywhere rejects every node", func() []cluster {
			return []cluster{{node: zoneA}, {node: zoneB}}
		}, pod("web", "", "", podAffinityTerm(v1.LabelTopologyZone, false, "app", "db")), nil},
		{"the first pod of a self-affine group goes anywhere", func() []cluster {
			return []cluster{{node: zoneA}, {node: zoneB}}
		}, pod("web", "", "", podLabels("app", "web"), podAffinityTerm(v1.LabelTopologyZone, false, "app", "web")), []string{"a1", "b1"}},
		{"anti-affinity by zone keeps the pod out of the zone", func() []cluster {
			return []cluster{{node: zoneA, pods: []*v1.Pod{pod("w1", "", "", podLabels("app", "web"))}}, {node: zoneA2}, {node: zoneB}}
		}, pod("w2", "", "", podLabels("app", "web"), podAffinityTerm(v1.LabelTopologyZone, true, "app", "web")), []string{"b1"}},
		{"anti-affinity by hostname only excludes the node", func() []cluster {
			return []cluster{{node: zoneA, pods: []*v1.Pod{pod("w1", "", "", podLabels("app", "web"))}}, {node: zoneA2}, {node: zoneB}}
		}, pod("w2", "", "", podLabels("app", "web"), podAffinityTerm(v1.LabelHostname, true, "app", "web")), []string{"a2", "b1"}},
		{"an existing pod's anti-affinity repels the incoming pod", func() []cluster {
			return []cluster{{node: zoneA, pods: []*v1.Pod{pod("lonely", "", "", podAffinityTerm(v1.LabelTopologyZone, true, "app", "web"))}}, {node: zoneA2}, {node: zoneB}}
		}, pod("w", "", "", podLabels("app", "web")), []string{"b1"}},
		{"a node without the topology key fails affinity", func() []cluster {
			return []cluster{{node: node("bare", "4", "8Gi", 10), pods: []*v1.Pod{pod("db", "", "", podLabels("app", "db"))}}}
		}, pod("web", "", "", podAffinityTerm(v1.LabelTopologyZone, false, "app", "db")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot(tt.nodes()...)
			a := New(DefaultConfig())
			p := info(tt.pod)
			var got []string
			for _, n := range snap.Nodes {
				if a.Filter(p, n, snap) == nil {
					got = append(got, n.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.feasible, ",") {
				t.Errorf("feasible = %v, want %v", got, tt.feasible)
			}
		})
	}
}

func TestTopologySpreadFilter(t *testing.T) {
	zones := func(counts ...int) []cluster {
		var cs []cluster
		for i, c := range counts {
			z := string(rune('a' + i))
			cl := cluster{node: node("n-"+z, "4", "8Gi", 20, withLabels(v1.LabelTopologyZone, z))}
			for j := 0; j < c; j++ {
				cl.pods = append(cl.pods, pod("x", "", "", podLabels("app", "web")))
			}
			cs = append(cs, cl)
		}
		return cs
	}
	tests := []struct {
		name     string
		nodes    []cluster
		pod      *v1.Pod
		feasible []string
	}{
		{"maxSkew 1 allows only the emptiest zone when others are ahead", zones(2, 1, 2),
			pod("p", "", "", podLabels("app", "web"), spread(v1.LabelTopologyZone, 1, v1.DoNotSchedule, "app", "web")), []string{"n-b"}},
		{"maxSkew 1 allows every zone when they are level", zones(1, 1, 1),
			pod("p", "", "", podLabels("app", "web"), spread(v1.LabelTopologyZone, 1, v1.DoNotSchedule, "app", "web")), []string{"n-a", "n-b", "n-c"}},
		{"maxSkew 2 tolerates a zone one ahead", zones(2, 1, 2),
			pod("p", "", "", podLabels("app", "web"), spread(v1.LabelTopologyZone, 2, v1.DoNotSchedule, "app", "web")), []string{"n-a", "n-b", "n-c"}},
		{"ScheduleAnyway never filters", zones(5, 0),
			pod("p", "", "", podLabels("app", "web"), spread(v1.LabelTopologyZone, 1, v1.ScheduleAnyway, "app", "web")), []string{"n-a", "n-b"}},
		{"a node without the key is rejected", append(zones(0), cluster{node: node("bare", "4", "8Gi", 20)}),
			pod("p", "", "", podLabels("app", "web"), spread(v1.LabelTopologyZone, 1, v1.DoNotSchedule, "app", "web")), []string{"n-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot(tt.nodes...)
			a := New(DefaultConfig())
			p := info(tt.pod)
			var got []string
			for _, n := range snap.Nodes {
				if a.Filter(p, n, snap) == nil {
					got = append(got, n.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.feasible, ",") {
				t.Errorf("feasible = %v, want %v", got, tt.feasible)
			}
		})
	}
}

func TestFitErrorMessage(t *testing.T) {
	var cs []cluster
	for _, n := range []string{"n1", "n2", "n3"} {
		cs = append(cs, cluster{node: node(n, "1", "4Gi", 10)})
	}
	cs = append(cs, cluster{node: node("n4", "8", "4Gi", 10, withTaint("k", "v", v1.TaintEffectNoSchedule))})
	cs = append(cs, cluster{node: node("n5", "8", "4Gi", 10, withTaint("k", "v", v1.TaintEffectNoSchedule))})
	snap := snapshot(cs...)
	a := New(DefaultConfig())
	p := info(pod("big", "2", ""))
	_, err := a.Schedule(p, snap)
	fe, ok := err.(*FitError)
	if !ok {
		t.Fatalf("Schedule error = %v, want a FitError", err)
	}
	want := "0/5 nodes are available: 2 node(s) had untolerated taint {k: v}, 3 Insufficient cpu."
	if got := fe.Error(); got != want {
		t.Errorf("message =\n %q\nwant\n %q", got, want)
	}
	_, msg := a.Preempt(p, snap, fe)
	fe.Diagnosis.PostFilterMsg = msg
	want = "0/5 nodes are available: 2 node(s) had untolerated taint {k: v}, 3 Insufficient cpu. " +
		"preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
	if got := fe.Error(); got != want {
		t.Errorf("message with preemption =\n %q\nwant\n %q", got, want)
	}
}
