package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func TestWriteAtomicLayoutAndUpdate(t *testing.T) {
	dir := t.TempDir()
	changed, err := WriteAtomic(dir, map[string]File{"color": {Data: []byte("blue"), Mode: 0o644}, "nested/size": {Data: []byte("L"), Mode: 0o600}})
	if err != nil || !changed {
		t.Fatalf("first write: %v %v", changed, err)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "color")); target != "..data/color" {
		t.Fatalf("color links to %q, want ..data/color", target)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "nested", "size")); string(b) != "L" {
		t.Fatalf("nested/size %q", b)
	}
	if st, _ := os.Stat(filepath.Join(dir, "nested", "size")); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	first, _ := os.Readlink(filepath.Join(dir, dataLink))
	if changed, err := WriteAtomic(dir, map[string]File{"color": {Data: []byte("blue"), Mode: 0o644}, "nested/size": {Data: []byte("L"), Mode: 0o600}}); err != nil || changed {
		t.Fatalf("same content again: changed %v %v", changed, err)
	}
	if changed, err := WriteAtomic(dir, map[string]File{"color": {Data: []byte("red"), Mode: 0o644}}); err != nil || !changed {
		t.Fatalf("update: %v %v", changed, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "color")); string(b) != "red" {
		t.Fatalf("color after update %q", b)
	}
	second, _ := os.Readlink(filepath.Join(dir, dataLink))
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	want := []string{dataLink, second, "color"}
	sort.Strings(want)
	if second == first || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after update the directory holds %v, want %v (old version and removed keys gone)", got, want)
	}
	if _, err := WriteAtomic(dir, map[string]File{"../escape": {Data: []byte("x"), Mode: 0o644}}); err == nil {
		t.Fatal("a path leaving the volume was accepted")
	}
}

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	typ := func(s string) *corev1.HostPathType { t := corev1.HostPathType(s); return &t }
	tests := []struct {
		name    string
		path    string
		typ     *corev1.HostPathType
		wantErr bool
	}{
		{"no type checks nothing", filepath.Join(dir, "missing"), nil, false},
		{"DirectoryOrCreate creates the directory", filepath.Join(dir, "made", "deep"), typ("DirectoryOrCreate"), false},
		{"Directory must exist", filepath.Join(dir, "absent"), typ("Directory"), true},
		{"Directory refuses a file", file, typ("Directory"), true},
		{"File accepts a file", file, typ("File"), false},
		{"FileOrCreate creates the file", filepath.Join(dir, "new-file"), typ("FileOrCreate"), false},
		{"FileOrCreate needs the parent", filepath.Join(dir, "no-parent", "f"), typ("FileOrCreate"), true},
		{"Socket refuses a file", file, typ("Socket"), true},
		{"a relative path is refused", "relative", typ("DirectoryOrCreate"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHostPath(&corev1.HostPathVolumeSource{Path: tt.path, Type: tt.typ})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
		})
	}
	if st, err := os.Stat(filepath.Join(dir, "made", "deep")); err != nil || !st.IsDir() {
		t.Fatal("DirectoryOrCreate did not create the directory")
	}
}

// apiObjects serves ConfigMaps, Secrets, claims and volumes from maps: the API objects a test made.
type apiObjects struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
	pvcs    map[string]*corev1.PersistentVolumeClaim
	pvs     map[string]*corev1.PersistentVolume
}

var errNotFound = errors.New("not found")

func get[T any](m map[string]*T, name string) (*T, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	return nil, errNotFound
}

func (a apiObjects) ConfigMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	return get(a.cms, name)
}
func (a apiObjects) Secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	return get(a.secrets, name)
}
func (a apiObjects) PersistentVolumeClaim(_ context.Context, _, name string) (*corev1.PersistentVolumeClaim, error) {
	return get(a.pvcs, name)
}
func (a apiObjects) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	return get(a.pvs, name)
}
func (a apiObjects) IsNotFound(err error) bool { return errors.Is(err, errNotFound) }

type fields struct{ pod *corev1.Pod }

func (f fields) FieldRef(sel *corev1.ObjectFieldSelector) (string, error) {
	if sel.FieldPath == "metadata.name" {
		return f.pod.Name, nil
	}
	return "", errors.New("unsupported")
}
func (f fields) ResourceFieldRef(*corev1.ResourceFieldSelector) (string, error) { return "1", nil }

