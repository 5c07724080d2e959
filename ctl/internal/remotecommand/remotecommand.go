// Package remotecommand is the client side of exec's stream protocol over a websocket
// (v5.channel.k8s.io): every message is binary and starts with a channel byte, 0 stdin, 1 stdout,
// 2 stderr, 3 the final Status, 4 terminal resizes, and 255 closes a channel (stdin EOF).
//
// It does not speak SPDY; Skiff's apiserver proxies the websocket to the node agent.
package remotecommand

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// Protocol is the websocket subprotocol spoken.
const Protocol = "v5.channel.k8s.io"

// The channels of the protocol.
const (
	chanStdin  = 0
	chanStdout = 1
	chanStderr = 2
	chanError  = 3
	chanResize = 4
	chanClose  = 255
)

// TerminalSize is a resize message.
type TerminalSize struct {
	Width  uint16
	Height uint16
}

// Options describe one exec.
type Options struct {
	Namespace, Pod, Container string
	Command                   []string
	Stdin                     io.Reader
	Stdout, Stderr            io.Writer
	TTY                       bool
	// Resize delivers terminal sizes to send (first one right away); nil sends none.
	Resize <-chan TerminalSize
}

// ExitCodeError carries a remote command's non-zero exit code.
type ExitCodeError struct{ Code int }

func (e *ExitCodeError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.Code)
}

// Exec runs a command in a container and streams its I/O until it ends. A non-zero exit is returned as
// *ExitCodeError.
func Exec(ctx context.Context, cfg client.Config, o Options) error {
	u, err := execURL(cfg, o)
	if err != nil {
		return err
	}
	dialer := websocket.Dialer{Subprotocols: []string{Protocol}, Proxy: http.ProxyFromEnvironment}
	if u.Scheme == "wss" {
		tc, err := cfg.TLSConfig()
		if err != nil {
			return err
		}
		dialer.TLSClientConfig = tc
	}
	h := http.Header{}
	if cfg.BearerToken != "" {
		h.Set("Authorization", "Bearer "+cfg.BearerToken)
	}
	conn, resp, err := dialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			var st metav1.Status
			if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
				if st.Code == 0 {
					st.Code = int32(resp.StatusCode)
				}
				e := client.NewAPIError(st)
				return e
			}
			return fmt.Errorf("exec: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return fmt.Errorf("exec: connecting to %s: %w", u.Redacted(), err)
	}
	defer conn.Close()
	if conn.Subprotocol() != Protocol {
		return fmt.Errorf("exec: the server speaks %q, not %s", conn.Subprotocol(), Protocol)
	}
	var wmu sync.Mutex
	write := func(ch byte, data []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return conn.WriteMessage(websocket.BinaryMessage, append([]byte{ch}, data...))
	}
	done := make(chan struct{})
	defer close(done)
	if o.Resize != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-o.Resize:
					if !ok {
						return
					}
					b, _ := json.Marshal(sz)
					_ = write(chanResize, b)
				}
			}
		}()
	}
	if o.Stdin != nil {
		go func() {
			buf := make([]byte, 32*1024)
			for {
				n, err := o.Stdin.Read(buf)
				if n > 0 {
					if write(chanStdin, buf[:n]) != nil {
						return
					}
				}
				if err != nil {
					_ = write(chanClose, []byte{chanStdin})
					return
				}
			}
		}()
	}
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	var status *metav1.Status
	for {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			if status != nil || websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("exec: reading the stream: %w", err)
		}
		if typ != websocket.BinaryMessage || len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case chanStdout:
			if o.Stdout != nil {
				_, _ = o.Stdout.Write(msg[1:])
			}
		case chanStderr:
			if o.Stderr != nil {
				_, _ = o.Stderr.Write(msg[1:])
			}
		case chanError:
			st := &metav1.Status{}
			if err := json.Unmarshal(msg[1:], st); err != nil {
				return fmt.Errorf("exec: undecodable status %q", msg[1:])
			}
			status = st
		}
	}
	return statusError(status)
}

// statusError maps the channel-3 Status to the result of the command.
func statusError(st *metav1.Status) error {
	if st == nil || st.Status == metav1.StatusSuccess {
		return nil
	}
	if st.Reason == "NonZeroExitCode" && st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Type == "ExitCode" {
				if n, err := strconv.Atoi(c.Message); err == nil {
					return &ExitCodeError{Code: n}
				}
			}
		}
	}
	if st.Message != "" {
		return errors.New(st.Message)
	}
	return fmt.Errorf("exec failed: %s", st.Reason)
}

func execURL(cfg client.Config, o Options) (*url.URL, error) {
	server := cfg.Server
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("parsing server address: %w", err)
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/namespaces/" + url.PathEscape(o.Namespace) + "/pods/" + url.PathEscape(o.Pod) + "/exec"
	q := url.Values{}
	for _, c := range o.Command {
		q.Add("command", c)
	}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	q.Set("stdout", "true")
	if !o.TTY {
		q.Set("stderr", "true")
	}
	if o.Stdin != nil {
		q.Set("stdin", "true")
	}
	if o.TTY {
		q.Set("tty", "true")
	}
	u.RawQuery = q.Encode()
	return u, nil
}
