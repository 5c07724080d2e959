// Package framework is the scheduling algorithm of skiff-scheduler: the compact view of pods and nodes the
// algorithm works on (PodInfo, NodeInfo, Snapshot), the filters (Kubernetes's predicates) and scores
// (priorities), and Algorithm, which picks a node for one pod using Borg's optimisations: equivalence
// classes, score caching while nodes do not change, and relaxed randomisation.
//
// It works on a Snapshot only and never talks to the apiserver; the scheduler package feeds it and acts on
// its decisions. Preemption's victim selection (preemption.go) lives here too, because it re-runs the
// filters on hypothetical nodes.
package framework
