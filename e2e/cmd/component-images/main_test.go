//go:build !e2e

// The e2e suite passes -skiff-bin to every package it tests; this package runs in the unit tests instead.

package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestBuildRunsInAChroot packs a dynamically linked program (/usr/bin/env) the way `make images` packs
// the components, then runs it from the unpacked layer in a chroot: the layer must carry the binary
// and every library it needs.
func TestBuildRunsInAChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (chroot)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "env.tar")
	if err := build("/usr/bin/env", "skiff.local/env:test", path); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/usr/local/bin/env" {
		t.Fatalf("entrypoint %q, want /usr/local/bin/env", got)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	root := filepath.Join(dir, "root")
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(f, tr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("chroot", root, "/usr/local/bin/env", "-i", "SKIFF=ok").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "SKIFF=ok" {
		t.Fatalf("running the packed env in a chroot: %v: %q", err, out)
	}
}
