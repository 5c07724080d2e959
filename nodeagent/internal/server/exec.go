package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/skiffhq/skiff/nodeagent/internal/logs"
	"github.com/skiffhq/skiff/nodeagent/internal/pods"
	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
	"github.com/skiffhq/skiff/nodeagent/internal/streaming"
)

// Streams is what exec and attach need from the pod manager.
type Streams interface {
	Exec(ctx context.Context, namespace, name, container string, opts runtime.ExecOptions) (int, error)
	RunningContainer(namespace, name, container string) (pods.ContainerRef, error)
	ContainerLog(namespace, name, container string, previous bool) (path string, done func() bool, err error)
}

// lookupStatus maps a pod manager lookup error to an HTTP status code.
func lookupStatus(err error) int {
	switch {
	case errors.Is(err, pods.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, pods.ErrNotStarted):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// exec serves /exec/<namespace>/<pod>/<container>?command=...&stdin&stdout&stderr&tty over the
// v5.channel.k8s.io WebSocket protocol.
func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	cmd, opts, err := streaming.ParseRequest(r.URL.Query())
	if err == nil && len(cmd) == 0 {
		err = errors.New("you must specify a command (the command query parameter)")
	}
	if err != nil {
		streaming.WriteStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	if !streaming.IsWebSocket(r) {
		streaming.WriteStatus(w, http.StatusBadRequest, "exec is served over WebSocket ("+streaming.ProtocolV5+") only; SPDY is not supported")
		return
	}
	// Fail before the upgrade when there is nothing to exec into: kubectl prints the Status.
	if _, err := s.streams.RunningContainer(ns, name, container); err != nil {
		streaming.WriteStatus(w, lookupStatus(err), err.Error())
		return
	}
	sess, err := streaming.Upgrade(w, r, opts)
	if err != nil {
		s.log.Debug("exec upgrade failed", zap.String("pod", ns+"/"+name), zap.Error(err))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sess.Gone:
			// The client went away: a process with no terminal and no stdin may run on, as with the
			// kubelet; one attached to the client's input is ended.
			if opts.Stdin || opts.TTY {
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	eo := runtime.ExecOptions{Args: cmd, Stdout: sess.Stdout, Stderr: sess.Stderr, TTY: opts.TTY}
	if opts.Stdin {
		eo.Stdin = sess.Stdin
	}
	if opts.TTY {
		resize := make(chan runtime.TerminalSize, 1)
		eo.Resize = resize
		go func() {
			defer close(resize)
			for {
				select {
				case sz := <-sess.Resize:
					select {
					case resize <- runtime.TerminalSize{Width: sz.Width, Height: sz.Height}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	code, err := s.streams.Exec(ctx, ns, name, container, eo)
	var se *runtime.StartError
	if errors.As(err, &se) {
		// As the kubelet reports an exec whose binary cannot start.
		err = errors.New(se.Message)
	}
	sess.Close(streaming.ExitStatus(code, err))
}

// attach serves /attach/<namespace>/<pod>/<container>: the container's output from now on, until it
// exits. The container's standard input is not connected (containers run without one).
func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	_, opts, err := streaming.ParseRequest(r.URL.Query())
	if err != nil {
		streaming.WriteStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	if !streaming.IsWebSocket(r) {
		streaming.WriteStatus(w, http.StatusBadRequest, "attach is served over WebSocket ("+streaming.ProtocolV5+") only; SPDY is not supported")
		return
	}
	if _, err := s.streams.RunningContainer(ns, name, container); err != nil {
		streaming.WriteStatus(w, lookupStatus(err), err.Error())
		return
	}
	path, done, err := s.streams.ContainerLog(ns, name, container, false)
	if err != nil {
		streaming.WriteStatus(w, lookupStatus(err), err.Error())
		return
	}
	sess, err := streaming.Upgrade(w, r, opts)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sess.Gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	out := sess.Stdout
	if out == nil {
		out = sess.Stderr
	}
	if out != nil {
		err = logs.Read(ctx, path, logs.ReadOptions{Follow: true, TailLines: 0, Since: time.Now(), Done: done}, out)
	} else {
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		err = nil
	}
	sess.Close(streaming.ExitStatus(0, err))
}
