// Package staticpod reads static pods: pod manifests (YAML or JSON, one pod per file) in the agent's
// manifest folder, which the node runs without an apiserver (the control plane on its own node, node
// boot). It watches the folder with fsnotify and also rescans it periodically, and hands the complete
// current set to a callback whenever it changes.
//
// Each pod is defaulted as the apiserver would, named <name>-<node>, bound to the node, and given a UID
// that is a hash of the file and the node, so that the same manifest is the same pod across agent
// restarts and a changed manifest is a new pod. The annotations kubernetes.io/config.source=file,
// kubernetes.io/config.hash and kubernetes.io/config.seen mark it, as the kubelet's do. Mirroring the
// pods into the API is the pod manager's job.
package staticpod

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Annotations of static and mirror pods.
const (
	AnnotationSource = "kubernetes.io/config.source"
	AnnotationHash   = "kubernetes.io/config.hash"
	AnnotationSeen   = "kubernetes.io/config.seen"
	AnnotationMirror = "kubernetes.io/config.mirror"
	SourceFile       = "file"
)

// IsStatic reports whether a pod came from a manifest file.
func IsStatic(p *corev1.Pod) bool { return p.Annotations[AnnotationSource] == SourceFile }

// IsMirror reports whether an API pod is the mirror of a static pod.
func IsMirror(p *corev1.Pod) bool { _, ok := p.Annotations[AnnotationMirror]; return ok }

// Load reads every manifest in dir. A bad file is skipped and reported in errs; the others load.
func Load(dir, nodeName string) (pods []*corev1.Pod, errs []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, []error{fmt.Errorf("reading manifest folder: %w", err)}
	}
	names := map[string]string{}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		switch strings.ToLower(filepath.Ext(n)) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		path := filepath.Join(dir, n)
		p, err := LoadFile(path, nodeName)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := p.Namespace + "/" + p.Name
		if other, dup := names[key]; dup {
			errs = append(errs, fmt.Errorf("%s: pod %s is already defined by %s", path, key, other))
			continue
		}
		names[key] = path
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, errs
}

// LoadFile reads one manifest.
func LoadFile(path, nodeName string) (*corev1.Pod, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := yaml.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Kind != "" && p.Kind != "Pod" {
		return nil, fmt.Errorf("%s: kind %q is not a Pod", path, p.Kind)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("%s: metadata.name is required", path)
	}
	if len(p.Spec.Containers) == 0 {
		return nil, fmt.Errorf("%s: spec.containers: a pod needs at least one container", path)
	}
	p.APIVersion, p.Kind = "v1", "Pod"
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	p.Name = p.Name + "-" + nodeName
	p.Spec.NodeName = nodeName
	p.Default()
	h := sha256.Sum256(append([]byte(nodeName+"\x00"+path+"\x00"), b...))
	hash := hex.EncodeToString(h[:16])
	p.UID = hash[:8] + "-" + hash[8:12] + "-" + hash[12:16] + "-" + hash[16:20] + "-" + hash[20:32]
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[AnnotationSource] = SourceFile
	p.Annotations[AnnotationHash] = string(p.UID)
	st, _ := os.Stat(path)
	if st != nil {
		p.Annotations[AnnotationSeen] = st.ModTime().UTC().Format(time.RFC3339Nano)
	}
	// Static pods tolerate every NoExecute taint, as the kubelet's: the node never evicts them.
	p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	p.CreationTimestamp = metav1.Time{}
	return &p, nil
}

// Watch calls update with the folder's pods now, whenever a file changes, and every resync period
// (a safety net for missed notifications), until ctx ends. It creates the folder if needed.
func Watch(ctx context.Context, dir, nodeName string, resync time.Duration, log *zap.Logger, update func([]*corev1.Pod)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating manifest folder: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the manifest folder: %w", err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watching the manifest folder %s: %w", dir, err)
	}
	lastErrs := ""
	load := func() {
		pods, errs := Load(dir, nodeName)
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		if s := strings.Join(msgs, "; "); s != lastErrs {
			lastErrs = s
			for _, e := range errs {
				log.Error("bad static pod manifest", zap.Error(e))
			}
		}
		update(pods)
	}
	load()
	t := time.NewTicker(resync)
	defer t.Stop()
	// Editors write in several steps: gather a burst of notifications into one reload.
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			_ = ev
			settle = time.After(200 * time.Millisecond)
		case err, ok := <-w.Errors:
			if ok {
				log.Info("manifest folder watch error", zap.Error(err))
			}
		case <-settle:
			settle = nil
			load()
		case <-t.C:
			load()
		}
	}
}
