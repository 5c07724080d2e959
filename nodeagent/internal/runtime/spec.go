package runtime

import (
	"fmt"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ContainerConfig is everything the runtime needs to start one container. Paths are absolute.
type ContainerConfig struct {
	// ID is unique on the node: letters, digits, '_', '+', '-', '.'.
	ID string
	// Labels say which pod and container this is; they are stored with the container and returned by List.
	Labels map[string]string
	// Rootfs is the mounted root filesystem.
	Rootfs string
	// ReadOnlyRootfs mounts the rootfs read-only.
	ReadOnlyRootfs bool
	// Args is the command and its arguments; Env the environment ("K=V").
	Args []string
	Env  []string
	// Cwd is the working directory ("/" when empty).
	Cwd string
	// UID, GID and AdditionalGIDs are the process identity.
	UID, GID       uint32
	AdditionalGIDs []uint32
	// Hostname is set when the container gets a UTS namespace of its own (UTSNamespace empty and
	// HostUTS false).
	Hostname string
	// NetNamespace, IPCNamespace, UTSNamespace and PIDNamespace are paths of namespaces to join; empty
	// means a new namespace unless the matching Host* flag asks for the node's.
	NetNamespace, IPCNamespace, UTSNamespace, PIDNamespace string
	HostNetwork, HostIPC, HostUTS, HostPID                 bool
	// Mounts are bind mounts added to the default /proc, /dev, /sys set.
	Mounts []Mount
	// Resources are the cgroup limits.
	Resources Resources
	// CgroupsPath is the container's cgroup, e.g. "/skiff/burstable/pod<uid>/<id>".
	CgroupsPath string
	// OOMScoreAdj is written to the init process's oom_score_adj.
	OOMScoreAdj int
	// Privileged gives all capabilities and devices (securityContext.privileged).
	Privileged bool
	// NoNewPrivileges sets the no_new_privs bit (allowPrivilegeEscalation: false).
	NoNewPrivileges bool
	// CapAdd and CapDrop adjust the default capability set ("NET_ADMIN" or "CAP_NET_ADMIN"; "ALL").
	CapAdd, CapDrop []string
	// LogPath is the CRI log file the shim writes; LogMaxSize and LogMaxFiles control rotation.
	LogPath     string
	LogMaxSize  int64
	LogMaxFiles int
}

// Mount is a bind mount into the container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// Resources are cgroup limits; zero values mean unlimited (CPUShares zero means the kernel default).
type Resources struct {
	CPUShares   uint64
	CPUQuota    int64
	CPUPeriod   uint64
	MemoryLimit int64
	PidsLimit   int64
}

// DefaultCapabilities is the capability set of an unprivileged container, the same 14 as containerd's.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
	"CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCapabilities is the set given to privileged containers.
var allCapabilities = []string{
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE",
	"CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_NICE",
	"CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_SYSLOG", "CAP_WAKE_ALARM",
}

func capName(c string) string {
	if len(c) > 4 && c[:4] == "CAP_" {
		return c
	}
	return "CAP_" + c
}

// capabilities applies add and drop lists to the default set, as Kubernetes does: drop first ("ALL"
// drops everything), then add ("ALL" adds everything).
func capabilities(add, drop []string, privileged bool) []string {
	if privileged {
		return append([]string(nil), allCapabilities...)
	}
	set := map[string]bool{}
	for _, c := range DefaultCapabilities {
		set[c] = true
	}
	for _, c := range drop {
		if c == "ALL" {
			set = map[string]bool{}
			continue
		}
		delete(set, capName(c))
	}
	for _, c := range add {
		if c == "ALL" {
			for _, a := range allCapabilities {
				set[a] = true
			}
			continue
		}
		set[capName(c)] = true
	}
	// Keep a stable order: the known lists first, then anything else.
	var out []string
	seen := map[string]bool{}
	for _, c := range allCapabilities {
		if set[c] {
			out = append(out, c)
			seen[c] = true
		}
	}
	for c := range set {
		if !seen[c] {
			out = append(out, c)
		}
	}
	return out
}

// BuildSpec turns a ContainerConfig into the OCI runtime spec the shim hands to libcontainer.
func BuildSpec(c *ContainerConfig) (*specs.Spec, error) {
	if c.ID == "" {
		return nil, fmt.Errorf("container config: id is required")
	}
	if len(c.Args) == 0 {
		return nil, fmt.Errorf("container %s: no command to run (the image has no entrypoint or cmd and the pod gives no command)", c.ID)
	}
	if !filepath.IsAbs(c.Rootfs) {
		return nil, fmt.Errorf("container %s: rootfs %q is not an absolute path", c.ID, c.Rootfs)
	}
	spec := specconv.Example()
	spec.Root = &specs.Root{Path: c.Rootfs, Readonly: c.ReadOnlyRootfs}
	spec.Hostname = ""
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}
	caps := capabilities(c.CapAdd, c.CapDrop, c.Privileged)
	spec.Process = &specs.Process{
		Args: c.Args,
		Env:  c.Env,
		Cwd:  cwd,
		User: specs.User{UID: c.UID, GID: c.GID, AdditionalGids: c.AdditionalGIDs},
		Capabilities: &specs.LinuxCapabilities{
			Bounding: caps, Effective: caps, Permitted: caps,
		},
		NoNewPrivileges: c.NoNewPrivileges,
		OOMScoreAdj:     &c.OOMScoreAdj,
	}
	if c.UID != 0 {
		// A non-root user gets no effective capabilities, as with any other runtime.
		spec.Process.Capabilities.Effective = nil
	}

	var ns []specs.LinuxNamespace
	ns = append(ns, specs.LinuxNamespace{Type: specs.MountNamespace})
	addNS := func(t specs.LinuxNamespaceType, path string, host bool) {
		if host {
			return
		}
		ns = append(ns, specs.LinuxNamespace{Type: t, Path: path})
	}
	addNS(specs.NetworkNamespace, c.NetNamespace, c.HostNetwork)
	addNS(specs.IPCNamespace, c.IPCNamespace, c.HostIPC)
	addNS(specs.UTSNamespace, c.UTSNamespace, c.HostUTS)
	addNS(specs.PIDNamespace, c.PIDNamespace, c.HostPID)
	if !c.HostUTS && c.UTSNamespace == "" {
		spec.Hostname = c.Hostname
	}
	for _, n := range spec.Linux.Namespaces {
		if n.Type == specs.CgroupNamespace {
			ns = append(ns, n)
		}
	}
	spec.Linux.Namespaces = ns

	if c.HostNetwork {
		// sysfs can only be mounted by the owner of the network namespace; bind the node's instead.
		for i := range spec.Mounts {
			if spec.Mounts[i].Destination == "/sys" {
				spec.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys",
					Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			}
		}
	}
	for _, m := range c.Mounts {
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}
	if c.Privileged {
		spec.Linux.MaskedPaths = nil
		spec.Linux.ReadonlyPaths = nil
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}

	r := c.Resources
	cpu := &specs.LinuxCPU{}
	if r.CPUShares > 0 {
		cpu.Shares = &r.CPUShares
	}
	if r.CPUQuota > 0 {
		cpu.Quota = &r.CPUQuota
		period := r.CPUPeriod
		if period == 0 {
			period = 100000
		}
		cpu.Period = &period
	}
	spec.Linux.Resources.CPU = cpu
	if r.MemoryLimit > 0 {
		spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &r.MemoryLimit}
	}
	if r.PidsLimit > 0 {
		spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &r.PidsLimit}
	}
	spec.Linux.CgroupsPath = c.CgroupsPath
	return spec, nil
}
