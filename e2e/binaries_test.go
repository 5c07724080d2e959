//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binaries are the six programs `make build` writes.
var binaries = []string{"skiff-apiserver", "skiff-scheduler", "skiff-controller-manager", "skiff-nodeagent", "skiff-netproxy", "skiffctl"}

// builtBinary returns the path of name in -skiff-bin, failing if it is not there.
func builtBinary(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(*skiffBin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not built in %s (run make build): %v", name, dir, err)
	}
	return p
}

// TestBinariesHelpAndVersion checks the contract every Skiff binary keeps: --help describes the flags
// and exits 0, --version prints one line naming the binary and exits 0.
func TestBinariesHelpAndVersion(t *testing.T) {
	for _, name := range binaries {
		t.Run(name, func(t *testing.T) {
			bin := builtBinary(t, name)
			out, err := exec.Command(bin, "--help").CombinedOutput()
			if err != nil {
				t.Fatalf("%s --help: %v\n%s", name, err, out)
			}
			if !strings.Contains(string(out), "--") {
				t.Fatalf("%s --help lists no flags:\n%s", name, out)
			}
			out, err = exec.Command(bin, "--version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s --version: %v\n%s", name, err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], name+" ") {
				t.Fatalf("%s --version printed %q, want one line starting with %q", name, out, name+" ")
			}
		})
	}
}

// TestDaemonsServeHealthAndStopOnSIGTERM starts the control-plane daemons (the node daemons are covered
// inside their test hosts by the nodeagent and netproxy suites), checks /healthz and /metrics, then sends
// SIGTERM and expects a clean exit.
func TestDaemonsServeHealthAndStopOnSIGTERM(t *testing.T) {
	env := startKubectlEnv(t) // an apiserver of its own on a free loopback port, and a kubeconfig
	apiPort := freeLoopbackPort(t)
	dir := t.TempDir()
	daemons := []struct {
		name, health string
		args         []string
	}{
		{"skiff-apiserver", fmt.Sprintf("127.0.0.1:%d", apiPort), []string{"--port", fmt.Sprint(apiPort), "--data-dir", filepath.Join(dir, "etcd")}},
		{"skiff-scheduler", "", []string{"--kubeconfig", env.kubeconfig}},
		{"skiff-controller-manager", "", []string{"--kubeconfig", env.kubeconfig}},
	}
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			addr := d.health
			args := d.args
			if addr == "" {
				addr = fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
				args = append(args, "--health-addr", addr)
			}
			log, err := os.Create(filepath.Join(dir, d.name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			cmd := exec.Command(builtBinary(t, d.name), args...)
			cmd.Stdout, cmd.Stderr = log, log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
				if t.Failed() {
					b, _ := os.ReadFile(log.Name())
					t.Logf("%s log (last 4 KiB):\n%s", d.name, lastBytes(b, 4096))
				}
			})

			body := waitHTTP200(t, "http://"+addr+"/healthz", 60*time.Second)
			if strings.TrimSpace(body) != "ok" {
				t.Fatalf("/healthz answered %q, want ok", body)
			}
			metrics := waitHTTP200(t, "http://"+addr+"/metrics", 10*time.Second)
			if !strings.Contains(metrics, "go_goroutines") {
				t.Fatalf("/metrics has no Go runtime metrics:\n%s", lastBytes([]byte(metrics), 2048))
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				done <- err // for the cleanup
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					t.Fatalf("%s exited with %v after SIGTERM, want status 0", d.name, err)
				}
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s still running 30s after SIGTERM", d.name)
			}
		})
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHTTP200 polls url until it answers 200 and returns the body; on timeout it fails with the last
// answer or error.
func waitHTTP200(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			last = fmt.Sprintf("%s %s", resp.Status, b)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waited %v for 200 from %s; last saw: %s", timeout, url, last)
	return ""
}
