package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TerminalSize is a terminal's width and height in characters.
type TerminalSize struct {
	Width, Height uint16
}

// ExecOptions describe a process to run inside a running container.
type ExecOptions struct {
	// Args is the command and its arguments.
	Args []string
	// Env is added to the container's environment (later entries win).
	Env []string
	// Stdin, when set, is copied to the process's standard input until it returns EOF.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil discards it. With TTY, everything goes to Stdout.
	Stdout, Stderr io.Writer
	// TTY gives the process a terminal of its own (a pty allocated inside the container).
	TTY bool
	// Resize carries terminal size changes (TTY only).
	Resize <-chan TerminalSize
	// Timeout kills the process (SIGKILL) after that long; 0 means no limit.
	Timeout time.Duration
}

// Errors of Exec.
var (
	// ErrExecTimeout is returned when an exec ran past its Timeout and was killed.
	ErrExecTimeout = errors.New("exec timed out")
	// ErrNotRunning means the container has no running process to exec into.
	ErrNotRunning = errors.New("container is not running")
)

// outputDrain bounds how long output is still copied after the process exited (a background child
// may hold the pipe open forever).
const outputDrain = 2 * time.Second

var subreaperOnce sync.Once

// Exec runs a process inside the running container id, with the container's user, capabilities,
// working directory and environment (plus opts.Env), and returns its exit code (128+signal when it was
// killed) once it exited and its output was copied. Ending ctx kills the process.
//
// libcontainer joins the container's namespaces and cgroup through a short-lived intermediate
// process, so the exec'd process is re-parented to the caller: the caller becomes a child subreaper
// once, so that it can wait for it.
func (r *Runtime) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	if len(opts.Args) == 0 {
		return -1, errors.New("exec: no command given")
	}
	var err error
	subreaperOnce.Do(func() { err = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
	if err != nil {
		return -1, fmt.Errorf("becoming a child subreaper: %w", err)
	}
	var spec specs.Spec
	if err := readJSON(filepath.Join(r.root, id, "config.json"), &spec); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return -1, fmt.Errorf("container %s: %w", id, ErrNotFound)
		}
		return -1, err
	}
	c, err := libcontainer.Load(r.stateRoot, id)
	if err != nil {
		return -1, fmt.Errorf("container %s: %w", id, ErrNotRunning)
	}
	if st, err := c.Status(); err != nil || st != libcontainer.Running {
		return -1, fmt.Errorf("container %s: %w", id, ErrNotRunning)
	}
	p := processFromSpec(spec.Process)
	p.Args = opts.Args
	p.Env = mergeEnv(spec.Process.Env, opts.Env)
	p.Init = false

	var (
		childEnds []*os.File // closed once the process started
		readers   []*os.File // output pipes (or the pty master) copied to the caller
		writers   []io.Writer
		stdinW    *os.File
		consoleP  *os.File
	)
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	if opts.TTY {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return -1, fmt.Errorf("creating console socket: %w", err)
		}
		consoleP = parent
		defer consoleP.Close()
		childEnds = append(childEnds, child)
		p.ConsoleSocket = child
		p.ConsoleWidth, p.ConsoleHeight = 80, 24
	} else {
		if opts.Stdin != nil {
			rd, w, err := os.Pipe()
			if err != nil {
				return -1, err
			}
			p.Stdin, stdinW = rd, w
			childEnds = append(childEnds, rd)
		}
		for _, dst := range []io.Writer{opts.Stdout, opts.Stderr} {
			rd, w, err := os.Pipe()
			if err != nil {
				closeAll(childEnds)
				closeAll(readers)
				return -1, err
			}
			childEnds = append(childEnds, w)
			readers = append(readers, rd)
			writers = append(writers, dst)
		}
		p.Stdout, p.Stderr = childEnds[len(childEnds)-2], childEnds[len(childEnds)-1]
	}
	runErr := c.Run(p)
	closeAll(childEnds)
	if runErr != nil {
		closeAll(readers)
		if stdinW != nil {
			stdinW.Close()
		}
		return -1, &StartError{Message: startErrorMessage(runErr)}
	}
	if opts.TTY {
		master, err := recvTerminal(consoleP)
		if err != nil {
			_ = p.Signal(syscall.SIGKILL)
			_, _ = p.Wait()
			return -1, fmt.Errorf("receiving the exec's terminal: %w", err)
		}
		defer master.Close()
		readers, writers = []*os.File{master}, []io.Writer{opts.Stdout}
		if opts.Stdin != nil {
			stdinW = master
		}
		if opts.Resize != nil {
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					select {
					case <-done:
						return
					case sz, ok := <-opts.Resize:
						if !ok {
							return
						}
						setWinsize(master, sz)
					}
				}
			}()
		}
	}

	var copies sync.WaitGroup
	for i, rd := range readers {
		dst := writers[i]
		if dst == nil {
			dst = io.Discard
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(dst, rd)
		}()
	}
	if stdinW != nil {
		go func() {
			_, _ = io.Copy(stdinW, opts.Stdin)
			if !opts.TTY {
				stdinW.Close()
			} else {
				// EOF on a terminal is ^D at the start of a line.
				_, _ = stdinW.Write([]byte{4})
			}
		}()
	}

	waited := make(chan struct{})
	var ps *os.ProcessState
	var werr error
	go func() {
		ps, werr = p.Wait()
		close(waited)
	}()
	var timeout <-chan time.Time
	if opts.Timeout > 0 {
		t := time.NewTimer(opts.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	timedOut := false
	select {
	case <-waited:
	case <-ctx.Done():
		_ = p.Signal(syscall.SIGKILL)
		<-waited
	case <-timeout:
		timedOut = true
		_ = p.Signal(syscall.SIGKILL)
		<-waited
	}
	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(outputDrain):
	}
	closeAll(readers)
	if stdinW != nil && !opts.TTY {
		stdinW.Close()
	}
	<-drained
	if timedOut {
		return -1, ErrExecTimeout
	}
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	if ps == nil {
		return -1, fmt.Errorf("waiting for exec in %s: %w", c.ID(), werr)
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// mergeEnv appends extra to base; a later KEY= replaces an earlier one in place.
func mergeEnv(base, extra []string) []string {
	if len(extra) == 0 {
		return base
	}
	idx := map[string]int{}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range append(append([]string(nil), base...), extra...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// recvTerminal receives the pty master libcontainer sends over the console socket, as a file that
// uses Go's poller (so that closing it ends a blocked read).
func recvTerminal(sock *os.File) (*os.File, error) {
	f, err := utils.RecvFile(sock)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "pty-master"), nil
}

func setWinsize(f *os.File, sz TerminalSize) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Height, Col: sz.Width})
	})
}
