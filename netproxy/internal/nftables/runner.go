package nftables

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs a command (nft, ip) with stdin and returns its standard output.
type Runner interface {
	Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error)
}

// ExecRunner runs commands as child processes. Prefix is prepended to every command line; tests use
// ["ip", "netns", "exec", "<netns>"] to program a private network namespace.
type ExecRunner struct {
	Prefix []string
}

// Run executes args[0] with the rest as arguments.
func (r ExecRunner) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	argv := append(append([]string(nil), r.Prefix...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "..."
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", strings.Join(args[:min(len(args), 3)], " "), err, msg)
	}
	return stdout.Bytes(), nil
}
