// Package selector turns a metav1.LabelSelector into a matcher, with Kubernetes's semantics: a nil
// selector matches nothing, an empty one matches everything, every matchLabels pair and every
// expression must hold.
package selector

import (
	"fmt"
	"sort"
	"strings"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Matcher reports whether a label set is selected.
type Matcher func(labels map[string]string) bool

// Nothing selects no object.
func Nothing(map[string]string) bool { return false }

// FromLabelSelector compiles s; an unknown operator is an error.
func FromLabelSelector(s *metav1.LabelSelector) (Matcher, error) {
	if s == nil {
		return Nothing, nil
	}
	for _, e := range s.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(e.Values) == 0 {
				return nil, fmt.Errorf("selector key %q: operator %s needs values", e.Key, e.Operator)
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
		default:
			return nil, fmt.Errorf("selector key %q: unknown operator %q", e.Key, e.Operator)
		}
	}
	ml := s.MatchLabels
	exprs := s.MatchExpressions
	return func(l map[string]string) bool {
		for k, v := range ml {
			if got, ok := l[k]; !ok || got != v {
				return false
			}
		}
		for _, e := range exprs {
			v, ok := l[e.Key]
			switch e.Operator {
			case metav1.LabelSelectorOpIn:
				if !ok || !contains(e.Values, v) {
					return false
				}
			case metav1.LabelSelectorOpNotIn:
				if ok && contains(e.Values, v) {
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
	}, nil
}

// FromMap matches labels that carry every pair of m (a Service selector). An empty map matches
// nothing, as a Service without a selector selects no pods.
func FromMap(m map[string]string) Matcher {
	if len(m) == 0 {
		return Nothing
	}
	return func(l map[string]string) bool {
		for k, v := range m {
			if got, ok := l[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
}

// String renders the selector in the query syntax ("a=b,c in (d,e)").
func String(s *metav1.LabelSelector) string {
	if s == nil {
		return ""
	}
	var parts []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, e := range s.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			parts = append(parts, e.Key+" in ("+strings.Join(e.Values, ",")+")")
		case metav1.LabelSelectorOpNotIn:
			parts = append(parts, e.Key+" notin ("+strings.Join(e.Values, ",")+")")
		case metav1.LabelSelectorOpExists:
			parts = append(parts, e.Key)
		case metav1.LabelSelectorOpDoesNotExist:
			parts = append(parts, "!"+e.Key)
		}
	}
	return strings.Join(parts, ",")
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}
