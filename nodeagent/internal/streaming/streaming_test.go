package streaming

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// shellServer runs the request's command with sh on this machine, streamed through a Session: the
// protocol layer exercised with a real process.
func shellServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cmd, opts, err := ParseRequest(r.URL.Query())
		if err != nil {
			WriteStatus(w, http.StatusBadRequest, err.Error())
			return
		}
		sess, err := Upgrade(w, r, opts)
		if err != nil {
			return
		}
		c := exec.Command(cmd[0], cmd[1:]...)
		if sess.Stdin != nil {
			c.Stdin = sess.Stdin
		}
		c.Stdout, c.Stderr = sess.Stdout, sess.Stderr
		err = c.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code, err = ee.ExitCode(), nil
		}
		sess.Close(ExitStatus(code, err))
	}))
	t.Cleanup(srv.Close)
	return srv
}

type result struct {
	stdout, stderr string
	status         metav1.Status
	closeCode      int
}

func dial(t *testing.T, srv *httptest.Server, protocol string, query url.Values) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/exec?" + query.Encode()
	d := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 5 * time.Second}
	return d.Dial(u, nil)
}

func readAll(t *testing.T, c *websocket.Conn) result {
	t.Helper()
	var res result
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				res.closeCode = ce.Code
			}
			return res
		}
		if typ != websocket.BinaryMessage || len(msg) == 0 {
			t.Fatalf("message type %d len %d: every message is binary with a channel byte", typ, len(msg))
		}
		switch msg[0] {
		case ChannelStdout:
			res.stdout += string(msg[1:])
		case ChannelStderr:
			res.stderr += string(msg[1:])
		case ChannelError:
			if err := json.Unmarshal(msg[1:], &res.status); err != nil {
				t.Fatalf("status %q: %v", msg[1:], err)
			}
		default:
			t.Fatalf("unexpected channel %d", msg[0])
		}
	}
}

func TestExecProtocol(t *testing.T) {
	srv := shellServer(t)
	tests := []struct {
		name       string
		command    []string
		stdin      string
		wantOut    string
		wantErr    string
		wantStatus string
		wantCode   string
	}{
		{name: "stdout, stderr and a non-zero exit code", command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, wantOut: "out\n", wantErr: "err\n", wantStatus: "Failure", wantCode: "3"},
		{name: "exit code 0 is Success", command: []string{"echo", "hi"}, wantOut: "hi\n", wantStatus: "Success"},
		{name: "stdin is delivered and its close ends the input", command: []string{"sh", "-c", "cat; echo done"}, stdin: "typed\n", wantOut: "typed\ndone\n", wantStatus: "Success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"command": tt.command, "stdout": {"true"}, "stderr": {"true"}}
			if tt.stdin != "" {
				q.Set("stdin", "true")
			}
			c, resp, err := dial(t, srv, ProtocolV5, q)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != ProtocolV5 {
				t.Fatalf("negotiated protocol %q, want %s", got, ProtocolV5)
			}
			if tt.stdin != "" {
				if err := c.WriteMessage(websocket.BinaryMessage, append([]byte{ChannelStdin}, tt.stdin...)); err != nil {
					t.Fatal(err)
				}
				// What kubectl sends at stdin EOF.
				if err := c.WriteMessage(websocket.BinaryMessage, []byte{ChannelClose, ChannelStdin}); err != nil {
					t.Fatal(err)
				}
			}
			res := readAll(t, c)
			if res.stdout != tt.wantOut || res.stderr != tt.wantErr || res.status.Status != tt.wantStatus {
				t.Fatalf("got stdout %q stderr %q status %+v", res.stdout, res.stderr, res.status)
			}
			if tt.wantCode != "" {
				d := res.status.Details
				if res.status.Reason != "NonZeroExitCode" || d == nil || len(d.Causes) != 1 || d.Causes[0].Type != "ExitCode" || d.Causes[0].Message != tt.wantCode {
					t.Fatalf("status %+v, want NonZeroExitCode with ExitCode cause %s", res.status, tt.wantCode)
				}
			}
			if res.closeCode != websocket.CloseNormalClosure {
				t.Fatalf("close code %d, want 1000", res.closeCode)
			}
		})
	}
}

func TestPingsAreAnsweredWhileTheCommandRuns(t *testing.T) {
	srv := shellServer(t)
	c, _, err := dial(t, srv, ProtocolV5, url.Values{"command": {"sh", "-c", "sleep 1; echo late"}, "stdout": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pong := make(chan struct{}, 1)
	c.SetPongHandler(func(string) error { pong <- struct{}{}; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	res := readAll(t, c) // reading processes the pong
	select {
	case <-pong:
	default:
		t.Fatal("no pong for a ping sent while the command ran")
	}
	if res.stdout != "late\n" || res.status.Status != "Success" {
		t.Fatalf("result %+v", res)
	}
}

func TestUnsupportedProtocolIsRefused(t *testing.T) {
	srv := shellServer(t)
	_, resp, err := dial(t, srv, "channel.k8s.io", url.Values{"command": {"true"}, "stdout": {"true"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("err %v resp %v: an old protocol must get 400 (kubectl then reports it)", err, resp)
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    Options
		wantErr bool
	}{
		{"a tty has no stderr stream", "command=sh&stdin=true&stdout=true&stderr=true&tty=true", Options{Stdin: true, Stdout: true, TTY: true}, false},
		{"1 is true", "command=ls&stdout=1", Options{Stdout: true}, false},
		{"no stream at all is refused", "command=ls", Options{}, true},
		{"a non-boolean is refused", "command=ls&stdout=yes", Options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			_, got, err := ParseRequest(q)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Fatalf("got %+v %v", got, err)
			}
		})
	}
}