func TestSetUpAndCleanup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("volume tests mount tmpfs and need root")
	}
	podDir := t.TempDir()
	pvDir := filepath.Join(t.TempDir(), "pv")
	mode := int32(0o400)
	api := apiObjects{
		cms:     map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"a": "1", "b": "2"}}},
		secrets: map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"token": []byte("s3cr3t")}}},
		pvcs:    map[string]*corev1.PersistentVolumeClaim{"claim": {Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}}, "pending": {}},
		pvs:     map[string]*corev1.PersistentVolume{"pv1": {Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: pvDir}}}}},
	}
	limit := resource.MustParse("8Mi")
	opt := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Memory", SizeLimit: &limit}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items: []corev1.KeyToPath{{Key: "a", Path: "dir/a.txt", Mode: &mode}}}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		{Name: "maybe", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: &opt}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim"}}},
	}}}
	m := New(api, 64<<20)
	vols, err := m.SetUp(context.Background(), pod, podDir, fields{pod})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Cleanup(podDir) })
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	if got := read(filepath.Join(vols["config"].Path, "dir", "a.txt")); got != "1" || !vols["config"].ReadOnly {
		t.Fatalf("configMap item %q readOnly %v", got, vols["config"].ReadOnly)
	}
	if _, err := os.Stat(filepath.Join(vols["config"].Path, "b")); err == nil {
		t.Fatal("a key not in items was projected")
	}
	if got := read(filepath.Join(vols["secret"].Path, "token")); got != "s3cr3t" {
		t.Fatalf("secret %q", got)
	}
	if got := read(filepath.Join(vols["info"].Path, "name")); got != "p" {
		t.Fatalf("downward name %q", got)
	}
	if vols["data"].Path != pvDir {
		t.Fatalf("claim path %q, want the PV's %q", vols["data"].Path, pvDir)
	}
	for _, name := range []string{"mem", "secret"} {
		if mounted, _ := mountinfo.Mounted(vols[name].Path); !mounted {
			t.Fatalf("volume %s is not a tmpfs mount", name)
		}
	}
	if mounted, _ := mountinfo.Mounted(vols["scratch"].Path); mounted {
		t.Fatal("a disk emptyDir is a mount")
	}

	api.cms["cfg"] = &corev1.ConfigMap{Data: map[string]string{"a": "changed"}}
	if _, err := m.SetUp(context.Background(), pod, podDir, fields{pod}); err != nil {
		t.Fatal(err)
	}
	if got := read(filepath.Join(vols["config"].Path, "dir", "a.txt")); got != "changed" {
		t.Fatalf("configMap after update %q", got)
	}

	pending := *pod
	pending.Spec.Volumes = []corev1.Volume{{Name: "wait", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pending"}}}}
	var ve *Error
	if _, err := m.SetUp(context.Background(), &pending, podDir, fields{pod}); !errors.As(err, &ve) || !strings.Contains(err.Error(), "not bound") {
		t.Fatalf("unbound claim: %v", err)
	}

	// subPath: a symlink planted in the volume cannot send the mount outside it.
	if err := os.Symlink("/", filepath.Join(vols["scratch"].Path, "escape")); err != nil {
		t.Fatal(err)
	}
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "scratch", MountPath: "/logs", SubPath: "app/logs"},
		{Name: "scratch", MountPath: "/etc-host", SubPath: "escape/etc"},
		{Name: "config", MountPath: "/cfg"},
	}}
	mounts, err := ContainerMounts(c, vols, podDir, "ctr1")
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 3 || !mounts[2].ReadOnly || mounts[0].ReadOnly {
		t.Fatalf("mounts %+v", mounts)
	}
	if st, err := os.Stat(filepath.Join(vols["scratch"].Path, "app", "logs")); err != nil || !st.IsDir() {
		t.Fatal("a missing subPath was not created as a directory")
	}
	if _, err := os.Stat(filepath.Join(mounts[1].Source, "passwd")); err == nil {
		t.Fatal("the subPath through a symlink reached the node's /etc")
	}
	if err := os.WriteFile(filepath.Join(mounts[0].Source, "x.log"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := read(filepath.Join(vols["scratch"].Path, "app", "logs", "x.log")); got != "hi" {
		t.Fatalf("write through the subPath mount not seen in the volume: %q", got)
	}
	if err := CleanupContainer(podDir, "ctr1"); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(podDir); err != nil {
		t.Fatal(err)
	}
	if left, _ := mountsUnder(podDir); len(left) > 0 {
		t.Fatalf("mounts left under the pod directory: %v", left)
	}
	if got := read(filepath.Join(vols["scratch"].Path, "app", "logs", "x.log")); got != "hi" {
		t.Fatal("cleanup removed volume content")
	}
}
