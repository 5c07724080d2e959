package logs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Stream names as they appear in a log line.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// maxLine is the longest piece of a line written as one record; longer lines are split into partial
// ("P") records, as the CRI format does.
const maxLine = 16 * 1024

// Writer appends CRI-format records to a log file and rotates it when it passes MaxSize: the current
// file becomes path.1, path.1 becomes path.2, and so on, keeping MaxFiles files in all. It is safe for
// concurrent use by the stdout and stderr copiers.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int
	now      func() time.Time

	mu   sync.Mutex
	f    *os.File
	size int64
}

// NewWriter opens (creating or appending to) the log file at path. maxSize <= 0 disables rotation;
// maxFiles < 1 is taken as 1 (no old files are kept).
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles, now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening log file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// WriteRecord writes one record. partial marks a piece of a line that continues in the next record.
func (w *Writer) WriteRecord(stream string, partial bool, text []byte) error {
	tag := "F"
	if partial {
		tag = "P"
	}
	buf := make([]byte, 0, len(text)+48)
	buf = w.now().UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	buf = append(buf, tag...)
	buf = append(buf, ' ')
	buf = append(buf, text...)
	buf = append(buf, '\n')

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(buf)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing log file: %w", err)
	}
	return nil
}

func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("rotating log file: %w", err)
	}
	if w.maxFiles == 1 {
		if err := os.Truncate(w.path, 0); err != nil {
			return fmt.Errorf("rotating log file: %w", err)
		}
		return w.open()
	}
	_ = os.Remove(w.path + "." + strconv.Itoa(w.maxFiles-1))
	for i := w.maxFiles - 2; i >= 1; i-- {
		from := w.path + "." + strconv.Itoa(i)
		if err := os.Rename(from, w.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotating log file: %w", err)
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("rotating log file: %w", err)
	}
	return w.open()
}

// Copy reads r until EOF and writes every line as a record of stream. Lines longer than 16 KiB are split
// into partial records. A trailing line without a newline is written as a full record.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := w.WriteRecord(stream, false, line[:len(line)-1]); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := w.WriteRecord(stream, true, line); werr != nil {
				return werr
			}
		default:
			if len(line) > 0 {
				if werr := w.WriteRecord(stream, false, line); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading %s: %w", stream, err)
		}
	}
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}
