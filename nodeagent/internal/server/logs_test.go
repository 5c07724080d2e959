package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/internal/pods"
	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
	"github.com/skiffhq/skiff/shared/testenv/busybox"
)

// TestMain lets the test binary serve as the container init and the shim, as the agent binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			libcontainer.Init()
			return
		case runtime.ShimArg:
			os.Exit(runtime.RunShim(os.Args))
		}
	}
	os.Exit(m.Run())
}

// fakePods stands in for the pod manager (which needs an apiserver): it maps default/<id>/<id> to the
// real container <id> of a real runtime, its log file and its exit.
type fakePods struct {
	rt *runtime.Runtime
}

func (f *fakePods) Pods() []*corev1.Pod    { return nil }
func (f *fakePods) Stats() []pods.PodStats { return nil }
func (f *fakePods) Exec(context.Context, string, string, string, runtime.ExecOptions) (int, error) {
	return 0, fmt.Errorf("exec: %w", pods.ErrNotFound)
}

func (f *fakePods) RunningContainer(_, _, _ string) (pods.ContainerRef, error) {
	return pods.ContainerRef{}, pods.ErrNotFound
}

func (f *fakePods) ContainerLog(namespace, name, container string, previous bool) (string, func() bool, error) {
	if namespace != "default" || name != container || previous {
		return "", nil, pods.ErrNotFound
	}
	s, err := f.rt.State(name)
	if err != nil {
		return "", nil, fmt.Errorf("%v: %w", err, pods.ErrNotFound)
	}
	done := func() bool {
		s, err := f.rt.State(name)
		return err != nil || s.Status == runtime.StatusExited
	}
	return s.LogPath, done, nil
}

func startContainer(t *testing.T, rt *runtime.Runtime, dir, rootfs, cgroup, id string, args ...string) {
	t.Helper()
	cfg := &runtime.ContainerConfig{
		ID: id, Rootfs: rootfs, ReadOnlyRootfs: true, Args: args, Env: []string{"PATH=/bin"},
		Hostname: id, CgroupsPath: cgroup + "/" + id, LogPath: filepath.Join(dir, "logs", id, "0.log"),
	}
	if _, err := rt.Start(context.Background(), cfg); err != nil {
		t.Fatalf("starting %s: %v", id, err)
	}
}

// TestContainerLogsKeepTheFirstLines runs real containers whose first lines are written the moment they
// start, and reads them back through /containerLogs with each option kubectl logs passes.
func TestContainerLogsKeepTheFirstLines(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs real containers and needs root")
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := busybox.Build(rootfs); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.New(filepath.Join(dir, "containers"), filepath.Join(dir, "state"), self)
	if err != nil {
		t.Fatal(err)
	}
	cgroup := fmt.Sprintf("/skiff-test-%d", rand.Int63())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		list, _ := rt.List()
		for _, s := range list {
			if err := rt.Remove(ctx, s.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := runtime.RemoveCgroup(cgroup); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	// "running" keeps going while it is read; "ended" has exited, so a follow ends by itself.
	startContainer(t, rt, dir, rootfs, cgroup, "running", "sh", "-c", "echo first; echo second; sleep 30")
	startContainer(t, rt, dir, rootfs, cgroup, "ended", "sh", "-c", "echo first; echo second")
	startContainer(t, rt, dir, rootfs, cgroup, "starter", "sh", "-c", "echo starting; exec httpd -f -p 8080 -h /")
	select {
	case <-rt.Exited("ended"):
	case <-time.After(60 * time.Second):
		s, _ := rt.State("ended")
		t.Fatalf("waiting for container ended to exit: last state %+v", s)
	}

	srv := httptest.NewServer(New("", &fakePods{rt: rt}, nil, zap.NewNop()).Handler())
	defer srv.Close()
	get := func(t *testing.T, id, query string, lines int) (string, []string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/containerLogs/default/"+id+"/"+id+"?"+query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s?%s: %v", id, query, err)
		}
		defer resp.Body.Close()
		if lines < 0 {
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("GET %s?%s: reading: %v", id, query, err)
			}
			return resp.Status, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
		// A follow of a running container: read the lines wanted, then hang up.
		var got []string
		sc := bufio.NewScanner(resp.Body)
		for len(got) < lines && sc.Scan() {
			got = append(got, sc.Text())
		}
		return resp.Status, got
	}

	// The container's first output may still be on its way to the file: wait for it, then check.
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range []string{"running", "starter"} {
		for {
			_, got := get(t, id, "", -1)
			if len(got) > 0 && got[0] != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("container %s logged nothing within 30s (last read %q)", id, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	tests := []struct {
		id, query string
		follow    int // lines to read from a follow of a running container; -1: read to the end
		want      []string
	}{
		{"running", "", -1, []string{"first", "second"}},
		{"running", "timestamps=true", -1, []string{"first", "second"}},
		{"running", "tailLines=2", -1, []string{"first", "second"}},
		{"running", "tailLines=10&timestamps=true", -1, []string{"first", "second"}},
		{"running", "tailLines=1", -1, []string{"second"}},
		{"running", "sinceSeconds=600", -1, []string{"first", "second"}},
		{"running", "follow=true", 2, []string{"first", "second"}},
		{"running", "follow=true&timestamps=true", 2, []string{"first", "second"}},
		{"running", "follow=true&tailLines=5", 2, []string{"first", "second"}},
		{"ended", "", -1, []string{"first", "second"}},
		{"ended", "follow=true", -1, []string{"first", "second"}},
		{"ended", "follow=true&timestamps=true&tailLines=2", -1, []string{"first", "second"}},
		{"starter", "", -1, []string{"starting"}},
		{"starter", "tailLines=1&timestamps=true", -1, []string{"starting"}},
		{"starter", "follow=true", 1, []string{"starting"}},
	}
	for _, tt := range tests {
		t.Run(tt.id+"?"+tt.query, func(t *testing.T) {
			status, got := get(t, tt.id, tt.query, tt.follow)
			if strings.Contains(tt.query, "timestamps=true") {
				for i, l := range got {
					ts, rest, _ := strings.Cut(l, " ")
					if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
						t.Fatalf("line %q: timestamp: %v", l, err)
					}
					got[i] = rest
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("GET /containerLogs/default/%s/%s?%s: %s, lines %q; want %q", tt.id, tt.id, tt.query, status, got, tt.want)
			}
		})
	}
}
