// Package busybox builds Skiff's test image from the machine's static busybox (Debian's busybox-static):
// a root filesystem with /bin/busybox, one symlink per applet, /etc/passwd and /etc/group and a
// /var/www/index.html for httpd (Build), the same as a one-layer linux image (Layer, Image), pushed to a
// registry (Push) or written as a `docker save` tarball (WriteTarball). The nodeagent's tests and its
// bench-start command, the e2e suite, `make run` and e2e/cmd/busybox-image use it. It pulls nothing:
// the only input is /bin/busybox.
package busybox

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Source is where Debian's busybox-static installs the binary.
const Source = "/bin/busybox"

// Build writes the root filesystem into dir (created if needed).
func Build(dir string) error {
	out, err := exec.Command(Source, "--list").Output()
	if err != nil {
		return fmt.Errorf("listing busybox applets (is busybox-static installed?): %w", err)
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root", "var/www", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	b, err := os.ReadFile(Source)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), b, 0o755); err != nil {
		return err
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":         "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"etc/group":          "root:x:0:\nnobody:x:65534:\n",
		"var/www/index.html": "hello from skiff busybox\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Layer returns the root filesystem in dir (as Build wrote it) as an image layer tarball.
func Layer(dir string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("packing busybox layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// Image builds a one-layer linux/amd64 busybox image whose default command is cmd (["sh"] when empty).
func Image(cmd ...string) (v1.Image, error) {
	dir, err := os.MkdirTemp("", "busyboxfs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := Build(dir); err != nil {
		return nil, err
	}
	layer, err := Layer(dir)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	if len(cmd) == 0 {
		cmd = []string{"sh"}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Cmd = cmd
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.WorkingDir = "/"
	return mutate.ConfigFile(img, cf)
}

// Push builds the image (default command cmd) and pushes it to ref, over plain HTTP for loopback
// registries.
func Push(ref string, cmd ...string) error {
	img, err := Image(cmd...)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	if err := remote.Write(tag, img); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// WriteTarball writes the image as a `docker save` archive tagged ref.
func WriteTarball(path, ref string, cmd ...string) error {
	img, err := Image(cmd...)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	return tarball.WriteToFile(path, tag, img)
}
