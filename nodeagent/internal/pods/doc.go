// Package pods is the node agent's sync loop: it watches the pods bound to this node (an informer with
// spec.nodeName=<node>) and makes each one real, level-based, one pod at a time per worker: the sandbox
// (namespaces, CNI, /etc/hosts, resolv.conf), image pulls by imagePullPolicy, init containers in order,
// app containers with the restart policy and the exponential back-off (CrashLoopBackOff), env resolved
// from the API (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef, envFrom), cgroup limits and
// the QoS class, and pods/status with phase, conditions and container statuses. Deleted pods are
// stopped within their grace period, torn down without leaks, and then removed from the API.
//
// Every decision that must survive an agent restart (the attempt number and so the restart count, the
// back-off, the pod IP, the grace of a termination in flight) is kept in a JSON record per pod under
// the agent's root; running containers are found again from the runtime, so a restarted agent adopts
// them and starts no duplicates.
//
// It does not run probes, volumes or lifecycle hooks yet; the places they plug in are startContainer
// (mounts, postStart), podReady (probes) and terminate (preStop).
package pods
