package framework

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// PodInfo is a pod with everything the filters and scores need worked out once: requests, host ports,
// compiled selectors and affinity terms. It is immutable once built and shared between the cache, the
// queue and snapshots.
type PodInfo struct {
	Pod       *v1.Pod
	Key       string // namespace/name
	Namespace string
	UID       string
	Labels    map[string]string
	// Priority is the effective priority: spec.priority, or the resolved PriorityClass value.
	Priority int32
	// Requests are what the pod takes from its node; NonZero the same with scoring defaults for zero.
	Requests Resource
	NonZero  Resource
	// HostPorts are the (hostIP, protocol, hostPort) triples the pod binds on its node.
	HostPorts []HostPort
	// OwnerUID is the controller owner's UID, or "".
	OwnerUID string

	NodeSelector         Selector
	RequiredNodeAffinity []NodeSelectorTerm // ORed; nil when unset
	PreferredNodeAff     []WeightedNodeTerm
	RequiredAffinity     []AffinityTerm
	RequiredAntiAffinity []AffinityTerm
	PreferredAffinity    []AffinityTerm // Weight set
	PreferredAntiAff     []AffinityTerm // Weight set
	SpreadConstraints    []SpreadConstraint
	Tolerations          []v1.Toleration

	// Created is the pod's creation time, the queue's tie-breaker.
	Created time.Time
	// Class identifies the pod's equivalence class; UIDHash is a class of its own (used when equivalence
	// classes are off).
	Class   uint64
	UIDHash uint64
	// Invalid is set when a selector of the pod does not compile; such a pod is unschedulable.
	Invalid error
}

// HostPort is one port a pod binds on its node's addresses.
type HostPort struct {
	IP       string // "" and "0.0.0.0" mean every address
	Protocol v1.Protocol
	Port     int32
}

// NodeSelectorTerm is a compiled node selector term: requirements on labels and on fields (metadata.name).
type NodeSelectorTerm struct {
	Labels []NodeRequirement
	Fields []NodeRequirement
}

// NodeRequirement is one compiled node selector requirement.
type NodeRequirement struct {
	Key    string
	Op     v1.NodeSelectorOperator
	Values []string
	Number int64 // for Gt and Lt
}

// WeightedNodeTerm is a preferred node affinity term.
type WeightedNodeTerm struct {
	Weight int64
	Term   NodeSelectorTerm
}

// AffinityTerm is a compiled pod (anti-)affinity term.
type AffinityTerm struct {
	Selector Selector
	// Namespaces are the namespaces the term selects pods in; with AllNamespaces it selects every one.
	Namespaces    map[string]bool
	NSSelector    Selector
	AllNamespaces bool
	TopologyKey   string
	Weight        int64
}

// SpreadConstraint is a compiled topology spread constraint.
type SpreadConstraint struct {
	MaxSkew           int32
	TopologyKey       string
	WhenUnsatisfiable v1.UnsatisfiableConstraintAction
	Selector          Selector
	MinDomains        int32
	// HonorNodeAffinity and HonorTaints say which nodes count as domains (nodeAffinityPolicy defaults to
	// Honor, nodeTaintsPolicy to Ignore).
	HonorNodeAffinity bool
	HonorTaints       bool
}

// Matches reports whether the term selects pod p.
func (t *AffinityTerm) Matches(p *PodInfo) bool {
	if !t.AllNamespaces && !t.Namespaces[p.Namespace] {
		if t.NSSelector.Empty() || !t.NSSelector.Matches(map[string]string{v1.LabelMetadataName: p.Namespace}) {
			return false
		}
	}
	return t.Selector.Matches(p.Labels)
}

// NewPodInfo works out a pod's scheduling view. priority is the effective priority.
func NewPodInfo(pod *v1.Pod, priority int32) *PodInfo {
	pi := NewAssignedPodInfo(pod, priority)
	pi.Class = classKey(pod, pi.OwnerUID, priority)
	return pi
}

