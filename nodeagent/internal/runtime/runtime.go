package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Status is a container's coarse state.
type Status string

// Container states.
const (
	StatusCreated Status = "created" // the shim is starting it
	StatusRunning Status = "running"
	StatusExited  Status = "exited"
)

// State is what the runtime knows about one container.
type State struct {
	ID      string
	Labels  map[string]string
	Status  Status
	Pid     int
	Created time.Time
	// Exit is set once Status is StatusExited.
	Exit *ExitStatus
	// LogPath is the container's CRI log file.
	LogPath string
}

// Runtime starts and tracks containers. It is safe for concurrent use.
type Runtime struct {
	root      string
	stateRoot string
	self      string

	mu       sync.Mutex
	watchers map[string]chan struct{} // closed when the container's shim exits
}

// New returns a runtime keeping bundles under root and libcontainer state under stateRoot. self is the
// agent binary, run as "<self> shim <bundle>" and by libcontainer as "<self> init".
func New(root, stateRoot, self string) (*Runtime, error) {
	for _, d := range []string{root, stateRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating runtime directory: %w", err)
		}
	}
	return &Runtime{root: root, stateRoot: stateRoot, self: self, watchers: map[string]chan struct{}{}}, nil
}

type meta struct {
	Labels  map[string]string `json:"labels"`
	LogPath string            `json:"logPath"`
	Created time.Time         `json:"created"`
}

