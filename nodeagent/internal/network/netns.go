package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespaces are the pinned namespace files of one pod; a path is empty when the pod uses the node's.
type Namespaces struct {
	Net, IPC, UTS string
}

// NamespaceOptions say which namespaces a pod gets of its own.
type NamespaceOptions struct {
	// Hostname is set in the new UTS namespace.
	Hostname                      string
	HostNetwork, HostIPC, HostUTS bool
}

// CreateNamespaces creates the pod's namespaces and pins each as a file in dir (net, ipc, uts).
// Namespaces pinned already (a restarted agent) are reused.
func CreateNamespaces(dir string, o NamespaceOptions) (Namespaces, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Namespaces{}, fmt.Errorf("creating namespace directory: %w", err)
	}
	var ns Namespaces
	flags := 0
	want := map[string]*string{}
	if !o.HostNetwork {
		ns.Net = filepath.Join(dir, "net")
		want["net"] = &ns.Net
	}
	if !o.HostIPC {
		ns.IPC = filepath.Join(dir, "ipc")
		want["ipc"] = &ns.IPC
	}
	if !o.HostUTS {
		ns.UTS = filepath.Join(dir, "uts")
		want["uts"] = &ns.UTS
	}
	todo := map[string]string{}
	for kind, p := range want {
		if isNamespace(*p) {
			continue
		}
		todo[kind] = *p
		switch kind {
		case "net":
			flags |= unix.CLONE_NEWNET
		case "ipc":
			flags |= unix.CLONE_NEWIPC
		case "uts":
			flags |= unix.CLONE_NEWUTS
		}
	}
	if len(todo) == 0 {
		return ns, nil
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: once its namespaces changed, the Go runtime must retire it
		// when this goroutine ends instead of reusing it.
		runtime.LockOSThread()
		if err := unix.Unshare(flags); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if flags&unix.CLONE_NEWUTS != 0 && o.Hostname != "" {
			if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
				errc <- fmt.Errorf("sethostname: %w", err)
				return
			}
		}
		tid := unix.Gettid()
		for kind, p := range todo {
			if err := pin(fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, kind), p); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = RemoveNamespaces(dir)
		return Namespaces{}, fmt.Errorf("creating pod namespaces: %w", err)
	}
	return ns, nil
}

func pin(src, dst string) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	if f != nil {
		f.Close()
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on %s: %w", src, dst, err)
	}
	return nil
}

// isNamespace reports whether p is a pinned namespace (an nsfs mount).
func isNamespace(p string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// RemoveNamespaces unpins every namespace file in dir and removes dir. The namespaces themselves go
// away once no process is left in them.
func RemoveNamespaces(dir string) error {
	var errs []error
	for _, kind := range []string{"net", "ipc", "uts"} {
		p := filepath.Join(dir, kind)
		for isNamespace(p) {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
				break
			}
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
