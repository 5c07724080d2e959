package framework

import (
	"testing"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// only returns a config in which only the named scores count, with weight 1.
func only(names ...string) Config {
	c := DefaultConfig()
	c.Weights = map[string]int64{}
	for _, n := range names {
		c.Weights[n] = 1
	}
	c.Seed = 1
	return c
}

func TestScores(t *testing.T) {
	halfFull := func(name string, opts ...func(*v1.Node)) cluster {
		return cluster{node: node(name, "4", "8Gi", 20, opts...), pods: []*v1.Pod{pod("x", "2", "4Gi")}}
	}
	empty := func(name string, opts ...func(*v1.Node)) cluster {
		return cluster{node: node(name, "4", "8Gi", 20, opts...)}
	}
	preferred := func(weight int32, key, value string) func(*v1.Pod) {
		return func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
				{Weight: weight, Preference: expr(key, "In", value)},
			}}}
		}
	}
	preferredPod := func(weight int32, key string, anti bool, kv ...string) func(*v1.Pod) {
		return func(p *v1.Pod) {
			term := v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: v1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{kv[0]: kv[1]}}, TopologyKey: key}}
			if p.Spec.Affinity == nil {
				p.Spec.Affinity = &v1.Affinity{}
			}
			if anti {
				p.Spec.Affinity.PodAntiAffinity = &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{term}}
			} else {
				p.Spec.Affinity.PodAffinity = &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{term}}
			}
		}
	}
	mostAllocated := func() Config {
		c := only(NodeResourcesFit)
		c.LeastAllocatedWeight, c.MostAllocatedWeight = 0, 1
		return c
	}
	tests := []struct {
		name  string
		cfg   Config
		nodes []cluster
		pod   *v1.Pod
		want  string
	}{
		{"least-allocated prefers the emptier node", only(NodeResourcesFit), []cluster{halfFull("full"), empty("empty")}, pod("p", "1", "1Gi"), "empty"},
		{"most-allocated packs onto the fuller node", mostAllocated(), []cluster{empty("empty"), halfFull("full")}, pod("p", "1", "1Gi"), "full"},
		{"balanced allocation prefers the node left balanced", only(BalancedAllocation),
			[]cluster{{node: node("cpu-heavy", "4", "8Gi", 20), pods: []*v1.Pod{pod("x", "3", "1Gi")}}, {node: node("even", "4", "8Gi", 20), pods: []*v1.Pod{pod("y", "1", "2Gi")}}},
			pod("p", "1", "2Gi"), "even"},
		{"preferred node affinity picks the matching node", only(NodeAffinity),
			[]cluster{empty("plain"), empty("ssd", withLabels("disk", "ssd"))}, pod("p", "", "", preferred(10, "disk", "ssd")), "ssd"},
		{"PreferNoSchedule taint is avoided", only(TaintToleration),
			[]cluster{empty("tainted", withTaint("k", "v", v1.TaintEffectPreferNoSchedule)), empty("clean")}, pod("p", "", ""), "clean"},
		{"a tolerated PreferNoSchedule taint is not held against the node", only(TaintToleration, NodeAffinity),
			[]cluster{empty("clean"), empty("tainted", withTaint("k", "v", v1.TaintEffectPreferNoSchedule), withLabels("x", "y"))},
			pod("p", "", "", tolerate("k", "Equal", "v", v1.TaintEffectPreferNoSchedule), preferred(1, "x", "y")), "tainted"},
		{"preferred pod affinity goes to the zone with the matching pod", only(InterPodAffinity),
			[]cluster{empty("a", withLabels(v1.LabelTopologyZone, "a")), {node: node("b", "4", "8Gi", 20, withLabels(v1.LabelTopologyZone, "b")), pods: []*v1.Pod{pod("db", "", "", podLabels("app", "db"))}}},
			pod("p", "", "", preferredPod(50, v1.LabelTopologyZone, false, "app", "db")), "b"},
		{"preferred pod anti-affinity avoids the zone with the matching pod", only(InterPodAffinity),
			[]cluster{{node: node("b", "4", "8Gi", 20, withLabels(v1.LabelTopologyZone, "b")), pods: []*v1.Pod{pod("db", "", "", podLabels("app", "db"))}}, empty("a", withLabels(v1.LabelTopologyZone, "a"))},
			pod("p", "", "", preferredPod(50, v1.LabelTopologyZone, true, "app", "db")), "a"},
		{"ScheduleAnyway spread prefers the zone with fewer matching pods", only(PodTopologySpread),
			[]cluster{{node: node("a", "4", "8Gi", 20, withLabels(v1.LabelTopologyZone, "a")), pods: []*v1.Pod{pod("w", "", "", podLabels("app", "web")), pod("w", "", "", podLabels("app", "web"))}},
				{node: node("b", "4", "8Gi", 20, withLabels(v1.LabelTopologyZone, "b")), pods: []*v1.Pod{pod("w", "", "", podLabels("app", "web"))}}},
			pod("p", "", "", podLabels("app", "web"), spread(v1.LabelTopologyZone, 1, v1.ScheduleAnyway, "app", "web")), "b"},
		{"owner spreading prefers the node without the owner's pods", only(SelectorSpread),
			[]cluster{{node: node("busy", "4", "8Gi", 20), pods: []*v1.Pod{pod("r1", "", "", owner("rs1"))}}, empty("idle")},
			pod("p", "", "", owner("rs1")), "idle"},
		{"owner spreading prefers another zone over another node in the same zone", only(SelectorSpread),
			[]cluster{{node: node("a1", "4", "8Gi", 20, withLabels(v1.LabelTopologyZone, "a")), pods: []*v1.Pod{pod("r1", "", "", owner("rs1"))}},
				empty("a2", withLabels(v1.LabelTopologyZone, "a")), empty("b1", withLabels(v1.LabelTopologyZone, "b"))},
			pod("p", "", "", owner("rs1")), "b1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 5; i++ { // ties are random; the winner must not be
				snap := snapshot(tt.nodes...)
				tt.cfg.Seed = uint64(i + 1)
				a := New(tt.cfg)
				res, err := a.Schedule(info(tt.pod), snap)
				if err != nil {
					t.Fatalf("Schedule: %v", err)
				}
				if res.Node != tt.want {
					t.Fatalf("picked %s, want %s", res.Node, tt.want)
				}
			}
		})
	}
}