// NewAssignedPodInfo is NewPodInfo without the equivalence class, which only pending pods need; the
// cache builds the view of every bound pod with it.
func NewAssignedPodInfo(pod *v1.Pod, priority int32) *PodInfo {
	pi := &PodInfo{
		Pod:       pod,
		Key:       pod.Namespace + "/" + pod.Name,
		Namespace: pod.Namespace,
		UID:       pod.UID,
		Labels:    pod.Labels,
		Priority:  priority,
		Requests:  PodRequests(pod),
		NonZero:   NonZeroRequests(pod),
		Created:   pod.CreationTimestamp.Time,
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			pi.OwnerUID = ref.UID
			break
		}
	}
	for i := range pod.Spec.Containers {
		for _, p := range pod.Spec.Containers[i].Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			pi.HostPorts = append(pi.HostPorts, HostPort{IP: p.HostIP, Protocol: proto, Port: p.HostPort})
		}
	}
	pi.Tolerations = pod.Spec.Tolerations
	var errs []error
	pi.NodeSelector = SelectorFromMap(pod.Spec.NodeSelector)
	if a := pod.Spec.Affinity; a != nil {
		if na := a.NodeAffinity; na != nil {
			if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
				pi.RequiredNodeAffinity = []NodeSelectorTerm{}
				for i, t := range req.NodeSelectorTerms {
					ct, err := compileNodeTerm(t)
					if err != nil {
						errs = append(errs, fmt.Errorf("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[%d]: %w", i, err))
						continue
					}
					pi.RequiredNodeAffinity = append(pi.RequiredNodeAffinity, ct)
				}
			}
			for i, p := range na.PreferredDuringSchedulingIgnoredDuringExecution {
				ct, err := compileNodeTerm(p.Preference)
				if err != nil {
					errs = append(errs, fmt.Errorf("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[%d]: %w", i, err))
					continue
				}
				pi.PreferredNodeAff = append(pi.PreferredNodeAff, WeightedNodeTerm{Weight: int64(p.Weight), Term: ct})
			}
		}
		if pa := a.PodAffinity; pa != nil {
			for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				errs = pi.addTerm(&pi.RequiredAffinity, t, 0, errs)
			}
			for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				errs = pi.addTerm(&pi.PreferredAffinity, w.PodAffinityTerm, int64(w.Weight), errs)
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				errs = pi.addTerm(&pi.RequiredAntiAffinity, t, 0, errs)
			}
			for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				errs = pi.addTerm(&pi.PreferredAntiAff, w.PodAffinityTerm, int64(w.Weight), errs)
			}
		}
	}
	for i, c := range pod.Spec.TopologySpreadConstraints {
		sel, err := CompileSelector(c.LabelSelector)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.topologySpreadConstraints[%d].labelSelector: %w", i, err))
			continue
		}
		sel = withLabelKeys(sel, c.MatchLabelKeys, nil, pod.Labels)
		sc := SpreadConstraint{
			MaxSkew:           c.MaxSkew,
			TopologyKey:       c.TopologyKey,
			WhenUnsatisfiable: c.WhenUnsatisfiable,
			Selector:          sel,
			MinDomains:        1,
			HonorNodeAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor,
			HonorTaints:       c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor,
		}
		if c.MinDomains != nil && *c.MinDomains > 0 {
			sc.MinDomains = *c.MinDomains
		}
		if sc.MaxSkew <= 0 {
			sc.MaxSkew = 1
		}
		pi.SpreadConstraints = append(pi.SpreadConstraints, sc)
	}
	if len(errs) > 0 {
		pi.Invalid = errors.Join(errs...)
	}
	pi.UIDHash = hashString(pod.UID + "/" + pi.Key)
	return pi
}

func (pi *PodInfo) addTerm(dst *[]AffinityTerm, t v1.PodAffinityTerm, weight int64, errs []error) []error {
	sel, err := CompileSelector(t.LabelSelector)
	if err != nil {
		return append(errs, fmt.Errorf("pod affinity term (topologyKey %q): %w", t.TopologyKey, err))
	}
	sel = withLabelKeys(sel, t.MatchLabelKeys, t.MismatchLabelKeys, pi.Labels)
	at := AffinityTerm{Selector: sel, TopologyKey: t.TopologyKey, Weight: weight}
	if t.NamespaceSelector != nil {
		ns, err := CompileSelector(t.NamespaceSelector)
		if err != nil {
			return append(errs, fmt.Errorf("pod affinity term (topologyKey %q) namespaceSelector: %w", t.TopologyKey, err))
		}
		if ns.everything {
			at.AllNamespaces = true
		}
		at.NSSelector = ns
	}
	at.Namespaces = map[string]bool{}
	for _, n := range t.Namespaces {
		at.Namespaces[n] = true
	}
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		at.Namespaces[pi.Namespace] = true
	}
	*dst = append(*dst, at)
	return errs
}

