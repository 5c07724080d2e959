package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// unpack extracts a layer tar stream into dir, converting OCI whiteouts into overlayfs whiteouts
// (a 0/0 character device for a deleted file, the trusted.overlay.opaque xattr for an opaque directory).
// Paths never escape dir.
func unpack(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		path string
		t    time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		name := filepath.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		parent, base := filepath.Split(name)
		parentPath, err := securejoin.SecureJoin(dir, parent)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(parentPath, 0o755); err != nil {
			return err
		}
		target := filepath.Join(parentPath, base)
		if base == whiteoutOpaque {
			if err := unix.Setxattr(parentPath, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return fmt.Errorf("marking %s opaque: %w", parent, err)
			}
			continue
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			wt := filepath.Join(parentPath, strings.TrimPrefix(base, whiteoutPrefix))
			_ = os.RemoveAll(wt)
			if err := unix.Mknod(wt, unix.S_IFCHR, 0); err != nil {
				return fmt.Errorf("creating whiteout %s: %w", wt, err)
			}
			continue
		}
		// A later entry replaces an earlier one, except that directories merge.
		if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
		mode := os.FileMode(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
				return err
			}
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return fmt.Errorf("writing %s: %w", name, err)
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			src, err := securejoin.SecureJoin(dir, hdr.Linkname)
			if err != nil {
				return err
			}
			if err := os.Link(src, target); err != nil {
				return fmt.Errorf("hard link %s -> %s: %w", name, hdr.Linkname, err)
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			m := uint32(unix.S_IFIFO)
			switch hdr.Typeflag {
			case tar.TypeChar:
				m = unix.S_IFCHR
			case tar.TypeBlock:
				m = unix.S_IFBLK
			}
			if err := unix.Mknod(target, m|uint32(mode.Perm()), int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
				return fmt.Errorf("creating device %s: %w", name, err)
			}
		default:
			continue // pax globals and the like carry nothing to extract
		}
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
			// chmod after chown: chown clears setuid bits.
			if err := os.Chmod(target, fileMode(hdr)); err != nil {
				return err
			}
			_ = os.Chtimes(target, hdr.AccessTime, hdr.ModTime)
		}
		for k, v := range hdr.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				_ = unix.Lsetxattr(target, x, []byte(v), 0)
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].path, dirs[i].t, dirs[i].t)
	}
	return nil
}

func fileMode(hdr *tar.Header) os.FileMode {
	m := os.FileMode(hdr.Mode & 0o777)
	if hdr.Mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if hdr.Mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if hdr.Mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}