type shimInfo struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"startTime"` // /proc/<pid>/stat field 22, to tell pid reuse apart
}

// ErrNotFound means no container with that id exists.
var ErrNotFound = errors.New("container not found")

// StartError is returned when the container could not be started (bad command, missing binary, ...).
type StartError struct{ Message string }

func (e *StartError) Error() string { return e.Message }

// Start creates and starts a container and returns once its process runs (or failed to start, with a
// *StartError; the container then exists in state exited with reason StartError).
func (r *Runtime) Start(ctx context.Context, c *ContainerConfig) (*State, error) {
	spec, err := BuildSpec(c)
	if err != nil {
		return nil, err
	}
	bundle := filepath.Join(r.root, c.ID)
	if err := os.Mkdir(bundle, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %s already exists", c.ID)
		}
		return nil, fmt.Errorf("creating bundle: %w", err)
	}
	created := time.Now()
	if err := writeJSON(filepath.Join(bundle, "meta.json"), meta{Labels: c.Labels, LogPath: c.LogPath, Created: created}); err != nil {
		return nil, fmt.Errorf("writing container metadata: %w", err)
	}
	if err := writeJSON(filepath.Join(bundle, "config.json"), spec); err != nil {
		return nil, fmt.Errorf("writing OCI spec: %w", err)
	}
	maxSize, maxFiles := c.LogMaxSize, c.LogMaxFiles
	if maxSize == 0 {
		maxSize = 10 << 20
	}
	if maxFiles == 0 {
		maxFiles = 5
	}
	if err := os.MkdirAll(filepath.Dir(c.LogPath), 0o750); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	req := shimRequest{ID: c.ID, StateRoot: r.stateRoot, LogPath: c.LogPath, LogMaxSize: maxSize, LogMaxFiles: maxFiles}
	if err := writeJSON(filepath.Join(bundle, "shim-request.json"), req); err != nil {
		return nil, fmt.Errorf("writing shim request: %w", err)
	}

	replyR, replyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating shim pipe: %w", err)
	}
	defer replyR.Close()
	shimLog, err := os.OpenFile(filepath.Join(bundle, "shim.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		replyW.Close()
		return nil, fmt.Errorf("creating shim log: %w", err)
	}
	cmd := exec.Command(r.self, ShimArg, bundle)
	cmd.Dir = bundle
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = shimLog, shimLog
	cmd.ExtraFiles = []*os.File{replyW}
	// A session of its own: signals to the agent's process group never reach the shim.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	replyW.Close()
	shimLog.Close()
	if err != nil {
		return nil, fmt.Errorf("starting shim: %w", err)
	}
	done := make(chan struct{})
	r.mu.Lock()
	r.watchers[c.ID] = done
	r.mu.Unlock()
	go func() {
		_ = cmd.Wait() // reap our child; an adopted shim is watched with a pidfd instead
		close(done)
	}()
	st, _ := procStartTime(cmd.Process.Pid)
	if err := writeJSON(filepath.Join(bundle, "shim.json"), shimInfo{Pid: cmd.Process.Pid, StartTime: st}); err != nil {
		return nil, fmt.Errorf("writing shim info: %w", err)
	}

	type result struct {
		reply shimReply
		err   error
	}
	resc := make(chan result, 1)
	go func() {
		var rep shimReply
		line, err := bufio.NewReader(replyR).ReadBytes('\n')
		if err != nil && len(line) == 0 {
			resc <- result{err: err}
			return
		}
		err = json.Unmarshal(line, &rep)
		resc <- result{reply: rep, err: err}
	}()
	var res result
	select {
	case res = <-resc:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("starting container %s: %w", c.ID, ctx.Err())
	}
	if res.err != nil {
		<-done
		b, _ := os.ReadFile(filepath.Join(bundle, "shim.log"))
		return nil, fmt.Errorf("shim for %s exited without reply: %s", c.ID, strings.TrimSpace(string(b)))
	}
	if res.reply.Error != "" {
		<-done
		return nil, &StartError{Message: res.reply.Error}
	}
	return r.State(c.ID)
}

// State returns the container's current state.
func (r *Runtime) State(id string) (*State, error) {
	bundle := filepath.Join(r.root, id)
	var m meta
	if err := readJSON(filepath.Join(bundle, "meta.json"), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
		}
		return nil, err
	}
	s := &State{ID: id, Labels: m.Labels, LogPath: m.LogPath, Created: m.Created}
	var es ExitStatus
	if err := readJSON(filepath.Join(bundle, "exit.json"), &es); err == nil {
		s.Status, s.Exit = StatusExited, &es
		return s, nil
	}
	c, err := libcontainer.Load(r.stateRoot, id)
	if err == nil {
		st, err := c.Status()
		if err == nil && (st == libcontainer.Running || st == libcontainer.Paused) {
			s.Status = StatusRunning
			if lst, err := c.State(); err == nil {
				s.Pid = lst.InitProcessPid
			}
			return s, nil
		}
	}
	if r.shimAlive(id) {
		// Between shim start and the container's state file, or the shim is writing exit.json.
		if err := readJSON(filepath.Join(bundle, "exit.json"), &es); err == nil {
			s.Status, s.Exit = StatusExited, &es
			return s, nil
		}
		s.Status = StatusCreated
		return s, nil
	}
	if err := readJSON(filepath.Join(bundle, "exit.json"), &es); err == nil {
		s.Status, s.Exit = StatusExited, &es
		return s, nil
	}
	// Neither shim nor container is there and nothing recorded the end (the node rebooted, or the
	// shim was killed): the exit code is unknown.
	s.Status = StatusExited
	s.Exit = &ExitStatus{ExitCode: 137, Reason: "ContainerStatusUnknown",
		Message: "The container could not be located when the pod was terminated", FinishedAt: time.Now()}
	return s, nil
}

// List returns every container the runtime knows, running or not.
func (r *Runtime) List() ([]*State, error) {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []*State
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		s, err := r.State(e.Name())
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				// A bundle without metadata is a start that died half way; remove it, but only once it
				// is old enough not to be a start in progress right now.
				if info, ierr := e.Info(); ierr == nil && time.Since(info.ModTime()) > time.Minute {
					_ = r.Remove(context.Background(), e.Name())
				}
				continue
			}
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Signal sends sig to the container's init process. A container that is not running is not an error.
func (r *Runtime) Signal(id string, sig syscall.Signal) error {
	c, err := libcontainer.Load(r.stateRoot, id)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("loading container %s: %w", id, err)
	}
	if err := c.Signal(sig); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("signalling container %s: %w", id, err)
	}
	return nil
}

// Exited returns a channel closed when the container's shim has exited (so exit.json is final). For a
// container whose shim is gone already, the channel is closed at once.
func (r *Runtime) Exited(id string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.watchers[id]; ok {
		return ch
	}
	ch := make(chan struct{})
	r.watchers[id] = ch
	var info shimInfo
	if err := readJSON(filepath.Join(r.root, id, "shim.json"), &info); err != nil || !alive(info) {
		close(ch)
		return ch
	}
	fd, err := unix.PidfdOpen(info.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		close(ch)
		return ch
	}
	// Poll through Go's poller: no thread is parked per container.
	f := os.NewFile(uintptr(fd), "pidfd")
	go func() {
		defer f.Close()
		defer close(ch)
		rc, err := f.SyscallConn()
		if err != nil {
			return
		}
		_ = rc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 0)
			return err != nil || n > 0
		})
	}()
	return ch
}

// Kill stops a container: SIGTERM (or the given signal), then SIGKILL once grace has passed. It returns
// when the container has exited or ctx ends.
func (r *Runtime) Kill(ctx context.Context, id string, grace time.Duration) error {
	s, err := r.State(id)
	if err != nil {
		return err
	}
	if s.Status == StatusExited {
		return nil
	}
	exited := r.Exited(id)
	if grace > 0 {
		if err := r.Signal(id, syscall.SIGTERM); err != nil {
			return err
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.Signal(id, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remove kills the container if needed and deletes everything of it but its log file: the cgroup,
// libcontainer's state and the bundle.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	c, err := libcontainer.Load(r.stateRoot, id)
	if err == nil {
		if st, _ := c.Status(); st == libcontainer.Running || st == libcontainer.Paused || st == libcontainer.Created {
			_ = c.Signal(syscall.SIGKILL)
			select {
			case <-r.Exited(id):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := c.Destroy(); err != nil {
			return fmt.Errorf("destroying container %s: %w", id, err)
		}
	} else if !errors.Is(err, libcontainer.ErrNotExist) && !errors.Is(err, os.ErrNotExist) {
		// Unreadable state: remove it anyway so that the id can be reused.
		_ = os.RemoveAll(filepath.Join(r.stateRoot, id))
	}
	if r.shimAlive(id) {
		select {
		case <-r.Exited(id):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	delete(r.watchers, id)
	r.mu.Unlock()
	if err := os.RemoveAll(filepath.Join(r.root, id)); err != nil {
		return fmt.Errorf("removing bundle of %s: %w", id, err)
	}
	return nil
}

// Stats are a container's resource usage from its cgroup.
type Stats struct {
	CPUUsageNanos    uint64
	MemoryUsageBytes uint64
	MemoryWorkingSet uint64
	Pids             uint64
}

// Stats reads the container's cgroup counters.
func (r *Runtime) Stats(id string) (*Stats, error) {
	c, err := libcontainer.Load(r.stateRoot, id)
	if err != nil {
		return nil, fmt.Errorf("loading container %s: %w", id, err)
	}
	st, err := c.Stats()
	if err != nil {
		return nil, fmt.Errorf("reading stats of %s: %w", id, err)
	}
	cs := st.CgroupStats
	if cs == nil {
		return &Stats{}, nil
	}
	ws := cs.MemoryStats.Usage.Usage
	if inactive, ok := cs.MemoryStats.Stats["total_inactive_file"]; ok && inactive < ws {
		ws -= inactive
	} else if inactive, ok := cs.MemoryStats.Stats["inactive_file"]; ok && inactive < ws {
		ws -= inactive
	}
	return &Stats{
		CPUUsageNanos:    cs.CpuStats.CpuUsage.TotalUsage,
		MemoryUsageBytes: cs.MemoryStats.Usage.Usage,
		MemoryWorkingSet: ws,
		Pids:             cs.PidsStats.Current,
	}, nil
}

func (r *Runtime) shimAlive(id string) bool {
	var info shimInfo
	if err := readJSON(filepath.Join(r.root, id, "shim.json"), &info); err != nil {
		return false
	}
	return alive(info)
}

// alive reports whether the shim process still exists (and is not a zombie) and is the same process.
func alive(info shimInfo) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(info.Pid) + "/stat")
	if err != nil {
		return false
	}
	fields := statFields(b)
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return false
	}
	st, _ := strconv.ParseUint(fields[19], 10, 64)
	return info.StartTime == 0 || st == info.StartTime
}

// statFields returns the fields of /proc/<pid>/stat after the command name: [state, ppid, ...].
func statFields(b []byte) []string {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	f := statFields(b)
	if len(f) < 20 {
		return 0, io.ErrUnexpectedEOF
	}
	return strconv.ParseUint(f[19], 10, 64)
}
