package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExec(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if _, err := e.rt.Start(ctx, e.config("execbox", "sleep", "1000")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		opts       ExecOptions
		wantCode   int
		wantOut    string
		wantErrOut string
		wantErr    error
	}{
		{name: "output, error output and exit code come back", opts: ExecOptions{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}, wantCode: 3, wantOut: "out\n", wantErrOut: "err\n"},
		{name: "the container's environment and hostname are seen", opts: ExecOptions{Args: []string{"sh", "-c", "echo $GREETING $(hostname) $EXTRA"}, Env: []string{"EXTRA=more"}}, wantOut: "hello box more\n"},
		{name: "stdin reaches the process until EOF", opts: ExecOptions{Args: []string{"sh", "-c", "tr a-z A-Z"}, Stdin: strings.NewReader("shout\n")}, wantOut: "SHOUT\n"},
		{name: "a terminal is a tty and gets its size", opts: ExecOptions{Args: []string{"sh", "-c", "test -t 0 && echo tty; stty size"}, TTY: true}, wantOut: "tty\r\n24 80\r\n"},
		{name: "a command that runs too long is killed", opts: ExecOptions{Args: []string{"sleep", "100"}, Timeout: 300 * time.Millisecond}, wantCode: -1, wantErr: ErrExecTimeout},
		{name: "a missing binary is a start error", opts: ExecOptions{Args: []string{"/no/such/binary"}}, wantCode: -1, wantErr: &StartError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			tt.opts.Stdout, tt.opts.Stderr = &out, &errOut
			code, err := e.rt.Exec(ctx, "execbox", tt.opts)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("exec: %v", err)
				}
			case *StartError:
				var se *StartError
				if !errors.As(err, &se) {
					t.Fatalf("error %v, want a StartError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("error %v, want %v", err, want)
				}
			}
			if code != tt.wantCode || out.String() != tt.wantOut || errOut.String() != tt.wantErrOut {
				t.Fatalf("code %d stdout %q stderr %q; want %d %q %q", code, out.String(), errOut.String(), tt.wantCode, tt.wantOut, tt.wantErrOut)
			}
		})
	}
	t.Run("resizing the terminal changes its size", func(t *testing.T) {
		resize := make(chan TerminalSize, 1)
		resize <- TerminalSize{Width: 132, Height: 50}
		pr, pw := io.Pipe()
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() {
			_, err := e.rt.Exec(ctx, "execbox", ExecOptions{Args: []string{"sh"}, TTY: true, Stdin: pr, Stdout: &out, Resize: resize})
			done <- err
		}()
		// The resize is applied before sh reads its first line.
		_, _ = pw.Write([]byte("sleep 0.5; stty size; exit 0\n"))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "50 132") {
			t.Fatalf("output %q does not show the 50x132 size", out.String())
		}
	})
	t.Run("a stopped container cannot be exec'd into", func(t *testing.T) {
		if _, err := e.rt.Start(ctx, e.config("quick", "true")); err != nil {
			t.Fatal(err)
		}
		waitExited(t, e.rt, "quick")
		if _, err := e.rt.Exec(ctx, "quick", ExecOptions{Args: []string{"true"}}); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("error %v, want ErrNotRunning", err)
		}
	})
}

func TestMergeEnv(t *testing.T) {
	got := strings.Join(mergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4"}), " ")
	if got != "A=1 B=3 C=4" {
		t.Fatalf("got %q", got)
	}
}

func TestListRemovesOnlyStaleHalfMadeBundles(t *testing.T) {
	e := newTestEnv(t)
	fresh := filepath.Join(e.root, "containers", "starting")
	stale := filepath.Join(e.root, "containers", "abandoned")
	for _, d := range []string{fresh, stale} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.List(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("a bundle being created right now was removed by List")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("an abandoned bundle without metadata was kept")
	}
}
