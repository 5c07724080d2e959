package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// ErrNotFound means the image is not in the store.
var ErrNotFound = errors.New("image not present")

// Image is one stored image.
type Image struct {
	// ID is the digest of the image config ("sha256:...").
	ID string `json:"id"`
	// Names are the normalized references that point at it ("127.0.0.1:5000/busybox:1").
	Names []string `json:"names"`
	// RepoDigests are "<repo>@sha256:<manifest digest>" for pulled images.
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Layers are the uncompressed layer digests, bottom first.
	Layers []string `json:"layers"`
	// Config is the image's runtime configuration (entrypoint, cmd, env, workdir, user).
	Config v1.Config `json:"config"`
	// Size is the unpacked size in bytes.
	Size     int64     `json:"size"`
	LastUsed time.Time `json:"lastUsed"`
}

// Store keeps images on disk. It is safe for concurrent use.
type Store struct {
	root     string
	insecure map[string]bool

	mu     sync.Mutex
	images map[string]*Image // by id
	refs   map[string]string // normalized ref -> id
	locks  map[string]*sync.Mutex
}

// New opens (or creates) the store under root. insecure lists registry hosts ("127.0.0.1:5000",
// "localhost") that may be reached over plain HTTP.
func New(root string, insecure []string) (*Store, error) {
	for _, d := range []string{"layers", "images", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating image store: %w", err)
		}
	}
	// Half-unpacked layers of a killed agent.
	if entries, err := os.ReadDir(filepath.Join(root, "tmp")); err == nil {
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(root, "tmp", e.Name()))
		}
	}
	s := &Store{root: root, insecure: map[string]bool{}, images: map[string]*Image{}, refs: map[string]string{}, locks: map[string]*sync.Mutex{}}
	for _, h := range insecure {
		if h = strings.TrimSpace(h); h != "" {
			s.insecure[h] = true
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "images"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var img Image
		b, err := os.ReadFile(filepath.Join(root, "images", e.Name()))
		if err != nil || json.Unmarshal(b, &img) != nil {
			continue
		}
		s.images[img.ID] = &img
		for _, n := range img.Names {
			s.refs[n] = img.ID
		}
	}
	return s, nil
}

// Normalize returns the canonical form of an image reference: "busybox" is
// "index.docker.io/library/busybox:latest".
func Normalize(ref string) (string, error) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return r.Name(), nil
}

func (s *Store) lock(key string) func() {
	s.mu.Lock()
	l, ok := s.locks[key]
	if !ok {
		l = &sync.Mutex{}
		s.locks[key] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Get returns the image a reference names, or ErrNotFound. A digest reference matches by repo digest.
func (s *Store) Get(ref string) (*Image, error) {
	n, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.refs[n]; ok {
		if img, ok := s.images[id]; ok {
			c := *img
			return &c, nil
		}
	}
	for _, img := range s.images {
		for _, d := range img.RepoDigests {
			if d == n {
				c := *img
				return &c, nil
			}
		}
	}
	return nil, fmt.Errorf("%s: %w", ref, ErrNotFound)
}

// List returns every stored image.
func (s *Store) List() []*Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Image, 0, len(s.images))
	for _, img := range s.images {
		c := *img
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Auth holds registry credentials by registry host ("127.0.0.1:5000", "index.docker.io").
type Auth map[string]authn.AuthConfig

// Pull fetches ref for linux/amd64 (or the node's architecture) and stores it.
func (s *Store) Pull(ctx context.Context, ref string, auth Auth) (*Image, error) {
	opts := []name.Option{name.WeakValidation}
	pr, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	if s.insecure[pr.Context().RegistryStr()] || s.insecure[hostOnly(pr.Context().RegistryStr())] {
		pr, err = name.ParseReference(ref, append(opts, name.Insecure)...)
		if err != nil {
			return nil, err
		}
	}
	defer s.lock("ref:" + pr.Name())()
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: goarch()})}
	if a, ok := auth[pr.Context().RegistryStr()]; ok {
		ropts = append(ropts, remote.WithAuth(authn.FromConfig(a)))
	}
	img, err := remote.Image(pr, ropts...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	repoDigest := pr.Context().Name() + "@" + digest.String()
	return s.store(ctx, img, []string{pr.Name()}, []string{repoDigest})
}

func hostOnly(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i > 0 {
		return hostport[:i]
	}
	return hostport
}

