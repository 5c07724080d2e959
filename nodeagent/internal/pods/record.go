package pods

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/internal/volume"
)

// record is what the agent must remember about a pod across restarts. It is saved as
// <root>/pods/<uid>/pod.json before every action that the agent must not repeat (starting a container
// attempt), so that a restarted agent neither loses restart counts nor starts duplicates.
type record struct {
	UID         string `json:"uid"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	HostNetwork bool   `json:"hostNetwork,omitempty"`
	// PodIPs are set once the sandbox network is up.
	PodIPs []string `json:"podIPs,omitempty"`
	// NetworkReady means CNI ADD succeeded and DEL has not run.
	NetworkReady bool `json:"networkReady,omitempty"`
	// CgroupParent is the pod's cgroup ("/skiff/burstable/pod<uid>").
	CgroupParent string `json:"cgroupParent"`
	// GraceSeconds is the pod's termination grace, for stopping it once it vanished from the API.
	GraceSeconds int64 `json:"graceSeconds"`
	// Finished means the pod reached a terminal phase and its sandbox is torn down.
	Finished bool `json:"finished,omitempty"`
	// FinalStatus is the terminal status, kept until the API has it (its write may fail after the
	// sandbox is gone, and nothing recomputes it then).
	FinalStatus *corev1.PodStatus `json:"finalStatus,omitempty"`
	// StartTime is when the agent first accepted the pod.
	StartTime time.Time `json:"startTime"`
	// Containers by name (init and app containers share one namespace of names).
	Containers map[string]*containerRecord `json:"containers"`

	// mounts are the pod's volumes as the last sync set them up (not saved: rebuilt every sync).
	mounts map[string]volume.Mounted
}

type containerRecord struct {
	// Attempt is the number of the current (latest) start, 0 for the first; the restart count.
	Attempt int `json:"attempt"`
	// ID is the runtime id of the current attempt ("" before the first start); PrevID the one before.
	ID     string `json:"id,omitempty"`
	PrevID string `json:"prevID,omitempty"`
	// Backoff is the current crash back-off and NextStart when the container may start again.
	Backoff   time.Duration `json:"backoff,omitempty"`
	NextStart time.Time     `json:"nextStart,omitempty"`
	// BackoffFor is the runtime id whose exit the back-off was computed for (computed once per exit).
	BackoffFor string `json:"backoffFor,omitempty"`
	// Image is the image reference of the current attempt and ImageID its digest reference.
	Image   string `json:"image,omitempty"`
	ImageID string `json:"imageID,omitempty"`
	// Waiting explains why the container is not running yet (ErrImagePull, CreateContainerConfigError).
	WaitingReason  string `json:"waitingReason,omitempty"`
	WaitingMessage string `json:"waitingMessage,omitempty"`
	// PullBackoff and NextPull pace image pull retries.
	PullBackoff time.Duration `json:"pullBackoff,omitempty"`
	NextPull    time.Time     `json:"nextPull,omitempty"`
}

func (r *record) container(name string) *containerRecord {
	if r.Containers == nil {
		r.Containers = map[string]*containerRecord{}
	}
	c, ok := r.Containers[name]
	if !ok {
		c = &containerRecord{Attempt: -1}
		r.Containers[name] = c
	}
	return c
}

func (m *Manager) podDir(uid string) string { return filepath.Join(m.cfg.RootDir, "pods", uid) }

func (m *Manager) saveRecord(r *record) error {
	dir := m.podDir(r.UID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pod directory: %w", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, "pod.json")
	f, err := os.OpenFile(p+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("saving pod record: %w", err)
	}
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("saving pod record: %w", err)
	}
	return os.Rename(p+".tmp", p)
}

// loadRecords reads every pod record on disk.
func (m *Manager) loadRecords() (map[string]*record, error) {
	out := map[string]*record{}
	entries, err := os.ReadDir(filepath.Join(m.cfg.RootDir, "pods"))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pod records: %w", err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(m.cfg.RootDir, "pods", e.Name(), "pod.json"))
		if err != nil {
			// A directory without a record: a pod whose teardown finished but for the directory.
			out[e.Name()] = &record{UID: e.Name()}
			continue
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("decoding pod record %s: %w", e.Name(), err)
		}
		out[r.UID] = &r
	}
	return out, nil
}
