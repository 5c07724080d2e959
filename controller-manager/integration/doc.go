// Package integration tests the controller-manager against a real skiff-apiserver (embedded etcd,
// loopback port, temporary data directory). The tests play the nodeagent: they register Node
// objects, renew node Leases, bind pods and report their status through /status.
package integration
