// Package streaming speaks the remote-command stream protocol kubectl uses for exec and attach: a
// WebSocket with subprotocol v5.channel.k8s.io (v4 accepted too), where every binary message starts
// with a channel byte: 0 stdin (client to server), 1 stdout, 2 stderr, 3 the final status (a
// metav1.Status as JSON), 4 terminal resize ({"Width":80,"Height":24}), 255 close (v5: the client
// closed the channel named by the next byte, e.g. [255,0] at stdin EOF).
//
// It knows nothing about containers: a Session gives the caller an io.Reader for stdin, io.Writers
// for stdout and stderr and a channel of terminal sizes, and Close sends the exit status. It does not
// speak SPDY: a SPDY request gets a 400 Status, which kubectl reports.
package streaming

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Subprotocols, newest first.
const (
	ProtocolV5 = "v5.channel.k8s.io"
	ProtocolV4 = "v4.channel.k8s.io"
)

// Channels of the protocol.
const (
	ChannelStdin  byte = 0
	ChannelStdout byte = 1
	ChannelStderr byte = 2
	ChannelError  byte = 3
	ChannelResize byte = 4
	ChannelClose  byte = 255
)

// TerminalSize is a resize event from the client.
type TerminalSize struct {
	Width  uint16 `json:"Width"`
	Height uint16 `json:"Height"`
}

// Options are the streams a request asks for (the stdin, stdout, stderr and tty query parameters).
type Options struct {
	Stdin, Stdout, Stderr, TTY bool
}

// ParseRequest reads the query of an exec request: the command (repeated "command" parameters) and the
// stream options. A TTY has no separate stderr stream.
func ParseRequest(q url.Values) ([]string, Options, error) {
	var o Options
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"stdin", &o.Stdin}, {"stdout", &o.Stdout}, {"stderr", &o.Stderr}, {"tty", &o.TTY}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, o, fmt.Errorf("query parameter %s: %q is not a boolean", p.name, v)
		}
		*p.dst = b
	}
	if o.TTY {
		o.Stderr = false
	}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return nil, o, errors.New("you must specify at least one of stdin, stdout, stderr")
	}
	return q["command"], o, nil
}

// IsWebSocket reports whether r asks for a WebSocket upgrade.
func IsWebSocket(r *http.Request) bool {
	return websocket.IsWebSocketUpgrade(r)
}

// Session is one upgraded exec or attach connection.
type Session struct {
	conn *websocket.Conn
	opts Options

	// Stdin is the client's standard input (nil when not requested); it returns EOF when the client
	// closes stdin or the connection.
	Stdin io.Reader
	// Stdout and Stderr write to the client (nil when not requested).
	Stdout, Stderr io.Writer
	// Resize carries the client's terminal sizes (TTY only).
	Resize <-chan TerminalSize
	// Gone is closed when the client's connection ends.
	Gone <-chan struct{}

	writeMu  sync.Mutex
	stdinW   *io.PipeWriter
	resize   chan TerminalSize
	gone     chan struct{}
	goneOnce sync.Once
}

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{ProtocolV5, ProtocolV4},
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
	// The agent API is reached through the apiserver's proxy; browsers are not its clients.
	CheckOrigin: func(*http.Request) bool { return true },
}

// Upgrade answers the WebSocket handshake (101 with the negotiated subprotocol) and starts reading
// the client's messages. A client that offers none of the supported subprotocols gets a 400.
func Upgrade(w http.ResponseWriter, r *http.Request, opts Options) (*Session, error) {
	offered := websocket.Subprotocols(r)
	ok := false
	for _, p := range offered {
		if p == ProtocolV5 || p == ProtocolV4 {
			ok = true
		}
	}
	if !ok {
		WriteStatus(w, http.StatusBadRequest, fmt.Sprintf("unsupported streaming protocol %v: only %s and %s are served", offered, ProtocolV5, ProtocolV4))
		return nil, errors.New("no supported subprotocol")
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	s := &Session{conn: conn, opts: opts, resize: make(chan TerminalSize, 4), gone: make(chan struct{})}
	s.Gone = s.gone
	if opts.Stdin {
		pr, pw := io.Pipe()
		s.Stdin, s.stdinW = pr, pw
	}
	if opts.Stdout {
		s.Stdout = &channelWriter{s: s, ch: ChannelStdout}
	}
	if opts.Stderr {
		s.Stderr = &channelWriter{s: s, ch: ChannelStderr}
	}
	if opts.TTY {
		s.Resize = s.resize
	}
	go s.readLoop()
	return s, nil
}

// readLoop reads client messages until the connection ends; reading also answers pings.
func (s *Session) readLoop() {
	defer s.goneOnce.Do(func() { close(s.gone) })
	defer func() {
		if s.stdinW != nil {
			s.stdinW.Close()
		}
	}()
	for {
		typ, msg, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.BinaryMessage && typ != websocket.TextMessage || len(msg) == 0 {
			continue
		}
		data := msg[1:]
		switch msg[0] {
		case ChannelStdin:
			if s.stdinW != nil && len(data) > 0 {
				if _, err := s.stdinW.Write(data); err != nil {
					// The process stopped reading; drop what the client still sends.
					s.stdinW = nil
				}
			}
		case ChannelResize:
			var sz TerminalSize
			if json.Unmarshal(data, &sz) == nil && s.opts.TTY {
				select {
				case s.resize <- sz:
				default: // a burst of resizes: the latest ones win soon enough
				}
			}
		case ChannelClose:
			if len(data) > 0 && data[0] == ChannelStdin && s.stdinW != nil {
				s.stdinW.Close()
			}
		}
	}
}

type channelWriter struct {
	s  *Session
	ch byte
}

func (w *channelWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.s.write(w.ch, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *Session) write(ch byte, p []byte) error {
	msg := make([]byte, 1+len(p))
	msg[0] = ch
	copy(msg[1:], p)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return s.conn.WriteMessage(websocket.BinaryMessage, msg)
}

// ExitStatus is the status a finished exec reports: Success for exit code 0, the NonZeroExitCode
// failure with the code as an ExitCode cause otherwise, or an InternalError for err.
func ExitStatus(code int, err error) metav1.Status {
	switch {
	case err != nil:
		return metav1.Status{Status: "Failure", Reason: metav1.StatusReasonInternalError, Message: err.Error(), Code: 500}
	case code == 0:
		return metav1.Status{Status: "Success"}
	}
	return metav1.Status{
		Status:  "Failure",
		Reason:  "NonZeroExitCode",
		Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command [...], exit code %d", code),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}},
	}
}

// Close sends the final status on the error channel, then a normal close frame, and waits briefly for
// the client to close its end.
func (s *Session) Close(st metav1.Status) {
	b, _ := json.Marshal(st)
	_ = s.write(ChannelError, b)
	s.writeMu.Lock()
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	s.writeMu.Unlock()
	select {
	case <-s.gone:
	case <-time.After(2 * time.Second):
	}
	s.conn.Close()
}

// WriteStatus answers a request that was not upgraded with a Kubernetes Status.
func WriteStatus(w http.ResponseWriter, code int, msg string) {
	reason := metav1.StatusReasonBadRequest
	switch code {
	case http.StatusNotFound:
		reason = metav1.StatusReasonNotFound
	case http.StatusInternalServerError:
		reason = metav1.StatusReasonInternalError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   "Failure", Message: msg, Reason: reason, Code: int32(code),
	})
}
