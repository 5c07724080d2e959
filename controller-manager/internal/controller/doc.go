// Package controller holds the reconcile shape every Skiff controller shares: a work queue of keys
// drained by a fixed number of workers, each calling the controller's level-based sync(ctx, key); an
// error requeues the key with back-off, success forgets its back-off, and the same key never runs on
// two workers at once. It also owns the controller-manager's reconcile metrics, the typed-client method
// sets controllers depend on (GetClient, StatusClient, PatchClient, OwnerClient) and the one status
// write they share (UpdateStatusIfChanged).
//
// Subpackages provide the pieces workload controllers reuse: expectations, ownership (owner lookup,
// adoption and release), podevents (pod events to owner keys), podcontrol (creating and deleting pods)
// and podstate (pod predicates and ranking).
package controller
