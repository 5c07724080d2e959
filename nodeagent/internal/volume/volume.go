// Package volume makes a pod's volumes real on the node and turns a container's volumeMounts into bind
// mounts: emptyDir (a directory of the pod, or with medium Memory a size-limited tmpfs), hostPath (with
// the type checks), configMap, secret (on a tmpfs), downwardAPI and projected volumes (written
// atomically through a "..data" symlink swap and refreshed on every pod sync), and
// persistentVolumeClaim bound to a hostPath or local PersistentVolume.
//
// subPath mounts are opened inside the volume with openat2-style resolution
// (filepath-securejoin's pathrs-lite) and bind-mounted from the opened file descriptor to a stable
// place under the pod directory, so a symlink swapped in by a container cannot redirect the mount
// outside the volume (CVE-2017-1002101, CVE-2021-25741).
//
// Layout under the pod directory: volumes/<plugin>/<name> and volume-subpaths/<volume>/<container id>/<n>.
// Cleanup unmounts all of it before the pod directory is removed. It does not do network or block
// storage (nfs, csi, iscsi, ...): those volumes fail to mount with a clear message.
package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
)

// Source is what volumes read from the API.
type Source interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
	IsNotFound(err error) bool
}

// Downward resolves downward API references of the pod being set up.
type Downward interface {
	FieldRef(sel *corev1.ObjectFieldSelector) (string, error)
	ResourceFieldRef(sel *corev1.ResourceFieldSelector) (string, error)
}

// Mounted is a pod volume ready to be bind-mounted into containers.
type Mounted struct {
	Path string
	// ReadOnly volumes (configMap, secret, downwardAPI, projected, read-only claims) are always
	// mounted read-only.
	ReadOnly bool
}

// Error is a volume that could not be set up (reported as FailedMount).
type Error struct {
	Volume string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Manager sets up volumes.
type Manager struct {
	src Source
	// NodeMemory is the tmpfs size of memory-backed emptyDirs without a sizeLimit.
	nodeMemory int64
}

// New returns a volume manager.
func New(src Source, nodeMemory int64) *Manager {
	return &Manager{src: src, nodeMemory: nodeMemory}
}

// Plugin directory names, as the kubelet's.
const (
	pluginEmptyDir  = "kubernetes.io~empty-dir"
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
	pluginDownward  = "kubernetes.io~downward-api"
	pluginProjected = "kubernetes.io~projected"
)

// SetUp makes every volume of the pod ready and returns them by name. It is idempotent and is called
// on every sync: configMap, secret, downwardAPI and projected content is refreshed when it changed.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod, podDir string, dw Downward) (map[string]Mounted, error) {
	out := map[string]Mounted{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		mv, err := m.setUp(ctx, pod, podDir, v, dw)
		if err != nil {
			return nil, &Error{Volume: v.Name, Err: err}
		}
		out[v.Name] = mv
	}
	return out, nil
}

func (m *Manager) setUp(ctx context.Context, pod *corev1.Pod, podDir string, v *corev1.Volume, dw Downward) (Mounted, error) {
	dir := func(plugin string) string { return filepath.Join(podDir, "volumes", plugin, v.Name) }
	switch {
	case v.EmptyDir != nil:
		d := dir(pluginEmptyDir)
		if err := os.MkdirAll(d, 0o777); err != nil {
			return Mounted{}, err
		}
		if err := os.Chmod(d, 0o777); err != nil { // shared by containers running as any user
			return Mounted{}, err
		}
		if v.EmptyDir.Medium == corev1.StorageMedium("Memory") {
			size := m.nodeMemory
			if v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Value() > 0 {
				size = v.EmptyDir.SizeLimit.Value()
			}
			if err := mountTmpfs(d, size, 0o777); err != nil {
				return Mounted{}, err
			}
		}
		return Mounted{Path: d}, nil
	case v.HostPath != nil:
		if err := checkHostPath(v.HostPath); err != nil {
			return Mounted{}, err
		}
		return Mounted{Path: v.HostPath.Path}, nil
	case v.ConfigMap != nil:
		files, err := m.configMapFiles(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, mode(v.ConfigMap.DefaultMode))
		if err != nil {
			return Mounted{}, err
		}
		d := dir(pluginConfigMap)
		_, err = WriteAtomic(d, files)
		return Mounted{Path: d, ReadOnly: true}, err
	case v.Secret != nil:
		files, err := m.secretFiles(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, mode(v.Secret.DefaultMode))
		if err != nil {
			return Mounted{}, err
		}
		d := dir(pluginSecret)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Mounted{}, err
		}
		// Secrets never touch the node's disk.
		if err := mountTmpfs(d, m.nodeMemory, 0o755); err != nil {
			return Mounted{}, err
		}
		_, err = WriteAtomic(d, files)
		return Mounted{Path: d, ReadOnly: true}, err
	case v.DownwardAPI != nil:
		files, err := downwardFiles(v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode), dw)
		if err != nil {
			return Mounted{}, err
		}
		d := dir(pluginDownward)
		_, err = WriteAtomic(d, files)
		return Mounted{Path: d, ReadOnly: true}, err
	case v.Projected != nil:
		files, err := m.projectedFiles(ctx, pod, v.Projected, dw)
		if err != nil {
			return Mounted{}, err
		}
		d := dir(pluginProjected)
		_, err = WriteAtomic(d, files)
		return Mounted{Path: d, ReadOnly: true}, err
	case v.PersistentVolumeClaim != nil:
		path, err := m.claimPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return Mounted{}, err
		}
		return Mounted{Path: path, ReadOnly: v.PersistentVolumeClaim.ReadOnly}, nil
	}
	return Mounted{}, errors.New("volume type not supported on this node (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected, persistentVolumeClaim of hostPath/local volumes)")
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m) & 0o777
}

