// Package deployment is the Deployment controller: it keeps one ReplicaSet per distinct pod template
// (named <deployment>-<pod-template-hash>), moves replicas from the old sets to the new one following
// the RollingUpdate (maxSurge/maxUnavailable) or Recreate strategy, keeps revision history and
// reports rollout progress in the status and conditions that kubectl rollout status reads.
//
// It never creates or deletes pods itself: the ReplicaSet controller does that.
package deployment
