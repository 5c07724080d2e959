package framework

import (
	"fmt"
	"slices"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Selector is a compiled label selector (metav1.LabelSelector semantics): every matchLabels pair and every
// expression must hold. The zero Selector with nothing set matches nothing; use everything for "all".
type Selector struct {
	everything bool
	reqs       []requirement
}

type requirement struct {
	key    string
	op     metav1.LabelSelectorOperator
	values []string
}

// SelectEverything matches every label set.
var SelectEverything = Selector{everything: true}

// CompileSelector compiles a LabelSelector: nil selects nothing, an empty one everything, as Kubernetes
// does for pod affinity terms and topology spread constraints.
func CompileSelector(ls *metav1.LabelSelector) (Selector, error) {
	if ls == nil {
		return Selector{}, nil
	}
	if len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0 {
		return SelectEverything, nil
	}
	s := Selector{}
	for k, v := range ls.MatchLabels {
		s.reqs = append(s.reqs, requirement{key: k, op: metav1.LabelSelectorOpIn, values: []string{v}})
	}
	for _, e := range ls.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(e.Values) == 0 {
				return Selector{}, fmt.Errorf("label selector key %q: operator %s needs values", e.Key, e.Operator)
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(e.Values) > 0 {
				return Selector{}, fmt.Errorf("label selector key %q: operator %s takes no values", e.Key, e.Operator)
			}
		default:
			return Selector{}, fmt.Errorf("label selector key %q: unknown operator %q", e.Key, e.Operator)
		}
		s.reqs = append(s.reqs, requirement{key: e.Key, op: e.Operator, values: e.Values})
	}
	// Sorting makes equal selectors compare equal and keeps evaluation order stable.
	slices.SortFunc(s.reqs, func(a, b requirement) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return s, nil
}

// SelectorFromMap matches label sets holding every pair of m (an empty map matches everything).
func SelectorFromMap(m map[string]string) Selector {
	if len(m) == 0 {
		return SelectEverything
	}
	s := Selector{}
	for k, v := range m {
		s.reqs = append(s.reqs, requirement{key: k, op: metav1.LabelSelectorOpIn, values: []string{v}})
	}
	return s
}

// Empty reports whether the selector matches nothing at all (a nil LabelSelector).
func (s Selector) Empty() bool { return !s.everything && len(s.reqs) == 0 }

// Matches reports whether labels satisfy the selector.
func (s Selector) Matches(labels map[string]string) bool {
	if s.everything {
		return true
	}
	if len(s.reqs) == 0 {
		return false
	}
	for _, r := range s.reqs {
		v, ok := labels[r.key]
		switch r.op {
		case metav1.LabelSelectorOpIn:
			if !ok || !slices.Contains(r.values, v) {
				return false
			}
		case metav1.LabelSelectorOpNotIn:
			if ok && slices.Contains(r.values, v) {
				return false
			}
		case metav1.LabelSelectorOpExists:
			if !ok {
				return false
			}
		case metav1.LabelSelectorOpDoesNotExist:
			if ok {
				return false
			}
		}
	}
	return true
}
