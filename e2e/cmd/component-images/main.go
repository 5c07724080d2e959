// Command component-images packs each built Skiff binary into its own OCI image, written as a
// `docker save`-style tarball that `docker load`, `podman load`, `ctr image import` or skiff-nodeagent's
// --images-dir all read (`make images` runs it). Each image holds one layer: the binary at
// /usr/local/bin/<name> plus the shared libraries `ldd` says it needs (the nodeagent links libc for
// libcontainer's nsenter), with the binary as the entrypoint.
//
//	component-images --bin bin --out bin/images [--tag v0.1.0] [--repo skiff.local]
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// components maps each image to its binary.
var components = []string{"skiff-apiserver", "skiff-scheduler", "skiff-controller-manager", "skiff-nodeagent", "skiff-netproxy", "skiffctl"}

func main() {
	bin := flag.String("bin", "bin", "directory of the built binaries")
	out := flag.String("out", "bin/images", "directory to write <component>.tar into")
	tag := flag.String("tag", "latest", "image tag")
	repo := flag.String("repo", "skiff.local", "image repository prefix")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "component-images:", err)
		os.Exit(1)
	}
	for _, c := range components {
		ref := fmt.Sprintf("%s/%s:%s", *repo, c, *tag)
		path := filepath.Join(*out, c+".tar")
		if err := build(filepath.Join(*bin, c), ref, path); err != nil {
			fmt.Fprintf(os.Stderr, "component-images: %s: %v\n", c, err)
			os.Exit(1)
		}
		fmt.Printf("%s -> %s\n", ref, path)
	}
}

// build writes the image ref for binary to path.
func build(binary, ref, path string) error {
	files := map[string]string{"/usr/local/bin/" + filepath.Base(binary): binary}
	libs, err := sharedLibraries(binary)
	if err != nil {
		return err
	}
	for _, l := range libs {
		files[l] = l
	}
	layerTar, err := tarFiles(files)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(layerTar))
	if err != nil {
		return fmt.Errorf("making the layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	img, err = mutate.Config(img, v1.Config{
		Entrypoint: []string{"/usr/local/bin/" + filepath.Base(binary)},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
	})
	if err != nil {
		return err
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	tagged, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tagged, img)
}

var lddPath = regexp.MustCompile(`(/[^ ]+) \(0x`)

// sharedLibraries lists the absolute paths of the libraries binary is dynamically linked against
// (none for a static binary).
func sharedLibraries(binary string) ([]string, error) {
	out, err := exec.Command("ldd", binary).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", binary, err, out)
	}
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	return libs, nil
}

// tarFiles returns a tar stream with each source file at its image path (following symlinks).
func tarFiles(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for dst := range files {
		for d := filepath.Dir(dst); d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for dst, src := range files {
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dst, "/"), Mode: int64(st.Mode().Perm()), Size: st.Size(), ModTime: st.ModTime()}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return nil, err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
