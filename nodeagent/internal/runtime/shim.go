package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/nodeagent/internal/logs"
)

// ShimArg is the first argument that makes the agent binary run as a container shim.
const ShimArg = "shim"

// shimRequest is what the agent hands the shim, in <bundle>/shim-request.json.
type shimRequest struct {
	ID          string `json:"id"`
	StateRoot   string `json:"stateRoot"`
	LogPath     string `json:"logPath"`
	LogMaxSize  int64  `json:"logMaxSize"`
	LogMaxFiles int    `json:"logMaxFiles"`
}

// shimReply is the one line the shim writes on fd 3 once the container started or failed to.
type shimReply struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// ExitStatus is how a container ended, as the shim recorded it.
type ExitStatus struct {
	ExitCode   int       `json:"exitCode"`
	Signal     int       `json:"signal,omitempty"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Reason is set when the container never ran ("StartError") or its end was not observed.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// RunShim is the shim's main: os.Args are [self, "shim", bundleDir]. It returns the process exit code.
func RunShim(args []string) int {
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: shim <bundle-dir>")
		return 2
	}
	bundle := args[2]
	reply := os.NewFile(3, "reply")
	err := runShim(bundle, reply)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shim:", err)
		return 1
	}
	return 0
}

func runShim(bundle string, reply *os.File) error {
	// Signals meant for the agent's session must not end the shim; it ends when its container does.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	fail := func(err error) error {
		if reply != nil {
			_ = json.NewEncoder(reply).Encode(shimReply{Error: err.Error()})
			reply.Close()
		}
		return err
	}
	var req shimRequest
	if err := readJSON(filepath.Join(bundle, "shim-request.json"), &req); err != nil {
		return fail(err)
	}
	var spec specs.Spec
	if err := readJSON(filepath.Join(bundle, "config.json"), &spec); err != nil {
		return fail(err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail(fmt.Errorf("becoming a child subreaper: %w", err))
	}
	if err := os.Chdir(bundle); err != nil {
		return fail(err)
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: req.ID, Spec: &spec})
	if err != nil {
		return fail(fmt.Errorf("building libcontainer config: %w", err))
	}
	logw, err := logs.NewWriter(req.LogPath, req.LogMaxSize, req.LogMaxFiles)
	if err != nil {
		return fail(err)
	}
	defer logw.Close()

	c, err := libcontainer.Create(req.StateRoot, req.ID, cfg)
	if err != nil {
		return fail(fmt.Errorf("creating container: %w", err))
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	p := processFromSpec(spec.Process)
	p.Stdout, p.Stderr, p.Init = outW, errW, true
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = logw.Copy(logs.Stdout, outR) }()
	go func() { defer wg.Done(); _ = logw.Copy(logs.Stderr, errR) }()

	started := time.Now()
	if err := c.Run(p); err != nil {
		outW.Close()
		errW.Close()
		_ = c.Destroy()
		wg.Wait()
		msg := startErrorMessage(err)
		_ = logw.WriteRecord(logs.Stderr, false, []byte(msg))
		_ = writeJSON(filepath.Join(bundle, "exit.json"), ExitStatus{
			ExitCode: 128, Reason: "StartError", Message: msg, StartedAt: started, FinishedAt: time.Now(),
		})
		return fail(errors.New(msg))
	}
	outW.Close()
	errW.Close()
	pid, _ := p.Pid()
	if reply != nil {
		_ = json.NewEncoder(reply).Encode(shimReply{Pid: pid})
		reply.Close()
	}
	st, _ := c.State()
	ps, werr := p.Wait()
	finished := time.Now()
	// Reap anything else reparented to the shim (there is nothing once the pid namespace is gone).
	for {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
			break
		}
	}
	wg.Wait()
	es := ExitStatus{StartedAt: started, FinishedAt: finished}
	switch {
	case ps != nil:
		ws, _ := ps.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			es.Signal = int(ws.Signal())
			es.ExitCode = 128 + es.Signal
		} else {
			es.ExitCode = ws.ExitStatus()
		}
	default:
		es.ExitCode, es.Reason = 255, "Unknown"
		if werr != nil {
			es.Message = werr.Error()
		}
	}
	if st != nil {
		es.OOMKilled = oomKilled(st.CgroupPaths)
	}
	return writeJSON(filepath.Join(bundle, "exit.json"), es)
}

// startErrorMessage shortens libcontainer's start errors to what a user can act on.
func startErrorMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "exec: "); i >= 0 {
		return msg[i:]
	}
	return msg
}

func processFromSpec(p *specs.Process) *libcontainer.Process {
	lp := &libcontainer.Process{
		Args: p.Args,
		Env:  p.Env,
		UID:  int(p.User.UID),
		GID:  int(p.User.GID),
		Cwd:  p.Cwd,
	}
	nnp := p.NoNewPrivileges
	lp.NoNewPrivileges = &nnp
	if p.Capabilities != nil {
		lp.Capabilities = &configs.Capabilities{
			Bounding: p.Capabilities.Bounding, Effective: p.Capabilities.Effective,
			Inheritable: p.Capabilities.Inheritable, Permitted: p.Capabilities.Permitted,
			Ambient: p.Capabilities.Ambient,
		}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for _, r := range p.Rlimits {
		if r.Type == "RLIMIT_NOFILE" {
			lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: unix.RLIMIT_NOFILE, Hard: r.Hard, Soft: r.Soft})
		}
	}
	return lp
}

// oomKilled reports whether the memory cgroup recorded an OOM kill (cgroup v2 memory.events or
// cgroup v1 memory.oom_control, both "oom_kill N").
func oomKilled(paths map[string]string) bool {
	var files []string
	if p, ok := paths["memory"]; ok {
		files = append(files, filepath.Join(p, "memory.oom_control"))
	}
	if p, ok := paths[""]; ok {
		files = append(files, filepath.Join(p, "memory.events"))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 2 && fields[0] == "oom_kill" {
				if n, _ := strconv.Atoi(fields[1]); n > 0 {
					return true
				}
			}
		}
	}
	return false
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

// writeJSON writes atomically: a reader sees the old file or the whole new one.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
