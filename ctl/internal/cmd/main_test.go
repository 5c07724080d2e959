package cmd

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// apiURL is the address of the real skiff-apiserver TestMain starts for the integration tests.
var apiURL string

// TestMain builds skiff-apiserver from ../apiserver, runs it on a free loopback port with a temporary
// data directory (embedded etcd) and points a temporary kubeconfig at it.
func TestMain(m *testing.M) {
	code, err := runWithAPIServer(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setting up the apiserver for ctl tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runWithAPIServer(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "skiffctl-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	_, here, _, _ := runtime.Caller(0)
	apiDir := filepath.Join(filepath.Dir(here), "..", "..", "..", "apiserver")
	bin := filepath.Join(tmp, "skiff-apiserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = apiDir
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the apiserver in %s: %v\n%s", apiDir, err, out)
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	var logs bytes.Buffer
	srv := exec.Command(bin, "--port", fmt.Sprint(port), "--data-dir", filepath.Join(tmp, "data"))
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		return 0, fmt.Errorf("starting the apiserver: %w", err)
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
		}
	}()
	apiURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(apiURL+"/readyz", 60*time.Second); err != nil {
		return 0, fmt.Errorf("%w\napiserver output:\n%s", err, logs.String())
	}
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {server: %q}\ncontexts:\n- name: test\n  context: {cluster: test, namespace: default}\n- name: other\n  context: {cluster: test, namespace: kube-system}\ncurrent-context: test\n", apiURL)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		return 0, err
	}
	os.Setenv("KUBECONFIG", kubeconfig)
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "apiserver output (last 4 KiB):\n%s\n", tail(logs.String(), 4096))
	}
	return code, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls url until it answers 200, printing what it saw last on failure.
func waitReady(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("waited %s for %s to answer 200; last saw: %s", timeout, url, last)
}

// result is what one skiffctl run printed.
type result struct {
	out, err string
	code     int
}

// ctl runs skiffctl in-process with args.
func ctl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(args, Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return result{out: out.String(), err: errOut.String(), code: code}
}

// ok runs skiffctl and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := ctl(t, "", args...)
	if r.code != 0 {
		t.Fatalf("skiffctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// namespace creates a namespace for one test and returns the -n flag pair.
func namespace(t *testing.T) []string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-")
	ok(t, "create", "namespace", name)
	return []string{"-n", name}
}

func args(ns []string, a ...string) []string { return append(append([]string{}, ns...), a...) }
