package framework

// topologyPair is one topology domain: a node label key and value.
type topologyPair struct {
	key, value string
}

// affinityState is the inter-pod affinity pre-filter result for one pod: how many matching pods each
// topology domain holds.
type affinityState struct {
	// existingAnti counts, per domain, existing pods whose required anti-affinity selects the incoming pod.
	existingAnti map[topologyPair]int
	// affinity and anti count, per domain, existing pods selected by the incoming pod's required terms.
	affinity map[topologyPair]int
	anti     map[topologyPair]int
}

// preFilterInterPodAffinity builds the affinity state, or returns nil when neither the pod nor any
// existing pod has a required (anti-)affinity term, so the filter can be skipped.
func preFilterInterPodAffinity(p *PodInfo, snap *Snapshot) *affinityState {
	if len(p.RequiredAffinity) == 0 && len(p.RequiredAntiAffinity) == 0 && len(snap.HaveRequiredAntiAffinity) == 0 {
		return nil
	}
	st := &affinityState{existingAnti: map[topologyPair]int{}, affinity: map[topologyPair]int{}, anti: map[topologyPair]int{}}
	for _, n := range snap.HaveRequiredAntiAffinity {
		for _, e := range n.PodsWithRequiredAntiAffinity {
			for i := range e.RequiredAntiAffinity {
				t := &e.RequiredAntiAffinity[i]
				if v, ok := n.Labels[t.TopologyKey]; ok && t.Matches(p) {
					st.existingAnti[topologyPair{t.TopologyKey, v}]++
				}
			}
		}
	}
	if len(p.RequiredAffinity) > 0 || len(p.RequiredAntiAffinity) > 0 {
		for _, n := range snap.Nodes {
			for _, e := range n.Pods {
				for i := range p.RequiredAffinity {
					t := &p.RequiredAffinity[i]
					if v, ok := n.Labels[t.TopologyKey]; ok && t.Matches(e) {
						st.affinity[topologyPair{t.TopologyKey, v}]++
					}
				}
				for i := range p.RequiredAntiAffinity {
					t := &p.RequiredAntiAffinity[i]
					if v, ok := n.Labels[t.TopologyKey]; ok && t.Matches(e) {
						st.anti[topologyPair{t.TopologyKey, v}]++
					}
				}
			}
		}
	}
	return st
}

// filterInterPodAffinity applies, in kube-scheduler's order, the existing pods' anti-affinity, the pod's
// affinity and the pod's anti-affinity.
func filterInterPodAffinity(st *affinityState, p *PodInfo, n *NodeInfo) *Status {
	if st == nil {
		return nil
	}
	if len(st.existingAnti) > 0 {
		for k, v := range n.Labels {
			if st.existingAnti[topologyPair{k, v}] > 0 {
				return statusExistingAnti
			}
		}
	}
	if len(p.RequiredAffinity) > 0 {
		exist := true
		for i := range p.RequiredAffinity {
			t := &p.RequiredAffinity[i]
			v, ok := n.Labels[t.TopologyKey]
			if !ok {
				return statusAffinity
			}
			if st.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
				exist = false
			}
		}
		// The first pod of a group with affinity to itself may go anywhere its own terms allow.
		if !exist && !(len(st.affinity) == 0 && matchesAllOwnTerms(p)) {
			return statusAffinity
		}
	}
	for i := range p.RequiredAntiAffinity {
		t := &p.RequiredAntiAffinity[i]
		if v, ok := n.Labels[t.TopologyKey]; ok && st.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return statusAntiAffinity
		}
	}
	return nil
}

func matchesAllOwnTerms(p *PodInfo) bool {
	for i := range p.RequiredAffinity {
		if !p.RequiredAffinity[i].Matches(p) {
			return false
		}
	}
	return true
}

// affinityScoreState holds the preferred inter-pod affinity weights summed per topology domain.
type affinityScoreState struct {
	topologyScore map[string]map[string]int64
}

// preScoreInterPodAffinity sums, per topology domain, the weights of every preferred term linking the
// incoming pod and an existing pod in either direction (existing pods' required affinity counts with
// weight 1, as kube-scheduler's hardPodAffinityWeight). It returns nil when nothing applies.
func preScoreInterPodAffinity(p *PodInfo, snap *Snapshot) *affinityScoreState {
	incoming := len(p.PreferredAffinity) > 0 || len(p.PreferredAntiAff) > 0
	nodes := snap.HaveAffinity
	if incoming {
		nodes = snap.Nodes
	}
	if len(nodes) == 0 {
		return nil
	}
	st := &affinityScoreState{topologyScore: map[string]map[string]int64{}}
	add := func(n *NodeInfo, key string, w int64) {
		v, ok := n.Labels[key]
		if !ok {
			return
		}
		m := st.topologyScore[key]
		if m == nil {
			m = map[string]int64{}
			st.topologyScore[key] = m
		}
		m[v] += w
	}
	for _, n := range nodes {
		pods := n.PodsWithAffinity
		if incoming {
			pods = n.Pods
		}
		for _, e := range pods {
			for i := range p.PreferredAffinity {
				if t := &p.PreferredAffinity[i]; t.Matches(e) {
					add(n, t.TopologyKey, t.Weight)
				}
			}
			for i := range p.PreferredAntiAff {
				if t := &p.PreferredAntiAff[i]; t.Matches(e) {
					add(n, t.TopologyKey, -t.Weight)
				}
			}
			for i := range e.RequiredAffinity {
				if t := &e.RequiredAffinity[i]; t.Matches(p) {
					add(n, t.TopologyKey, 1)
				}
			}
			for i := range e.PreferredAffinity {
				if t := &e.PreferredAffinity[i]; t.Matches(p) {
					add(n, t.TopologyKey, t.Weight)
				}
			}
			for i := range e.PreferredAntiAff {
				if t := &e.PreferredAntiAff[i]; t.Matches(p) {
					add(n, t.TopologyKey, -t.Weight)
				}
			}
		}
	}
	if len(st.topologyScore) == 0 {
		return nil
	}
	return st
}

func (st *affinityScoreState) score(n *NodeInfo) int64 {
	var s int64
	for key, m := range st.topologyScore {
		if v, ok := n.Labels[key]; ok {
			s += m[v]
		}
	}
	return s
}

// normalizeMinMax maps raw scores linearly onto 0..MaxNodeScore (all 0 when they are equal).
func normalizeMinMax(raw []int64) {
	if len(raw) == 0 {
		return
	}
	lo, hi := raw[0], raw[0]
	for _, s := range raw {
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range raw {
		if hi > lo {
			raw[i] = MaxNodeScore * (s - lo) / (hi - lo)
		} else {
			raw[i] = 0
		}
	}
}