func TestAllocationHybridMix(t *testing.T) {
	n := NewNodeInfo(node("n", "4", "8Gi", 20))
	n.AddPod(info(pod("x", "1", "2Gi"))) // 25% used before, 50% after a 1-cpu/2Gi pod
	p := info(pod("p", "1", "2Gi"))
	tests := []struct {
		name        string
		least, most int64
		want        int64
	}{
		{"pure least-allocated scores the free share", 1, 0, 50},
		{"pure most-allocated scores the used share", 0, 1, 50},
		{"3:1 mix", 3, 1, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.LeastAllocatedWeight, c.MostAllocatedWeight = tt.least, tt.most
			if got := New(c).allocationScore(p, n); got != tt.want {
				t.Errorf("score = %d, want %d", got, tt.want)
			}
		})
	}
	// At 75% after placement the mix is visible.
	n.AddPod(info(pod("y", "1", "2Gi")))
	c := DefaultConfig()
	c.LeastAllocatedWeight, c.MostAllocatedWeight = 3, 1
	if got := New(c).allocationScore(p, n); got != (3*25+1*75)/4 {
		t.Errorf("3:1 mix at 75%% = %d, want %d", got, (3*25+1*75)/4)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct   int32
		nodes int
		want  int
	}{
		{0, 50, 50},       // small clusters: every node
		{0, 100, 100},     // at the floor
		{0, 1000, 420},    // 50 - 1000/125 = 42%
		{0, 5000, 500},    // 50 - 40 = 10%
		{0, 10000, 500},   // 50 - 80 < 5 → 5%
		{0, 1500, 570},    // 38%
		{10, 500, 100},    // 10% = 50 < floor 100
		{100, 5000, 5000}, // relaxed randomisation off
	}
	for _, tt := range tests {
		c := DefaultConfig()
		c.PercentageOfNodesToScore = tt.pct
		if got := New(c).NumFeasibleNodesToFind(tt.nodes); got != tt.want {
			t.Errorf("pct %d nodes %d: %d, want %d", tt.pct, tt.nodes, got, tt.want)
		}
	}
}

func TestRotatingStartAndCache(t *testing.T) {
	var cs []cluster
	for i := 0; i < 300; i++ {
		cs = append(cs, cluster{node: node("n"+string(rune('A'+i/26))+string(rune('a'+i%26)), "4", "8Gi", 20)})
	}
	snap := snapshot(cs...)
	c := DefaultConfig()
	c.PercentageOfNodesToScore = 10 // 30 nodes, raised to the floor of 100
	a := New(c)
	first, _ := a.Schedule(info(pod("p1", "1", "1Gi", owner("rs"))), snap)
	if first.Evaluated != 100 {
		t.Fatalf("evaluated %d nodes, want 100 (the floor)", first.Evaluated)
	}
	if a.nextStart != 100 {
		t.Fatalf("next start = %d, want 100", a.nextStart)
	}
	for i := 0; i < 2; i++ {
		if _, err := a.Schedule(info(pod("p", "1", "1Gi", owner("rs"))), snap); err != nil {
			t.Fatal(err)
		}
	}
	if a.Stats.CacheHits != 0 || a.Stats.CacheMisses != 300 {
		t.Fatalf("after one lap: hits %d misses %d, want 0 and 300", a.Stats.CacheHits, a.Stats.CacheMisses)
	}
	if _, err := a.Schedule(info(pod("p", "1", "1Gi", owner("rs"))), snap); err != nil {
		t.Fatal(err)
	}
	if a.Stats.CacheHits != 100 {
		t.Fatalf("second lap: %d hits, want 100 (same class, unchanged nodes)", a.Stats.CacheHits)
	}
	// A different spec is another class.
	if _, err := a.Schedule(info(pod("q", "2", "1Gi", owner("rs"))), snap); err != nil {
		t.Fatal(err)
	}
	if a.Stats.CacheMisses != 400 {
		t.Fatalf("new class: %d misses, want 400", a.Stats.CacheMisses)
	}
	// A changed node is re-evaluated.
	snap.Nodes[0].Generation = 1000
	a.nextStart = 0
	_, _ = a.Schedule(info(pod("p", "1", "1Gi", owner("rs"))), snap)
	if a.Stats.CacheMisses != 401 {
		t.Fatalf("changed node: %d misses, want 401", a.Stats.CacheMisses)
	}
}

