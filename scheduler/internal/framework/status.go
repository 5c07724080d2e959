package framework

import (
	"fmt"
	"sort"
	"strings"
)

// Code says how a filter judged a node.
type Code int

// The codes. Unschedulable nodes may become feasible if pods are evicted (preemption tries them);
// UnschedulableAndUnresolvable ones cannot (a label, taint or name mismatch).
const (
	Success Code = iota
	Unschedulable
	UnschedulableAndUnresolvable
	Error
)

// Status is a filter's verdict on one node. A nil *Status is success.
type Status struct {
	Code    Code
	Reasons []string
	Plugin  string
}

// IsSuccess reports whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons, ", ")
}

func newStatus(code Code, plugin string, reasons ...string) *Status {
	return &Status{Code: code, Plugin: plugin, Reasons: reasons}
}

// Diagnosis records why each node was rejected for one pod.
type Diagnosis struct {
	// NodeStatus maps a node name to its rejection.
	NodeStatus map[string]*Status
	// Plugins are the filters that rejected at least one node; the queue uses them to decide which
	// cluster events may make the pod schedulable.
	Plugins map[string]bool
	// PreFilterMsg is set when the pod was rejected before any node was looked at (an invalid spec).
	PreFilterMsg string
	// PostFilterMsg is preemption's explanation when it found nothing to do, without the final period
	// ("preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling").
	PostFilterMsg string
}

func (d *Diagnosis) add(node string, s *Status) {
	if d.NodeStatus == nil {
		d.NodeStatus = map[string]*Status{}
		d.Plugins = map[string]bool{}
	}
	d.NodeStatus[node] = s
	d.Plugins[s.Plugin] = true
}

// FitError is the error of a pod that fits on no node. Its message is in Kubernetes's form:
// "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: ...".
type FitError struct {
	Pod         string
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error renders the Kubernetes-format message.
func (f *FitError) Error() string {
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += " " + f.Diagnosis.PreFilterMsg + "."
	} else if h := reasonHistogram(f.Diagnosis.NodeStatus); h != "" {
		msg += " " + h + "."
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg + "."
	}
	return msg
}

// reasonHistogram renders "N reason" for every distinct reason, sorted as strings, comma-joined.
func reasonHistogram(statuses map[string]*Status) string {
	counts := map[string]int{}
	for _, s := range statuses {
		for _, r := range s.Reasons {
			counts[r]++
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// ErrNoNodesAvailable is returned when the cluster has no nodes at all.
var ErrNoNodesAvailable = fmt.Errorf("no nodes available to schedule pods")
