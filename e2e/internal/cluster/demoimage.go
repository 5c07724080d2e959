package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/skiffhq/skiff/shared/testenv/busybox"
)

// indexCGI answers every request for / with the pod's name, and logs it to the container's output,
// so `kubectl logs` shows which pod served whom.
const indexCGI = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "hello from $(hostname)"
echo "served $REQUEST_METHOD $REQUEST_URI from $REMOTE_ADDR" >&2
`

// DemoImage is the image of the quickstart: Skiff's busybox image working in /var/www, where
// `httpd -f -p 8080` (its default command) answers "/" with "hello from <pod name>" through
// /var/www/cgi-bin/index.cgi, and logs each request on stderr.
func DemoImage() (v1.Image, error) {
	dir, err := os.MkdirTemp("", "skiff-demo-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := busybox.Build(dir); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(dir, "var", "www", "index.html")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "var", "www", "cgi-bin"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "var", "www", "cgi-bin", "index.cgi"), []byte(indexCGI), 0o755); err != nil {
		return nil, err
	}
	layer, err := busybox.Layer(dir)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("building the demo image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Cmd = []string{"httpd", "-f", "-p", "8080"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.WorkingDir = "/var/www"
	return mutate.ConfigFile(img, cf)
}
