// Package labels provides label selectors with exactly Kubernetes's semantics: parsing the string form
// ("app=web,env!=prod,tier in (a,b),!canary,k"), matching label sets, String(), and conversion from a
// *metav1.LabelSelector (nil selects nothing, empty selects everything, an unknown operator is an
// error).
//
// It wraps k8s.io/apimachinery/pkg/labels rather than re-implementing it: Selector, Set and
// Requirement are apimachinery's types, so behaviour matches kube-apiserver and kubectl to the byte.
// This package adds the conversions to and from Skiff's metav1.LabelSelector. It does not validate
// selectors inside objects (see shared/validation) and does not handle field selectors (see
// shared/fields).
package labels

import (
	"fmt"

	k8smetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Selector matches label sets; it is apimachinery's labels.Selector.
type Selector = k8slabels.Selector

// Set is a map of labels usable where a selector wants labels; it is apimachinery's labels.Set.
type Set = k8slabels.Set

// Requirement is one term of a selector; it is apimachinery's labels.Requirement.
type Requirement = k8slabels.Requirement

// Parse parses a selector string as kube-apiserver does for ?labelSelector= and kubectl for -l:
// "=", "==", "!=", "in", "notin", "k" (exists), "!k" (does not exist), comma meaning AND. The empty
// string selects everything.
func Parse(s string) (Selector, error) {
	sel, err := k8slabels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parsing label selector %q: %w", s, err)
	}
	return sel, nil
}

// Everything returns a selector that matches every label set.
func Everything() Selector { return k8slabels.Everything() }

// Nothing returns a selector that matches no label set.
func Nothing() Selector { return k8slabels.Nothing() }

// SelectorFromSet returns a selector requiring every key=value of set (empty set: everything).
func SelectorFromSet(set map[string]string) Selector { return k8slabels.SelectorFromSet(set) }

// FromLabelSelector converts an object's label selector (a workload's spec.selector, a pod affinity
// term's labelSelector) to a Selector with Kubernetes's rules: nil selects nothing, an empty selector
// selects everything, matchLabels and matchExpressions are ANDed, and an unknown operator or a bad key
// or value is an error.
func FromLabelSelector(ls *metav1.LabelSelector) (Selector, error) {
	sel, err := k8smetav1.LabelSelectorAsSelector(toK8s(ls))
	if err != nil {
		return nil, fmt.Errorf("converting label selector: %w", err)
	}
	return sel, nil
}

// Matches reports whether ls selects the labels; an invalid selector matches nothing.
func Matches(ls *metav1.LabelSelector, lbls map[string]string) bool {
	sel, err := FromLabelSelector(ls)
	return err == nil && sel.Matches(Set(lbls))
}

// FormatLabelSelector renders ls the way kubectl describe shows it: the string form, or "<none>" for
// a nil or empty selector (apimachinery's metav1.FormatLabelSelector). The Scale subresource's
// status.selector wants the plain String() of FromLabelSelector instead.
func FormatLabelSelector(ls *metav1.LabelSelector) string {
	return k8smetav1.FormatLabelSelector(toK8s(ls))
}

// ParseToLabelSelector parses the string form into a metav1.LabelSelector: equality terms become
// matchLabels, the rest matchExpressions.
func ParseToLabelSelector(s string) (*metav1.LabelSelector, error) {
	k, err := k8smetav1.ParseToLabelSelector(s)
	if err != nil {
		return nil, fmt.Errorf("parsing label selector %q: %w", s, err)
	}
	out := &metav1.LabelSelector{MatchLabels: k.MatchLabels}
	for _, r := range k.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: r.Key, Operator: metav1.LabelSelectorOperator(r.Operator), Values: r.Values,
		})
	}
	return out, nil
}

func toK8s(ls *metav1.LabelSelector) *k8smetav1.LabelSelector {
	if ls == nil {
		return nil
	}
	out := &k8smetav1.LabelSelector{MatchLabels: ls.MatchLabels}
	for _, r := range ls.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, k8smetav1.LabelSelectorRequirement{
			Key: r.Key, Operator: k8smetav1.LabelSelectorOperator(r.Operator), Values: r.Values,
		})
	}
	return out
}
