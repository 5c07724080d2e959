// Package runtime runs containers with libcontainer (runc's Go library, no runc binary): it turns a
// ContainerConfig into an OCI runtime spec, starts each container under its own small shim process (the
// agent binary re-executed as "shim"), signals, inspects and removes containers, and lists what exists
// on the node so that a restarted agent adopts it.
//
// The shim, not the agent, is the parent of the container's init: it is a child subreaper, copies the
// container's stdout and stderr into a size-rotated CRI log file, waits for the exit and records the exit
// code, the signal and whether the cgroup saw an OOM kill in exit.json next to the bundle. The agent can
// therefore be killed at any moment without touching a container, and exit codes survive agent restarts.
//
// Layout under Root: <id>/config.json (the OCI spec), <id>/meta.json (who the container belongs to),
// <id>/shim.json (shim pid and start time), <id>/exit.json (written once the container exited) and
// <id>/shim.log; libcontainer's own state lives under StateRoot/<id>.
//
// It does not pull images, mount root filesystems or set up networks: callers pass a ready rootfs and
// namespace paths.
package runtime
