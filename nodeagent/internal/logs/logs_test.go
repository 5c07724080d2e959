package logs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeLines(t *testing.T, w *Writer, stream string, lines ...string) {
	t.Helper()
	if err := w.Copy(stream, strings.NewReader(strings.Join(lines, "\n")+"\n")); err != nil {
		t.Fatal(err)
	}
}

func TestReadOptions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	i := 0
	w.now = func() time.Time { i++; return base.Add(time.Duration(i) * time.Second) }
	writeLines(t, w, Stdout, "one", "two", "three", "four")
	w.Close()

	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all lines", ReadOptions{TailLines: -1}, "one\ntwo\nthree\nfour\n"},
		{"tail two lines", ReadOptions{TailLines: 2}, "three\nfour\n"},
		{"tail zero lines prints nothing", ReadOptions{TailLines: 0}, ""},
		{"tail more lines than exist", ReadOptions{TailLines: 10}, "one\ntwo\nthree\nfour\n"},
		{"since skips older lines", ReadOptions{TailLines: -1, Since: base.Add(3 * time.Second)}, "three\nfour\n"},
		{"limit bytes truncates", ReadOptions{TailLines: -1, LimitBytes: 6}, "one\ntw"},
		{"timestamps prefix each line", ReadOptions{TailLines: 1, Timestamps: true}, "2025-01-02T03:04:09Z four\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Read(context.Background(), path, tt.opts, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestLongLinesArePartialRecordsJoinedOnRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 40000)
	writeLines(t, w, Stderr, long, "short")
	w.Close()
	raw, _ := os.ReadFile(path)
	if n := bytes.Count(raw, []byte(" stderr P ")); n != 2 {
		t.Fatalf("want 2 partial records for a 40000-byte line, got %d", n)
	}
	var out bytes.Buffer
	if err := Read(context.Background(), path, ReadOptions{TailLines: -1}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != long+"\nshort\n" {
		t.Fatalf("joined output has %d bytes, want %d", out.Len(), len(long)+7)
	}
}

func TestRotationKeepsMaxFilesAndReadSpansThem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(path, 200, 3)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 40; i++ {
		line := strings.Repeat(string(rune('a'+i%26)), 20)
		want = append(want, line)
		writeLines(t, w, Stdout, line)
	}
	w.Close()
	files := Files(path)
	if len(files) != 3 {
		t.Fatalf("want 3 files (current + 2 rotated), got %v", files)
	}
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 200 {
			t.Fatalf("%s has %d bytes, over the 200-byte limit", f, st.Size())
		}
	}
	var out bytes.Buffer
	if err := Read(context.Background(), path, ReadOptions{TailLines: 3}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != strings.Join(want[37:], "\n")+"\n" {
		t.Fatalf("tail 3 after rotation: got %q", got)
	}
}

func TestFollowStreamsNewLinesUntilDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, w, Stdout, "before")
	done := make(chan struct{})
	pr, pw := ioPipe()
	go func() {
		_ = Read(context.Background(), path, ReadOptions{TailLines: -1, Follow: true, PollInterval: 10 * time.Millisecond,
			Done: func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			}}, pw)
		pw.Close()
	}()
	waitLine(t, pr, "before")
	writeLines(t, w, Stdout, "after")
	waitLine(t, pr, "after")
	close(done)
	if rest, _ := readAll(pr); rest != "" {
		t.Fatalf("unexpected trailing output %q", rest)
	}
}
