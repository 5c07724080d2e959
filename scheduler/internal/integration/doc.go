// Package integration holds skiff-scheduler's integration tests and benchmarks against a real
// skiff-apiserver (embedded etcd in a temporary directory, a free loopback port). The tests build the
// apiserver and scheduler binaries, register Node objects themselves (no nodeagent runs) and play the
// part of the nodeagent only where a pod's deletion must be finished (fakeKubelet).
package integration
