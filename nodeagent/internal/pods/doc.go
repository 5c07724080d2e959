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
// It also runs the pod features built on that loop: volumes (package volume; set up and refreshed on
// every sync, a failure is a FailedMount event), probes (a worker per probe and running container;
// startup gates liveness and readiness, readiness drives Ready and ContainersReady, a failed liveness
// or startup probe stops the container and the restart policy and back-off take over), lifecycle
// hooks (postStart right after the start, a failure kills the container; preStop inside the grace
// period before SIGTERM), exec for the agent API, static pods from the manifest folder with their
// mirror pods in the API, and events for what happens to each pod.
package pods
