package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// cgroupMounts returns the mount points of every cgroup hierarchy (v1 controllers and the v2 tree).
func cgroupMounts() []string {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (bool, bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range mounts {
		out = append(out, m.Mountpoint)
	}
	return out
}

// CgroupDirs lists the directories of the cgroup path (e.g. "/skiff/burstable/pod1") that exist in any
// hierarchy.
func CgroupDirs(path string) []string {
	var out []string
	for _, m := range cgroupMounts() {
		d := filepath.Join(m, path)
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// RemoveCgroup removes the cgroup path and everything below it from every hierarchy, deepest first.
// The cgroups must hold no processes.
func RemoveCgroup(path string) error {
	if path == "" || path == "/" {
		return fmt.Errorf("refusing to remove cgroup %q", path)
	}
	var errs []error
	for _, d := range CgroupDirs(path) {
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err == nil && de.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
		for _, p := range dirs {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}
