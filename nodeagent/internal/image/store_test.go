package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/skiffhq/skiff/shared/testenv/busybox"
	"github.com/skiffhq/skiff/shared/testenv/registry"
)

func mustImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := busybox.Image("httpd", "-f")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func checkRootfs(t *testing.T, s *Store, img *Image) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	rootfs, err := s.MountRootfs(img, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := UnmountRootfs(dir); err != nil {
			t.Error(err)
		}
	}()
	if _, err := os.Stat(filepath.Join(rootfs, "bin", "busybox")); err != nil {
		t.Fatalf("busybox missing from the mounted rootfs: %v", err)
	}
	// Writes land in the container's upper layer, never in the shared image layer.
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "written"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.LayerDir(img.Layers[0]), "etc", "written")); !os.IsNotExist(err) {
		t.Fatalf("a container write reached the image layer: %v", err)
	}
}

func TestPullFromLocalRegistryStoresLayersOnce(t *testing.T) {
	reg := registry.Start(t)
	ref := reg + "/busybox:1"
	tag, _ := name.NewTag(ref, name.Insecure)
	if err := remote.Write(tag, mustImage(t)); err != nil {
		t.Fatal(err)
	}
	s, err := New(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Names) != 1 || img.Names[0] != ref || len(img.RepoDigests) != 1 || !strings.HasPrefix(img.RepoDigests[0], reg+"/busybox@sha256:") {
		t.Fatalf("pulled image record %+v", img)
	}
	if strings.Join(img.Config.Cmd, " ") != "httpd -f" {
		t.Fatalf("image cmd %v", img.Config.Cmd)
	}
	again, err := s.Pull(context.Background(), reg+"/busybox:1", nil)
	if err != nil || again.ID != img.ID {
		t.Fatalf("second pull: %v %v", again, err)
	}
	got, err := s.Get("127.0.0.1:" + strings.Split(reg, ":")[1] + "/busybox:1")
	if err != nil || got.ID != img.ID {
		t.Fatalf("Get after pull: %v %v", got, err)
	}
	if got, err := s.Get(img.RepoDigests[0]); err != nil || got.ID != img.ID {
		t.Fatalf("Get by digest: %v %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.root, "layers"))
	if len(entries) != 1 {
		t.Fatalf("want the one layer stored once, found %d", len(entries))
	}
	checkRootfs(t, s, img)

	// A reopened store (agent restart) still knows the image.
	reopened, err := New(s.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reopened.Get(ref); err != nil {
		t.Fatal(err)
	}
}

func TestPullErrorsCarryTheRegistryError(t *testing.T) {
	reg := registry.Start(t)
	s, err := New(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Pull(context.Background(), reg+"/nothing:here", nil)
	if err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("want the registry's MANIFEST_UNKNOWN error, got %v", err)
	}
	if _, err := s.Get(reg + "/nothing:here"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a failed pull: %v", err)
	}
}

func TestImportDockerSaveAndOCILayout(t *testing.T) {
	img := mustImage(t)
	dir := t.TempDir()
	tag, _ := name.NewTag("example.com/tools/busybox:v1")
	if err := tarball.WriteToFile(filepath.Join(dir, "busybox.tar"), tag, img); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	other, err := mutate.Config(img, v1.Config{Cmd: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(other, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "example.com/tools/shell:v2"})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	imported, err := s.ImportDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(imported) != 2 {
		t.Fatalf("imported %d images, want 2", len(imported))
	}
	for _, ref := range []string{"example.com/tools/busybox:v1", "example.com/tools/shell:v2"} {
		got, err := s.Get(ref)
		if err != nil {
			t.Fatal(err)
		}
		checkRootfs(t, s, got)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.root, "layers")); len(entries) != 1 {
		t.Fatalf("two images sharing a layer stored %d layers", len(entries))
	}
}

func tarLayer(t *testing.T, entries map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, content := range entries {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(n, "/") {
			typ = tar.TypeDir
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: typ, Mode: 0o755, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(content))
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestWhiteoutsHideLowerFiles(t *testing.T) {
	base := tarLayer(t, map[string]string{"etc/": "", "etc/keep": "k", "etc/gone": "g", "data/": "", "data/old": "o"})
	top := tarLayer(t, map[string]string{"etc/.wh.gone": "", "data/.wh..wh..opq": "", "data/new": "n", "../../escape": "x"})
	img, err := mutate.AppendLayers(empty.Image, base, top)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.store(context.Background(), img, []string{"example.com/w:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "c")
	rootfs, err := s.MountRootfs(rec, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer UnmountRootfs(dir)
	for p, want := range map[string]bool{"etc/keep": true, "etc/gone": false, "data/old": false, "data/new": true, "escape": true} {
		_, err := os.Stat(filepath.Join(rootfs, p))
		if (err == nil) != want {
			t.Errorf("%s: exists=%v, want %v", p, err == nil, want)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.root), "escape")); err == nil {
		t.Error("a ../ entry escaped the layer directory")
	}
}

func TestGCRemovesOnlyUnusedImages(t *testing.T) {
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.store(context.Background(), mustImage(t), []string{"example.com/a:1"}, nil)
	other, _ := mutate.AppendLayers(empty.Image, tarLayer(t, map[string]string{"only-b": "b"}))
	b, _ := s.store(context.Background(), other, []string{"example.com/b:1"}, nil)
	// A 0% high mark means "always over the threshold": everything unused goes.
	removed, err := s.GC(map[string]bool{a.ID: true}, GCPolicy{HighPercent: 0, LowPercent: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != b.ID {
		t.Fatalf("removed %v, want only %s", removed, b.ID)
	}
	if _, err := s.Get("example.com/a:1"); err != nil {
		t.Fatal("the image in use was removed")
	}
	if _, err := os.Stat(s.LayerDir(b.Layers[0])); !os.IsNotExist(err) {
		t.Fatal("the unused image's layer is still on disk")
	}
	// Below the high mark nothing is collected.
	removed, _ = s.GC(map[string]bool{}, GCPolicy{HighPercent: 101, LowPercent: 100})
	if len(removed) != 0 {
		t.Fatalf("collected %v below the threshold", removed)
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\nweb:x:33:44::/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	tests := []struct {
		spec     string
		uid, gid uint32
		err      bool
	}{
		{"", 0, 0, false}, {"web", 33, 44, false}, {"33", 33, 44, false}, {"1000", 1000, 0, false},
		{"web:staff", 33, 50, false}, {"1000:7", 1000, 7, false}, {"ghost", 0, 0, true}, {"web:nogroup", 0, 0, true},
	}
	for _, tt := range tests {
		u, err := ResolveUser(root, tt.spec)
		if (err != nil) != tt.err || (!tt.err && (u.UID != tt.uid || u.GID != tt.gid)) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %d:%d err=%v", tt.spec, u, err, tt.uid, tt.gid, tt.err)
		}
	}
}
