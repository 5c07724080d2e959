package cluster

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// links lists the network interfaces of this namespace.
func links() []string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ifaces))
	for _, i := range ifaces {
		out = append(out, i.Name)
	}
	return out
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// deleteNetns removes a network namespace (and with it every interface, route and nftables table in it).
func deleteNetns(name string) error {
	out, err := exec.Command("ip", "netns", "del", name).CombinedOutput()
	if err != nil {
		if _, serr := os.Stat("/run/netns/" + name); os.IsNotExist(serr) {
			return nil
		}
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// cgroupHierarchies are the mount points of every cgroup (v1 and v2) hierarchy.
func cgroupHierarchies() []string {
	var out []string
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+1 < len(f) && (f[i+1] == "cgroup" || f[i+1] == "cgroup2") {
			out = append(out, f[4])
		}
	}
	return out
}

// cgroupPids lists the processes in cgroup path (and below) in every hierarchy.
func cgroupPids(path string) []int {
	seen := map[int]bool{}
	var out []int
	for _, h := range cgroupHierarchies() {
		_ = filepath.Walk(filepath.Join(h, path), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || filepath.Base(p) != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// removeCgroup removes cgroup path and everything below it in every hierarchy, deepest first. The
// processes in it must be gone; a cgroup whose last process is still exiting is retried for a while.
func removeCgroup(path string) error {
	var last error
	deadline := time.Now().Add(10 * time.Second)
	for {
		last = nil
		for _, h := range cgroupHierarchies() {
			var dirs []string
			_ = filepath.Walk(filepath.Join(h, path), func(p string, info os.FileInfo, err error) error {
				if err == nil && info.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
			for _, d := range dirs {
				if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
					last = fmt.Errorf("removing cgroup %s: %w", d, err)
				}
			}
		}
		if last == nil || time.Now().After(deadline) {
			return last
		}
		killAndWait(cgroupPids(path))
		time.Sleep(100 * time.Millisecond)
	}
}

// skiffProcessesIn lists processes of Skiff binaries (skiff-*) whose command line mentions dir: the
// components of a cluster kept in dir and their container shims. This process is never listed.
func skiffProcessesIn(dir string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := bytes.Split(cmdline, []byte{0})
		if !strings.HasPrefix(filepath.Base(string(args[0])), "skiff-") {
			continue
		}
		if bytes.Contains(cmdline, []byte(dir+"/")) || bytes.Contains(cmdline, append([]byte(dir), 0)) {
			if !zombie(pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

func zombie(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(st, ')')
	return i > 0 && len(st) > i+2 && st[i+2] == 'Z'
}

// killAndWait SIGKILLs pids and waits (up to 10s) until they are gone or zombies.
func killAndWait(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) && !zombie(pid) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	var out []string
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			mp := unescapeMount(f[4])
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				out = append(out, mp)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount at or below dir.
func unmountUnder(dir string) error {
	var errs []string
	for range 3 {
		errs = errs[:0]
		ms := mountsUnder(dir)
		if len(ms) == 0 {
			return nil
		}
		for _, m := range ms {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
				errs = append(errs, fmt.Sprintf("unmounting %s: %v", m, err))
			}
		}
	}
	if ms := mountsUnder(dir); len(ms) > 0 {
		return fmt.Errorf("mounts left under %s: %v (%s)", dir, ms, strings.Join(errs, "; "))
	}
	return nil
}

// run runs a command and returns its combined output in the error.
func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