// withLabelKeys folds matchLabelKeys (the pod's own value must match) and mismatchLabelKeys (must differ)
// into a selector.
func withLabelKeys(s Selector, match, mismatch []string, labels map[string]string) Selector {
	if len(match) == 0 && len(mismatch) == 0 || s.Empty() {
		return s
	}
	out := Selector{reqs: slices.Clone(s.reqs)}
	for _, k := range match {
		if v, ok := labels[k]; ok {
			out.reqs = append(out.reqs, requirement{key: k, op: metav1.LabelSelectorOpIn, values: []string{v}})
		}
	}
	for _, k := range mismatch {
		if v, ok := labels[k]; ok {
			out.reqs = append(out.reqs, requirement{key: k, op: metav1.LabelSelectorOpNotIn, values: []string{v}})
		}
	}
	if len(out.reqs) == 0 {
		return s
	}
	return out
}

func compileNodeTerm(t v1.NodeSelectorTerm) (NodeSelectorTerm, error) {
	var ct NodeSelectorTerm
	for _, r := range t.MatchExpressions {
		cr, err := compileNodeRequirement(r)
		if err != nil {
			return ct, err
		}
		ct.Labels = append(ct.Labels, cr)
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" {
			return ct, fmt.Errorf("matchFields: unsupported field %q (only metadata.name)", r.Key)
		}
		if r.Operator != v1.NodeSelectorOpIn && r.Operator != v1.NodeSelectorOpNotIn {
			return ct, fmt.Errorf("matchFields: operator %q not supported for metadata.name (In or NotIn)", r.Operator)
		}
		cr, err := compileNodeRequirement(r)
		if err != nil {
			return ct, err
		}
		ct.Fields = append(ct.Fields, cr)
	}
	return ct, nil
}

func compileNodeRequirement(r v1.NodeSelectorRequirement) (NodeRequirement, error) {
	cr := NodeRequirement{Key: r.Key, Op: r.Operator, Values: r.Values}
	switch r.Operator {
	case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			return cr, fmt.Errorf("key %q: operator %s needs values", r.Key, r.Operator)
		}
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			return cr, fmt.Errorf("key %q: operator %s takes no values", r.Key, r.Operator)
		}
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			return cr, fmt.Errorf("key %q: operator %s needs exactly one value", r.Key, r.Operator)
		}
		n, err := parseInt(r.Values[0])
		if err != nil {
			return cr, fmt.Errorf("key %q: operator %s value %q is not an integer", r.Key, r.Operator, r.Values[0])
		}
		cr.Number = n
	default:
		return cr, fmt.Errorf("key %q: unknown operator %q", r.Key, r.Operator)
	}
	return cr, nil
}

// matchesNodeTerm evaluates a compiled term against a node's labels and name. An empty term matches
// nothing, as in Kubernetes.
func matchesNodeTerm(t *NodeSelectorTerm, labels map[string]string, name string) bool {
	if len(t.Labels) == 0 && len(t.Fields) == 0 {
		return false
	}
	for i := range t.Labels {
		if !matchesNodeRequirement(&t.Labels[i], labels) {
			return false
		}
	}
	for i := range t.Fields {
		if !matchesNodeRequirement(&t.Fields[i], map[string]string{"metadata.name": name}) {
			return false
		}
	}
	return true
}

func matchesNodeRequirement(r *NodeRequirement, labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Op {
	case v1.NodeSelectorOpIn:
		return ok && slices.Contains(r.Values, v)
	case v1.NodeSelectorOpNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case v1.NodeSelectorOpExists:
		return ok
	case v1.NodeSelectorOpDoesNotExist:
		return !ok
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if !ok {
			return false
		}
		n, err := parseInt(v)
		if err != nil {
			return false
		}
		if r.Op == v1.NodeSelectorOpGt {
			return n > r.Number
		}
		return n < r.Number
	}
	return false
}

func parseInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