func TestPreemption(t *testing.T) {
	low, mid, high := int32(1), int32(50), int32(100)
	tests := []struct {
		name    string
		nodes   []cluster
		pod     *v1.Pod
		node    string
		victims []string
		msg     string
	}{
		{"evicts the lowest-priority pod that makes room",
			[]cluster{{node: node("n1", "2", "8Gi", 10), pods: []*v1.Pod{pod("low", "1", "", priority(low)), pod("mid", "1", "", priority(mid))}}},
			pod("p", "1", "", priority(high)), "n1", []string{"low"}, ""},
		{"prefers the node whose victims have lower priority",
			[]cluster{
				{node: node("n1", "1", "8Gi", 10), pods: []*v1.Pod{pod("mid", "1", "", priority(mid))}},
				{node: node("n2", "1", "8Gi", 10), pods: []*v1.Pod{pod("low", "1", "", priority(low))}},
			},
			pod("p", "1", "", priority(high)), "n2", []string{"low"}, ""},
		{"prefers fewer victims at equal priority",
			[]cluster{
				{node: node("n1", "2", "8Gi", 10), pods: []*v1.Pod{pod("a", "1", "", priority(low)), pod("b", "1", "", priority(low))}},
				{node: node("n2", "2", "8Gi", 10), pods: []*v1.Pod{pod("c", "2", "", priority(low))}},
			},
			pod("p", "2", "", priority(high)), "n2", []string{"c"}, ""},
		{"spares pods that need not go",
			[]cluster{{node: node("n1", "3", "8Gi", 10), pods: []*v1.Pod{pod("a", "1", "", priority(low)), pod("b", "1", "", priority(low)), pod("c", "1", "", priority(low))}}},
			pod("p", "2", "", priority(high)), "n1", []string{"b", "c"}, ""},
		{"never evicts equal or higher priority",
			[]cluster{{node: node("n1", "1", "8Gi", 10), pods: []*v1.Pod{pod("peer", "1", "", priority(high))}}},
			pod("p", "1", "", priority(high)), "", nil, "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod"},
		{"does not help against a taint",
			[]cluster{{node: node("n1", "1", "8Gi", 10, withTaint("k", "v", v1.TaintEffectNoSchedule)), pods: []*v1.Pod{pod("low", "1", "", priority(low))}}},
			pod("p", "1", "", priority(high)), "", nil, "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling"},
		{"preemptionPolicy Never opts out",
			[]cluster{{node: node("n1", "1", "8Gi", 10), pods: []*v1.Pod{pod("low", "1", "", priority(low))}}},
			pod("p", "1", "", priority(high), func(p *v1.Pod) { n := v1.PreemptNever; p.Spec.PreemptionPolicy = &n }), "", nil,
			"preemption: not eligible due to preemptionPolicy=Never"},
		{"evicting an anti-affine pod makes room",
			[]cluster{{node: node("n1", "4", "8Gi", 10), pods: []*v1.Pod{pod("other", "", "", priority(low), podLabels("app", "db"))}}},
			pod("p", "", "", priority(high), podAffinityTerm(v1.LabelHostname, true, "app", "db")), "n1", []string{"other"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot(tt.nodes...)
			a := New(DefaultConfig())
			p := info(tt.pod)
			_, err := a.Schedule(p, snap)
			fe, ok := err.(*FitError)
			if !ok {
				t.Fatalf("Schedule error = %v, want a FitError", err)
			}
			v, msg := a.Preempt(p, snap, fe)
			if msg != tt.msg {
				t.Errorf("message = %q, want %q", msg, tt.msg)
			}
			if tt.node == "" {
				if v != nil {
					t.Fatalf("victims on %s, want none", v.Node)
				}
				return
			}
			if v == nil || v.Node != tt.node {
				t.Fatalf("victims = %+v, want node %s", v, tt.node)
			}
			var names []string
			for _, q := range v.Pods {
				names = append(names, q.Pod.Name)
			}
			if len(names) != len(tt.victims) {
				t.Fatalf("victims %v, want %v", names, tt.victims)
			}
			for i := range names {
				if names[i] != tt.victims[i] {
					t.Fatalf("victims %v, want %v", names, tt.victims)
				}
			}
		})
	}
}
