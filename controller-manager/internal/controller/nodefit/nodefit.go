// Package nodefit answers whether a pod may run on a node by the rules a controller (not the
// scheduler) must apply itself: spec.nodeSelector, required node affinity (matchExpressions on labels,
// matchFields on metadata.name) and taints against tolerations. The DaemonSet controller uses it to
// decide which nodes get a pod; the volume controller uses it for PersistentVolume node affinity.
//
// It is pure functions over API types; it does not look at resources, ports or pod affinity (the
// scheduler's filters).
package nodefit

import (
	"strconv"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// Tolerates reports whether tol tolerates taint, with Kubernetes's rules: an empty effect matches every
// effect, an empty key with Exists matches every taint, Equal (or empty operator) compares values.
func Tolerates(tol *corev1.Toleration, taint *corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != taint.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != taint.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		return tol.Key != "" && tol.Value == taint.Value
	}
	return false
}

// Untolerated returns the first taint with one of effects that no toleration tolerates, or nil.
func Untolerated(tols []corev1.Toleration, taints []corev1.Taint, effects ...corev1.TaintEffect) *corev1.Taint {
	for i := range taints {
		t := &taints[i]
		relevant := false
		for _, e := range effects {
			if t.Effect == e {
				relevant = true
			}
		}
		if !relevant {
			continue
		}
		ok := false
		for j := range tols {
			if Tolerates(&tols[j], t) {
				ok = true
				break
			}
		}
		if !ok {
			return t
		}
	}
	return nil
}

// NodeSelectorMatches reports whether the node's labels carry every pair of a pod's nodeSelector.
func NodeSelectorMatches(node *corev1.Node, sel map[string]string) bool {
	for k, v := range sel {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// NodeSelectorTermsMatch reports whether the node matches a NodeSelector: any term, each term all of
// its requirements. A nil selector matches every node; a selector without terms matches none.
func NodeSelectorTermsMatch(node *corev1.Node, ns *corev1.NodeSelector) bool {
	if ns == nil {
		return true
	}
	for i := range ns.NodeSelectorTerms {
		if termMatches(node, &ns.NodeSelectorTerms[i]) {
			return true
		}
	}
	return false
}

func termMatches(node *corev1.Node, t *corev1.NodeSelectorTerm) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, ok := node.Labels[r.Key]
		if !requirementHolds(r, v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || !requirementHolds(r, node.Name, true) {
			return false
		}
	}
	return true
}

func requirementHolds(r corev1.NodeSelectorRequirement, v string, present bool) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return present && contains(r.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !present || !contains(r.Values, v)
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !present || len(r.Values) != 1 {
			return false
		}
		a, err1 := strconv.ParseInt(v, 10, 64)
		b, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return a > b
		}
		return a < b
	}
	return false
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// RequiredAffinity returns the pod's required node affinity, or nil.
func RequiredAffinity(spec *corev1.PodSpec) *corev1.NodeSelector {
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil {
		return nil
	}
	return spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// PlacementFits reports whether the pod's nodeSelector and required node affinity admit the node.
func PlacementFits(spec *corev1.PodSpec, node *corev1.Node) bool {
	return NodeSelectorMatches(node, spec.NodeSelector) && NodeSelectorTermsMatch(node, RequiredAffinity(spec))
}

// PinnedNode returns the node a pod is bound or pinned to: spec.nodeName, else the single value of a
// required matchFields metadata.name In [node] term (how DaemonSet pods name their node).
func PinnedNode(spec *corev1.PodSpec) string {
	if spec.NodeName != "" {
		return spec.NodeName
	}
	ns := RequiredAffinity(spec)
	if ns == nil {
		return ""
	}
	for _, t := range ns.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}
