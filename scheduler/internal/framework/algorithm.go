package framework

import (
	"math/rand/v2"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// Config is the algorithm's policy: which scores count how much, and the Borg optimisations.
type Config struct {
	// Weights maps a score name (NodeResourcesFit, NodeResourcesBalancedAllocation, NodeAffinity,
	// InterPodAffinity, TaintToleration, PodTopologySpread, SelectorSpread) to its weight; 0 disables it.
	Weights map[string]int64
	// Resources are the resources the allocation scores average over, with weights.
	Resources []ResourceWeight
	// LeastAllocatedWeight and MostAllocatedWeight mix worst fit (spread load) and best fit (pack) into
	// the NodeResourcesFit score: Borg's hybrid. 1/0 is Kubernetes's default LeastAllocated.
	LeastAllocatedWeight int64
	MostAllocatedWeight  int64
	// PercentageOfNodesToScore stops the feasibility search once this share of the nodes is found
	// feasible (never fewer than MinFeasibleNodesToFind). 0 means adaptive: 50% - nodes/125, at least 5%.
	// 100 looks at every node (relaxed randomisation off).
	PercentageOfNodesToScore int32
	// MinFeasibleNodesToFind is the floor of the search (Kubernetes: 100).
	MinFeasibleNodesToFind int
	// EquivalenceClasses shares filter and score results between pods of one owner with the same
	// scheduling-relevant spec; off, every pod is its own class.
	EquivalenceClasses bool
	// ScoreCache keeps filter verdicts and node-local scores per (class, node generation); off, nothing
	// is reused between cycles.
	ScoreCache bool
	// MaxCachedClasses bounds the equivalence cache (least recently used classes are dropped).
	MaxCachedClasses int
	// Seed seeds the tie-breaking between equal scores (0: random).
	Seed uint64
}

// DefaultConfig is Kubernetes's default profile plus Skiff's SelectorSpread and the Borg optimisations on.
func DefaultConfig() Config {
	return Config{
		Weights: map[string]int64{
			NodeResourcesFit:   1,
			BalancedAllocation: 1,
			NodeAffinity:       2,
			InterPodAffinity:   2,
			TaintToleration:    3,
			PodTopologySpread:  2,
			SelectorSpread:     1,
		},
		Resources:              []ResourceWeight{{Name: v1.ResourceCPU, Weight: 1}, {Name: v1.ResourceMemory, Weight: 1}},
		LeastAllocatedWeight:   1,
		MostAllocatedWeight:    0,
		MinFeasibleNodesToFind: 100,
		EquivalenceClasses:     true,
		ScoreCache:             true,
		MaxCachedClasses:       64,
	}
}

// Algorithm picks nodes for pods. It is not safe for concurrent use: one scheduling loop owns it, which
// is what lets it keep the equivalence cache and the rotating start offset without locks.
type Algorithm struct {
	cfg       Config
	rng       *rand.Rand
	nextStart int

	classes  map[uint64]*classCache
	useClock uint64

	// Stats counts cache hits and misses, for the benchmark.
	Stats Stats

	feasibleBuf []*NodeInfo
}

// Stats are the algorithm's counters.
type Stats struct {
	CacheHits, CacheMisses int64
	NodesEvaluated         int64
}

type classCache struct {
	entries []cacheEntry
	lastUse uint64
}

type cacheEntry struct {
	valid     bool
	hasScores bool
	gen       int64
	status    *Status
	scores    localScores
}

// New returns an Algorithm with the given policy.
func New(cfg Config) *Algorithm {
	if cfg.MinFeasibleNodesToFind <= 0 {
		cfg.MinFeasibleNodesToFind = 100
	}
	if cfg.MaxCachedClasses <= 0 {
		cfg.MaxCachedClasses = 64
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Algorithm{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), classes: map[uint64]*classCache{}}
}

// Config returns the policy.
func (a *Algorithm) Config() Config { return a.cfg }

// Result is a scheduling decision.
type Result struct {
	Node      string
	Evaluated int
	Feasible  int
}

// cycleState is what one pod's cycle computes once and every node's filter reads.
type cycleState struct {
	affinity *affinityState
	spread   *spreadState
	class    *classCache
}

// NumFeasibleNodesToFind is how many feasible nodes the search stops at, as in Kubernetes.
func (a *Algorithm) NumFeasibleNodesToFind(numNodes int) int {
	minFind := a.cfg.MinFeasibleNodesToFind
	if numNodes < minFind {
		return numNodes
	}
	pct := int(a.cfg.PercentageOfNodesToScore)
	if pct <= 0 {
		pct = 50 - numNodes/125
		if pct < 5 {
			pct = 5
		}
	}
	if pct >= 100 {
		return numNodes
	}
	n := numNodes * pct / 100
	if n < minFind {
		return minFind
	}
	return n
}

// Schedule picks a node for p in snap. It returns a *FitError when no node fits.
func (a *Algorithm) Schedule(p *PodInfo, snap *Snapshot) (Result, error) {
	n := len(snap.Nodes)
	if n == 0 {
		return Result{}, ErrNoNodesAvailable
	}
	if p.Invalid != nil {
		fe := &FitError{Pod: p.Key, NumAllNodes: n}
		fe.Diagnosis.PreFilterMsg = p.Invalid.Error()
		fe.Diagnosis.Plugins = map[string]bool{InvalidPod: true}
		return Result{}, fe
	}
	cs := a.prepare(p, snap)
	if nn := p.Pod.Status.NominatedNodeName; nn != "" {
		if ni := snap.ByName[nn]; ni != nil && a.filter(cs, p, ni, snap) == nil {
			return Result{Node: nn, Evaluated: 1, Feasible: 1}, nil
		}
	}
	want := a.NumFeasibleNodesToFind(n)
	feasible := a.feasibleBuf[:0]
	var diag Diagnosis
	start := a.nextStart % n
	processed := 0
	for ; processed < n && len(feasible) < want; processed++ {
		ni := snap.Nodes[(start+processed)%n]
		if st := a.filter(cs, p, ni, snap); st != nil {
			diag.add(ni.Name, st)
			continue
		}
		feasible = append(feasible, ni)
	}
	a.feasibleBuf = feasible
	a.nextStart = (start + processed) % n
	a.Stats.NodesEvaluated += int64(processed)
	switch len(feasible) {
	case 0:
		return Result{Evaluated: processed}, &FitError{Pod: p.Key, NumAllNodes: n, Diagnosis: diag}
	case 1:
		return Result{Node: feasible[0].Name, Evaluated: processed, Feasible: 1}, nil
	}
	best := a.score(cs, p, feasible, snap)
	return Result{Node: best.Name, Evaluated: processed, Feasible: len(feasible)}, nil
}

// prepare computes the pod's cycle state: the global filters' pre-computations and its class's cache.
func (a *Algorithm) prepare(p *PodInfo, snap *Snapshot) *cycleState {
	cs := &cycleState{
		affinity: preFilterInterPodAffinity(p, snap),
		spread:   preSpread(p, snap, v1.DoNotSchedule),
	}
	if a.cfg.ScoreCache {
		key := p.Class
		if !a.cfg.EquivalenceClasses {
			key = p.UIDHash
		}
		cs.class = a.classFor(key, snap)
	}
	return cs
}

func (a *Algorithm) classFor(key uint64, snap *Snapshot) *classCache {
	a.useClock++
	c := a.classes[key]
	if c == nil {
		if len(a.classes) >= a.cfg.MaxCachedClasses {
			var oldK uint64
			var old *classCache
			for k, v := range a.classes {
				if old == nil || v.lastUse < old.lastUse {
					oldK, old = k, v
				}
			}
			delete(a.classes, oldK)
		}
		c = &classCache{}
		a.classes[key] = c
	}
	c.lastUse = a.useClock
	if maxSlot := max(snap.maxSlot, len(snap.Nodes)); len(c.entries) < maxSlot {
		c.entries = append(c.entries, make([]cacheEntry, maxSlot-len(c.entries))...)
	}
	return c
}

// Filter runs every filter for p on one node of snap (preemption and tests use it).
func (a *Algorithm) Filter(p *PodInfo, ni *NodeInfo, snap *Snapshot) *Status {
	cs := &cycleState{affinity: preFilterInterPodAffinity(p, snap), spread: preSpread(p, snap, v1.DoNotSchedule)}
	return a.filter(cs, p, ni, snap)
}

// filter is one node's verdict: the node-local filters (from the equivalence cache when the node has not
// changed), then topology spread and inter-pod affinity, which depend on the whole cluster.
func (a *Algorithm) filter(cs *cycleState, p *PodInfo, ni *NodeInfo, snap *Snapshot) *Status {
	var st *Status
	if nom := nominatedAhead(p, snap.Nominated[ni.Name]); len(nom) > 0 {
		// Pods nominated here by preemption with at least this priority hold their room.
		c := ni.Clone()
		for _, q := range nom {
			c.AddPod(q)
		}
		st = filterLocal(p, c)
	} else if cs.class != nil && ni.Slot < len(cs.class.entries) {
		e := &cs.class.entries[ni.Slot]
		if e.valid && e.gen == ni.Generation {
			a.Stats.CacheHits++
			st = e.status
		} else {
			a.Stats.CacheMisses++
			st = filterLocal(p, ni)
			*e = cacheEntry{valid: true, gen: ni.Generation, status: st}
		}
	} else {
		st = filterLocal(p, ni)
	}
	if st != nil {
		return st
	}
	if s := filterSpread(cs.spread, p, ni); s != nil {
		return s
	}
	return filterInterPodAffinity(cs.affinity, p, ni)
}

func nominatedAhead(p *PodInfo, nom []*PodInfo) []*PodInfo {
	if len(nom) == 0 {
		return nil
	}
	var out []*PodInfo
	for _, q := range nom {
		if q.UID != p.UID && q.Priority >= p.Priority {
			out = append(out, q)
		}
	}
	return out
}

// localScoresFor returns the node-local raw scores, cached with the filter verdict.
func (a *Algorithm) localScoresFor(cs *cycleState, p *PodInfo, ni *NodeInfo) localScores {
	if cs.class != nil && ni.Slot < len(cs.class.entries) {
		e := &cs.class.entries[ni.Slot]
		if e.valid && e.gen == ni.Generation {
			if !e.hasScores {
				e.scores, e.hasScores = a.scoreLocal(p, ni), true
			}
			return e.scores
		}
	}
	return a.scoreLocal(p, ni)
}

func (a *Algorithm) weight(name string) int64 { return a.cfg.Weights[name] }

// score ranks the feasible nodes by the weighted sum of the scores and returns the best; ties are broken
// at random so that equal nodes share the load.
func (a *Algorithm) score(cs *cycleState, p *PodInfo, nodes []*NodeInfo, snap *Snapshot) *NodeInfo {
	k := len(nodes)
	total := make([]int64, k)
	na := make([]int64, k)
	tt := make([]int64, k)
	anyNA, anyTT := false, false
	wFit, wBal := a.weight(NodeResourcesFit), a.weight(BalancedAllocation)
	for i, ni := range nodes {
		ls := a.localScoresFor(cs, p, ni)
		total[i] = wFit*ls[localAllocation] + wBal*ls[localBalanced]
		na[i], tt[i] = ls[localNodeAffinity], ls[localTaints]
		anyNA = anyNA || na[i] != 0
		anyTT = anyTT || tt[i] != 0
	}
	if w := a.weight(NodeAffinity); w > 0 && anyNA {
		normalizeMax(na, false)
		addWeighted(total, na, w)
	}
	if w := a.weight(TaintToleration); w > 0 && anyTT {
		normalizeMax(tt, true)
		addWeighted(total, tt, w)
	}
	buf := na // reuse
	if w := a.weight(InterPodAffinity); w > 0 {
		if st := preScoreInterPodAffinity(p, snap); st != nil {
			for i, ni := range nodes {
				buf[i] = st.score(ni)
			}
			normalizeMinMax(buf)
			addWeighted(total, buf, w)
		}
	}
	if w := a.weight(PodTopologySpread); w > 0 {
		if st := preSpread(p, snap, v1.ScheduleAnyway); st != nil {
			scoreSpreadNodes(st, nodes, buf)
			addWeighted(total, buf, w)
		}
	}
	if w := a.weight(SelectorSpread); w > 0 && p.OwnerUID != "" {
		scoreSelectorSpread(p, nodes, buf)
		addWeighted(total, buf, w)
	}
	best, ties := 0, 1
	for i := 1; i < k; i++ {
		switch {
		case total[i] > total[best]:
			best, ties = i, 1
		case total[i] == total[best]:
			ties++
			if a.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best]
}

func addWeighted(total, s []int64, w int64) {
	for i := range total {
		total[i] += w * s[i]
	}
}

// scoreSpreadNodes normalises the ScheduleAnyway spread score: fewer matching pods in the node's domains
// is better; nodes missing a topology key get 0.
func scoreSpreadNodes(st *spreadState, nodes []*NodeInfo, out []int64) {
	ok := make([]bool, len(nodes))
	var hi, lo int64 = 0, -1
	for i, n := range nodes {
		s, has := scoreSpread(st, n)
		out[i], ok[i] = s, has
		if has {
			hi = max(hi, s)
			if lo < 0 || s < lo {
				lo = s
			}
		}
	}
	for i := range out {
		switch {
		case !ok[i]:
			out[i] = 0
		case hi == 0:
			out[i] = MaxNodeScore
		default:
			out[i] = MaxNodeScore * (hi + lo - out[i]) / hi
		}
	}
}
