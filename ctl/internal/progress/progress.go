// Package progress shows the state of a long operation (rollout status, wait, drain): on a terminal, one
// status line rewritten in place with a spinner and the time elapsed; elsewhere (pipes, files, CI logs),
// one plain line per distinct message, so scripts and logs read cleanly.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Reporter prints progress messages.
type Reporter struct {
	w        io.Writer
	terminal bool
	start    time.Time

	mu    sync.Mutex
	last  string
	frame int
	live  bool
}

// New returns a Reporter for w; it animates only when w is a terminal.
func New(w io.Writer) *Reporter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Reporter{w: w, terminal: tty, start: time.Now()}
}

// Terminal reports whether the reporter rewrites a status line.
func (r *Reporter) Terminal() bool { return r.terminal }

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Update shows msg as the current state. Off a terminal a message equal to the previous one is dropped.
func (r *Reporter) Update(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.terminal {
		if msg != r.last {
			fmt.Fprintln(r.w, msg)
		}
		r.last = msg
		return
	}
	r.last = msg
	r.draw()
}

// Tick redraws the spinner on a terminal (call it from a ticker); off a terminal it does nothing.
func (r *Reporter) Tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminal && r.last != "" {
		r.frame++
		r.draw()
	}
}

func (r *Reporter) draw() {
	elapsed := time.Since(r.start).Truncate(time.Second)
	fmt.Fprintf(r.w, "\r\033[K%s %s [%s]", spinner[r.frame%len(spinner)], r.last, elapsed)
	r.live = true
}

// Done prints the final message on a line of its own.
func (r *Reporter) Done(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminal && r.live {
		fmt.Fprint(r.w, "\r\033[K")
	}
	r.live = false
	if msg != "" {
		fmt.Fprintln(r.w, msg)
	}
}

// Run ticks the spinner until stop is closed; start it in a goroutine.
func (r *Reporter) Run(stop <-chan struct{}) {
	if !r.terminal {
		return
	}
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			r.Tick()
		}
	}
}