func itemMode(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & 0o777
}

func optional(b *bool) bool { return b != nil && *b }

// project maps keys to files: every key, or only the listed items (a missing listed key is an error
// unless the source is optional).
func project(kind, name string, data map[string][]byte, items []corev1.KeyToPath, opt bool, def os.FileMode) (map[string]File, error) {
	files := map[string]File{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = File{Data: v, Mode: def}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if opt {
				continue
			}
			return nil, fmt.Errorf("configuration error: key %q not found in %s %q", it.Key, kind, name)
		}
		files[it.Path] = File{Data: v, Mode: itemMode(it.Mode, def)}
	}
	return files, nil
}

func (m *Manager) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode) (map[string]File, error) {
	cm, err := m.src.ConfigMap(ctx, ns, name)
	if err != nil {
		if m.src.IsNotFound(err) {
			if optional(opt) {
				return map[string]File{}, nil
			}
			return nil, fmt.Errorf("configmap %q not found", name)
		}
		return nil, fmt.Errorf("reading configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return project("configmap", name, data, items, optional(opt), def)
}

func (m *Manager) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode) (map[string]File, error) {
	s, err := m.src.Secret(ctx, ns, name)
	if err != nil {
		if m.src.IsNotFound(err) {
			if optional(opt) {
				return map[string]File{}, nil
			}
			return nil, fmt.Errorf("secret %q not found", name)
		}
		return nil, fmt.Errorf("reading secret %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return project("secret", name, data, items, optional(opt), def)
}

func downwardFiles(items []corev1.DownwardAPIVolumeFile, def os.FileMode, dw Downward) (map[string]File, error) {
	files := map[string]File{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = dw.FieldRef(it.FieldRef)
		case it.ResourceFieldRef != nil:
			v, err = dw.ResourceFieldRef(it.ResourceFieldRef)
		default:
			err = fmt.Errorf("item %q has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return nil, err
		}
		files[it.Path] = File{Data: []byte(v), Mode: itemMode(it.Mode, def)}
	}
	return files, nil
}

func (m *Manager) projectedFiles(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource, dw Downward) (map[string]File, error) {
	def := mode(p.DefaultMode)
	files := map[string]File{}
	add := func(fs map[string]File, err error) error {
		if err != nil {
			return err
		}
		for k, v := range fs {
			files[k] = v
		}
		return nil
	}
	for _, s := range p.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			err = add(m.configMapFiles(ctx, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, def))
		case s.Secret != nil:
			err = add(m.secretFiles(ctx, pod.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional, def))
		case s.DownwardAPI != nil:
			err = add(downwardFiles(s.DownwardAPI.Items, def, dw))
		case s.ServiceAccountToken != nil:
			err = errors.New("serviceAccountToken projections are not supported yet")
		default:
			err = errors.New("projected source type not supported")
		}
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// claimPath finds the node directory of a bound claim's PersistentVolume.
func (m *Manager) claimPath(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := m.src.PersistentVolumeClaim(ctx, ns, claim)
	if err != nil {
		if m.src.IsNotFound(err) {
			return "", fmt.Errorf("persistentvolumeclaim %q not found", claim)
		}
		return "", fmt.Errorf("reading persistentvolumeclaim %q: %w", claim, err)
	}
	if pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := m.src.PersistentVolume(ctx, pvc.Spec.VolumeName)
	if err != nil {
		return "", fmt.Errorf("reading persistentvolume %q of claim %q: %w", pvc.Spec.VolumeName, claim, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		hp := *pv.Spec.HostPath
		if hp.Type == nil {
			t := corev1.HostPathType("DirectoryOrCreate")
			hp.Type = &t
		}
		if err := checkHostPath(&hp); err != nil {
			return "", fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
		}
		return hp.Path, nil
	case pv.Spec.Local != nil:
		st, err := os.Stat(pv.Spec.Local.Path)
		if err != nil || !st.IsDir() {
			return "", fmt.Errorf("persistentvolume %q: local path %q is not a directory on this node", pv.Name, pv.Spec.Local.Path)
		}
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q is neither hostPath nor local, which this node cannot mount", pv.Name)
}

// checkHostPath applies the hostPath type's checks (and creations).
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	if !filepath.IsAbs(hp.Path) {
		return fmt.Errorf("hostPath %q is not an absolute path", hp.Path)
	}
	t := ""
	if hp.Type != nil {
		t = string(*hp.Type)
	}
	st, err := os.Stat(hp.Path)
	exists := err == nil
	is := func(want os.FileMode, name string) error {
		if !exists {
			return fmt.Errorf("hostPath type check failed: %s is not a %s", hp.Path, name)
		}
		if st.Mode().Type() != want {
			return fmt.Errorf("hostPath type check failed: %s is not a %s", hp.Path, name)
		}
		return nil
	}
	switch t {
	case "":
		return nil
	case "DirectoryOrCreate":
		if !exists {
			return os.MkdirAll(hp.Path, 0o755)
		}
		return is(os.ModeDir, "directory")
	case "Directory":
		return is(os.ModeDir, "directory")
	case "FileOrCreate":
		if !exists {
			if _, err := os.Stat(filepath.Dir(hp.Path)); err != nil {
				return fmt.Errorf("hostPath type check failed: the parent directory of %s does not exist", hp.Path)
			}
			f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return is(0, "file")
	case "File":
		return is(0, "file")
	case "Socket":
		return is(os.ModeSocket, "socket")
	case "CharDevice":
		return is(os.ModeDevice|os.ModeCharDevice, "character device")
	case "BlockDevice":
		return is(os.ModeDevice, "block device")
	}
	return fmt.Errorf("unknown hostPath type %q", t)
}

func mountTmpfs(dir string, size int64, perm os.FileMode) error {
	if mounted, err := mountinfo.Mounted(dir); err == nil && mounted {
		return nil
	}
	opts := fmt.Sprintf("mode=%o", perm)
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", dir, err)
	}
	return nil
}

// ContainerMounts turns a container's volumeMounts into the runtime's bind mounts. A subPath is
// opened safely inside its volume (created as a directory when missing) and bind-mounted from the
// opened descriptor under volume-subpaths/<volume>/<containerID>/<index>.
func ContainerMounts(c *corev1.Container, vols map[string]Mounted, podDir, containerID string) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for i, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no volume of that name in the pod", vm.Name)
		}
		src := v.Path
		if vm.SubPath != "" {
			target := filepath.Join(podDir, "volume-subpaths", vm.Name, containerID, strconv.Itoa(i))
			if err := bindSubPath(v.Path, vm.SubPath, target); err != nil {
				return nil, fmt.Errorf("volumeMount %q subPath %q: %w", vm.Name, vm.SubPath, err)
			}
			src = target
		}
		out = append(out, runtime.Mount{Source: src, Destination: vm.MountPath, ReadOnly: vm.ReadOnly || v.ReadOnly})
	}
	return out, nil
}

func bindSubPath(root, sub, target string) error {
	if err := checkPath(filepath.Clean(sub)); err != nil {
		return err
	}
	if mounted, err := mountinfo.Mounted(target); err == nil && mounted {
		return nil
	}
	f, err := pathrs.OpenInRoot(root, sub)
	if errors.Is(err, os.ErrNotExist) {
		rf, rerr := os.Open(root)
		if rerr != nil {
			return rerr
		}
		f, err = pathrs.MkdirAllHandle(rf, sub, 0o755)
		rf.Close()
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
	} else if tf, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644); err != nil {
		return err
	} else {
		tf.Close()
	}
	// The descriptor, not the path: what was opened inside the volume is what gets mounted.
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting the subPath: %w", err)
	}
	return nil
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if m.Mountpoint != dir {
			out = append(out, m.Mountpoint)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out, nil
}

func unmountAll(dir string) error {
	ms, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// CleanupContainer unmounts and removes the subPath mounts of one container.
func CleanupContainer(podDir, containerID string) error {
	base := filepath.Join(podDir, "volume-subpaths")
	vols, _ := os.ReadDir(base)
	var errs []error
	for _, v := range vols {
		d := filepath.Join(base, v.Name(), containerID)
		if err := unmountAll(d); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Cleanup unmounts every volume mount of the pod (tmpfs, subPath binds); the pod directory can then be
// removed without reaching into a volume's content. It fails if anything stays mounted.
func Cleanup(podDir string) error {
	var errs []error
	for _, d := range []string{filepath.Join(podDir, "volume-subpaths"), filepath.Join(podDir, "volumes")} {
		if err := unmountAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	left, err := mountsUnder(filepath.Join(podDir, "volume-subpaths"))
	if err == nil && len(left) == 0 {
		left, err = mountsUnder(filepath.Join(podDir, "volumes"))
	}
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("still mounted: %v", left)
	}
	return nil
}
