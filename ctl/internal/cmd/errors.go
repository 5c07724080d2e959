package cmd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/skiffhq/skiff/shared/client"
)

// ExitError ends the program with a code and no message (exec passes the remote command's code on).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// multiError is several independent failures (one per object), each printed on its own line.
type multiError []error

func (m multiError) Error() string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// errs returns nil for no errors, the error itself for one, else a multiError.
func errs(list []error) error {
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return multiError(list)
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// PrintError writes err as kubectl does, one line per failure, and returns the exit code.
func PrintError(w io.Writer, err error) int {
	var exit *ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	var m multiError
	if errors.As(err, &m) {
		for _, e := range m {
			fmt.Fprintln(w, errorLine(e))
		}
		return 1
	}
	fmt.Fprintln(w, errorLine(err))
	return 1
}

// errorLine formats one failure: API errors as "Error from server (Reason): message", a refused
// connection with a hint, anything else as "error: message".
func errorLine(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		prefix := ""
		var ctxErr *contextError
		if errors.As(err, &ctxErr) {
			prefix = ctxErr.context + ": "
		}
		msg := ae.Status.Message
		if msg == "" {
			msg = ae.Error()
		}
		if ae.Status.Reason != "" {
			return fmt.Sprintf("Error from server (%s): %s%s", ae.Status.Reason, prefix, msg)
		}
		return fmt.Sprintf("Error from server: %s%s", prefix, msg)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		var ue *url.Error
		host := ""
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				host = u.Host
			}
		}
		var oe *net.OpError
		if host == "" && errors.As(err, &oe) && oe.Addr != nil {
			host = oe.Addr.String()
		}
		return fmt.Sprintf("The connection to the server %s was refused - did you specify the right host or port?", host)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "error: ") || strings.HasPrefix(msg, "Error from server") || strings.HasPrefix(msg, "Warning: ") {
		return msg
	}
	return "error: " + msg
}

// contextError adds context (like `error when creating "f.yaml"`) to an API error while keeping the
// kubectl layout "Error from server (Reason): <context>: <message>".
type contextError struct {
	context string
	err     error
}

func (e *contextError) Error() string { return e.context + ": " + e.err.Error() }
func (e *contextError) Unwrap() error { return e.err }

func withContext(ctx string, err error) error {
	if err == nil {
		return nil
	}
	return &contextError{context: ctx, err: err}
}
