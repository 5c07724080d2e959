package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Process is one component of a cluster: a binary started with fixed arguments, optionally inside a
// node's network namespace, its output appended to a log file. It can be stopped, killed and started
// again with the same arguments.
type Process struct {
	// Name is the component's name in the cluster: apiserver, scheduler, controller-manager,
	// nodeagent-<node>, netproxy-<node>.
	Name string
	// Binary and Args are what runs.
	Binary string
	Args   []string
	// Netns, when set, is the network namespace (a path under /run/netns) it runs in.
	Netns string
	// LogPath receives stdout and stderr, appended across restarts.
	LogPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Start runs the process. It is an error to start a running process.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s's log: %w", p.Name, err)
	}
	var cmd *exec.Cmd
	if p.Netns != "" {
		// nsenter execs the binary, so the pid is the component's own.
		cmd = exec.Command("nsenter", append([]string{"--net=" + p.Netns, "--", p.Binary}, p.Args...)...)
	} else {
		cmd = exec.Command(p.Binary, p.Args...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// A process group of its own: a Ctrl-C at the terminal reaches the launcher only, which then stops
	// the components in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done, p.log = cmd, done, logf
	return nil
}

// Running reports whether the process has been started and has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the running process's pid, or 0.
func (p *Process) Pid() int {
	if !p.Running() {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// ExitStatus describes how the process ended ("" while it runs or before it started).
func (p *Process) ExitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return "not started"
	}
	select {
	case <-p.done:
		return p.cmd.ProcessState.String()
	default:
		return ""
	}
}

// Signal sends sig and waits up to timeout for the exit; if it has not exited by then, it is killed.
// A process that is not running is left as it is.
func (p *Process) Signal(sig syscall.Signal, timeout time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Stop ends the process gracefully (SIGTERM, SIGKILL after timeout).
func (p *Process) Stop(timeout time.Duration) { p.Signal(syscall.SIGTERM, timeout) }

// Kill ends the process with SIGKILL, as a crash would.
func (p *Process) Kill() { p.Signal(syscall.SIGKILL, 10*time.Second) }
