package runtime

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func nsOf(s *specs.Spec) map[specs.LinuxNamespaceType]string {
	out := map[specs.LinuxNamespaceType]string{}
	for _, n := range s.Linux.Namespaces {
		out[n.Type] = "new"
		if n.Path != "" {
			out[n.Type] = n.Path
		}
	}
	return out
}

func TestBuildSpec(t *testing.T) {
	base := func() *ContainerConfig {
		return &ContainerConfig{ID: "c", Rootfs: "/r", Args: []string{"sh"}, Hostname: "pod"}
	}
	tests := []struct {
		name  string
		edit  func(*ContainerConfig)
		check func(*testing.T, *specs.Spec)
	}{
		{"pod namespaces are joined by path and the hostname is left to the shared UTS namespace", func(c *ContainerConfig) {
			c.NetNamespace, c.IPCNamespace, c.UTSNamespace = "/run/n", "/run/i", "/run/u"
		}, func(t *testing.T, s *specs.Spec) {
			ns := nsOf(s)
			if ns[specs.NetworkNamespace] != "/run/n" || ns[specs.IPCNamespace] != "/run/i" || ns[specs.UTSNamespace] != "/run/u" || ns[specs.PIDNamespace] != "new" {
				t.Fatalf("namespaces %v", ns)
			}
			if s.Hostname != "" {
				t.Fatalf("hostname %q set although UTS is joined", s.Hostname)
			}
		}},
		{"host network, IPC and PID use the node's namespaces", func(c *ContainerConfig) {
			c.HostNetwork, c.HostIPC, c.HostPID, c.HostUTS = true, true, true, true
		}, func(t *testing.T, s *specs.Spec) {
			ns := nsOf(s)
			for _, typ := range []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.PIDNamespace, specs.UTSNamespace} {
				if _, ok := ns[typ]; ok {
					t.Fatalf("%s namespace present for a host pod", typ)
				}
			}
			for _, m := range s.Mounts {
				if m.Destination == "/sys" && m.Type != "bind" {
					t.Fatalf("host-network container mounts a new sysfs: %+v", m)
				}
			}
		}},
		{"a private UTS namespace gets the pod hostname", func(c *ContainerConfig) {}, func(t *testing.T, s *specs.Spec) {
			if s.Hostname != "pod" {
				t.Fatalf("hostname %q", s.Hostname)
			}
		}},
		{"limits become cgroup resources", func(c *ContainerConfig) {
			c.Resources = Resources{CPUShares: 256, CPUQuota: 20000, MemoryLimit: 1 << 20, PidsLimit: 9}
		}, func(t *testing.T, s *specs.Spec) {
			r := s.Linux.Resources
			if *r.CPU.Shares != 256 || *r.CPU.Quota != 20000 || *r.CPU.Period != 100000 || *r.Memory.Limit != 1<<20 || r.Pids.Limit == nil {
				t.Fatalf("resources %+v", r)
			}
		}},
		{"dropping ALL and adding one capability leaves only that one", func(c *ContainerConfig) {
			c.CapDrop, c.CapAdd = []string{"ALL"}, []string{"NET_ADMIN"}
		}, func(t *testing.T, s *specs.Spec) {
			if !slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_NET_ADMIN"}) {
				t.Fatalf("caps %v", s.Process.Capabilities.Bounding)
			}
		}},
		{"a non-root user has no effective capabilities", func(c *ContainerConfig) { c.UID = 1000 }, func(t *testing.T, s *specs.Spec) {
			if len(s.Process.Capabilities.Effective) != 0 || len(s.Process.Capabilities.Bounding) != len(DefaultCapabilities) {
				t.Fatalf("caps %+v", s.Process.Capabilities)
			}
		}},
		{"privileged containers get every device and no masked paths", func(c *ContainerConfig) { c.Privileged = true }, func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.MaskedPaths) != 0 || !s.Linux.Resources.Devices[0].Allow || len(s.Process.Capabilities.Bounding) != len(allCapabilities) {
				t.Fatalf("privileged spec: masked %v devices %+v", s.Linux.MaskedPaths, s.Linux.Resources.Devices)
			}
		}},
		{"read-only bind mounts carry ro", func(c *ContainerConfig) {
			c.Mounts = []Mount{{Source: "/h", Destination: "/etc/hosts", ReadOnly: true}}
		}, func(t *testing.T, s *specs.Spec) {
			m := s.Mounts[len(s.Mounts)-1]
			if m.Destination != "/etc/hosts" || !slices.Contains(m.Options, "ro") {
				t.Fatalf("mount %+v", m)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			s, err := BuildSpec(c)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestBuildSpecRejectsBadConfigs(t *testing.T) {
	for name, c := range map[string]*ContainerConfig{
		"no command":      {ID: "c", Rootfs: "/r"},
		"relative rootfs": {ID: "c", Rootfs: "r", Args: []string{"sh"}},
		"no container id": {Rootfs: "/r", Args: []string{"sh"}},
	} {
		if _, err := BuildSpec(c); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
