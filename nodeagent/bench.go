package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
	"github.com/skiffhq/skiff/shared/testenv/busybox"
)

// benchStart is "skiff-nodeagent bench-start <dir> <n>": it measures the raw cost of a libcontainer
// create+start of a busybox rootfs (no shim, no image store, no CNI, no API), n times, and prints the
// p50 and p99 in milliseconds as JSON. The e2e benchmark sets the agent's pod start latency against it.
func benchStart(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: skiff-nodeagent bench-start <dir> <n>")
	}
	dir := args[0]
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		return fmt.Errorf("bench-start: n must be a positive integer")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := busybox.Build(rootfs); err != nil {
		return err
	}
	var samples []time.Duration
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bench-%d-%d", os.Getpid(), i)
		spec, err := runtime.BuildSpec(&runtime.ContainerConfig{ID: id, Rootfs: rootfs, ReadOnlyRootfs: true,
			Args: []string{"sleep", "1000"}, Env: []string{"PATH=/bin"}, CgroupsPath: "/skiff-bench/" + id})
		if err != nil {
			return err
		}
		start := time.Now()
		cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: spec})
		if err != nil {
			return err
		}
		c, err := libcontainer.Create(filepath.Join(dir, "state"), id, cfg)
		if err != nil {
			return err
		}
		p := &libcontainer.Process{Args: spec.Process.Args, Env: spec.Process.Env, Cwd: "/", Init: true}
		if err := c.Run(p); err != nil {
			_ = c.Destroy()
			return err
		}
		samples = append(samples, time.Since(start))
		_ = c.Signal(syscall.SIGKILL)
		_, _ = p.Wait()
		_ = c.Destroy()
	}
	_ = runtime.RemoveCgroup("/skiff-bench")
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	pct := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))].Microseconds()) / 1000
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]float64{"p50_ms": pct(0.5), "p99_ms": pct(0.99)})
}