// store unpacks img's layers (each once) and records it under names.
func (s *Store) store(ctx context.Context, img v1.Image, names, repoDigests []string) (*Image, error) {
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("reading image config digest: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading image layers: %w", err)
	}
	rec := &Image{ID: cfgName.String(), Config: cf.Config, LastUsed: time.Now()}
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("reading layer digest: %w", err)
		}
		size, err := s.unpackLayer(l, diffID)
		if err != nil {
			return nil, err
		}
		rec.Layers = append(rec.Layers, diffID.String())
		rec.Size += size
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.images[rec.ID]; ok {
		rec.Names = old.Names
		rec.RepoDigests = old.RepoDigests
	}
	for _, n := range names {
		// A name moves to the new image (a re-pushed tag).
		if prev, ok := s.refs[n]; ok && prev != rec.ID {
			if p := s.images[prev]; p != nil {
				p.Names = remove(p.Names, n)
				_ = s.saveLocked(p)
			}
		}
		s.refs[n] = rec.ID
		rec.Names = addOnce(rec.Names, n)
	}
	for _, d := range repoDigests {
		rec.RepoDigests = addOnce(rec.RepoDigests, d)
	}
	s.images[rec.ID] = rec
	if err := s.saveLocked(rec); err != nil {
		return nil, err
	}
	c := *rec
	return &c, nil
}

func (s *Store) saveLocked(img *Image) error {
	b, err := json.Marshal(img)
	if err != nil {
		return err
	}
	p := filepath.Join(s.root, "images", strings.TrimPrefix(img.ID, "sha256:")+".json")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving image record: %w", err)
	}
	return os.Rename(tmp, p)
}

func addOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

func remove(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// LayerDir is where a layer is unpacked.
func (s *Store) LayerDir(diffID string) string {
	return filepath.Join(s.root, "layers", strings.TrimPrefix(diffID, "sha256:"))
}

func (s *Store) unpackLayer(l v1.Layer, diffID v1.Hash) (int64, error) {
	dir := s.LayerDir(diffID.String())
	defer s.lock("layer:" + diffID.String())()
	if _, err := os.Stat(dir); err == nil {
		return dirSize(dir), nil
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("fetching layer %s: %w", diffID, err)
	}
	defer rc.Close()
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "layer-")
	if err != nil {
		return 0, err
	}
	if err := unpack(rc, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return 0, fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	// Drain so that the digest is verified by go-containerregistry's verifying reader.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		_ = os.RemoveAll(tmp)
		return 0, fmt.Errorf("fetching layer %s: %w", diffID, err)
	}
	if err := rc.Close(); err != nil {
		_ = os.RemoveAll(tmp)
		return 0, fmt.Errorf("verifying layer %s: %w", diffID, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return 0, fmt.Errorf("storing layer %s: %w", diffID, err)
	}
	return dirSize(dir), nil
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Touch records that the image was just used (for garbage collection order).
func (s *Store) Touch(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if img, ok := s.images[id]; ok {
		img.LastUsed = time.Now()
		_ = s.saveLocked(img)
	}
}

// ImportDir imports every image archive in dir: *.tar files (docker save or OCI layout) and OCI layout
// directories. It returns the images imported and one error per archive that failed.
func (s *Store) ImportDir(ctx context.Context, dir string) ([]*Image, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading images directory: %w", err)
	}
	var out []*Image
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		var imgs []*Image
		var err error
		switch {
		case e.IsDir():
			if _, serr := os.Stat(filepath.Join(p, "index.json")); serr != nil {
				continue
			}
			imgs, err = s.importLayout(ctx, p)
		case strings.HasSuffix(e.Name(), ".tar"):
			imgs, err = s.ImportTar(ctx, p)
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("importing %s: %w", p, err))
			continue
		}
		out = append(out, imgs...)
	}
	return out, errors.Join(errs...)
}

// ImportTar imports a `docker save` archive or a tarred OCI layout.
func (s *Store) ImportTar(ctx context.Context, path string) ([]*Image, error) {
	hasManifest, hasIndex, err := tarKind(path)
	if err != nil {
		return nil, err
	}
	switch {
	case hasManifest:
		m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
		if err != nil {
			return nil, fmt.Errorf("reading docker archive manifest: %w", err)
		}
		var out []*Image
		for _, d := range m {
			var tag *name.Tag
			if len(d.RepoTags) > 0 {
				t, err := name.NewTag(d.RepoTags[0], name.WeakValidation)
				if err != nil {
					return nil, fmt.Errorf("archive tag %q: %w", d.RepoTags[0], err)
				}
				tag = &t
			} else if len(m) > 1 {
				continue
			}
			img, err := tarball.ImageFromPath(path, tag)
			if err != nil {
				return nil, fmt.Errorf("reading docker archive: %w", err)
			}
			var names []string
			for _, t := range d.RepoTags {
				if n, err := Normalize(t); err == nil {
					names = append(names, n)
				}
			}
			rec, err := s.store(ctx, img, names, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		return out, nil
	case hasIndex:
		tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "layout-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := untarPlain(f, tmp); err != nil {
			return nil, fmt.Errorf("extracting OCI layout: %w", err)
		}
		return s.importLayout(ctx, tmp)
	default:
		return nil, errors.New("neither a docker save archive (manifest.json) nor an OCI layout (index.json)")
	}
}

func tarKind(path string) (manifest, index bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return manifest, index, nil
		}
		if err != nil {
			return false, false, fmt.Errorf("reading archive: %w", err)
		}
		switch filepath.Clean(h.Name) {
		case "manifest.json":
			manifest = true
		case "index.json":
			index = true
		}
	}
}

