package volume

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File is one file of a projected volume (configMap, secret, downwardAPI, projected).
type File struct {
	Data []byte
	Mode os.FileMode
}

// dataLink is the symlink that names the current version of a projected volume's content.
const dataLink = "..data"

// checkPath refuses item paths that are absolute or leave the volume.
func checkPath(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be a relative path", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	return nil
}

// WriteAtomic makes dir hold exactly files, replacing the previous content in one step as the kubelet
// does: the files go to a new timestamped directory "..<time>", the "..data" symlink is swapped to it
// with a rename, and each top-level name is a symlink through "..data". A reader therefore sees the
// old set or the new one, never a mix. It reports whether anything changed.
func WriteAtomic(dir string, files map[string]File) (bool, error) {
	for p := range files {
		if err := checkPath(p); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataLink))
	if oldTS != "" && same(filepath.Join(dir, oldTS), files) {
		return false, nil
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return false, err
	}
	for p, f := range files {
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return false, err
		}
		if err := os.Chmod(full, f.Mode); err != nil { // not subject to the umask
			return false, err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return false, err
	}
	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(dataLink, name) {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(dataLink, name), link); err != nil {
			return false, err
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == dataLink || n == filepath.Base(ts):
		case strings.HasPrefix(n, ".."):
			_ = os.RemoveAll(filepath.Join(dir, n)) // the previous version
		case !top[n]:
			_ = os.Remove(filepath.Join(dir, n)) // a key that is gone
		}
	}
	return true, nil
}

// same reports whether dir holds exactly files with the same content and modes.
func same(dir string, files map[string]File) bool {
	seen := 0
	ok := true
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !ok {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, found := files[rel]
		if !found {
			ok = false
			return nil
		}
		seen++
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.Mode.Perm() {
			ok = false
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			ok = false
		}
		return nil
	})
	return err == nil && ok && seen == len(files)
}
