// Package busyboxfs builds a minimal root filesystem from the node's static busybox (Debian's
// busybox-static): /bin/busybox plus one symlink per applet and the few files a container expects.
// Tests of the runtime, the image store and the pod sync loop use it to run real containers without a
// registry. It is not used by the agent at run time.
package busyboxfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
