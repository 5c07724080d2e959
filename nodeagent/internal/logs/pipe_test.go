package logs

import (
	"bufio"
	"io"
	"testing"
)

type pipeReader struct {
	r  *io.PipeReader
	br *bufio.Reader
}

func ioPipe() (*pipeReader, *io.PipeWriter) {
	r, w := io.Pipe()
	return &pipeReader{r: r, br: bufio.NewReader(r)}, w
}

func waitLine(t *testing.T, p *pipeReader, want string) {
	t.Helper()
	line, err := p.br.ReadString('\n')
	if err != nil || line != want+"\n" {
		t.Fatalf("waiting for line %q: got %q, %v", want, line, err)
	}
}

func readAll(p *pipeReader) (string, error) {
	b, err := io.ReadAll(p.br)
	return string(b), err
}
