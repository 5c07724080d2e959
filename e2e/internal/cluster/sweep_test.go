//go:build e2e

package cluster

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// make e2e passes -skiff-bin to every package of the module; this one has no use for it.
var _ = flag.String("skiff-bin", "", "directory of the skiff binaries (unused by this package's tests)")

// TestSweepRemovesACrashedRun leaves behind what a run killed mid-test would (a directory whose owner
// is dead, a bridge, a node namespace with its link, a cgroup, a mount) and checks that the next
// start's sweep removes all of it, while a live run's resources stay.
func TestSweepRemovesACrashedRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (network namespaces, cgroups, mounts)")
	}
	crashed := func() Layout {
		l, err := TestLayout(NewRunID())
		if err != nil {
			t.Fatal(err)
		}
		if err := claim(l); err != nil {
			t.Fatal(err)
		}
		if err := createBridge(l); err != nil {
			t.Fatal(err)
		}
		if _, err := createNodeNetns(l, 1); err != nil {
			t.Fatal(err)
		}
		mnt := filepath.Join(l.NodeDir(1), "mnt")
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
			t.Fatal(err)
		}
		for _, h := range cgroupHierarchies() {
			_ = os.MkdirAll(filepath.Join(h, l.CgroupRoot(1), "pod"), 0o755)
		}
		return l
	}
	dead := crashed()
	live := crashed()
	t.Cleanup(func() { _ = removeLayout(live); _ = os.RemoveAll(live.Dir) })
	t.Cleanup(func() { _ = removeLayout(dead); _ = os.RemoveAll(dead.Dir) })
	// The dead run's owner: a process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	owner := []byte(fmt.Sprintf("%d 1\n", cmd.Process.Pid))
	if err := os.WriteFile(filepath.Join(dead.Dir, ownerFile), owner, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{cfg: Config{Layout: dead}}
	if len(c.Leftovers()) < 4 {
		t.Fatalf("the crashed run shows only %v: the leftover check cannot see what it should", c.Leftovers())
	}
	removed, err := SweepTestRuns()
	if err != nil {
		t.Fatal(err)
	}
	deadID := dead.LinkPrefix[len("ske"):]
	liveID := live.LinkPrefix[len("ske"):]
	if !slices.Contains(removed, deadID) || slices.Contains(removed, liveID) {
		t.Fatalf("sweep removed %v; want %s and not %s", removed, deadID, liveID)
	}
	if left := c.Leftovers(); len(left) > 0 {
		t.Fatalf("left after the sweep: %v", left)
	}
	if _, err := os.Stat(dead.Dir); !os.IsNotExist(err) {
		t.Fatalf("the crashed run's directory is still there: %v", err)
	}
	if left := (&Cluster{cfg: Config{Layout: live}}).Leftovers(); len(left) < 4 {
		t.Fatalf("the live run lost its resources to the sweep: only %v left", left)
	}
}