func untarPlain(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg, tar.TypeRegA:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.Create(target)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}

// importLayout imports every image of an OCI layout directory; names come from the
// org.opencontainers.image.ref.name or io.containerd.image.name annotations.
func (s *Store) importLayout(ctx context.Context, dir string) ([]*Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading OCI index: %w", err)
	}
	var out []*Image
	for _, d := range im.Manifests {
		if d.MediaType.IsIndex() {
			continue // nested indexes (multi-arch) are not imported
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		var names []string
		for _, key := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
			if v := d.Annotations[key]; v != "" && strings.ContainsAny(v, "/:") {
				if n, err := Normalize(v); err == nil {
					names = append(names, n)
				}
			}
		}
		rec, err := s.store(ctx, img, names, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// MountRootfs mounts an overlayfs root filesystem for a container at dir/rootfs, with the image's
// layers as read-only lower directories and dir/upper as the container's writable layer. Mounting an
// already mounted dir is a no-op.
func (s *Store) MountRootfs(img *Image, dir string) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if mounted(rootfs) {
		return rootfs, nil
	}
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	var lower []string
	for i := len(img.Layers) - 1; i >= 0; i-- {
		l := s.LayerDir(img.Layers[i])
		if _, err := os.Stat(l); err != nil {
			return "", fmt.Errorf("layer %s of image %s is missing: %w", img.Layers[i], img.ID, err)
		}
		lower = append(lower, l)
	}
	if len(lower) == 0 {
		empty := filepath.Join(dir, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", err
		}
		lower = []string{empty}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mounting overlay rootfs at %s: %w", rootfs, err)
	}
	s.Touch(img.ID)
	return rootfs, nil
}

// UnmountRootfs unmounts dir/rootfs (if mounted) and removes dir.
func UnmountRootfs(dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	if mounted(rootfs) {
		if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", rootfs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// mounted reports whether path is a mount point.
func mounted(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &parent) != nil {
		return false
	}
	if st.Dev != parent.Dev {
		return true
	}
	// Same device (a bind mount of the same fs): consult mountinfo.
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// GCPolicy says when to collect: above HighPercent disk use, remove unused images (least recently used
// first) until use is at or below LowPercent.
type GCPolicy struct {
	HighPercent, LowPercent int
}

// GC removes images whose id is not in inUse while the store's filesystem is fuller than the policy
// allows, then layers no image references. It returns the ids removed.
func (s *Store) GC(inUse map[string]bool, p GCPolicy) ([]string, error) {
	usage := func() (int, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(s.root, &st); err != nil {
			return 0, fmt.Errorf("statfs %s: %w", s.root, err)
		}
		if st.Blocks == 0 {
			return 0, nil
		}
		return int(100 - (st.Bavail*100)/st.Blocks), nil
	}
	u, err := usage()
	if err != nil || u < p.HighPercent {
		return nil, err
	}
	s.mu.Lock()
	var candidates []*Image
	for _, img := range s.images {
		if !inUse[img.ID] {
			candidates = append(candidates, img)
		}
	}
	s.mu.Unlock()
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].LastUsed.Before(candidates[j].LastUsed) })
	var removed []string
	for _, img := range candidates {
		if u, err = usage(); err != nil || u <= p.LowPercent {
			break
		}
		if err := s.Remove(img.ID); err != nil {
			return removed, err
		}
		removed = append(removed, img.ID)
	}
	return removed, nil
}

// Remove deletes an image record and the layers no other image uses.
func (s *Store) Remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[id]
	if !ok {
		return fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	delete(s.images, id)
	for _, n := range img.Names {
		if s.refs[n] == id {
			delete(s.refs, n)
		}
	}
	if err := os.Remove(filepath.Join(s.root, "images", strings.TrimPrefix(id, "sha256:")+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	used := map[string]bool{}
	for _, other := range s.images {
		for _, l := range other.Layers {
			used[l] = true
		}
	}
	for _, l := range img.Layers {
		if !used[l] {
			if err := os.RemoveAll(s.LayerDir(l)); err != nil {
				return fmt.Errorf("removing layer %s: %w", l, err)
			}
		}
	}
	return nil
}
