package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/skiffhq/skiff/nodeagent/internal/logs"
	"github.com/skiffhq/skiff/shared/testenv/busybox"
)

// TestMain lets the test binary serve as the container init and the shim, as the agent binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			libcontainer.Init()
			return
		case ShimArg:
			os.Exit(RunShim(os.Args))
		}
	}
	os.Exit(m.Run())
}

type testEnv struct {
	rt     *Runtime
	root   string
	rootfs string
	cgroup string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("runtime tests run real containers and need root")
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := busybox.Build(rootfs); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(filepath.Join(dir, "containers"), filepath.Join(dir, "state"), self)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{rt: rt, root: dir, rootfs: rootfs, cgroup: fmt.Sprintf("/skiff-test-%d", rand.Int63())}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		list, _ := rt.List()
		for _, s := range list {
			if err := rt.Remove(ctx, s.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := RemoveCgroup(e.cgroup); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return e
}

func (e *testEnv) config(id string, args ...string) *ContainerConfig {
	return &ContainerConfig{
		ID:             id,
		Labels:         map[string]string{"test": id},
		Rootfs:         e.rootfs,
		ReadOnlyRootfs: true,
		Args:           args,
		Env:            []string{"PATH=/bin", "GREETING=hello"},
		Hostname:       "box",
		CgroupsPath:    e.cgroup + "/" + id,
		LogPath:        filepath.Join(e.root, "logs", id+".log"),
	}
}

func waitExited(t *testing.T, rt *Runtime, id string) *State {
	t.Helper()
	select {
	case <-rt.Exited(id):
	case <-time.After(60 * time.Second):
		s, _ := rt.State(id)
		t.Fatalf("waiting for container %s to exit: last state %+v", id, s)
	}
	s, err := rt.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != StatusExited {
		t.Fatalf("container %s: shim exited but state is %s", id, s.Status)
	}
	return s
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	var b bytes.Buffer
	if err := logs.Read(context.Background(), path, logs.ReadOptions{TailLines: -1}, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestContainersRunToCompletion(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name      string
		args      []string
		mem       int64
		wantCode  int
		wantOOM   bool
		wantInLog string
	}{
		{"output and environment reach the log", []string{"sh", "-c", "echo $GREETING from $(hostname); sleep 0.1; echo oops >&2"}, 0, 0, false, "hello from box\noops\n"},
		{"exit code is recorded", []string{"sh", "-c", "exit 3"}, 0, 3, false, ""},
		{"exceeding the memory limit is an OOM kill", []string{"sh", "-c", "echo start; tail /dev/zero"}, 24 << 20, 137, true, "start\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("c%d", i)
			cfg := e.config(id, tt.args...)
			cfg.Resources.MemoryLimit = tt.mem
			if _, err := e.rt.Start(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			s := waitExited(t, e.rt, id)
			if s.Exit.ExitCode != tt.wantCode || s.Exit.OOMKilled != tt.wantOOM {
				t.Fatalf("exit %+v, want code %d oom %v", s.Exit, tt.wantCode, tt.wantOOM)
			}
			if tt.wantInLog != "" {
				if got := readLog(t, cfg.LogPath); got != tt.wantInLog {
					t.Fatalf("log %q, want %q", got, tt.wantInLog)
				}
			}
		})
	}
}

func TestMissingBinaryIsAStartError(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.rt.Start(context.Background(), e.config("nobin", "/no/such/binary"))
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("want a StartError, got %v", err)
	}
	s, err := e.rt.State("nobin")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != StatusExited || s.Exit.Reason != "StartError" || s.Exit.ExitCode != 128 {
		t.Fatalf("state after failed start: %+v %+v", s, s.Exit)
	}
}

func TestKillHonoursTermHandlerThenForces(t *testing.T) {
	e := newTestEnv(t)
	graceful := e.config("graceful", "sh", "-c", `trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.1; done`)
	stubborn := e.config("stubborn", "sleep", "1000")
	for _, c := range []*ContainerConfig{graceful, stubborn} {
		if _, err := e.rt.Start(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	waitLog(t, graceful.LogPath, "ready")
	if err := e.rt.Kill(context.Background(), "graceful", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.rt.State("graceful"); s.Exit == nil || s.Exit.ExitCode != 7 {
		t.Fatalf("graceful container: want exit 7 from its TERM handler, got %+v", s.Exit)
	}
	if !strings.Contains(readLog(t, graceful.LogPath), "got TERM") {
		t.Fatal("TERM handler output missing from the log")
	}
	// sleep as pid 1 has no TERM handler, so the kernel ignores TERM; the runtime must SIGKILL it.
	if err := e.rt.Kill(context.Background(), "stubborn", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.rt.State("stubborn"); s.Exit == nil || s.Exit.Signal != int(syscall.SIGKILL) {
		t.Fatalf("stubborn container: want SIGKILL, got %+v", s.Exit)
	}
}

func TestANewRuntimeAdoptsRunningContainers(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.config("long", "sh", "-c", `trap 'exit 5' TERM; echo ready; while true; do sleep 0.1; done`)
	first, err := e.rt.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitLog(t, cfg.LogPath, "ready")
	self, _ := os.Executable()
	again, err := New(filepath.Join(e.root, "containers"), filepath.Join(e.root, "state"), self)
	if err != nil {
		t.Fatal(err)
	}
	list, err := again.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "long" || list[0].Status != StatusRunning || list[0].Pid != first.Pid || list[0].Labels["test"] != "long" {
		t.Fatalf("adopted list: %+v, want the running container with pid %d", list, first.Pid)
	}
	if err := again.Signal("long", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s := waitExited(t, again, "long")
	if s.Exit.ExitCode != 5 {
		t.Fatalf("exit after adoption: %+v", s.Exit)
	}
}

func TestRemoveLeavesNoCgroupOrState(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.config("gone", "sleep", "1000")
	cfg.Resources = Resources{CPUShares: 512, CPUQuota: 50000, MemoryLimit: 64 << 20, PidsLimit: 50}
	if _, err := e.rt.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ file, want string }{
		{"memory/" + cfg.CgroupsPath + "/memory.limit_in_bytes", "67108864"},
		{"pids/" + cfg.CgroupsPath + "/pids.max", "50"},
		{"cpu/" + cfg.CgroupsPath + "/cpu.cfs_quota_us", "50000"},
		{"cpu/" + cfg.CgroupsPath + "/cpu.shares", "512"},
	} {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", f.file))
		if err != nil {
			t.Skipf("cgroup v1 layout not present (%v); limits are checked on v1 only", err)
		}
		if strings.TrimSpace(string(b)) != f.want {
			t.Fatalf("%s = %q, want %s", f.file, b, f.want)
		}
	}
	if err := e.rt.Remove(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.State("gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("state after remove: %v", err)
	}
	if paths := CgroupDirs(cfg.CgroupsPath); len(paths) != 0 {
		t.Fatalf("cgroup directories left: %v", paths)
	}
	if _, err := os.Stat(filepath.Join(e.root, "state", "gone")); !os.IsNotExist(err) {
		t.Fatalf("libcontainer state left: %v", err)
	}
}

func waitLog(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var b bytes.Buffer
		_ = logs.Read(context.Background(), path, logs.ReadOptions{TailLines: -1}, &b)
		last = b.String()
		if strings.Contains(last, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("waiting for %q in %s: last saw %q", want, path, last)
}
