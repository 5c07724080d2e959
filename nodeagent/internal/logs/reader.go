package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ReadOptions are the `kubectl logs` options the agent API accepts.
type ReadOptions struct {
	// Follow keeps streaming new lines until Done reports true or the context ends.
	Follow bool
	// TailLines, when >= 0, starts TailLines lines before the end. Negative means all lines.
	TailLines int64
	// Timestamps prefixes each line with its RFC3339Nano time.
	Timestamps bool
	// Since skips lines logged before it (zero means no bound).
	Since time.Time
	// LimitBytes stops after that many bytes of output (0 means no bound).
	LimitBytes int64
	// Done reports whether the container has exited, so that a follow ends after the last line.
	Done func() bool
	// PollInterval is how often a follow checks for new data; 100ms when zero.
	PollInterval time.Duration
}

// record is one parsed log line.
type record struct {
	ts      time.Time
	stream  string
	partial bool
	text    []byte
}

func parseRecord(line []byte) (record, bool) {
	// "<ts> <stream> <F|P> <text>"
	parts := bytes.SplitN(line, []byte{' '}, 4)
	if len(parts) < 3 {
		return record{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(parts[0]))
	if err != nil {
		return record{}, false
	}
	r := record{ts: ts, stream: string(parts[1]), partial: string(parts[2]) == "P"}
	if len(parts) == 4 {
		r.text = parts[3]
	}
	return r, true
}

// errLimit ends a read once LimitBytes were written.
var errLimit = errors.New("log byte limit reached")

type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errLimit
	}
	trunc := false
	if int64(len(p)) > l.left {
		p, trunc = p[:l.left], true
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && trunc {
		err = errLimit
	}
	return n, err
}

// printer turns records into output lines, joining partial records.
type printer struct {
	out        io.Writer
	timestamps bool
	since      time.Time
	pending    []byte
	pendingTS  time.Time
}

func (p *printer) add(r record) error {
	if len(p.pending) == 0 {
		p.pendingTS = r.ts
	}
	p.pending = append(p.pending, r.text...)
	if r.partial {
		return nil
	}
	line := p.pending
	ts := p.pendingTS
	p.pending = nil
	if !p.since.IsZero() && ts.Before(p.since) {
		return nil
	}
	var buf []byte
	if p.timestamps {
		buf = ts.UTC().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, ' ')
	}
	buf = append(buf, line...)
	buf = append(buf, '\n')
	_, err := p.out.Write(buf)
	return err
}

// Files lists the files holding a log, oldest first: path.N ... path.1, path.
func Files(path string) []string {
	var old []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		old = append(old, p)
	}
	files := make([]string, 0, len(old)+1)
	for i := len(old) - 1; i >= 0; i-- {
		files = append(files, old[i])
	}
	return append(files, path)
}

// Read writes the log at path (and its rotated files) to out as `kubectl logs` shows it.
func Read(ctx context.Context, path string, opts ReadOptions, out io.Writer) error {
	if opts.LimitBytes > 0 {
		out = &limitWriter{w: out, left: opts.LimitBytes}
	}
	p := &printer{out: out, timestamps: opts.Timestamps, since: opts.Since}
	err := read(ctx, path, opts, p)
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

func read(ctx context.Context, path string, opts ReadOptions, p *printer) error {
	var records []record
	files := Files(path)
	for _, f := range files[:len(files)-1] {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // rotated away meanwhile
		}
		records = appendRecords(records, b)
	}
	cur, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log file %s does not exist: %w", path, err)
		}
		return fmt.Errorf("opening log: %w", err)
	}
	defer func() { cur.Close() }()
	br := bufio.NewReader(cur)
	var tail []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if r, ok := parseRecord(line[:len(line)-1]); ok {
				records = append(records, r)
			}
		} else {
			tail = line
		}
		if err != nil {
			break
		}
	}
	if opts.TailLines >= 0 {
		records = tailRecords(records, opts.TailLines)
	}
	for _, r := range records {
		if err := p.add(r); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	interval := opts.PollInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		done := opts.Done != nil && opts.Done()
		// Drain what is there now.
		for {
			line, err := br.ReadBytes('\n')
			tail = append(tail, line...)
			if len(tail) > 0 && tail[len(tail)-1] == '\n' {
				if r, ok := parseRecord(tail[:len(tail)-1]); ok {
					if err := p.add(r); err != nil {
						return err
					}
				}
				tail = nil
			}
			if err != nil {
				break
			}
		}
		if rotated(cur, path) {
			next, err := os.Open(path)
			if err == nil {
				cur.Close()
				cur, br, tail = next, bufio.NewReader(next), nil
				continue
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// rotated reports whether path now names a different file than f.
func rotated(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	as, ok1 := a.Sys().(*syscall.Stat_t)
	bs, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && (as.Ino != bs.Ino || as.Dev != bs.Dev)
}

func appendRecords(records []record, b []byte) []record {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		if r, ok := parseRecord(b[:i]); ok {
			records = append(records, r)
		}
		b = b[i+1:]
	}
	return records
}

// tailRecords keeps the records of the last n full lines.
func tailRecords(records []record, n int64) []record {
	if n == 0 {
		return nil
	}
	lines := int64(0)
	for i := len(records) - 1; i >= 0; i-- {
		if !records[i].partial {
			lines++
			if lines > n {
				return records[i+1:]
			}
		}
	}
	return records
}
